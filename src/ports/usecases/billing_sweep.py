"""The billing sweep (cron, several times an hour, our clock): everything about memberships that time decides.

- a checkout that expired unpaid → ABANDONED (after asking the provider: it may have been paid after all);
- an invoice unpaid `invoice_unpaid_after_hours` after falling due → PAST_DUE without waiting for an event;
- grace reminders (168 h and 48 h before the end) and the "dues upcoming" notice, each once;
- a scheduled cancellation that reached the period end → CANCELLED;
- grace over → DEFAULTED, but only after re-reading the member's invoices from the provider and while that
  customer has no unprocessed provider events (a payment may be waiting in either). Defaulting ends tenure,
  so any doubt means wait.
"""

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from domain import billing as billing_rules
from domain.events import (
    DuesUpcoming,
    MembershipDefaulted,
    MembershipPastDueReminder,
    NotificationSchedule,
    dues_upcoming_at,
    past_due_reminder_times,
)
from domain.membership import MembershipEvent, MembershipState, cancellation_takes_effect
from ports.outbound.billing import MembershipRecord
from ports.outbound.tasks import Payload
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import billing_sync
from ports.usecases.billing_sync import change_state, command, notify, reconcile_status
from ports.usecases.deps import Deps

logger = logging.getLogger(__name__)

SWEEP_TASK = "billing.sweep"
BATCH = 500
SCHEDULE = NotificationSchedule()


async def sweep(deps: Deps, payload: Payload) -> dict[str, int]:
    """Cron: look at every membership time may have changed; returns counts of what happened (job log)."""
    del payload
    now = deps.clock.now()
    upcoming_until = now + timedelta(days=SCHEDULE.dues_upcoming_days)
    counts: dict[str, int] = {}
    after: UUID | None = None
    while True:  # every candidate, batch by batch (keyset on id), so none is starved by earlier ones
        async with deps.uow() as uow:
            candidates = await uow.billing.sweep_candidates(
                now=now, upcoming_until=upcoming_until, after=after, limit=BATCH
            )
        for membership_id in candidates:
            try:
                outcome = await sweep_membership(deps, membership_id)
            except Exception:
                logger.warning("billing sweep of membership %s failed", membership_id, exc_info=True)
                outcome = "failed"
            counts[outcome] = counts.get(outcome, 0) + 1
        if len(candidates) < BATCH:
            break
        after = candidates[-1]
    return counts


async def sweep_membership(deps: Deps, membership_id: UUID) -> str:
    async with deps.uow() as uow:
        membership = await uow.billing.get_membership(membership_id)
    if membership is None:
        return "gone"
    if membership.status is MembershipState.PENDING:
        return await _expire_checkout(deps, membership)
    now = deps.clock.now()
    if cancellation_takes_effect(
        state=membership.status, scheduled_effective_at=membership.cancel_effective_at, now=now
    ):
        async with deps.uow() as uow:
            locked = await uow.billing.get_membership(membership_id, for_update=True)
            if locked is not None and cancellation_takes_effect(
                state=locked.status, scheduled_effective_at=locked.cancel_effective_at, now=now
            ):
                await billing_sync.finish_cancellation(deps, uow, locked)
            await uow.commit()
        return "cancelled"
    if _grace_over(deps, membership, now):
        return await _default_if_due(deps, membership)
    async with deps.uow() as uow:
        locked = await uow.billing.get_membership(membership_id, for_update=True)
        if locked is None:
            return "gone"
        locked = await reconcile_status(deps, uow, locked)
        await _reminders(uow, locked, now)
        await _dues_upcoming(deps, uow, locked, now)
        await uow.commit()
    return locked.status.value


def _grace_over(deps: Deps, membership: MembershipRecord, now: datetime) -> bool:
    return membership.status is MembershipState.PAST_DUE and (
        membership.grace_ends_at is not None and now > membership.grace_ends_at
    )


async def _expire_checkout(deps: Deps, membership: MembershipRecord) -> str:
    """Ask the provider before abandoning: a checkout paid at the last second activates instead."""
    if membership.checkout_session_id is None:
        return "pending"
    after = await billing_sync.close_expired_checkout(deps, membership.checkout_session_id)
    return after.status.value if after else "pending"


async def _default_if_due(deps: Deps, membership: MembershipRecord) -> str:
    now = deps.clock.now()
    provider = billing_sync.gateway(deps)
    refreshed = False
    if membership.provider_subscription_id:
        subscription = await provider.get_subscription(membership.provider_subscription_id)
        page = await provider.list_invoices(subscription_id=membership.provider_subscription_id, limit=24)
        async with deps.uow() as uow:
            locked = await uow.billing.get_membership(membership.id, for_update=True)
            if locked is None:
                return "gone"
            for invoice in page.items:
                locked = await billing_sync.apply_invoice(deps, uow, locked, invoice, subscription)
            await uow.commit()
        refreshed = True
    async with deps.uow() as uow:
        locked = await uow.billing.get_membership(membership.id, for_update=True)
        if locked is None:
            return "gone"
        backlog = (
            await uow.inbox.unprocessed_for_subject("stripe", locked.provider_customer_id)
            if locked.provider_customer_id
            else 0
        )
        decision = billing_rules.default_decision(
            state=locked.status,
            invoices=billing_sync.domain_invoices(list(await uow.billing.invoices_of(locked.id))),
            history=deps.rules.history,
            now=now,
            invoices_refreshed=refreshed,
            unprocessed_provider_events=backlog > 0,
        )
        if decision.action is not billing_rules.DefaultAction.DEFAULT:
            await uow.commit()
            return "waiting" if decision.action is billing_rules.DefaultAction.WAIT else locked.status.value
        if locked.status is MembershipState.ACTIVE:
            locked = await reconcile_status(deps, uow, locked)
        defaulted = await change_state(
            uow,
            locked,
            MembershipEvent.DEFAULT,
            at=now,
            reason="grace ended with dues unpaid",
            ended_at=now,
            end_reason="defaulted",
        )
        notify(uow, MembershipDefaulted.name, defaulted)
        if locked.provider_subscription_id:
            command(
                uow,
                billing_sync.CANCEL_SUBSCRIPTION_REQUESTED,
                defaulted,
                subscriptionId=locked.provider_subscription_id,
                reason="defaulted",
            )
        await uow.commit()
    return "defaulted"


async def _reminders(uow: UnitOfWork, membership: MembershipRecord, now: datetime) -> None:
    if membership.status is not MembershipState.PAST_DUE or membership.grace_ends_at is None:
        return
    start = membership.grace_ends_at - timedelta(days=36500)
    for hours, at in past_due_reminder_times(
        grace_start=start, grace_ends_at=membership.grace_ends_at, schedule=SCHEDULE
    ):
        if at <= now < membership.grace_ends_at:
            key = f"past_due:{membership.grace_ends_at.isoformat()}:{hours}"
            if await uow.billing.raise_notice_once(membership_id=membership.id, notice_key=key, at=now):
                notify(
                    uow,
                    MembershipPastDueReminder.name,
                    membership,
                    graceEndsAt=membership.grace_ends_at,
                    hoursBefore=hours,
                )


async def _dues_upcoming(deps: Deps, uow: UnitOfWork, membership: MembershipRecord, now: datetime) -> None:
    if membership.status is not MembershipState.ACTIVE or membership.next_due_at is None:
        return
    if membership.tenure_start is None:
        return
    due = membership.next_due_at
    if due <= now:  # passed: track the next one
        following = billing_rules.next_due_after(membership.tenure_start, now)
        await uow.billing.save_membership(replace(membership, next_due_at=following), at=now)
        return
    cancelled_before = membership.cancel_effective_at is not None and membership.cancel_effective_at <= due
    if (
        dues_upcoming_at(due, SCHEDULE) <= now
        and not cancelled_before
        and membership.billing_paused_at is None
        and await uow.billing.raise_notice_once(
            membership_id=membership.id, notice_key=f"dues_upcoming:{due.isoformat()}", at=now
        )
    ):
        rules = deps.rules.in_force(due)
        notify(uow, DuesUpcoming.name, membership, invoiceDueAt=due, amount=rules.monthly_dues.cents)
