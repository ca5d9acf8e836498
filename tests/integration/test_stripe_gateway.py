"""StripePaymentGateway against the fake Stripe server: real SDK, real HTTP over loopback."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import stripe

from adapters.stripe.events import StripeEventDecoder
from adapters.stripe.gateway import StripePaymentGateway
from domain.money import Money
from domain.rules import ProgramRules
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.payments import CheckoutSession, DunningSettings, PaymentProviderError
from tests.provider_fakes.stripe_server import FakeStripe, add_months, run_fake_stripe

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

RULES = ProgramRules()
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    async with run_fake_stripe() as running:
        yield running


@pytest.fixture
async def gateway(fake: FakeStripe) -> AsyncIterator[StripePaymentGateway]:
    gw = StripePaymentGateway(fake.api_key, api_base=fake.base_url)
    yield gw
    await gw.close()


async def checkout(gateway: StripePaymentGateway, membership_id: str = "mem_1") -> CheckoutSession:
    return await gateway.create_joining_checkout(
        membership_id=membership_id,
        customer_email="ada@example.com",
        monthly_dues=RULES.monthly_dues,
        joining_fee=RULES.joining_fee,
        success_url="https://tenure.test/joined",
        cancel_url="https://tenure.test/join",
        idempotency_key=f"join:{membership_id}",
    )


async def joined(fake: FakeStripe, gateway: StripePaymentGateway) -> CheckoutSession:
    session = await checkout(gateway)
    fake.complete_checkout(session.id, paid_at=T0)
    return await gateway.get_checkout_session(session.id)


def assert_every_post_keyed(fake: FakeStripe) -> None:
    posts = [r for r in fake.requests if r.method in ("POST", "DELETE")]
    assert posts
    assert [r.path for r in posts if not r.idempotency_key] == []


async def test_joining_checkout_totals_the_joining_fee_and_is_idempotent(
    fake: FakeStripe, gateway: StripePaymentGateway
) -> None:
    session = await checkout(gateway)
    assert session.amount_total == RULES.joining_fee == Money(cents=30_000)
    assert (session.status, session.membership_id) == ("open", "mem_1")
    assert session.url
    assert session.expires_at > datetime.now(UTC)
    raw = fake.get(session.id)
    assert raw["payment_method_types"] == ["card"]
    again = await checkout(gateway)
    assert again.id == session.id
    assert len(fake.all_objects("checkout.session")) == 1

    fake.complete_checkout(session.id, paid_at=T0)
    done = await gateway.get_checkout_session(session.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.invoice_id
    assert done.subscription_id
    assert done.customer_id
    gets_before = len(fake.requests)
    invoice = await gateway.get_invoice(done.invoice_id)
    assert [r.path for r in fake.requests[gets_before:]] == [
        f"/v1/invoices/{done.invoice_id}",
        f"/v1/payment_intents/{invoice.payment_intent_id}",
    ], "payments come expanded with the invoice"
    assert invoice.paid_at == ts(T0)
    assert invoice.subscription_id == done.subscription_id
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == (
        "paid",
        RULES.joining_fee,
        "subscription_create",
    )
    assert invoice.payment_intent_id
    assert invoice.charge_id
    sub = await gateway.get_subscription(done.subscription_id)
    assert (sub.status, sub.membership_id, sub.current_period_end) == ("active", "mem_1", ts(add_months(T0)))
    assert_every_post_keyed(fake)


async def test_expire_checkout(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    session = await checkout(gateway)
    expired = await gateway.expire_checkout_session(session.id, idempotency_key=f"expire:{session.id}")
    assert expired.status == "expired"
    assert_every_post_keyed(fake)


async def test_renewal_failure_late_payment_and_paging(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    session = await joined(fake, gateway)
    assert session.subscription_id
    assert session.customer_id
    renewal = fake.advance_subscription(session.subscription_id, "failed")
    failed = await gateway.get_invoice(renewal["id"])
    assert (failed.status, failed.paid_at, failed.subscription_id) == ("open", None, session.subscription_id)
    assert failed.payment_intent_id
    assert failed.amount_due == RULES.monthly_dues
    assert failed.attempt_count == 1
    assert failed.next_attempt_at is not None
    assert failed.due_at == ts(fake.get(renewal["id"])["status_transitions"]["finalized_at"])
    assert fake.get(failed.charge_id or "")["status"] == "failed"
    late_at = add_months(T0) + 5 * 86_400
    fake.pay_invoice(renewal["id"], paid_at=late_at)
    late = await gateway.get_invoice(renewal["id"])
    assert (late.status, late.paid_at, late.amount_paid) == ("paid", ts(late_at), RULES.monthly_dues)

    for _ in range(3):
        fake.advance_subscription(session.subscription_id, "paid")
    ids: list[str] = []
    cursor = None
    while True:
        page = await gateway.list_invoices(customer_id=session.customer_id, limit=2, starting_after=cursor)
        ids += [i.id for i in page.items]
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert len(ids) == len(set(ids)) == 5
    by_sub = await gateway.list_invoices(subscription_id=session.subscription_id, limit=100)
    assert [i.id for i in by_sub.items] == ids


async def test_subscription_actions_refunds_portal_and_events(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    started = datetime.fromtimestamp(int(time.time()) - 5, UTC)
    session = await joined(fake, gateway)
    assert session.subscription_id
    assert session.customer_id
    assert session.invoice_id
    sub_id = session.subscription_id
    scheduled = await gateway.set_cancel_at_period_end(sub_id, on=True, idempotency_key="cape:mem_1:1")
    read = await gateway.get_subscription(sub_id)
    assert read.cancel_at_period_end
    assert read.cancel_at == read.current_period_end == scheduled.current_period_end
    assert read.current_period_end == ts(add_months(T0))
    await gateway.set_cancel_at_period_end(sub_id, on=False, idempotency_key="cape:mem_1:2")
    assert not (await gateway.get_subscription(sub_id)).cancel_at_period_end

    await gateway.pause_collection(sub_id, idempotency_key="pause:mem_1:1")
    paused = await gateway.get_subscription(sub_id)
    assert (paused.collection_paused, paused.pause_behavior) == (True, "void")
    await gateway.resume_collection(sub_id, idempotency_key="resume:mem_1:1")
    assert not (await gateway.get_subscription(sub_id)).collection_paused

    invoice = await gateway.get_invoice(session.invoice_id)
    assert invoice.charge_id
    assert invoice.payment_intent_id
    partial = await gateway.refund_payment(
        charge_id=invoice.charge_id, amount=Money(cents=1_000), idempotency_key="refund:p1"
    )
    assert (partial.amount, partial.status, partial.charge_id) == (Money(cents=1_000), "succeeded", invoice.charge_id)
    replay = await gateway.refund_payment(
        charge_id=invoice.charge_id, amount=Money(cents=1_000), idempotency_key="refund:p1"
    )
    assert replay.id == partial.id
    rest = await gateway.refund_payment(payment_intent_id=invoice.payment_intent_id, idempotency_key="refund:rest")
    assert rest.amount == Money(cents=30_000 - 1_000)
    assert fake.get(invoice.charge_id)["refunded"] is True

    portal = await gateway.create_billing_portal_link(
        customer_id=session.customer_id, return_url="https://tenure.test/billing", idempotency_key="portal:mem_1:1"
    )
    assert portal.url.startswith(fake.base_url)

    cancelled = await gateway.cancel_subscription(sub_id, idempotency_key="cancel:mem_1")
    assert cancelled.status == "canceled"

    events = await gateway.list_events(created_after=started, types=["invoice.paid"])
    assert [e.object_id for e in events.items] == [session.invoice_id]
    everything, cursor, seen = [], None, 0
    while True:
        page = await gateway.list_events(created_after=started, limit=5, starting_after=cursor)
        everything += page.items
        seen += 1
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert len(everything) == len(fake.events())
    assert seen > 1
    assert {e.type for e in everything} >= {"checkout.session.completed", "customer.subscription.deleted"}
    assert_every_post_keyed(fake)


async def test_restart_after_cancel_is_a_new_subscription_billed_from_the_anchor(
    fake: FakeStripe, gateway: StripePaymentGateway
) -> None:
    session = await joined(fake, gateway)
    assert session.subscription_id
    old_id = session.subscription_id
    unpaid = fake.advance_subscription(old_id, "failed")
    await gateway.cancel_subscription(old_id, idempotency_key="cancel:mem_1")  # the default
    updates = len(fake.events("customer.subscription.updated"))
    fake.pay_invoice(unpaid["id"])  # the late truth: paid after all
    assert (await gateway.get_subscription(old_id)).status == "canceled", "paying late does not revive it"
    assert len(fake.events("customer.subscription.updated")) == updates
    old = fake.get(old_id)
    assert old["default_payment_method"], "Checkout leaves the card as the subscription's default"
    anchor = fake.now() + 10 * 86_400
    key = "restart:mem_1:reinstated"

    restarted = await gateway.restart_subscription(
        old_id, billing_cycle_anchor=ts(anchor), membership_id="mem_1", idempotency_key=key
    )
    assert restarted.id != old_id
    assert (restarted.status, restarted.customer_id, restarted.membership_id) == (
        "active",
        session.customer_id,
        "mem_1",
    )
    assert restarted.current_period_end == ts(anchor)
    assert restarted.current_period_start is not None
    assert restarted.current_period_start <= datetime.now(UTC) < ts(anchor)
    assert not restarted.cancel_at_period_end
    assert restarted.ended_at is None
    raw = fake.get(restarted.id)
    assert [(i["price"]["id"], i["quantity"]) for i in raw["items"]["data"]] == [
        (i["price"]["id"], i["quantity"]) for i in old["items"]["data"]
    ]
    assert (raw["default_payment_method"], raw["billing_cycle_anchor"]) == (old["default_payment_method"], anchor)
    [create] = [r for r in fake.requests if (r.method, r.path) == ("POST", "/v1/subscriptions")]
    assert create.idempotency_key == key
    assert (create.params["proration_behavior"], create.params["payment_behavior"]) == ("none", "allow_incomplete")
    assert create.params["metadata"] == {"membership_id": "mem_1"}
    created = fake.last_event("customer.subscription.created")["data"]["object"]
    assert (created["id"], created["status"]) == (restarted.id, "active")
    assert (await gateway.list_invoices(subscription_id=restarted.id)).items == (), "nothing billed before the anchor"

    again = await gateway.restart_subscription(
        old_id, billing_cycle_anchor=ts(anchor), membership_id="mem_1", idempotency_key=key
    )
    assert again == restarted
    assert len(fake.all_objects("subscription")) == 2
    assert len(fake.events("customer.subscription.created")) == 2  # the joining one and the restart

    renewal = fake.advance_subscription(restarted.id, "paid")
    billed = await gateway.get_invoice(renewal["id"])
    assert (billed.status, billed.billing_reason, billed.subscription_id) == (
        "paid",
        "subscription_cycle",
        restarted.id,
    )
    assert (billed.amount_paid, billed.created_at, billed.paid_at) == (RULES.monthly_dues, ts(anchor), ts(anchor))
    assert billed.period_end == ts(anchor)
    moved = await gateway.get_subscription(restarted.id)
    assert (moved.status, moved.current_period_start, moved.current_period_end) == (
        "active",
        ts(anchor),
        ts(add_months(anchor)),
    )
    assert fake.advance_subscription(restarted.id, "paid")["created"] == add_months(anchor)

    with pytest.raises(PaymentProviderError) as past:
        await gateway.restart_subscription(
            old_id, billing_cycle_anchor=ts(fake.now() - 60), membership_id="mem_1", idempotency_key="restart:past"
        )
    assert past.value.status == 400
    with pytest.raises(PaymentProviderError) as missing:
        await gateway.restart_subscription(
            "sub_missing", billing_cycle_anchor=ts(anchor), membership_id="mem_1", idempotency_key="restart:missing"
        )
    assert missing.value.status == 404
    with pytest.raises(PaymentProviderError) as reused:
        await gateway.restart_subscription(
            old_id, billing_cycle_anchor=ts(anchor + 86_400), membership_id="mem_1", idempotency_key=key
        )
    assert reused.value.status == 400
    assert len(fake.all_objects("subscription")) == 2
    assert_every_post_keyed(fake)


async def test_client_errors_are_not_retryable(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    with pytest.raises(PaymentProviderError) as missing:
        await gateway.get_invoice("in_missing")
    assert missing.value.status == 404
    assert not isinstance(missing.value, ComponentUnavailable)
    await checkout(gateway)
    with pytest.raises(PaymentProviderError) as reused:  # same key, other parameters
        await gateway.create_joining_checkout(
            membership_id="mem_2",
            customer_email="bob@example.com",
            monthly_dues=RULES.monthly_dues,
            joining_fee=RULES.joining_fee,
            success_url="https://tenure.test/joined",
            cancel_url="https://tenure.test/join",
            idempotency_key="join:mem_1",
        )
    assert reused.value.status == 400
    bad_key = StripePaymentGateway("sk_test_wrong", api_base=fake.base_url)
    with pytest.raises(PaymentProviderError) as unauthorized:
        await bad_key.get_subscription("sub_x")
    assert unauthorized.value.status == 401
    assert "sk_test_wrong" not in str(unauthorized.value)
    await bad_key.close()


async def test_unreachable_provider_is_component_unavailable_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = StripePaymentGateway("sk_test_x", api_base=f"http://127.0.0.1:{port}", timeout_s=2)
    started = time.monotonic()
    with pytest.raises(ComponentUnavailable) as unavailable:
        await gateway.get_invoice("in_1")
    assert unavailable.value.component == "payments"
    assert time.monotonic() - started < 2
    await gateway.close()


async def test_paused_renewal_is_void_and_unpaid(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    session = await joined(fake, gateway)
    assert session.subscription_id
    await gateway.pause_collection(session.subscription_id, idempotency_key="pause:mem_1:won")
    voided = await gateway.get_invoice(fake.advance_subscription(session.subscription_id)["id"])
    assert (voided.status, voided.amount_paid, voided.paid_at) == ("void", Money(cents=0), None)
    assert (voided.payment_intent_id, voided.charge_id) == (None, None)


async def test_server_errors_and_rate_limits_are_retryable(gateway: StripePaymentGateway) -> None:
    async def failing(error: Exception) -> None:
        raise error

    for error in (
        stripe.APIError("boom", http_status=503),
        stripe.RateLimitError("slow down", http_status=429),
        stripe.APIConnectionError("reset"),
    ):
        with pytest.raises(ComponentUnavailable):
            await gateway._call("probe", failing(error))
    with pytest.raises(PaymentProviderError) as card:
        await gateway._call("probe", failing(stripe.CardError("declined", "card", "card_declined", http_status=402)))
    assert (card.value.status, card.value.code) == (402, "card_declined")


async def test_a_provider_that_never_answers_times_out_as_unavailable() -> None:
    release = asyncio.Event()
    handlers: list[asyncio.Task[object]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if task := asyncio.current_task():
            handlers.append(task)
        await asyncio.wait_for(release.wait(), 30)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = StripePaymentGateway("sk_test_x", api_base=f"http://127.0.0.1:{port}", timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(ComponentUnavailable):
            await gateway.get_subscription("sub_1")
        assert time.monotonic() - started < 2
    finally:
        await gateway.close()
        release.set()  # let the handler end normally: a handler cancelled at loop teardown gets logged
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()


# ---- retention prepayment (payment mode), charges with refunds, disputes, balance, dunning ----------------------


async def retention(gateway: StripePaymentGateway, customer_id: str, membership_id: str = "mem_1") -> CheckoutSession:
    return await gateway.create_retention_checkout(
        membership_id=membership_id,
        customer_id=customer_id,
        amount=Money(cents=30_000),
        success_url="https://tenure.test/retention/done",
        cancel_url="https://tenure.test/retention",
        idempotency_key=f"retention:{membership_id}",
    )


async def test_retention_checkout_is_a_card_payment_with_our_metadata(
    fake: FakeStripe, gateway: StripePaymentGateway
) -> None:
    joining = await joined(fake, gateway)
    assert joining.purpose == "joining"
    assert (joining.payment_intent_id, joining.paid_at) == (None, None), "subscription mode: the invoice has them"
    assert joining.customer_id

    session = await retention(gateway, joining.customer_id)
    assert (session.status, session.payment_status, session.purpose) == ("open", "unpaid", "retention")
    assert (session.membership_id, session.customer_id) == ("mem_1", joining.customer_id)
    assert session.amount_total == Money(cents=30_000)
    assert (session.payment_intent_id, session.paid_at, session.subscription_id) == (None, None, None)
    sent = next(r for r in fake.requests if r.path == "/v1/checkout/sessions" and r.params["mode"] == "payment")
    metadata = {"membership_id": "mem_1", "purpose": "retention"}
    assert sent.idempotency_key == "retention:mem_1"
    assert sent.params["payment_method_types"] == ["card"]
    assert sent.params["customer"] == joining.customer_id
    assert sent.params["metadata"] == sent.params["payment_intent_data"]["metadata"] == metadata
    assert sent.params["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "30000",
                "product_data": {"name": "Retention prepayment"},
            },
            "quantity": "1",
        }
    ]
    assert (await retention(gateway, joining.customer_id)).id == session.id, "replayed, not a second session"
    with pytest.raises(ValueError, match="positive"):
        await gateway.create_retention_checkout(
            membership_id="mem_1",
            customer_id=joining.customer_id,
            amount=Money(cents=0),
            success_url="https://t/s",
            cancel_url="https://t/c",
            idempotency_key="retention:zero",
        )

    fake.decline_checkout(session.id)
    assert (await gateway.get_checkout_session(session.id)).paid_at is None
    paid_at = T0 + 40 * 86_400
    fake.complete_checkout(session.id, paid_at=paid_at)
    gets_before = len(fake.requests)
    done = await gateway.get_checkout_session(session.id)
    assert len(fake.requests) == gets_before + 1, "payment intent and charge come expanded with the session"
    assert (done.status, done.payment_status, done.purpose) == ("complete", "paid", "retention")
    assert done.payment_intent_id
    assert done.paid_at == ts(paid_at)
    assert (done.customer_id, done.membership_id, done.invoice_id) == (joining.customer_id, "mem_1", None)
    intent = fake.get(done.payment_intent_id)
    assert (intent["status"], intent["amount_received"], intent["metadata"]) == ("succeeded", 30_000, metadata)
    charge = await gateway.get_charge(intent["latest_charge"])
    assert (charge.payment_intent_id, charge.amount, charge.created_at) == (
        done.payment_intent_id,
        Money(cents=30_000),
        ts(paid_at),
    )
    # Without the expansion the gateway reads the payment intent itself.
    unexpanded = await gateway._session(fake.get(session.id))
    assert (unexpanded.payment_intent_id, unexpanded.paid_at) == (done.payment_intent_id, ts(paid_at))
    completed = fake.last_event("checkout.session.completed")["data"]["object"]
    assert (completed["id"], completed["payment_intent"]) == (session.id, done.payment_intent_id)
    assert fake.last_event("payment_intent.succeeded")["data"]["object"]["id"] == done.payment_intent_id
    assert fake.last_event("charge.succeeded")["data"]["object"]["id"] == charge.id
    assert_every_post_keyed(fake)


async def test_event_decoder_reads_every_event_the_provider_sends(
    fake: FakeStripe, gateway: StripePaymentGateway
) -> None:
    joining = await joined(fake, gateway)
    assert joining.customer_id
    fake.complete_checkout((await retention(gateway, joining.customer_id)).id)
    invoice = await gateway.get_invoice(joining.invoice_id or "")
    await gateway.refund_payment(charge_id=invoice.charge_id, amount=Money(cents=500), idempotency_key="refund:ev")
    dispute = fake.create_dispute(invoice.charge_id or "")
    decoder = StripeEventDecoder()
    refs = [decoder.decode(fake.signed_webhook(event)[0].decode()) for event in fake.events()]
    assert len(refs) == len(fake.events()) > 15
    for ref, event in zip(refs, fake.events(), strict=True):
        obj = event["data"]["object"]
        assert (ref.id, ref.type, ref.object_kind, ref.object_id) == (
            event["id"],
            event["type"],
            obj["object"],
            obj["id"],
        )
        assert ref.created_at == ts(event["created"])
        expected_customer = obj["id"] if obj["object"] == "customer" else obj.get("customer")
        assert ref.customer_id == expected_customer
    kinds = {ref.object_kind: ref for ref in refs}
    assert set(kinds) >= {"checkout.session", "invoice", "subscription", "charge", "refund", "dispute", "customer"}
    assert kinds["dispute"].object_id == dispute["id"]
    assert kinds["dispute"].customer_id is None
    assert kinds["charge"].customer_id == kinds["refund"].customer_id == joining.customer_id


async def test_charge_shows_partial_then_full_refunds(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    session = await joined(fake, gateway)
    invoice = await gateway.get_invoice(session.invoice_id or "")
    assert invoice.charge_id
    before = await gateway.get_charge(invoice.charge_id)
    assert (before.id, before.payment_intent_id, before.amount) == (
        invoice.charge_id,
        invoice.payment_intent_id,
        RULES.joining_fee,
    )
    assert (before.amount_refunded, before.refunds, before.created_at) == (Money(cents=0), (), ts(T0))

    partial = await gateway.refund_payment(
        charge_id=invoice.charge_id, amount=Money(cents=1_000), idempotency_key="refund:partial"
    )
    gets_before = len(fake.requests)
    after_partial = await gateway.get_charge(invoice.charge_id)
    assert [(r.path, r.params) for r in fake.requests[gets_before:]] == [
        (f"/v1/charges/{invoice.charge_id}", {"expand": ["refunds"]})
    ]
    assert after_partial.amount_refunded == Money(cents=1_000)
    assert after_partial.refunds == (partial,)

    rest = await gateway.refund_payment(charge_id=invoice.charge_id, idempotency_key="refund:rest")
    full = await gateway.get_charge(invoice.charge_id)
    assert full.amount_refunded == full.amount == RULES.joining_fee
    assert {r.id for r in full.refunds} == {partial.id, rest.id}
    assert sum(r.amount.cents for r in full.refunds) == RULES.joining_fee.cents
    assert all((r.charge_id, r.status) == (invoice.charge_id, "succeeded") for r in full.refunds)
    assert fake.last_event("charge.refunded")["data"]["object"]["refunded"] is True
    with pytest.raises(PaymentProviderError) as unknown:
        await gateway.get_charge("ch_missing")
    assert unknown.value.status == 404


async def test_charge_with_more_refunds_than_the_expansion_holds(
    fake: FakeStripe, gateway: StripePaymentGateway
) -> None:
    session = await joined(fake, gateway)
    charge_id = (await gateway.get_invoice(session.invoice_id or "")).charge_id or ""
    made = [fake.refund_charge(charge_id, 100)["id"] for _ in range(12)]
    assert fake.get(charge_id).get("refunds") is None, "Stripe lists a charge's refunds only when expanded"
    gets_before = len(fake.requests)
    charge = await gateway.get_charge(charge_id)
    assert sorted(r.id for r in charge.refunds) == sorted(made)
    assert charge.amount_refunded == Money(cents=1_200)
    listed = [r for r in fake.requests[gets_before:] if r.path == "/v1/refunds"]
    assert [r.params["charge"] for r in listed] == [charge_id]


async def test_dispute(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    session = await joined(fake, gateway)
    invoice = await gateway.get_invoice(session.invoice_id or "")
    raw = fake.create_dispute(invoice.charge_id or "", amount=5_000)
    dispute = await gateway.get_dispute(raw["id"])
    assert (dispute.charge_id, dispute.payment_intent_id) == (invoice.charge_id, invoice.payment_intent_id)
    assert (dispute.amount, dispute.status, dispute.created_at) == (
        Money(cents=5_000),
        "needs_response",
        ts(raw["created"]),
    )
    fake.close_dispute(raw["id"], won=False)
    assert (await gateway.get_dispute(raw["id"])).status == "lost"
    with pytest.raises(PaymentProviderError) as unknown:
        await gateway.get_dispute("dp_missing")
    assert unknown.value.status == 404


async def test_balance_transactions_since_a_time_newest_first(fake: FakeStripe, gateway: StripePaymentGateway) -> None:
    session = await joined(fake, gateway)  # the joining charge settles at T0
    invoice = await gateway.get_invoice(session.invoice_id or "")
    recent = datetime.fromtimestamp(int(time.time()) - 5, UTC)
    refund = await gateway.refund_payment(
        charge_id=invoice.charge_id, amount=Money(cents=2_500), idempotency_key="refund:txn"
    )
    dispute = fake.create_dispute(invoice.charge_id or "", amount=1_000)

    since_recent = await gateway.list_balance_transactions(created_after=recent)
    assert [(t.type, t.source_id, t.amount) for t in since_recent.items] == [
        ("adjustment", dispute["id"], Money(cents=-1_000)),
        ("refund", refund.id, Money(cents=-2_500)),
    ]
    assert since_recent.items[0].fee == Money(cents=1_500)
    assert since_recent.items[0].net == Money(cents=-2_500)
    assert not since_recent.has_more

    everything, cursor = [], None
    while True:
        page = await gateway.list_balance_transactions(created_after=ts(T0), limit=1, starting_after=cursor)
        everything += page.items
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert len(everything) == 3
    charge_txn = everything[-1]
    assert (charge_txn.type, charge_txn.source_id, charge_txn.created_at) == ("charge", invoice.charge_id, ts(T0))
    assert charge_txn.amount == RULES.joining_fee
    assert charge_txn.net == charge_txn.amount - charge_txn.fee
    assert charge_txn.fee.cents > 0
    assert (await gateway.list_balance_transactions(created_after=ts(T0 + 1), limit=100)).items == tuple(everything[:2])


async def test_dunning_settings_come_from_configuration(fake: FakeStripe) -> None:
    unstated = StripePaymentGateway(fake.api_key, api_base=fake.base_url)
    stated = StripePaymentGateway(
        fake.api_key, api_base=fake.base_url, dunning_retry_days=14, dunning_terminal_action="mark_unpaid"
    )
    try:
        assert await unstated.dunning_settings() == DunningSettings(retry_window_days=None, terminal_action="unknown")
        assert await stated.dunning_settings() == DunningSettings(retry_window_days=14, terminal_action="mark_unpaid")
        assert fake.requests == [], "Stripe has no API for these settings"
    finally:
        await unstated.close()
        await stated.close()
    with pytest.raises(ValueError, match="negative"):
        StripePaymentGateway(fake.api_key, dunning_retry_days=-1)
