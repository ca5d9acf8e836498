"""The offline sandbox payment provider (embedded default) on PostgreSQL, one journey on SQLite, and its pages.

It must behave like Stripe as our use cases see it: the same object relations and statuses, the same event
order, events signed like Stripe's webhooks and handed to `deliver` only after the state is stored."""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sandbox.payments import SandboxPaymentGateway, add_months
from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, ensure_sqlite_directory, session_factory
from adapters.stripe.signatures import StripeWebhookVerifier
from domain.money import Money
from entrypoints.http.app import CSRF_COOKIE, CSRF_HEADER
from entrypoints.http.problems import exception_handlers
from entrypoints.http.sandbox import SANDBOX_STATE_KEY, create_sandbox_router
from entrypoints.http.strict_body import validate_body_strictly
from ports.outbound.payments import CheckoutSession, PaymentProviderError
from tests.fakes import FakeClock

SECRET = "whsec_sandbox_test_0123456789"
BASE_URL = "http://localhost:8000"
DUES = Money(cents=2_500, currency="USD")
FEE = Money(cents=10_000, currency="USD")
# The 31st of a month: periods must follow the anchor, clamped (DOMAIN.md §12: Jan 31 → Feb 28 → Mar 31).
START = datetime(2031, 1, 31, 15, 30, tzinfo=UTC)
JOINING_EVENTS = [
    "customer.created",
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "charge.succeeded",
    "payment_intent.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
    "customer.subscription.updated",
    "checkout.session.completed",
]


class Deliveries:
    """A `deliver` callback that keeps what it was given (and can be told to fail)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.fail = False

    async def __call__(self, body: bytes, headers: dict[str, str]) -> None:
        if self.fail:
            raise ConnectionError("webhook intake is down")
        self.received.append((body, headers))

    def events(self) -> list[dict[str, Any]]:
        verifier = StripeWebhookVerifier(SECRET)
        out = []
        for body, headers in self.received:
            verified = verifier.check(body, headers, now=self.clock.now())
            event = json.loads(body)
            assert verified.key == event["id"]
            assert verified.type == event["type"]
            out.append(event)
        return out

    def types(self) -> list[str]:
        return [e["type"] for e in self.events()]

    def take(self) -> list[dict[str, Any]]:
        events = self.events()
        self.received.clear()
        return events


class Sandbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], start: datetime = START) -> None:
        self.clock = FakeClock(start)
        self.deliveries = Deliveries(self.clock)
        self.sessions = sessions
        self.gateway = self.new_gateway()

    def new_gateway(self) -> SandboxPaymentGateway:
        return SandboxPaymentGateway(
            self.sessions,
            self.clock,
            production=False,
            webhook_secret=SECRET,
            deliver=self.deliveries,
            base_url=BASE_URL,
        )

    async def checkout(self, membership_id: str, key: str | None = None) -> CheckoutSession:
        return await self.gateway.create_joining_checkout(
            membership_id=membership_id,
            customer_email=f"{membership_id}@example.com",
            monthly_dues=DUES,
            joining_fee=FEE,
            success_url="https://app.example/joined?session={CHECKOUT_SESSION_ID}",
            cancel_url="https://app.example/join",
            idempotency_key=key or f"join:{membership_id}",
        )

    async def joined(self, membership_id: str) -> CheckoutSession:
        session = await self.checkout(membership_id)
        completed = await self.gateway.complete_checkout(session.id)
        self.deliveries.received.clear()
        return completed


_members = iter(range(1_000_000))


def member() -> str:
    return f"mem-{next(_members)}-{id(object())}"


@pytest.fixture
def sandbox(engine: AsyncEngine) -> Sandbox:
    return Sandbox(session_factory(engine))


# ---- construction -----------------------------------------------------------------------------------------------


def test_the_sandbox_refuses_to_run_in_production(engine: AsyncEngine) -> None:
    async def deliver(body: bytes, headers: dict[str, str]) -> None: ...

    with pytest.raises(RuntimeError, match="cannot run in production"):
        SandboxPaymentGateway(
            session_factory(engine),
            FakeClock(),
            production=True,
            webhook_secret=SECRET,
            deliver=deliver,
            base_url=BASE_URL,
        )


# ---- checkout ---------------------------------------------------------------------------------------------------


async def test_joining_checkout_is_idempotent_per_key(sandbox: Sandbox) -> None:
    membership_id = member()
    first = await sandbox.checkout(membership_id)
    again = await sandbox.checkout(membership_id)

    assert again == first
    assert first.id.startswith("cs_")
    assert first.status == "open"
    assert first.payment_status == "unpaid"
    assert first.url == f"{BASE_URL}/sandbox/checkout/{first.id}"
    assert first.amount_total == FEE
    assert first.membership_id == membership_id
    assert first.purpose == "joining"
    assert first.expires_at == START + timedelta(hours=24)
    assert await sandbox.gateway.get_checkout_session(first.id) == first
    other = await sandbox.checkout(membership_id, key=f"join:{membership_id}:again")
    assert other.id != first.id
    with pytest.raises(PaymentProviderError) as refused:  # the same key for another request
        await sandbox.gateway.create_joining_checkout(
            membership_id=member(),
            customer_email="x@example.com",
            monthly_dues=DUES,
            joining_fee=FEE,
            success_url="https://app.example/joined",
            cancel_url="https://app.example/join",
            idempotency_key=f"join:{membership_id}",
        )
    assert refused.value.code == "idempotency_error"
    assert sandbox.deliveries.received == []  # creating a session sends no event
    async with sandbox.sessions() as db:
        stored = await db.get(models.SandboxPaymentObject, first.id)
    assert stored is not None
    assert stored.data["_sandbox"]["idempotency_key"] == f"join:{membership_id}"


async def test_completing_checkout_creates_the_subscription_and_signed_events_in_stripes_order(
    sandbox: Sandbox,
) -> None:
    membership_id = member()
    session = await sandbox.checkout(membership_id)
    completed = await sandbox.gateway.complete_checkout(session.id)

    assert completed.status == "complete"
    assert completed.payment_status == "paid"
    assert completed.customer_id
    assert completed.customer_id.startswith("cus_")
    assert completed.subscription_id
    assert completed.subscription_id.startswith("sub_")
    assert completed.invoice_id
    assert completed.invoice_id.startswith("in_")
    events = sandbox.deliveries.events()  # each verified with our own webhook verifier
    assert [e["type"] for e in events] == JOINING_EVENTS
    for event in events:
        assert event["id"].startswith("evt_")
        assert len(event["id"]) == 4 + 24
        assert event["object"] == "event"
        assert event["api_version"]
        assert event["created"] == int(START.timestamp())
        assert {"id", "object"} <= event["data"]["object"].keys()
        assert "_sandbox" not in json.dumps(event)
    by_type = {e["type"]: e["data"]["object"] for e in events}
    assert by_type["customer.subscription.created"]["status"] == "incomplete"
    assert by_type["customer.subscription.updated"]["status"] == "active"
    assert by_type["customer.subscription.updated"]["metadata"] == {"membership_id": membership_id}
    paid = by_type["invoice.paid"]
    assert paid["object"] == "invoice"
    assert paid["status"] == "paid"
    assert paid["customer"] == completed.customer_id
    assert paid["parent"]["subscription_details"]["subscription"] == completed.subscription_id
    done = by_type["checkout.session.completed"]
    assert done["metadata"] == {"membership_id": membership_id}
    assert done["subscription"] == completed.subscription_id

    invoice = await sandbox.gateway.get_invoice(completed.invoice_id)
    assert invoice.billing_reason == "subscription_create"
    assert invoice.status == "paid"
    assert invoice.amount_due == FEE
    assert invoice.amount_paid == FEE
    assert invoice.paid_at == START
    assert invoice.due_at == START
    assert invoice.subscription_id == completed.subscription_id
    assert invoice.attempt_count == 1
    assert invoice.payment_intent_id
    assert invoice.payment_intent_id.startswith("pi_")
    assert invoice.charge_id
    assert invoice.charge_id.startswith("ch_")
    charge = await sandbox.gateway.get_charge(invoice.charge_id)
    assert charge.amount == FEE
    assert charge.payment_intent_id == invoice.payment_intent_id
    assert charge.refunds == ()
    subscription = await sandbox.gateway.get_subscription(completed.subscription_id)
    assert subscription.status == "active"
    assert subscription.membership_id == membership_id
    assert subscription.current_period_start == START
    assert subscription.current_period_end == datetime(2031, 2, 28, 15, 30, tzinfo=UTC)
    txns = await sandbox.gateway.list_balance_transactions(created_after=START)
    charged = [t for t in txns.items if t.source_id == invoice.charge_id]
    assert len(charged) == 1
    assert charged[0].type == "charge"
    assert charged[0].amount == FEE
    assert charged[0].net.cents == FEE.cents - charged[0].fee.cents > 0

    with pytest.raises(PaymentProviderError):  # a completed session cannot be paid twice
        await sandbox.gateway.complete_checkout(session.id)
    assert len(sandbox.deliveries.received) == len(JOINING_EVENTS)
    assert await sandbox.gateway.get_checkout_session(session.id) == completed


async def test_a_declined_card_changes_nothing_and_expiry_is_announced(sandbox: Sandbox) -> None:
    session = await sandbox.checkout(member())
    declined = await sandbox.gateway.decline_checkout(session.id)
    assert declined.status == "open"
    assert declined.customer_id is None
    assert sandbox.deliveries.received == []

    expired = await sandbox.gateway.expire_checkout(session.id)
    assert expired.status == "expired"
    [event] = sandbox.deliveries.take()
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["object"]["id"] == session.id
    with pytest.raises(PaymentProviderError) as refused:
        await sandbox.gateway.complete_checkout(session.id)
    assert refused.value.code == "checkout_session_expired"

    late = await sandbox.checkout(member())
    sandbox.clock.advance(timedelta(hours=25))  # past expires_at: paying now expires the session instead
    with pytest.raises(PaymentProviderError):
        await sandbox.gateway.complete_checkout(late.id)
    assert (await sandbox.gateway.get_checkout_session(late.id)).status == "expired"
    assert sandbox.deliveries.types() == ["checkout.session.expired"]
    key = f"expire:{member()}"
    again = await sandbox.checkout(member())
    first = await sandbox.gateway.expire_checkout_session(again.id, idempotency_key=key)
    assert await sandbox.gateway.expire_checkout_session(again.id, idempotency_key=key) == first


# ---- renewals ---------------------------------------------------------------------------------------------------


async def test_renewals_paid_failed_and_requiring_action(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    assert joined.subscription_id is not None
    gateway = sandbox.gateway

    renewal = await gateway.advance_subscription(joined.subscription_id, "paid")
    assert renewal is not None
    feb_28 = datetime(2031, 2, 28, 15, 30, tzinfo=UTC)
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.status == "paid"
    assert renewal.amount_due == DUES
    assert renewal.paid_at == feb_28
    assert renewal.created_at == feb_28
    assert renewal.period_start == START
    assert renewal.period_end == feb_28
    assert sandbox.deliveries.types() == [
        "invoice.created",
        "invoice.finalized",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    sandbox.deliveries.received.clear()
    subscription = await gateway.get_subscription(joined.subscription_id)
    assert subscription.current_period_start == feb_28
    assert subscription.current_period_end == datetime(2031, 3, 31, 15, 30, tzinfo=UTC)  # from the anchor

    failed = await gateway.advance_subscription(joined.subscription_id, "failed")
    assert failed is not None
    assert failed.status == "open"
    assert failed.attempt_count == 1
    assert failed.next_attempt_at == failed.created_at + timedelta(days=3)
    assert failed.paid_at is None
    assert failed.charge_id is not None
    assert (await gateway.get_subscription(joined.subscription_id)).status == "past_due"
    events = sandbox.deliveries.take()
    assert [e["type"] for e in events] == [
        "invoice.created",
        "invoice.finalized",
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    assert events[4]["data"]["object"]["attempt_count"] == 1
    assert events[-1]["data"]["object"]["status"] == "past_due"

    sandbox.clock.advance(timedelta(days=40))
    paid = await gateway.pay_invoice(failed.id)
    assert paid.status == "paid"
    assert paid.paid_at == sandbox.clock.now()
    assert paid.amount_paid == DUES
    assert paid.attempt_count == 2
    assert paid.charge_id not in (None, failed.charge_id)
    assert (await gateway.get_subscription(joined.subscription_id)).status == "active"
    assert sandbox.deliveries.types()[-2:] == ["invoice.payment_succeeded", "customer.subscription.updated"]
    sandbox.deliveries.received.clear()
    with pytest.raises(PaymentProviderError) as refused:
        await gateway.pay_invoice(failed.id)
    assert refused.value.code == "invoice_already_paid"

    action = await gateway.advance_subscription(joined.subscription_id, "requires_action")
    assert action is not None
    assert action.status == "open"
    assert action.attempt_count == 1
    assert action.charge_id is None
    assert action.payment_intent_id is not None
    assert "invoice.payment_action_required" in sandbox.deliveries.types()
    assert (await gateway.get_subscription(joined.subscription_id)).status == "past_due"

    page = await gateway.list_invoices(subscription_id=joined.subscription_id, limit=2)
    assert [i.id for i in page.items] == [action.id, failed.id]
    assert page.has_more
    rest = await gateway.list_invoices(subscription_id=joined.subscription_id, starting_after=page.next_cursor)
    assert [i.id for i in rest.items] == [renewal.id, joined.invoice_id]
    assert not rest.has_more
    by_customer = await gateway.list_invoices(customer_id=joined.customer_id, created_after=feb_28)
    assert [i.id for i in by_customer.items] == [action.id, failed.id, renewal.id]
    with pytest.raises(ValueError, match="exactly one"):
        await gateway.list_invoices()


async def test_pausing_voids_the_renewal_and_scheduled_cancellation_ends_the_subscription(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    sub_id = joined.subscription_id
    assert sub_id is not None
    gateway = sandbox.gateway

    paused = await gateway.pause_collection(sub_id, idempotency_key=f"pause:{sub_id}")
    assert paused.collection_paused
    assert paused.pause_behavior == "void"
    assert await gateway.pause_collection(sub_id, idempotency_key=f"pause:{sub_id}") == paused
    assert sandbox.deliveries.types() == ["customer.subscription.updated"]  # the replay did nothing
    sandbox.deliveries.received.clear()
    voided = await gateway.advance_subscription(sub_id, "paid")
    assert voided is not None
    assert voided.status == "void"
    assert voided.amount_paid.cents == 0
    assert voided.charge_id is None
    assert voided.payment_intent_id is None
    assert sandbox.deliveries.types() == [
        "invoice.created",
        "invoice.finalized",
        "invoice.voided",
        "customer.subscription.updated",
    ]
    sandbox.deliveries.received.clear()
    resumed = await gateway.resume_collection(sub_id, idempotency_key=f"resume:{sub_id}")
    assert not resumed.collection_paused
    assert resumed.status == "active"

    scheduled = await gateway.set_cancel_at_period_end(sub_id, on=True, idempotency_key=f"cancel:{sub_id}")
    assert scheduled.cancel_at_period_end
    assert scheduled.cancel_at == scheduled.current_period_end
    undone = await gateway.set_cancel_at_period_end(sub_id, on=False, idempotency_key=f"undo:{sub_id}")
    assert not undone.cancel_at_period_end
    assert undone.cancel_at is None
    await gateway.set_cancel_at_period_end(sub_id, on=True, idempotency_key=f"cancel-again:{sub_id}")
    sandbox.deliveries.received.clear()

    assert await gateway.advance_subscription(sub_id, "paid") is None
    [deleted] = sandbox.deliveries.take()
    assert deleted["type"] == "customer.subscription.deleted"
    assert deleted["data"]["object"]["status"] == "canceled"
    ended = await gateway.get_subscription(sub_id)
    assert ended.status == "canceled"
    assert ended.ended_at == scheduled.current_period_end
    with pytest.raises(PaymentProviderError):
        await gateway.advance_subscription(sub_id, "paid")
    with pytest.raises(PaymentProviderError):
        await gateway.set_cancel_at_period_end(sub_id, on=False, idempotency_key=f"undo-late:{sub_id}")


async def test_cancelling_now_emits_deleted_once(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    assert joined.subscription_id is not None
    key = f"cancel-now:{joined.subscription_id}"
    canceled = await sandbox.gateway.cancel_subscription(joined.subscription_id, idempotency_key=key)
    assert canceled.status == "canceled"
    assert canceled.ended_at == START
    assert await sandbox.gateway.cancel_subscription(joined.subscription_id, idempotency_key=key) == canceled
    assert sandbox.deliveries.types() == ["customer.subscription.deleted"]
    with pytest.raises(PaymentProviderError) as refused:
        await sandbox.gateway.cancel_subscription(joined.subscription_id, idempotency_key=key + ":other")
    assert refused.value.status == 404


async def test_restart_after_cancellation_is_a_new_subscription_billed_from_the_anchor(sandbox: Sandbox) -> None:
    membership_id = member()
    joined = await sandbox.joined(membership_id)
    old_id = joined.subscription_id
    assert old_id is not None
    gateway = sandbox.gateway
    unpaid = await gateway.advance_subscription(old_id, "failed")
    assert unpaid is not None
    sandbox.deliveries.received.clear()
    await gateway.cancel_subscription(old_id, idempotency_key=f"cancel-now:{old_id}")  # the default
    [deleted] = sandbox.deliveries.take()
    old = deleted["data"]["object"]
    assert (await gateway.pay_invoice(unpaid.id)).status == "paid"  # the late truth: paid after all
    assert (await gateway.get_subscription(old_id)).status == "canceled", "paying late does not revive it"
    assert "customer.subscription.updated" not in sandbox.deliveries.types()
    sandbox.deliveries.received.clear()
    assert old["default_payment_method"]
    sandbox.clock.advance(timedelta(days=3))
    restarted_at = sandbox.clock.now()
    anchor = restarted_at + timedelta(days=20)
    key = f"restart:{membership_id}:reinstated"

    restarted = await gateway.restart_subscription(
        old_id, billing_cycle_anchor=anchor, membership_id=membership_id, idempotency_key=key
    )
    assert restarted.id != old_id
    assert (restarted.status, restarted.customer_id, restarted.membership_id) == (
        "active",
        joined.customer_id,
        membership_id,
    )
    assert (restarted.current_period_start, restarted.current_period_end) == (restarted_at, anchor)
    assert not restarted.cancel_at_period_end
    assert restarted.ended_at is None
    [created] = sandbox.deliveries.take()
    new = created["data"]["object"]
    assert (created["type"], new["id"], new["status"]) == ("customer.subscription.created", restarted.id, "active")
    assert created["request"]["idempotency_key"] == key
    assert [(i["price"]["id"], i["quantity"]) for i in new["items"]["data"]] == [
        (i["price"]["id"], i["quantity"]) for i in old["items"]["data"]
    ]
    assert new["default_payment_method"] == old["default_payment_method"]
    assert new["billing_cycle_anchor"] == int(anchor.timestamp())
    assert "_sandbox" not in new
    assert (await gateway.list_invoices(subscription_id=restarted.id)).items == (), "nothing billed before the anchor"

    again = await gateway.restart_subscription(
        old_id, billing_cycle_anchor=anchor, membership_id=membership_id, idempotency_key=key
    )
    assert again == restarted
    assert sandbox.deliveries.received == [], "the replay did nothing"

    sandbox.clock.advance(timedelta(days=20))
    renewal = await gateway.advance_subscription(restarted.id, "paid")
    assert renewal is not None
    assert (renewal.status, renewal.billing_reason, renewal.subscription_id) == (
        "paid",
        "subscription_cycle",
        restarted.id,
    )
    assert (renewal.amount_paid, renewal.created_at, renewal.paid_at) == (DUES, anchor, anchor)
    assert (renewal.period_start, renewal.period_end) == (restarted_at, anchor)
    moved = await gateway.get_subscription(restarted.id)
    next_due = datetime.fromtimestamp(add_months(int(anchor.timestamp()), 1), UTC)
    assert (moved.status, moved.current_period_start, moved.current_period_end) == ("active", anchor, next_due)
    following = await gateway.advance_subscription(restarted.id, "paid")
    assert following is not None
    assert following.created_at == next_due
    sandbox.deliveries.received.clear()

    now = sandbox.clock.now()
    refusals = [
        (now - timedelta(minutes=1), old_id, "restart:past", 400, "parameter_invalid_integer"),
        (now + timedelta(days=40), old_id, "restart:too-far", 400, None),  # beyond the next natural billing date
        (now + timedelta(days=5), "sub_missing", "restart:missing", 404, "resource_missing"),
        (now + timedelta(days=5), old_id, key, 400, "idempotency_error"),  # the key, reused for another request
    ]
    for when, previous, other_key, status, code in refusals:
        with pytest.raises(PaymentProviderError) as refused:
            await gateway.restart_subscription(
                previous, billing_cycle_anchor=when, membership_id=membership_id, idempotency_key=other_key
            )
        assert (refused.value.status, refused.value.code) == (status, code)
    assert sandbox.deliveries.types() == []
    with pytest.raises(ValueError, match="aware"):
        await gateway.restart_subscription(
            old_id, billing_cycle_anchor=datetime(2031, 3, 1), membership_id=membership_id, idempotency_key="naive"
        )


# ---- refunds and disputes ---------------------------------------------------------------------------------------


async def test_partial_then_full_refund(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    assert joined.invoice_id is not None
    invoice = await sandbox.gateway.get_invoice(joined.invoice_id)
    assert invoice.charge_id is not None
    gateway = sandbox.gateway

    key = f"refund:{invoice.id}:partial"
    part = await gateway.refund_payment(charge_id=invoice.charge_id, amount=Money(cents=1_000), idempotency_key=key)
    assert part.id.startswith("re_")
    assert part.status == "succeeded"
    assert part.amount.cents == 1_000
    assert part.charge_id == invoice.charge_id
    assert part.payment_intent_id == invoice.payment_intent_id
    replay = await gateway.refund_payment(charge_id=invoice.charge_id, amount=Money(cents=1_000), idempotency_key=key)
    assert replay == part
    assert sandbox.deliveries.types() == ["charge.refunded", "refund.created"]
    [refunded, _] = sandbox.deliveries.take()
    assert refunded["data"]["object"]["amount_refunded"] == 1_000

    charge = await gateway.get_charge(invoice.charge_id)
    assert charge.amount_refunded.cents == 1_000
    assert [r.id for r in charge.refunds] == [part.id]

    rest = await gateway.refund_payment(payment_intent_id=invoice.payment_intent_id, idempotency_key=key + ":rest")
    assert rest.amount.cents == FEE.cents - 1_000
    charge = await gateway.get_charge(invoice.charge_id)
    assert charge.amount_refunded == FEE
    assert [r.id for r in charge.refunds] == [rest.id, part.id]
    with pytest.raises(PaymentProviderError) as refused:
        await gateway.refund_payment(charge_id=invoice.charge_id, idempotency_key=key + ":more")
    assert refused.value.code == "charge_already_refunded"

    txns = await gateway.list_balance_transactions(created_after=START)
    refunds = {t.source_id: t for t in txns.items if t.type == "refund"}
    assert refunds[part.id].amount.cents == -1_000
    assert refunds[rest.id].amount.cents == -(FEE.cents - 1_000)


async def test_dashboard_refund_control(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    assert joined.invoice_id is not None
    charge_id = (await sandbox.gateway.get_invoice(joined.invoice_id)).charge_id
    assert charge_id is not None
    refund = await sandbox.gateway.refund(charge_id, Money(cents=500))
    assert refund.amount.cents == 500
    with pytest.raises(PaymentProviderError) as refused:
        await sandbox.gateway.refund(charge_id, Money(cents=FEE.cents))
    assert refused.value.code == "amount_too_large"
    assert (await sandbox.gateway.refund(charge_id)).amount.cents == FEE.cents - 500


async def test_disputes_open_and_close(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    assert joined.invoice_id is not None
    invoice = await sandbox.gateway.get_invoice(joined.invoice_id)
    assert invoice.charge_id is not None

    dispute = await sandbox.gateway.open_dispute(invoice.charge_id)
    assert dispute.id.startswith("dp_")
    assert dispute.status == "needs_response"
    assert dispute.amount == FEE
    assert dispute.charge_id == invoice.charge_id
    assert dispute.payment_intent_id == invoice.payment_intent_id
    [created] = sandbox.deliveries.take()
    assert created["type"] == "charge.dispute.created"
    assert created["data"]["object"]["id"] == dispute.id

    won = await sandbox.gateway.close_dispute(dispute.id, won=True)
    assert won.status == "won"
    assert await sandbox.gateway.get_dispute(dispute.id) == won
    [closed] = sandbox.deliveries.take()
    assert closed["type"] == "charge.dispute.closed"
    assert closed["data"]["object"]["status"] == "won"
    with pytest.raises(PaymentProviderError):
        await sandbox.gateway.close_dispute(dispute.id, won=False)
    txns = await sandbox.gateway.list_balance_transactions(created_after=START)
    moves = sorted(t.amount.cents for t in txns.items if t.source_id == dispute.id)
    assert moves == [-FEE.cents, FEE.cents]

    lost = await sandbox.gateway.close_dispute((await sandbox.gateway.open_dispute(invoice.charge_id)).id, won=False)
    assert lost.status == "lost"


# ---- retention checkout, portal, settings, events ---------------------------------------------------------------


async def test_retention_checkout_in_payment_mode(sandbox: Sandbox) -> None:
    membership_id = member()
    joined = await sandbox.joined(membership_id)
    assert joined.customer_id is not None
    amount = Money(cents=30_000)
    session = await sandbox.gateway.create_retention_checkout(
        membership_id=membership_id,
        customer_id=joined.customer_id,
        amount=amount,
        success_url="https://app.example/retention?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://app.example/retention",
        idempotency_key=f"retention:{membership_id}",
    )
    assert session.purpose == "retention"
    assert session.amount_total == amount
    assert session.payment_intent_id is None
    sandbox.clock.advance(timedelta(minutes=5))
    paid = await sandbox.gateway.complete_checkout(session.id)
    assert paid.status == "complete"
    assert paid.payment_status == "paid"
    assert paid.subscription_id is None
    assert paid.payment_intent_id is not None
    assert paid.paid_at == START + timedelta(minutes=5)
    events = sandbox.deliveries.take()
    assert [e["type"] for e in events] == ["charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]
    completed = events[-1]["data"]["object"]
    assert completed["mode"] == "payment"
    assert completed["payment_intent"] == paid.payment_intent_id
    assert completed["metadata"] == {"membership_id": membership_id, "purpose": "retention"}
    charge_id = events[0]["data"]["object"]["id"]
    assert (await sandbox.gateway.get_charge(charge_id)).amount == amount
    with pytest.raises(PaymentProviderError):
        await sandbox.gateway.create_retention_checkout(
            membership_id=membership_id,
            customer_id="cus_nobody",
            amount=amount,
            success_url="https://app.example/r",
            cancel_url="https://app.example/r",
            idempotency_key=f"retention:{membership_id}:unknown",
        )


async def test_portal_link_settings_and_event_listing(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    assert joined.customer_id is not None
    link = await sandbox.gateway.create_billing_portal_link(
        customer_id=joined.customer_id, return_url="https://app.example/account", idempotency_key=f"p:{joined.id}"
    )
    assert link.url == f"{BASE_URL}/sandbox/portal/{joined.customer_id}"
    assert link.id.startswith("bps_")

    settings = await sandbox.gateway.dunning_settings()
    assert settings.terminal_action == "past_due"  # never ends a subscription by itself

    sandbox.clock.advance(timedelta(days=3650))  # a time no other test reaches
    later = sandbox.clock.now()
    assert joined.subscription_id is not None
    await sandbox.gateway.set_cancel_at_period_end(joined.subscription_id, on=True, idempotency_key=f"c:{joined.id}")
    await sandbox.gateway.set_cancel_at_period_end(joined.subscription_id, on=False, idempotency_key=f"u:{joined.id}")
    await sandbox.gateway.cancel_subscription(joined.subscription_id, idempotency_key=f"x:{joined.id}")
    delivered = [e["id"] for e in sandbox.deliveries.take()]
    page = await sandbox.gateway.list_events(created_after=later, limit=2)
    assert [e.id for e in page.items] == delivered[::-1][:2]
    assert page.has_more
    rest = await sandbox.gateway.list_events(created_after=later, starting_after=page.next_cursor)
    assert [e.id for e in rest.items] == [delivered[0]]
    assert not rest.has_more
    deleted = await sandbox.gateway.list_events(created_after=later, types=["customer.subscription.deleted"])
    assert [(e.type, e.object_id) for e in deleted.items] == [("customer.subscription.deleted", joined.subscription_id)]


async def test_an_undelivered_event_stays_pending_and_is_sent_again(sandbox: Sandbox) -> None:
    session = await sandbox.checkout(member())
    sandbox.deliveries.fail = True
    await sandbox.gateway.expire_checkout(session.id)  # the state change stands although delivery failed
    assert (await sandbox.gateway.get_checkout_session(session.id)).status == "expired"
    sandbox.deliveries.fail = False
    assert sandbox.deliveries.received == []

    # A restarted process (a new gateway over the same database) sends what is still pending.
    assert await sandbox.new_gateway().deliver_pending() >= 1
    expired = [e for e in sandbox.deliveries.take() if e["data"]["object"]["id"] == session.id]
    assert [e["type"] for e in expired] == ["checkout.session.expired"]
    await sandbox.gateway.deliver_pending()
    assert [e for e in sandbox.deliveries.take() if e["data"]["object"]["id"] == session.id] == []


async def test_concurrent_mutations_are_serialised(sandbox: Sandbox) -> None:
    joined = await sandbox.joined(member())
    assert joined.invoice_id is not None
    charge_id = (await sandbox.gateway.get_invoice(joined.invoice_id)).charge_id
    assert charge_id is not None
    results = await asyncio.gather(
        *(sandbox.gateway.refund(charge_id, Money(cents=3_000)) for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 3  # 3 × 30.00 of 100.00; the 4th is refused
    assert (await sandbox.gateway.get_charge(charge_id)).amount_refunded.cents == 9_000


# ---- SQLite (the embedded default) -------------------------------------------------------------------------------


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'tenure.db'}"
    ensure_sqlite_directory(url)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


async def test_a_member_journey_on_sqlite_survives_a_restart(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    sandbox = Sandbox(sqlite_sessions)
    joined = await sandbox.joined(member())
    assert joined.subscription_id is not None
    failed = await sandbox.gateway.advance_subscription(joined.subscription_id, "failed")
    assert failed is not None

    restarted = sandbox.new_gateway()
    assert (await restarted.get_subscription(joined.subscription_id)).status == "past_due"
    paid = await restarted.pay_invoice(failed.id)
    assert paid.status == "paid"
    assert (await restarted.get_subscription(joined.subscription_id)).status == "active"
    assert sandbox.deliveries.types()[-1] == "customer.subscription.updated"
    async with sqlite_sessions() as db:
        kinds = set((await db.scalars(select(models.SandboxPaymentObject.kind))).all())
    assert {"checkout.session", "customer", "subscription", "invoice", "charge", "event"} <= kinds
    assert add_months(int(START.timestamp()), 13) == int(datetime(2032, 2, 29, 15, 30, tzinfo=UTC).timestamp())


# ---- pages ------------------------------------------------------------------------------------------------------


@pytest.fixture
async def pages_sandbox(pg_database: str) -> AsyncIterator[Sandbox]:
    """The test client runs the app in another event loop: no pooled connection may cross between the two."""
    engine = create_async_engine(pg_database, poolclass=NullPool)
    yield Sandbox(session_factory(engine))
    await engine.dispose()


@pytest.fixture
def pages_app(pages_sandbox: Sandbox) -> Litestar:
    """The sandbox router under the API's own CSRF, strict-body and problem-document configuration."""
    app = Litestar(
        route_handlers=[create_sandbox_router()],
        csrf_config=CSRFConfig(secret="s" * 32, cookie_name=CSRF_COOKIE, header_name=CSRF_HEADER),
        exception_handlers=exception_handlers,
        before_request=validate_body_strictly,
    )
    app.state[SANDBOX_STATE_KEY] = pages_sandbox.gateway
    return app


async def test_checkout_page_pay_and_decline(pages_app: Litestar, pages_sandbox: Sandbox) -> None:
    sandbox = pages_sandbox
    session = await sandbox.checkout(member())
    async with AsyncTestClient(pages_app, base_url="https://sandbox.test") as client:
        page = await client.get(f"/sandbox/checkout/{session.id}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "100.00 USD" in page.text
        assert f'action="/sandbox/checkout/{session.id}/pay"' in page.text
        assert '<html lang="en">' in page.text
        found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert found is not None, "the forms carry the CSRF token"
        form = {"_csrf_token": found.group(1)}
        forged = await client.post(f"/sandbox/checkout/{session.id}/pay", follow_redirects=False)
        assert forged.status_code == 403  # no token: refused like every other unsafe route
        assert sandbox.deliveries.received == []

        declined = await client.post(f"/sandbox/checkout/{session.id}/decline", data=form)
        assert declined.status_code == 200
        assert 'role="alert"' in declined.text
        assert "declined" in declined.text
        assert sandbox.deliveries.received == []

        paid = await client.post(f"/sandbox/checkout/{session.id}/pay", data=form, follow_redirects=False)
        assert paid.status_code == 303
        assert paid.headers["location"] == f"https://app.example/joined?session={session.id}"
        assert sandbox.deliveries.types() == JOINING_EVENTS

        again = await client.post(f"/sandbox/checkout/{session.id}/pay", data=form, follow_redirects=False)
        assert again.status_code == 409
        assert 'role="alert"' in again.text
        assert (await client.get("/sandbox/checkout/cs_test_nothing")).status_code == 404


async def test_portal_page_and_json_controls(pages_app: Litestar, pages_sandbox: Sandbox) -> None:
    sandbox = pages_sandbox
    joined = await sandbox.joined(member())
    assert joined.customer_id is not None
    assert joined.subscription_id is not None
    await sandbox.gateway.create_billing_portal_link(
        customer_id=joined.customer_id, return_url="https://app.example/account", idempotency_key=f"pp:{joined.id}"
    )
    async with AsyncTestClient(pages_app, base_url="https://sandbox.test") as client:
        portal = await client.get(f"/sandbox/portal/{joined.customer_id}")
        assert portal.status_code == 200
        client.headers["x-csrftoken"] = client.cookies["__Host-csrftoken"]  # as the SPA does
        assert 'href="https://app.example/account"' in portal.text

        advanced = await client.post(
            f"/sandbox/subscriptions/{joined.subscription_id}/advance", json={"outcome": "failed"}
        )
        assert advanced.status_code == 200, advanced.text
        body = advanced.json()
        assert body["subscriptionStatus"] == "past_due"
        assert body["invoice"]["status"] == "open"
        invoice_id = body["invoice"]["id"]

        hosted = await client.get(f"/sandbox/invoices/{invoice_id}")
        assert hosted.status_code == 200
        assert f'action="/sandbox/invoices/{invoice_id}/pay"' in hosted.text
        paid = await client.post(f"/sandbox/invoices/{invoice_id}/pay")
        assert paid.status_code == 200
        assert paid.json()["status"] == "paid"
        again = await client.post(f"/sandbox/invoices/{invoice_id}/pay")
        assert again.status_code == 409
        assert again.json()["providerCode"] == "invoice_already_paid"
        bad = await client.post(f"/sandbox/subscriptions/{joined.subscription_id}/advance", json={"outcome": "maybe"})
        assert bad.status_code == 400
        form = await client.post(
            f"/sandbox/invoices/{invoice_id}/pay",
            content=b"",
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert form.status_code == 409  # already paid: the page with the error
