"""Terminate a membership for cause: one staff member asks with a reason from the closed list, a second confirms
the same reason. Confirmed, the membership is CANCELLED with its place in the queue gone, the subscription is
cancelled at the provider through the outbox, the member is told, and the person may not rejoin (D154).

Each staff member's own words go into a staff note on the account (erasable); the membership's audit chain
records the closed reason and the note's id.
"""

from dataclasses import dataclass
from uuid import UUID

from domain.membership import LIVE_STATES, MembershipEvent
from domain.termination import TerminationReason, end_reason, parse_reason, termination_refusal
from ports.outbound.billing import MembershipRecord
from ports.outbound.payouts import StaffRequestRecord
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import billing_sync, two_person
from ports.usecases.admin_members import member_account
from ports.usecases.admin_support import staff_reason
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound, Refused

TERMINATE_REQUEST = "terminate"


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminationStep:
    membership: MembershipRecord
    pending: StaffRequestRecord | None
    """The open request waiting for a second staff member; ``None`` once the membership is terminated."""


def _reason(value: str) -> TerminationReason:
    try:
        return parse_reason(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), ["reason_unknown"]) from None


async def _live_membership(uow: UnitOfWork, account_id: UUID) -> MembershipRecord:
    await uow.billing.lock_account_memberships(account_id)
    live = [m for m in await uow.billing.memberships_of(account_id) if m.status in LIVE_STATES]
    if not live:
        raise Refused("the member has no live membership", ["no_live_membership"])
    membership = await uow.billing.get_membership(live[0].id, for_update=True)
    assert membership is not None
    return membership


async def terminate(
    deps: Deps, staff: Principal, account_id: UUID, *, reason: str, explanation: str
) -> TerminationStep:
    """Ask for the termination, or confirm the one another staff member asked for with the same reason."""
    require_staff(staff)
    why = _reason(reason)
    words = staff_reason(explanation)
    now = deps.clock.now()
    actor = f"account:{staff.account_id}"
    async with deps.uow() as uow:
        account = await member_account(uow, account_id, for_update=True)
        membership = await _live_membership(uow, account.id)
        refusal = termination_refusal(membership.status)
        if refusal is not None:
            raise Refused(
                "a winner leaves through the payout's cancellation"
                if refusal.value == "winner"
                else "only a membership with a place in the queue can be terminated",
                [refusal.value],
            )
        pending = await uow.payouts.open_request(TERMINATE_REQUEST, str(membership.id))
        if pending is not None:
            two_person.confirmable(pending, staff, why.value)
        step = "requested" if pending is None else "confirmed"
        note = await uow.notes.add(
            account_id=account.id,
            author_id=staff.account_id,
            body=f"Termination {step} ({why.value}): {words}",
            now=now,
        )
        if pending is None:
            request = await two_person.ask(
                uow,
                deps,
                staff,
                kind=TERMINATE_REQUEST,
                target=("membership", str(membership.id)),
                reason=why.value,
                action="termination_requested",
                at=now,
                after={"status": membership.status.value, "note": str(note.id)},
            )
            await uow.commit()
            return TerminationStep(membership=membership, pending=request)
        await uow.payouts.resolve_request(pending.id, by=staff.account_id, at=now, outcome="confirmed")
        terminated = await billing_sync.change_state(
            uow,
            membership,
            MembershipEvent.TERMINATE,
            at=now,
            actor=actor,
            reason=why.value,
            ended_at=now,
            end_reason=end_reason(why),
            cancel_effective_at=None,
        )
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership.id),
            actor=actor,
            action="termination_confirmed",
            at=now,
            after={"requested_by": str(pending.requested_by), "note": str(note.id)},
            reason=why.value,
        )
        billing_sync.notify(uow, "membership.cancelled", terminated, reason="terminated")
        if membership.provider_subscription_id:
            billing_sync.command(
                uow,
                billing_sync.CANCEL_SUBSCRIPTION_REQUESTED,
                terminated,
                subscriptionId=membership.provider_subscription_id,
                reason="terminated",
            )
        await uow.commit()
    return TerminationStep(membership=terminated, pending=None)


async def withdraw(deps: Deps, staff: Principal, account_id: UUID) -> None:
    """Close my own open termination request (audited). Only the asker may: a second opinion that disagrees simply
    does not confirm."""
    require_staff(staff)
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await member_account(uow, account_id, for_update=True)
        membership, pending = await _open_request(uow, account.id)
        if membership is None or pending is None:
            raise NotFound("no termination request is open")
        if pending.requested_by != staff.account_id:
            raise Refused("only the staff member who asked may withdraw a termination request", ["not_requester"])
        await uow.payouts.resolve_request(pending.id, by=staff.account_id, at=now, outcome="withdrawn")
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership.id),
            actor=f"account:{staff.account_id}",
            action="termination_withdrawn",
            at=now,
            reason=pending.reason,
        )
        await uow.commit()


async def open_termination(deps: Deps, staff: Principal, account_id: UUID) -> StaffRequestRecord | None:
    require_staff(staff)
    async with deps.uow() as uow:
        return (await _open_request(uow, account_id))[1]


async def _open_request(uow: UnitOfWork, account_id: UUID) -> tuple[MembershipRecord | None, StaffRequestRecord | None]:
    """The open termination request on any of the account's memberships: one that ended meanwhile (a default, a
    voluntary cancellation) may still have one, which its asker can then withdraw."""
    for membership in await uow.billing.memberships_of(account_id):
        pending = await uow.payouts.open_request(TERMINATE_REQUEST, str(membership.id))
        if pending is not None:
            return membership, pending
    return None, None
