"""The payouts-frozen switch (DOMAIN.md §7): for incidents, two staff, audited.

Frozen means no round is selected and no payout starts processing; approvals, details and cancellations go on, so
the backlog is ready when the incident is over. Turning it on or off is the same two-person action: one staff
member requests it with a reason, another confirms.
"""

from dataclasses import dataclass

from ports.outbound.payouts import StaffRequestRecord
from ports.usecases import two_person
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, Refused

SWITCH_REQUEST = "payouts_frozen"
TARGET = "program"
REASON_MAX = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchState:
    frozen: bool
    pending: StaffRequestRecord | None
    """An unconfirmed request to change it (its reason says which way: ``freeze:…`` or ``unfreeze:…``)."""


async def switch_state(deps: Deps, principal: Principal) -> SwitchState:
    require_staff(principal)
    async with deps.uow() as uow:
        return SwitchState(
            frozen=await uow.payouts.frozen(), pending=await uow.payouts.open_request(SWITCH_REQUEST, TARGET)
        )


async def set_frozen(deps: Deps, principal: Principal, *, frozen: bool, reason: str) -> SwitchState:
    """Request the switch, or confirm another staff member's identical request (then it takes effect)."""
    require_staff(principal)
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput(f"give a reason of 1–{REASON_MAX} characters", ["reason_invalid"])
    wanted = f"{'freeze' if frozen else 'unfreeze'}:{reason}"
    now = deps.clock.now()
    async with deps.uow() as uow:
        current = await uow.payouts.lock_program()
        if current == frozen:
            raise Refused(f"payouts are already {'frozen' if frozen else 'running'}", ["already_set"])
        pending = await uow.payouts.open_request(SWITCH_REQUEST, TARGET)
        actor = str(principal.account_id)
        if pending is None:
            request = await two_person.ask(
                uow,
                deps,
                principal,
                kind=SWITCH_REQUEST,
                target=("program", TARGET),
                reason=wanted,
                action="freeze_requested" if frozen else "unfreeze_requested",
                at=now,
                after={"payouts_frozen": frozen},
                audit_reason=reason,
            )
            await uow.commit()
            return SwitchState(frozen=current, pending=request)
        two_person.confirmable(pending, principal, wanted)
        await uow.payouts.resolve_request(pending.id, by=principal.account_id, at=now, outcome="confirmed")
        await uow.payouts.set_frozen(frozen, at=now)
        await record_audit(
            uow,
            entity_type="program",
            entity_id=TARGET,
            actor=actor,
            action="payouts_frozen" if frozen else "payouts_unfrozen",
            at=now,
            before={"payouts_frozen": current, "requested_by": str(pending.requested_by)},
            after={"payouts_frozen": frozen},
            reason=reason,
        )
        await uow.commit()
    return SwitchState(frozen=frozen, pending=None)


async def withdraw(deps: Deps, principal: Principal) -> None:
    """Close an unconfirmed switch request (any staff member; audited)."""
    require_staff(principal)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.payouts.lock_program()
        pending = await uow.payouts.open_request(SWITCH_REQUEST, TARGET)
        if pending is None:
            raise Refused("no switch request is open", ["no_request"])
        await uow.payouts.resolve_request(pending.id, by=principal.account_id, at=now, outcome="withdrawn")
        await record_audit(
            uow,
            entity_type="program",
            entity_id=TARGET,
            actor=str(principal.account_id),
            action="switch_withdrawn",
            at=now,
            reason=pending.reason,
        )
        await uow.commit()
