"""RELIABILITY 6 with Hypothesis: for one membership's flow (checkout completed, a paid renewal, a failed renewal
then paid, a partial refund) the provider's events applied in any order — an event about something not known yet
goes back to the end of the queue, as the job retry does — end in the same state as applying them in Stripe's
order.

Each example runs two memberships through identical flows in lockstep on one clock (same instants, same amounts):
one is applied in Stripe's order (the reference), the other in a Hypothesis-drawn permutation; their states are
compared with provider ids replaced by their role in the flow."""

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from domain.checkout import PostalAddress
from domain.sessions import Role
from entrypoints.settings import Settings
from ports.outbound.profiles import Profile
from ports.usecases import memberships
from ports.usecases.auth import Principal
from ports.usecases.billing_sync import UnknownSubject
from ports.usecases.payment_events import HANDLED_PREFIXES, apply_event
from tests.e2e.billing_env import BillingWorld, billing_world

Json = dict[str, Any]


class Env:
    """Holds the billing world behind a short repr (Hypothesis prints the test's arguments on failure)."""

    def __init__(self, world: BillingWorld) -> None:
        self.world = world

    def __repr__(self) -> str:
        return "<billing world>"


@pytest.fixture
async def env(test_settings: Settings) -> AsyncIterator[Env]:
    # No worker: cron jobs (reconciliation re-lists the provider's events and applies them) and job retries
    # must not apply events behind the test's back; this test is the only one applying them.
    async with billing_world(test_settings, worker=False) as world:
        yield Env(world)
        await world.ledger_is_consistent()


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


async def new_member(world: BillingWorld) -> tuple[uuid.UUID, str]:
    """An account with a complete adult US profile, through the repositories, then the real `start_checkout`.
    Returns (membership id, checkout session id)."""
    deps = world.container.deps
    now = deps.clock.now()
    email = f"order-{uuid.uuid4().hex[:12]}@example.com"
    async with deps.uow() as uow:
        account = await uow.accounts.add(email=email, password_hash=None, role="member", now=now)
        await uow.profiles.save(
            Profile(
                account_id=account.id,
                legal_first_name="Ada",
                legal_last_name="Lovelace",
                date_of_birth=date(1990, 12, 10),
                address=PostalAddress(
                    line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country="US"
                ),
            ),
            at=now,
        )
        await uow.commit()
    principal = Principal(
        account_id=account.id,
        email=email,
        role=Role.MEMBER,
        session_id=uuid.uuid4(),
        authenticated_at=now,
        second_factor=False,
    )
    started = await memberships.start_checkout(
        deps,
        principal,
        accept_terms_version=world.settings.terms_version,
        accept_payment_authorization=True,
        ip=None,
    )
    session = next(s for s in world.fake.all_objects("checkout.session") if s["url"] == started.url)
    return started.membership_id, session["id"]


class Recorder:
    """Runs fake-provider operations and files the events each one emits under the member it was for."""

    def __init__(self, world: BillingWorld) -> None:
        self.fake = world.fake
        self.seen = {e["id"] for e in self.fake.events()}
        self.events: dict[str, list[Json]] = {}

    def run(self, who: str, operation: Callable[[], Json]) -> Json:
        result = operation()
        fresh = [e for e in self.fake.events() if e["id"] not in self.seen]
        self.seen.update(e["id"] for e in fresh)
        self.events.setdefault(who, []).extend(e for e in fresh if e["type"].startswith(HANDLED_PREFIXES))
        return result


async def run_flow(world: BillingWorld) -> dict[str, tuple[uuid.UUID, list[Json], dict[str, str]]]:
    """Two memberships through the same flow at the same instants. Returns, per member, the membership id, its
    events in Stripe's order, and provider id → role in the flow."""
    fake, clock = world.fake, world.clock
    members = {who: await new_member(world) for who in ("reference", "permuted")}
    recorder = Recorder(world)
    roles: dict[str, dict[str, str]] = {who: {} for who in members}
    subscriptions: dict[str, str] = {}
    for who, (_, session_id) in members.items():
        completed = recorder.run(who, partial(fake.complete_checkout, session_id))
        subscriptions[who] = completed["subscription"]
        roles[who].update({completed["invoice"]: "joining_invoice", completed["subscription"]: "subscription"})
        roles[who][session_id] = "session"
    renewals: dict[str, Json] = {}
    for step, outcome in (("renewal_paid", "paid"), ("renewal_failed", "failed")):
        period_end = fake.get(subscriptions["reference"])["items"]["data"][0]["current_period_end"]
        assert period_end == fake.get(subscriptions["permuted"])["items"]["data"][0]["current_period_end"]
        clock._now = at(period_end)
        for who, sub in subscriptions.items():
            invoice = recorder.run(who, partial(fake.advance_subscription, sub, outcome))
            roles[who][invoice["id"]] = step
            renewals[f"{who}:{step}"] = invoice
    clock.advance(timedelta(days=3))
    for who in members:
        recorder.run(who, partial(fake.pay_invoice, renewals[f"{who}:renewal_failed"]["id"]))
    clock.advance(timedelta(days=1))
    for who in members:
        charge = fake.charge_of_invoice(renewals[f"{who}:renewal_paid"]["id"])
        assert charge is not None
        roles[who][charge["id"]] = "renewal_paid_charge"
        refund = recorder.run(who, partial(fake.refund_charge, charge["id"], amount=1_000))
        roles[who][refund["id"]] = "partial_refund"
    clock.advance(timedelta(hours=1))
    for who in members:
        for provider_id, role in list(roles[who].items()):
            if role in {"joining_invoice", "renewal_paid", "renewal_failed"}:
                charge = fake.charge_of_invoice(provider_id)
                assert charge is not None
                roles[who][charge["id"]] = f"{role}_charge"
    return {who: (membership, recorder.events[who], roles[who]) for who, (membership, _) in members.items()}


async def apply_all(world: BillingWorld, events: list[Json]) -> list[str]:
    """Apply events in the given order; `UnknownSubject` puts the event back at the end of the queue. Returns the
    order in which they were finally applied."""
    deps = world.container.deps
    assert deps.payment_events is not None
    queue = list(events)
    applied: list[str] = []
    budget = len(queue) * (len(queue) + 1)
    while queue:
        budget -= 1
        assert budget >= 0, f"events never became applicable: {[e['type'] for e in queue]}"
        event = queue.pop(0)
        ref = deps.payment_events.decode(json.dumps(event))
        try:
            await apply_event(deps, ref)
        except UnknownSubject:
            queue.append(event)
            continue
        applied.append(event["type"])
    return applied


def _symbolic(text: str | None, roles: dict[str, str]) -> str | None:
    if text is None:
        return None
    for provider_id, role in roles.items():
        text = text.replace(provider_id, f"<{role}>")
    return text


async def snapshot(world: BillingWorld, membership_id: uuid.UUID, roles: dict[str, str]) -> Json:
    """The membership's billing state with provider ids replaced by their role in the flow."""
    row = (
        await world.sql(
            "SELECT status, tenure_start, member_number, grace_ends_at, cancel_effective_at, ended_at, end_reason, "
            "next_due_at, joining_invoice_id, provider_subscription_id, checkout_url FROM memberships WHERE id = $1",
            membership_id,
        )
    )[0]
    invoices = [
        {
            "invoice": _symbolic(r["provider_invoice_id"], roles),
            **{k: v for k, v in r.items() if k != "provider_invoice_id"},
        }
        for r in await world.sql(
            "SELECT provider_invoice_id, purpose, period_index, amount_cents, status, due_at, paid_at, "
            "first_failed_at, grace_start, grace_ends_at, reversed_at FROM invoices WHERE membership_id = $1 "
            "ORDER BY purpose, period_index",
            membership_id,
        )
    ]
    payments = [
        {
            "invoice": _symbolic(r["provider_invoice_id"], roles),
            "charge": _symbolic(r["provider_charge_id"], roles),
            **{k: r[k] for k in ("amount_cents", "refunded_cents", "paid_at", "dispute_status")},
        }
        for r in await world.sql(
            "SELECT i.provider_invoice_id, p.provider_charge_id, p.amount_cents, p.refunded_cents, p.paid_at, "
            "p.dispute_status FROM payments p JOIN invoices i ON i.id = p.invoice_id WHERE i.membership_id = $1 "
            "ORDER BY i.purpose, i.period_index",
            membership_id,
        )
    ]
    refunds = [
        (_symbolic(r["provider_refund_id"], roles), r["amount_cents"], r["created_at"])
        for r in await world.sql(
            "SELECT r.provider_refund_id, r.amount_cents, r.created_at FROM refunds r JOIN payments p "
            "ON p.id = r.payment_id JOIN invoices i ON i.id = p.invoice_id WHERE i.membership_id = $1 "
            "ORDER BY r.created_at, r.provider_refund_id",
            membership_id,
        )
    ]
    ledger = sorted(
        (
            _symbolic(r["reference"], roles),
            r["kind"],
            r["occurred_at"],
            tuple(r["postings"]),
        )
        for r in await world.sql(
            "SELECT e.reference, e.kind, e.occurred_at, "
            "array_agg(p.account || ':' || p.amount_cents ORDER BY p.account, p.amount_cents) AS postings "
            "FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id "
            "WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS known(id) WHERE strpos(e.reference, known.id) > 0) "
            "GROUP BY e.id, e.reference, e.kind, e.occurred_at",
            list(roles),
        )
    )
    return {
        "status": row["status"],
        "tenure_start": row["tenure_start"],
        "has_member_number": row["member_number"] is not None,
        "grace_ends_at": row["grace_ends_at"],
        "cancel_effective_at": row["cancel_effective_at"],
        "ended_at": row["ended_at"],
        "end_reason": row["end_reason"],
        "next_due_at": row["next_due_at"],
        "joining_invoice": _symbolic(row["joining_invoice_id"], roles),
        "subscription": _symbolic(row["provider_subscription_id"], roles),
        "checkout_url": row["checkout_url"],
        "invoices": invoices,
        "payments": payments,
        "refunds": refunds,
        "ledger": ledger,
    }


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example costs ~1 s: report, do not shrink
)
@given(data=st.data())
async def test_any_order_of_one_flows_events_ends_in_the_same_state(env: Env, data: st.DataObject) -> None:
    world = env.world
    flows = await run_flow(world)
    reference_id, reference_events, reference_roles = flows["reference"]
    permuted_id, permuted_events, permuted_roles = flows["permuted"]
    assert [e["type"] for e in reference_events] == [e["type"] for e in permuted_events]

    await apply_all(world, reference_events)
    expected = await snapshot(world, reference_id, reference_roles)
    # The flow is what it says: active, same tenure, three paid invoices, one partial refund in the ledger.
    assert expected["status"] == "ACTIVE"
    assert expected["has_member_number"]
    assert expected["tenure_start"] is not None
    assert expected["grace_ends_at"] is None
    assert [(i["invoice"], i["status"]) for i in expected["invoices"]] == [
        ("<renewal_paid>", "paid"),
        ("<renewal_failed>", "paid"),
        ("<joining_invoice>", "paid"),
    ]
    assert len(expected["payments"]) == 3
    assert [(r[0], r[1]) for r in expected["refunds"]] == [("<partial_refund>", 1_000)]
    assert {entry[0] for entry in expected["ledger"]} == {
        "invoice:<joining_invoice>:paid",
        "invoice:<renewal_paid>:paid",
        "invoice:<renewal_failed>:paid",
        "refund:<partial_refund>",
    }

    order = data.draw(st.permutations(range(len(permuted_events))), label="order")
    applied = await apply_all(world, [permuted_events[i] for i in order])
    actual = await snapshot(world, permuted_id, permuted_roles)
    differing = {key: (actual[key], expected[key]) for key in expected if actual[key] != expected[key]}
    assert not differing, f"applied as {applied}; (permuted, Stripe's order) differ in {differing}"
