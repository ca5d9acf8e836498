"""StripePaymentGateway against the fake Stripe server: real SDK, real HTTP over loopback."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import stripe

from adapters.stripe.gateway import StripePaymentGateway
from domain.money import Money
from domain.rules import ProgramRules
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.payments import CheckoutSession, PaymentProviderError
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
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

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
        server.close()
