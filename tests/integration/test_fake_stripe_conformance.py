"""The fake Stripe server (tests/provider_fakes) speaks Stripe, checked through the real stripe SDK.

(a) every object the SDK gets back, and every object the fake stores (events included), has only keys that
    Stripe's published example of its type has, with the example's JSON types (recursively, null allowed);
(b) the relations of this API version resolve: invoice → `parent.subscription_details.subscription`,
    invoice → invoice_payments → payment intent → latest charge → balance transaction;
(c) POSTs without an idempotency key are refused, replays return identical bodies, a reused key with other
    parameters is an `idempotency_error`; a wrong key is a 401 in Stripe's error shape;
(d) the webhooks it signs verify with `stripe.Webhook.construct_event` (and our own verifier), and its bad
    signatures (wrong secret, stale, re-serialised, tampered, …) do not;
(e) list pagination (limit / starting_after / ending_before / created filters / the SDK's auto-paging).
"""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import stripe

from adapters.stripe.signatures import StripeWebhookVerifier
from ports.outbound.webhooks import InvalidSignature
from tests.provider_fakes.stripe_fixtures import shape_problems, template
from tests.provider_fakes.stripe_server import FakeStripe, add_months, run_fake_stripe

# stripe-python's HTTPXClient passes the form body as `data=`; httpx 0.28 warns. Not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

DUES, JOINING_FEE = 2_500, 10_000
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z: the joining payment
LATE = add_months(T0) + 5 * 86_400  # the failed first renewal is paid five days late


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    async with run_fake_stripe() as running:
        yield running


@pytest.fixture
async def client(fake: FakeStripe) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.HTTPXClient()
    yield stripe.StripeClient(
        fake.api_key, base_addresses={"api": fake.base_url}, max_network_retries=0, http_client=http
    )
    await http.close_async()


class Seen:
    """Every JSON body the SDK received, as sent on the wire."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, obj: Any) -> Any:
        self.bodies.append(obj.last_response.data)
        return obj


async def join(fake: FakeStripe, client: stripe.StripeClient, seen: Seen, *, paid_at: int = T0) -> dict[str, Any]:
    """Customer → checkout session (dues + one-time remainder of the joining fee) → paid; returns the session."""
    customer = seen(await client.v1.customers.create_async(params={"email": "ada@example.com", "name": "Ada"}))
    session = seen(
        await client.v1.checkout.sessions.create_async(
            params={
                "mode": "subscription",
                "customer": customer.id,
                "payment_method_types": ["card"],
                "success_url": "https://tenure.test/joined?session={CHECKOUT_SESSION_ID}",
                "cancel_url": "https://tenure.test/join",
                "metadata": {"membership_id": "mem_1"},
                "subscription_data": {"metadata": {"membership_id": "mem_1"}},
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": DUES,
                            "recurring": {"interval": "month"},
                            "product_data": {"name": "Monthly dues"},
                        },
                        "quantity": 1,
                    },
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": JOINING_FEE - DUES,
                            "product_data": {"name": "Joining fee"},
                        },
                        "quantity": 1,
                    },
                ],
            },
            options={"idempotency_key": f"checkout-{customer.id}"},
        )
    )
    assert (session.status, session.payment_status, session.amount_total) == ("open", "unpaid", JOINING_FEE)
    assert session.metadata["membership_id"] == "mem_1"
    fake.complete_checkout(session.id, paid_at=paid_at)
    completed = seen(await client.v1.checkout.sessions.retrieve_async(session.id))
    assert (completed.status, completed.payment_status, completed.customer) == ("complete", "paid", customer.id)
    return completed.last_response.data


async def payment_chain(client: stripe.StripeClient, seen: Seen, invoice_id: str) -> dict[str, Any]:
    """invoice → invoice_payments → payment intent → latest charge, all through the API."""
    payments = seen(await client.v1.invoice_payments.list_async(params={"invoice": invoice_id}))
    assert len(payments.data) == 1, "one invoice payment per invoice"
    payment = payments.data[0]
    assert payment.invoice == invoice_id
    assert payment.payment.type == "payment_intent"
    intent = seen(await client.v1.payment_intents.retrieve_async(payment.payment.payment_intent))
    charge = seen(await client.v1.charges.retrieve_async(intent.latest_charge)) if intent.latest_charge else None
    return {"payment": payment, "intent": intent, "charge": charge}


async def test_full_billing_scenario_conforms_to_stripe(fake: FakeStripe, client: stripe.StripeClient) -> None:
    seen = Seen()
    session = await join(fake, client, seen)

    # Joining: subscription with its period on the items; first invoice paid at T0 for the whole joining fee.
    subscription = seen(await client.v1.subscriptions.retrieve_async(session["subscription"]))
    item = subscription["items"].data[0]
    assert (subscription.status, subscription.metadata["membership_id"]) == ("active", "mem_1")
    assert (item.current_period_start, item.current_period_end) == (T0, add_months(T0))
    assert "current_period_end" not in subscription.last_response.data
    invoice = seen(await client.v1.invoices.retrieve_async(session["invoice"]))
    raw_invoice = invoice.last_response.data
    assert (invoice.status, invoice.amount_paid, invoice.status_transitions.paid_at) == ("paid", JOINING_FEE, T0)
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert raw_invoice["subscription"] is None
    assert "charge" not in raw_invoice
    assert "payment_intent" not in raw_invoice
    assert sorted(line.amount for line in invoice.lines.data) == [DUES, JOINING_FEE - DUES]
    chain = await payment_chain(client, seen, invoice.id)
    assert (chain["intent"].status, chain["charge"].amount, chain["charge"].paid) == ("succeeded", JOINING_FEE, True)
    expanded = await client.v1.invoices.retrieve_async(invoice.id, params={"expand": ["payments"]})
    assert expanded.payments.data[0].payment.payment_intent == chain["intent"].id
    intent = await client.v1.payment_intents.retrieve_async(chain["intent"].id, params={"expand": ["latest_charge"]})
    assert intent.latest_charge.id == chain["charge"].id
    txn = seen(await client.v1.balance_transactions.retrieve_async(chain["charge"].balance_transaction))
    assert (txn.source, txn.amount, txn.net) == (chain["charge"].id, JOINING_FEE, JOINING_FEE - txn.fee)
    joined_types = [e["type"] for e in fake.events()]
    assert joined_types.index("invoice.paid") < joined_types.index("checkout.session.completed")
    assert fake.last_event("customer.subscription.created")["data"]["object"]["status"] == "incomplete"

    # Renewal fails → past_due; then the same invoice is paid late, at LATE.
    renewal = fake.advance_subscription(subscription.id, "failed")
    failed = fake.last_event("invoice.payment_failed")["data"]["object"]
    assert (failed["id"], failed["status"], failed["billing_reason"]) == (renewal["id"], "open", "subscription_cycle")
    past_due = seen(await client.v1.subscriptions.retrieve_async(subscription.id))
    assert past_due.status == "past_due"
    assert past_due["items"].data[0].current_period_end == add_months(add_months(T0))
    declined = await payment_chain(client, seen, renewal["id"])
    assert (declined["charge"].status, declined["intent"].last_payment_error.code) == ("failed", "card_declined")
    fake.pay_invoice(renewal["id"], paid_at=LATE)
    late = seen(await client.v1.invoices.retrieve_async(renewal["id"]))
    assert (late.status, late.status_transitions.paid_at, late.amount_paid) == ("paid", LATE, DUES)
    assert late.parent.subscription_details.subscription == subscription.id
    cured = await payment_chain(client, seen, renewal["id"])
    assert (cured["charge"].status, cured["charge"].amount) == ("succeeded", DUES)
    assert seen(await client.v1.subscriptions.retrieve_async(subscription.id)).status == "active"

    # A renewal that needs authentication, then paid through POST /v1/invoices/{id}/pay.
    action = fake.advance_subscription(subscription.id, "requires_action")
    assert fake.last_event("invoice.payment_action_required")["data"]["object"]["id"] == action["id"]
    paid_now = seen(await client.v1.invoices.pay_async(action["id"]))
    assert paid_now.status == "paid"

    # Refunds on the joining charge: partial by charge, then the rest by payment intent.
    charge_id = chain["charge"].id
    partial = seen(await client.v1.refunds.create_async(params={"charge": charge_id, "amount": 1_000}))
    assert (partial.amount, partial.status, partial.charge) == (1_000, "succeeded", charge_id)
    refunded = fake.last_event("charge.refunded")["data"]["object"]
    assert (refunded["amount_refunded"], refunded["refunded"]) == (1_000, False)
    rest = seen(await client.v1.refunds.create_async(params={"payment_intent": chain["intent"].id}))
    assert rest.amount == JOINING_FEE - 1_000
    assert seen(await client.v1.charges.retrieve_async(charge_id)).refunded is True
    assert seen(await client.v1.refunds.retrieve_async(rest.id)).balance_transaction
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.refunds.create_async(params={"charge": charge_id})

    # A dispute on the late payment, lost.
    dispute = fake.create_dispute(cured["charge"].id)
    assert fake.last_event("charge.dispute.created")["data"]["object"]["id"] == dispute["id"]
    fake.close_dispute(dispute["id"], won=False)
    closed = seen(await client.v1.disputes.retrieve_async(dispute["id"]))
    assert (closed.status, closed.charge) == ("lost", cured["charge"].id)

    # Member actions: schedule cancellation (and undo), pause collection, portal link; then cancel.
    scheduled = seen(await client.v1.subscriptions.update_async(subscription.id, params={"cancel_at_period_end": True}))
    assert scheduled.cancel_at == scheduled["items"].data[0].current_period_end
    undone = seen(await client.v1.subscriptions.update_async(subscription.id, params={"cancel_at_period_end": False}))
    assert (undone.cancel_at_period_end, undone.cancel_at) == (False, None)
    paused = seen(
        await client.v1.subscriptions.update_async(
            subscription.id, params={"pause_collection": {"behavior": "void"}, "metadata": {"tier": "won"}}
        )
    )
    assert (paused.pause_collection.behavior, paused.metadata["tier"]) == ("void", "won")
    resumed = seen(await client.v1.subscriptions.update_async(subscription.id, params={"pause_collection": ""}))
    assert resumed.pause_collection is None
    portal = seen(
        await client.v1.billing_portal.sessions.create_async(
            params={"customer": session["customer"], "return_url": "https://tenure.test/billing"}
        )
    )
    assert portal.url.startswith(fake.base_url)
    canceled = seen(await client.v1.subscriptions.cancel_async(subscription.id))
    assert canceled.status == "canceled"
    deleted = fake.last_event("customer.subscription.deleted")
    stale = fake.send_stale_subscription_updated(subscription.id)
    assert stale["data"]["object"]["status"] == "active"
    assert stale["created"] >= deleted["created"]
    assert fake.events()[-1]["id"] == stale["id"]

    # Restarted after the cancellation (a late-truth reinstatement): the same customer, price and card, anchored
    # in the future with no proration, so nothing is invoiced before the anchor.
    assert canceled.default_payment_method
    anchor = fake.now() + 7 * 86_400
    restarted = seen(
        await client.v1.subscriptions.create_async(
            params={
                "customer": session["customer"],
                "items": [{"price": item.price.id, "quantity": item.quantity}],
                "default_payment_method": canceled.default_payment_method,
                "billing_cycle_anchor": anchor,
                "proration_behavior": "none",
                "payment_behavior": "allow_incomplete",
                "metadata": {"membership_id": "mem_1"},
            },
            options={"idempotency_key": "restart-mem_1"},
        )
    )
    restarted_item = restarted["items"].data[0]
    assert (restarted.status, restarted.customer, restarted.metadata["membership_id"]) == (
        "active",
        session["customer"],
        "mem_1",
    )
    assert (restarted.billing_cycle_anchor, restarted_item.current_period_end) == (anchor, anchor)
    assert (restarted_item.price.id, restarted.default_payment_method) == (
        item.price.id,
        canceled.default_payment_method,
    )
    assert restarted.latest_invoice is None
    assert fake.last_event("customer.subscription.created")["data"]["object"]["id"] == restarted.id
    assert seen(await client.v1.invoices.list_async(params={"subscription": restarted.id})).data == []

    # Events and balance transactions over the API.
    events = seen(await client.v1.events.list_async(params={"type": "invoice.paid", "limit": 100}))
    assert {e.data.object.id for e in events.data} == {invoice.id, renewal["id"], action["id"]}
    retrieved = seen(await client.v1.events.retrieve_async(stale["id"]))
    assert (retrieved.api_version, retrieved.type) == (fake.api_version, "customer.subscription.updated")
    txns = seen(await client.v1.balance_transactions.list_async(params={"limit": 100}))
    assert {t.type for t in txns.data} == {"charge", "refund", "adjustment"}
    assert sum(t.amount for t in txns.data if t.type == "refund") == -JOINING_FEE

    # (a) shapes: every wire body, every list element, every stored object and every event payload.
    problems = [f"{body.get('id')}: {p}" for body in seen.bodies for p in shape_problems(body)]
    stored = fake.all_objects()
    problems += [f"{obj['id']}: {p}" for obj in stored for p in shape_problems(obj)]
    assert problems == []
    kinds = {obj["object"] for obj in stored}
    assert kinds >= {
        "customer",
        "price",
        "checkout.session",
        "subscription",
        "invoice",
        "invoice_payment",
        "payment_intent",
        "charge",
        "balance_transaction",
        "refund",
        "dispute",
        "billing_portal.session",
        "event",
    }
    assert len(seen.bodies) >= 30
    assert len(fake.events()) >= 30


async def test_posts_need_idempotency_keys_and_replays_are_identical(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    auth = {"Authorization": f"Bearer {fake.api_key}", "Stripe-Version": fake.api_version}
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        refused = await http.post("/v1/customers", data={"email": "a@example.com"}, headers=auth)
        assert refused.status_code == 400
        assert refused.json()["error"]["type"] == "invalid_request_error"
        assert not fake.all_objects("customer")

        body = "email=a%40example.com&metadata[membership_id]=mem_1&preferred_locales[]=en"
        form = {**auth, "Idempotency-Key": "k-1", "Content-Type": "application/x-www-form-urlencoded"}
        first = await http.post("/v1/customers", content=body, headers=form)
        replay = await http.post("/v1/customers", content=body, headers=form)
        assert first.status_code == replay.status_code == 200
        assert replay.content == first.content
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert first.json()["metadata"] == {"membership_id": "mem_1"}
        assert len(fake.all_objects("customer")) == 1

        other = await http.post("/v1/customers", content="email=b%40example.com", headers=form)
        assert other.status_code == 400
        assert other.json()["error"]["type"] == "idempotency_error"

        wrong = await http.get("/v1/customers/" + first.json()["id"], headers={"Authorization": "Bearer sk_test_x"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "invalid_request_error"
        assert wrong.json()["error"]["message"]
        basic = await http.get("/v1/customers/" + first.json()["id"], auth=(fake.api_key, ""))
        assert basic.status_code == 200

    # The same through the SDK: it always sends a key; ours is honoured and checked.
    made = await client.v1.customers.create_async(params={"name": "Ada"}, options={"idempotency_key": "k-2"})
    again = await client.v1.customers.create_async(params={"name": "Ada"}, options={"idempotency_key": "k-2"})
    assert again.id == made.id
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.customers.create_async(params={"name": "Bob"}, options={"idempotency_key": "k-2"})
    wrong_http = stripe.HTTPXClient()
    wrong_key = stripe.StripeClient(
        "sk_test_wrong", base_addresses={"api": fake.base_url}, max_network_retries=0, http_client=wrong_http
    )
    with pytest.raises(stripe.AuthenticationError):
        await wrong_key.v1.customers.retrieve_async(made.id)
    await wrong_http.close_async()
    assert all(r.idempotency_key for r in fake.requests if r.method == "POST" and r.status == 200)

    # Nested form encoding reaches the fake intact (line items, metadata, arrays).
    await join(fake, client, Seen())
    sent = next(r.params for r in fake.requests if r.path == "/v1/checkout/sessions")
    assert sent["line_items"][0]["price_data"]["recurring"] == {"interval": "month"}
    assert (sent["payment_method_types"], sent["metadata"]) == (["card"], {"membership_id": "mem_1"})


async def test_webhook_signatures_verify_only_when_right(fake: FakeStripe, client: stripe.StripeClient) -> None:
    await join(fake, client, Seen(), paid_at=int(datetime.now(UTC).timestamp()))
    event = fake.last_event("invoice.paid")
    ours = StripeWebhookVerifier(fake.webhook_secret)

    def verify(body: bytes, headers: dict[str, str], secret: str | None = None) -> str:
        constructed = stripe.Webhook.construct_event(
            body, headers.get("Stripe-Signature"), secret or fake.webhook_secret
        )
        return constructed.id

    def ours_accepts(body: bytes, headers: dict[str, str]) -> bool:
        try:
            ours.check(body, {k.lower(): v for k, v in headers.items()}, now=datetime.now(UTC))
        except InvalidSignature:
            return False
        return True

    body, headers = fake.signed_webhook(event)
    assert json.loads(body) == event
    assert body == fake.webhook_body(event)
    assert verify(body, headers) == event["id"]
    assert ours_accepts(body, headers)
    rolled_body, rolled = fake.signed_webhook(event["id"], extra_secrets=["whsec_previous"])
    assert rolled["Stripe-Signature"].count("v1=") == 2
    assert verify(rolled_body, rolled) == verify(rolled_body, rolled, "whsec_previous") == event["id"]

    with pytest.raises(stripe.SignatureVerificationError):
        verify(body, headers, "whsec_wrong")
    for kind in ("wrong_secret", "stale", "missing_header", "reserialised", "tampered", "no_v1"):
        bad_body, bad_headers = fake.bad_webhook(event, kind)
        with pytest.raises(stripe.SignatureVerificationError):
            verify(bad_body, bad_headers)
        assert not ours_accepts(bad_body, bad_headers), kind
    future_body, future = fake.bad_webhook(event, "future")
    assert verify(future_body, future) == event["id"], "the SDK alone accepts future timestamps"
    assert not ours_accepts(future_body, future)

    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        over_http = (await http.get(f"/_test/events/{event['id']}/webhook")).json()
    assert verify(over_http["body"].encode(), over_http["headers"]) == event["id"]


async def test_list_pagination(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session = await join(fake, client, Seen())
    for _ in range(4):
        fake.advance_subscription(session["subscription"], "paid")
    all_ids = [i["id"] for i in sorted(fake.all_objects("invoice"), key=lambda i: i["created"], reverse=True)]
    assert len(all_ids) == 5

    pages, after = [], None
    while True:
        params: dict[str, Any] = {"customer": session["customer"], "limit": 2}
        if after:
            params["starting_after"] = after
        page = await client.v1.invoices.list_async(params=params)
        assert page.last_response.data["url"] == "/v1/invoices"
        assert page.object == "list"
        pages.append([i.id for i in page.data])
        if not page.has_more:
            break
        after = page.data[-1].id
    assert pages == [all_ids[0:2], all_ids[2:4], all_ids[4:]]
    before = await client.v1.invoices.list_async(params={"ending_before": all_ids[3], "limit": 2})
    assert ([i.id for i in before.data], before.has_more) == (all_ids[1:3], True)

    first = await client.v1.invoices.list_async(params={"subscription": session["subscription"], "limit": 1})
    assert [i.id async for i in first.auto_paging_iter()] == all_ids
    assert (await client.v1.invoices.list_async(params={"status": "open"})).data == []

    events = fake.events()
    middle = events[len(events) // 2]["created"]
    recent = await client.v1.events.list_async(params={"created": {"gte": middle}, "limit": 100})
    assert {e.id for e in recent.data} == {e["id"] for e in events if e["created"] >= middle}
    typed = await client.v1.events.list_async(params={"types": ["invoice.paid", "invoice.created"], "limit": 3})
    assert {e.type for e in typed.data} <= {"invoice.paid", "invoice.created"}
    assert typed.has_more
    everything = await client.v1.events.list_async(params={"limit": 1})
    assert len([e async for e in everything.auto_paging_iter()]) == len(events)


async def test_checkout_controls_over_http(fake: FakeStripe, client: stripe.StripeClient) -> None:
    price = await client.v1.prices.create_async(
        params={"currency": "usd", "unit_amount": DUES, "recurring": {"interval": "month"}, "product": "prod_dues"}
    )
    params = {"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}], "success_url": "https://t/s"}
    declined = await client.v1.checkout.sessions.create_async(params=params)
    expired = await client.v1.checkout.sessions.create_async(params=params)
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        response = await http.post(f"/_test/checkout/sessions/{declined.id}/decline")
        assert response.json()["status"] == "open"
        assert not fake.events("checkout.session.completed")
        response = await http.post(f"/_test/checkout/sessions/{declined.id}/complete", json={"paid_at": T0})
        assert response.json()["status"] == "complete"
        invoice = await client.v1.invoices.retrieve_async(response.json()["invoice"])
        assert (invoice.status_transitions.paid_at, invoice.amount_paid) == (T0, DUES)
        response = await http.post(
            f"/_test/subscriptions/{invoice.parent.subscription_details.subscription}/advance",
            json={"outcome": "failed"},
        )
        assert response.json()["status"] == "open"
        assert (await http.post("/_test/invoices/in_missing/pay")).status_code == 404
    assert (await client.v1.checkout.sessions.expire_async(expired.id)).status == "expired"
    assert fake.last_event("checkout.session.expired")["data"]["object"]["id"] == expired.id
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.checkout.sessions.expire_async(expired.id)
    with pytest.raises(stripe.InvalidRequestError, match="recurring price"):
        await client.v1.checkout.sessions.create_async(params={**params, "mode": "payment"})
    with pytest.raises(stripe.InvalidRequestError, match="mode"):
        await client.v1.checkout.sessions.create_async(params={**params, "mode": "setup"})


async def test_payment_mode_checkout_refunds_and_balance_conform_to_stripe(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    """A one-time card payment through Checkout (the retention prepayment), its refunds and its money movements."""
    seen = Seen()
    customer = seen(await client.v1.customers.create_async(params={"email": "ada@example.com"}))
    metadata = {"membership_id": "mem_1", "purpose": "retention"}
    params: dict[str, Any] = {
        "mode": "payment",
        "customer": customer.id,
        "payment_method_types": ["card"],
        "success_url": "https://tenure.test/done",
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "line_items": [
            {
                "price_data": {"currency": "usd", "unit_amount": 30_000, "product_data": {"name": "Retention"}},
                "quantity": 1,
            }
        ],
    }
    session = seen(await client.v1.checkout.sessions.create_async(params=params))
    assert (session.mode, session.status, session.amount_total, session.payment_intent) == (
        "payment",
        "open",
        30_000,
        None,
    )
    for refused in ({"subscription_data": {"metadata": metadata}}, {"line_items": [{"price": _recurring(fake)}]}):
        with pytest.raises(stripe.InvalidRequestError):
            await client.v1.checkout.sessions.create_async(params={**params, **refused})
    with pytest.raises(stripe.InvalidRequestError, match="payment_intent_data"):
        await client.v1.checkout.sessions.create_async(
            params={**params, "mode": "subscription", "line_items": [{"price": _recurring(fake)}]}
        )

    fake.complete_checkout(session.id, paid_at=T0)
    paid = seen(await client.v1.checkout.sessions.retrieve_async(session.id))
    assert (paid.status, paid.payment_status, paid.customer, paid.invoice) == ("complete", "paid", customer.id, None)
    intent = seen(await client.v1.payment_intents.retrieve_async(paid.payment_intent))
    assert (intent.status, intent.amount_received, intent.metadata.to_dict()) == ("succeeded", 30_000, metadata)
    charge = seen(await client.v1.charges.retrieve_async(intent.latest_charge))
    assert (charge.status, charge.amount, charge.created, charge.payment_intent) == ("succeeded", 30_000, T0, intent.id)
    assert "refunds" not in charge.last_response.data, "a charge's refunds come only when expanded"
    expanded = await client.v1.payment_intents.retrieve_async(intent.id, params={"expand": ["latest_charge"]})
    assert expanded.latest_charge.id == charge.id
    types = [e["type"] for e in fake.events()]
    assert types[-3:] == ["charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]
    assert "customer.subscription.created" not in types

    partial = seen(await client.v1.refunds.create_async(params={"charge": charge.id, "amount": 1_000}))
    rest = seen(await client.v1.refunds.create_async(params={"payment_intent": intent.id}))
    with_refunds = seen(await client.v1.charges.retrieve_async(charge.id, params={"expand": ["refunds"]}))
    assert [r.id for r in with_refunds.refunds.data] == [rest.id, partial.id]
    assert (with_refunds.refunds.has_more, with_refunds.amount_refunded, with_refunds.refunded) == (False, 30_000, True)
    listed = seen(await client.v1.refunds.list_async(params={"charge": charge.id}))
    assert [r.id for r in listed.data] == [rest.id, partial.id]
    assert seen(await client.v1.refunds.list_async(params={"payment_intent": intent.id})).data == listed.data
    assert (await client.v1.refunds.list_async(params={"charge": "ch_other"})).data == []

    txns = seen(await client.v1.balance_transactions.list_async(params={"created": {"gte": T0}, "limit": 100}))
    assert {(t.type, t.source, t.amount) for t in txns.data} == {
        ("charge", charge.id, 30_000),
        ("refund", partial.id, -1_000),
        ("refund", rest.id, -29_000),
    }
    later = seen(await client.v1.balance_transactions.list_async(params={"created": {"gte": T0 + 1}}))
    assert {t.source for t in later.data} == {partial.id, rest.id}

    problems = [f"{body.get('id')}: {p}" for body in seen.bodies for p in shape_problems(body)]
    problems += [f"{obj['id']}: {p}" for obj in fake.all_objects() for p in shape_problems(obj)]
    assert problems == []


async def test_subscription_create_with_an_anchor_refuses_what_stripe_refuses(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer = await client.v1.customers.create_async(params={"email": "ada@example.com"})
    price = _recurring(fake)
    anchor = fake.now() + 10 * 86_400
    good: dict[str, Any] = {
        "customer": customer.id,
        "items": [{"price": price, "quantity": 1}],
        "billing_cycle_anchor": anchor,
        "proration_behavior": "none",
        "payment_behavior": "allow_incomplete",
    }
    refused: list[tuple[dict[str, Any], int, str | None, str | None]] = [
        ({**good, "customer": "cus_missing"}, 404, "resource_missing", "customer"),
        ({k: v for k, v in good.items() if k != "customer"}, 400, "parameter_missing", "customer"),
        ({**good, "items": [{"price": "price_missing"}]}, 404, "resource_missing", "items[0][price]"),
        (
            {**good, "items": [{"price": str(fake.create_price(500, interval=None)["id"])}]},
            400,
            None,
            "items[0][price]",
        ),
        ({**good, "billing_cycle_anchor": fake.now() - 1}, 400, "parameter_invalid_integer", "billing_cycle_anchor"),
        ({**good, "billing_cycle_anchor": add_months(fake.now()) + 60}, 400, None, "billing_cycle_anchor"),
        ({**good, "proration_behavior": "create_prorations"}, 400, None, "proration_behavior"),
    ]
    for params, status, code, param in refused:
        with pytest.raises(stripe.StripeError) as error:
            await client.v1.subscriptions.create_async(params=params)  # type: ignore[arg-type]
        body: dict[str, Any] = error.value.json_body or {}  # type: ignore[assignment]
        assert (error.value.http_status, body["error"].get("code"), body["error"].get("param")) == (status, code, param)
        assert body["error"]["type"] == "invalid_request_error"
    assert fake.all_objects("subscription") == []

    auth = {"Authorization": f"Bearer {fake.api_key}", "Content-Type": "application/x-www-form-urlencoded"}
    form = f"customer={customer.id}&items[0][price]={price}&billing_cycle_anchor={anchor}&proration_behavior=none"
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        unkeyed = await http.post("/v1/subscriptions", content=form, headers=auth)
        assert (unkeyed.status_code, unkeyed.json()["error"]["code"]) == (400, "idempotency_key_required")
        keyed = {**auth, "Idempotency-Key": "restart-1"}
        first = await http.post("/v1/subscriptions", content=form, headers=keyed)
        replay = await http.post("/v1/subscriptions", content=form, headers=keyed)
    assert first.status_code == replay.status_code == 200
    assert replay.content == first.content
    assert len(fake.all_objects("subscription")) == 1
    assert [p for obj in fake.all_objects() for p in shape_problems(obj)] == []


def test_periods_follow_the_billing_cycle_anchor() -> None:
    """After a restart anchored on the 31st: billed at the anchor, then on the anchor's day, clamped (Stripe)."""
    now = [int(datetime(2031, 1, 20, 12, tzinfo=UTC).timestamp())]
    fake = FakeStripe(clock=lambda: now[0])
    customer = fake.create_customer(email="ada@example.com")
    anchor = int(datetime(2031, 1, 31, 12, tzinfo=UTC).timestamp())
    subscription = fake.create_subscription(
        {
            "customer": customer["id"],
            "items": [{"price": _recurring(fake), "quantity": "1"}],
            "billing_cycle_anchor": str(anchor),
            "proration_behavior": "none",
        }
    )
    item = subscription["items"]["data"][0]
    assert (item["current_period_start"], item["current_period_end"]) == (now[0], anchor)
    assert fake.all_objects("invoice") == []
    dues = [fake.advance_subscription(subscription["id"], "paid") for _ in range(3)]
    assert [datetime.fromtimestamp(i["created"], UTC).date().isoformat() for i in dues] == [
        "2031-01-31",
        "2031-02-28",
        "2031-03-31",
    ]
    assert (dues[0]["period_start"], dues[0]["period_end"], dues[0]["amount_paid"]) == (now[0], anchor, 2_500)
    assert [e["type"] for e in fake.events()][:2] == ["customer.created", "customer.subscription.created"]


def _recurring(fake: FakeStripe) -> str:
    return str(fake.create_price(2_500, interval="month")["id"])


def test_shape_check_is_not_vacuous() -> None:
    """The checker used above flags the drifts it exists to catch."""
    invoice = template("invoice")
    assert shape_problems(invoice) == []
    invoice["charge"] = "ch_1"  # removed in this API version
    invoice["amount_paid"] = "1000"  # wrong JSON type
    invoice["parent"]["subscription_details"]["subscription"] = {"id": "sub_1"}  # nested wrong type
    invoice["metadata"] = {"anything": "goes"}  # free-form map: fine
    assert sorted(shape_problems(invoice)) == [
        "invoice.amount_paid: string where Stripe has number",
        "invoice.charge: key not in Stripe's example object",
        "invoice.parent.subscription_details.subscription: object where Stripe has string",
    ]
    event = {**template("event"), "data": {"object": {**template("charge"), "invoice": "in_1"}}}
    assert shape_problems(event) == ["data.object: charge.invoice: key not in Stripe's example object"]
    listed = {"object": "list", "data": [{**template("refund"), "amount": None}], "has_more": False, "url": "/v1/x"}
    assert shape_problems(listed) == []


async def test_retries_voids_pauses_and_scheduled_cancellation(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session = await join(fake, client, Seen())
    subscription_id = session["subscription"]
    failed = fake.advance_subscription(subscription_id, "failed")
    assert fake.retry_invoice(failed["id"], "failed")["attempt_count"] == 2
    assert len(fake.events("invoice.payment_failed")) == 2
    assert fake.void_invoice(failed["id"])["status"] == "void"
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.invoices.pay_async(failed["id"])

    charges_before = len(fake.all_objects("charge"))
    for behavior, status in [("void", "void"), ("keep_as_draft", "draft"), ("mark_uncollectible", "uncollectible")]:
        await client.v1.subscriptions.update_async(subscription_id, params={"pause_collection": {"behavior": behavior}})
        paused = fake.advance_subscription(subscription_id)
        assert (paused["status"], paused["amount_paid"]) == (status, 0)
    assert len(fake.all_objects("charge")) == charges_before, "paused renewals charge nothing"
    await client.v1.subscriptions.update_async(subscription_id, params={"pause_collection": ""})

    scheduled = await client.v1.subscriptions.update_async(subscription_id, params={"cancel_at_period_end": True})
    period_end = scheduled["items"].data[0].current_period_end
    ended = fake.advance_subscription(subscription_id)
    assert (ended["object"], ended["status"], ended["ended_at"]) == ("subscription", "canceled", period_end)
    assert fake.last_event("customer.subscription.deleted")["data"]["object"]["id"] == subscription_id
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.subscriptions.update_async(subscription_id, params={"cancel_at_period_end": False})
    assert [p for obj in fake.all_objects() for p in shape_problems(obj)] == []
