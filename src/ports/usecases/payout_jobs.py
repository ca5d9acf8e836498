"""Daily payout housekeeping: reminders for missing details, the unclaimed deadline, and winners' end.

- `payout.info_required` goes out 7, 30, 90 and 150 days after selection while payment details or the W-9 are
  missing, each once (a notice key per payout and day).
- At the deadline with payment details still missing, staff are alerted: cancelling as `unclaimed` is a
  two-person decision, never a job's.
- A paid winner's membership ends at `max(selection + retention months, completion + return window)` (D37);
  then the subscription is cancelled.
"""

from uuid import UUID

from domain.events import MembershipEnded, PayoutInfoRequired, PayoutUnclaimed
from domain.membership import MembershipEvent, MembershipState, winner_end_at
from domain.payouts import info_reminders_due, is_unclaimed, unclaimed_deadline
from ports.outbound.tasks import Payload
from ports.usecases import billing_sync
from ports.usecases.deps import Deps
from ports.usecases.payouts import payout_rules
from ports.usecases.rounds import payout_services

REMIND_TASK = "payout.remind"
END_TASK = "payout.end_winners"
BATCH = 200


async def remind(deps: Deps, payload: Payload) -> int:
    """Raise due `payout.info_required` notices and unclaimed alerts; returns notices raised."""
    del payload
    policy = payout_services(deps).policy
    now = deps.clock.now()
    raised = 0
    after: UUID | None = None
    while True:
        async with deps.uow() as uow:
            page = await uow.payouts.open_payouts(after=after, limit=BATCH)
            if not page:
                return raised
            for payout in page:
                payout_id = UUID(payout.payout_id)
                membership_id = UUID(payout.membership_id)
                details = await uow.payouts.details(payout_id)
                tax = await uow.payouts.tax_form(payout_id)
                missing = [
                    name for name, absent in (("payment_details", details is None), ("w9", tax is None)) if absent
                ]
                rules = payout_rules(deps, payout)
                due = info_reminders_due(
                    selected_at=payout.selected_at,
                    now=now,
                    already_sent=(),
                    details_missing=bool(missing),
                    policy=policy,
                )
                fresh = [
                    day
                    for day in due
                    if await uow.billing.raise_notice_once(
                        membership_id=membership_id, notice_key=f"payout_info:{payout_id}:{day}", at=now
                    )
                ]
                if fresh:  # after downtime, one reminder for all those missed (each is still marked sent once)
                    membership = await uow.billing.get_membership(membership_id)
                    assert membership is not None
                    billing_sync.notify(
                        uow,
                        PayoutInfoRequired.name,
                        membership,
                        payoutId=payout.payout_id,
                        missing=missing,
                        deadline=unclaimed_deadline(payout.selected_at, rules),
                    )
                    raised += 1
                if is_unclaimed(
                    payout, details_missing=details is None, now=now, rules=rules
                ) and await uow.billing.raise_notice_once(
                    membership_id=membership_id, notice_key=f"payout_unclaimed:{payout_id}", at=now
                ):
                    uow.record(
                        event_name=PayoutUnclaimed.name,
                        aggregate_type="payout",
                        aggregate_id=payout.payout_id,
                        payload={"payoutId": payout.payout_id},
                    )
                    raised += 1
            after = UUID(page[-1].payout_id)
            await uow.commit()


async def end_winners(deps: Deps, payload: Payload) -> int:
    """PAID → ENDED once the retention months and the ACH return window are both over; returns memberships ended."""
    del payload
    policy = payout_services(deps).policy
    now = deps.clock.now()
    ended = 0
    async with deps.uow() as uow:
        for payout in await uow.payouts.completed_before(now - policy.ach_return_window, limit=BATCH):
            assert payout.completed_at is not None
            end_at = winner_end_at(
                selected_at=payout.selected_at,
                completed_at=payout.completed_at,
                retention_months=payout_rules(deps, payout).retention_months,
                return_window=policy.ach_return_window,
            )
            if now < end_at:
                continue
            membership = await uow.billing.get_membership(UUID(payout.membership_id), for_update=True)
            if membership is None or membership.status is not MembershipState.PAID:
                continue
            done = await billing_sync.change_state(
                uow, membership, MembershipEvent.END, at=now, actor="payout", ended_at=now, end_reason="paid"
            )
            if done.provider_subscription_id:
                billing_sync.command(
                    uow,
                    billing_sync.CANCEL_SUBSCRIPTION_REQUESTED,
                    done,
                    subscriptionId=done.provider_subscription_id,
                    reason="winner-ended",
                )
            billing_sync.notify(uow, MembershipEnded.name, done)
            ended += 1
        await uow.commit()
    return ended
