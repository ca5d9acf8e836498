"""Payouts after selection (DOMAIN.md §7, §8): approvals, two-person cancellations, processing through a rail,
completion, failures, ACH returns and retries.

Every decision is `domain.payouts`'; this module loads, locks, saves, posts the ledger entries of §9, moves the
membership, audits and notifies, all in the transaction of the change. Money leaves only through a `PayoutRail`,
after the payout's PROCESSING state has committed: a crash can leave a payout PROCESSING with no transfer on
record (staff see it and mark it failed), never money sent twice for one attempt.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import ledger
from domain import payouts as rules_of
from domain.eligibility import is_disqualifying
from domain.errors import InvalidInput as DomainInvalidInput
from domain.errors import InvalidTransition, PayoutRefused
from domain.events import (
    PayoutApproved,
    PayoutCancelled,
    PayoutCompleted,
    PayoutFailed,
    PayoutProcessing,
    PayoutReturned,
)
from domain.kyc import KycRecord
from domain.membership import MembershipEvent
from domain.payouts import Payout, PayoutStatus, ProcessingFacts, StaffMember, StaffRole
from domain.rules import ProgramRules
from domain.sessions import STAFF_ROLES, Role
from ports.outbound.billing import MembershipRecord
from ports.outbound.payout_rail import PayoutMethod, RailRefused, Transfer, TransferSubmitted
from ports.outbound.payouts import StaffRequestRecord, TransferRecord
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import billing_sync, two_person
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.credentials import require_recent_authentication
from ports.usecases.deps import Deps
from ports.usecases.errors import Forbidden, InvalidInput, NotFound, Refused
from ports.usecases.rounds import payout_services

CANCEL_REQUEST = "payout_cancel"


def refused(exc: PayoutRefused | InvalidTransition) -> Refused:
    """A domain refusal as the use-case error the HTTP layer turns into a 409 problem with its reasons."""
    if isinstance(exc, PayoutRefused):
        return Refused(f"the payout cannot {exc.action.replace('_', ' ')} now", [str(r) for r in exc.reasons])
    return Refused(str(exc), ["wrong_status"])


def require_finance(principal: Principal) -> None:
    require_staff(principal)
    if principal.role is not Role.FINANCE:
        raise Forbidden("only finance staff may do this")


async def staff_member(uow: UnitOfWork, principal: Principal) -> StaffMember:
    """The domain's view of a staff caller: a person (their account), roles, and whether they hold a membership."""
    require_staff(principal)
    roles = frozenset({StaffRole.FINANCE}) if principal.role is Role.FINANCE else frozenset({StaffRole.ADMIN})
    return StaffMember(
        staff_id=str(principal.account_id),
        roles=roles,
        person_id=str(principal.account_id),
        holds_membership=await uow.accounts.has_live_membership(principal.account_id),
    )


async def locked(uow: UnitOfWork, payout_id: UUID) -> Payout:
    payout = await uow.payouts.get(payout_id, for_update=True)
    if payout is None:
        raise NotFound("no such payout")
    return payout


def payout_rules(deps: Deps, payout: Payout) -> ProgramRules:
    """A payout's numbers follow the rules version it was created under, never newer ones."""
    return deps.rules.version(payout.rules_version)


async def _membership(uow: UnitOfWork, payout: Payout) -> MembershipRecord:
    membership = await uow.billing.get_membership(UUID(payout.membership_id), for_update=True)
    assert membership is not None  # a payout's membership is never deleted (RESTRICT)
    return membership


async def _changed(
    uow: UnitOfWork,
    before: Payout,
    after: Payout,
    *,
    actor: str,
    action: str,
    at: datetime,
    reason: str | None = None,
    **extra: Any,
) -> None:
    await uow.payouts.save(after)
    await record_audit(
        uow,
        entity_type="payout",
        entity_id=after.payout_id,
        actor=actor,
        action=action,
        at=at,
        before={"status": before.status.value, "approvals": len(before.approvals)},
        after={"status": after.status.value, "approvals": len(after.approvals), **extra},
        reason=reason,
    )


def _notify(uow: UnitOfWork, name: str, membership: MembershipRecord, payout: Payout, **payload: Any) -> None:
    billing_sync.notify(uow, name, membership, payoutId=payout.payout_id, **payload)


# -- approvals ---------------------------------------------------------------------------------------------------


async def approve(deps: Deps, principal: Principal, payout_id: UUID) -> Payout:
    """One staff approval; the one that completes the set (two distinct staff, one from finance) approves it."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        staff = await staff_member(uow, principal)
        payout = await locked(uow, payout_id)
        await _no_open_cancellation(uow, payout)
        try:
            approved = rules_of.approve(payout, staff, now, payout_rules(deps, payout))
        except PayoutRefused as exc:
            raise refused(exc) from None
        await _changed(uow, payout, approved, actor=staff.staff_id, action="approved", at=now)
        if approved.status is PayoutStatus.APPROVED and payout.status is not PayoutStatus.APPROVED:
            _notify(uow, PayoutApproved.name, await _membership(uow, approved), approved)
        await uow.commit()
    return approved


async def schedule(deps: Deps, principal: Principal, payout_id: UUID) -> Payout:
    """APPROVED → SCHEDULED: finance has put it on the next run."""
    require_finance(principal)
    now = deps.clock.now()
    async with deps.uow() as uow:
        payout = await locked(uow, payout_id)
        await _no_open_cancellation(uow, payout)
        try:
            scheduled = rules_of.schedule(payout)
        except InvalidTransition as exc:
            raise refused(exc) from None
        await _changed(uow, payout, scheduled, actor=str(principal.account_id), action="scheduled", at=now)
        await uow.commit()
    return scheduled


# -- two-person cancellation -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TwoPersonStep:
    """Where a two-person action (a cancellation, a withholding correction) stands after this call: requested
    (waiting for a second staff member) or done."""

    payout: Payout
    pending: StaffRequestRecord | None


async def cancel(deps: Deps, principal: Principal, payout_id: UUID, reason: str) -> TwoPersonStep:
    """Request a cancellation, or confirm the one another staff member requested with the same reason.

    The reason is from the closed list or ``not_disqualifying``; ``unclaimed`` only once the details deadline
    passed with details still missing. Confirmation returns the reward to the fund and restores the membership
    (same place, billing resumed) or ends it, per the reason.
    """
    now = deps.clock.now()
    try:
        disqualifying = is_disqualifying(reason)
    except DomainInvalidInput as exc:
        raise InvalidInput(str(exc), ["reason_unknown"]) from None
    async with deps.uow() as uow:
        staff = await staff_member(uow, principal)
        await uow.payouts.lock_program()  # payout money moves one at a time (ledger lock order, D131)
        payout = await locked(uow, payout_id)
        await _membership(uow, payout)  # locked before any ledger row, as billing does (D131)
        if payout.status not in rules_of.CANCELLABLE:
            raise Refused("the payout cannot be cancelled now", ["wrong_status"])
        if reason == "unclaimed":
            details = await uow.payouts.details(UUID(payout.payout_id))
            if not rules_of.is_unclaimed(
                payout, details_missing=details is None, now=now, rules=payout_rules(deps, payout)
            ):
                raise Refused("a payout is unclaimed only after its details deadline", ["not_unclaimed_yet"])
        pending = await uow.payouts.open_request(CANCEL_REQUEST, payout.payout_id)
        if pending is None:
            request = await two_person.ask(
                uow,
                deps,
                principal,
                kind=CANCEL_REQUEST,
                target=("payout", payout.payout_id),
                reason=reason,
                action="cancel_requested",
                at=now,
                after={"status": payout.status.value, "disqualifying": disqualifying},
            )
            await uow.commit()
            return TwoPersonStep(payout=payout, pending=request)
        if pending.reason != reason:
            raise Refused(
                f"the open request gives the reason {pending.reason!r}; confirm it or withdraw it first",
                ["reason_differs"],
            )
        requester = await _requester(uow, pending)
        try:
            cancelled = rules_of.cancel(payout, reason=reason, requested_by=requester, confirmed_by=staff, now=now)
        except PayoutRefused as exc:
            raise refused(exc) from None
        await uow.payouts.resolve_request(pending.id, by=principal.account_id, at=now, outcome="confirmed")
        await _changed(uow, payout, cancelled, actor=staff.staff_id, action="cancelled", at=now, reason=reason)
        await _release(uow, deps, payout, at=now)
        membership = await _restore_or_end(uow, payout, disqualifying=disqualifying, reason=reason, at=now)
        _notify(uow, PayoutCancelled.name, membership, cancelled, reason=reason)
        await uow.commit()
    return TwoPersonStep(payout=cancelled, pending=None)


async def withdraw_cancellation(deps: Deps, principal: Principal, payout_id: UUID) -> None:
    """Close my open cancellation request without cancelling (audited). Nobody else may: a fraud report must not
    vanish because one other person disagrees."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        staff = await staff_member(uow, principal)
        payout = await locked(uow, payout_id)
        pending = await uow.payouts.open_request(CANCEL_REQUEST, payout.payout_id)
        if pending is None:
            raise NotFound("no cancellation request is open")
        if pending.requested_by != principal.account_id:
            raise Refused("only the staff member who asked may withdraw a cancellation request", ["not_requester"])
        await uow.payouts.resolve_request(pending.id, by=principal.account_id, at=now, outcome="withdrawn")
        await record_audit(
            uow,
            entity_type="payout",
            entity_id=payout.payout_id,
            actor=staff.staff_id,
            action="cancel_withdrawn",
            at=now,
            reason=pending.reason,
        )
        await uow.commit()


async def _requester(uow: UnitOfWork, pending: StaffRequestRecord) -> StaffMember:
    """The first of the two staff, as they are now: one who left the staff meanwhile no longer counts."""
    account = await uow.accounts.get(pending.requested_by)
    if account is None or not account.active or account.role not in {r.value for r in STAFF_ROLES}:
        raise Refused("the staff member who asked is no longer staff; ask again", ["requester_not_staff"])
    role = Role(account.role)
    return StaffMember(
        staff_id=str(pending.requested_by),
        roles=frozenset({StaffRole.FINANCE}) if role is Role.FINANCE else frozenset({StaffRole.ADMIN}),
        person_id=str(pending.requested_by),
        holds_membership=await uow.accounts.has_live_membership(pending.requested_by),
    )


async def _release(uow: UnitOfWork, deps: Deps, payout: Payout, *, at: datetime) -> None:
    """The reward returns to the fund; after a processing attempt, withholding and retention are reversed first."""
    if payout.amounts is None:
        entries = ledger.cancelled_before_processing(payout_id=payout.payout_id, gross=payout.gross, at=at)
    else:
        entries = ledger.cancelled_after_processing(
            payout_id=payout.payout_id,
            gross=payout.gross,
            withholding=payout.amounts.withholding,
            retention_deduction=payout.amounts.retention_deduction,
            rules=payout_rules(deps, payout),
            at=at,
        )
    for entry in entries:
        await uow.ledger.post(entry)


async def _restore_or_end(
    uow: UnitOfWork, payout: Payout, *, disqualifying: bool, reason: str, at: datetime
) -> MembershipRecord:
    """Not disqualifying: back to ACTIVE with the same tenure (so the same place), billing resumed and the paused
    months waived. Disqualifying: CANCELLED, and the subscription is cancelled."""
    membership = await _membership(uow, payout)
    if disqualifying:
        ended = await billing_sync.change_state(
            uow,
            membership,
            MembershipEvent.DISQUALIFY,
            at=at,
            actor="payout",
            reason=reason,
            ended_at=at,
            end_reason=f"payout_cancelled:{reason}",
        )
        if ended.provider_subscription_id:
            billing_sync.command(
                uow,
                billing_sync.CANCEL_SUBSCRIPTION_REQUESTED,
                ended,
                subscriptionId=ended.provider_subscription_id,
                reason=f"payout-{payout.payout_id}",
            )
        return ended
    restored = await billing_sync.change_state(
        uow, membership, MembershipEvent.PAYOUT_CANCELLED, at=at, actor="payout", reason=reason, billing_paused_at=None
    )
    if restored.provider_subscription_id:
        billing_sync.command(
            uow,
            billing_sync.COLLECTION_PAUSE_REQUESTED,
            restored,
            subscriptionId=restored.provider_subscription_id,
            pause=False,
        )
    return restored


# -- processing --------------------------------------------------------------------------------------------------


async def _facts(uow: UnitOfWork, payout: Payout) -> ProcessingFacts:
    payout_id = UUID(payout.payout_id)
    details = await uow.payouts.details(payout_id)
    tax = await uow.payouts.tax_form(payout_id)
    membership = await _membership(uow, payout)
    stored = await uow.kyc.get(membership.account_id)
    return ProcessingFacts(
        payment_details_on_file=details is not None,
        w9_certified=tax is not None and tax.certified,
        retention_prepaid=membership.retention_prepaid_at is not None,
        kyc=stored.record if stored else KycRecord(),
        open_dispute=await uow.billing.open_disputes(membership.id) > 0,
    )


async def process(
    deps: Deps, principal: Principal, payout_ids: Sequence[UUID], *, rail: str, reference: str | None = None
) -> list[TransferSubmitted]:
    """Send payouts through a rail: SCHEDULED (or FAILED/RETURNED, re-approved: a retry) → PROCESSING, then the rail.

    Finance only, with a fresh step-up (the rail opens full account numbers). In one transaction, under the program
    lock (so a freeze confirmed meanwhile cannot be overtaken): each payout moves to PROCESSING (the first time,
    withholding and retention are frozen and posted) and its attempt is claimed; the rail checks the transfers
    before anything commits. Only then is the rail called, and what it did is recorded on the claims (D118).
    """
    require_finance(principal)
    require_recent_authentication(deps, principal)
    services = payout_services(deps)
    chosen = services.rails.get(rail)
    if chosen is None:
        raise InvalidInput(f"unknown rail {rail!r}", ["rail_unknown"])
    ids = sorted(set(payout_ids))  # one lock order for every caller
    if not ids:
        raise InvalidInput("choose at least one payout", ["payouts_missing"])
    now = deps.clock.now()
    transfers: list[Transfer] = []
    async with deps.uow() as uow:
        if await uow.payouts.lock_program():
            raise Refused("payouts are frozen", ["payouts_frozen"])
        chosen_payouts = [await locked(uow, payout_id) for payout_id in ids]
        # Every membership before any ledger row, in one order (billing's order is membership, then ledger: D131).
        for membership_id in sorted(UUID(p.membership_id) for p in chosen_payouts):
            await uow.billing.get_membership(membership_id, for_update=True)
        for payout in chosen_payouts:
            payout_id = UUID(payout.payout_id)
            await _no_open_cancellation(uow, payout)
            rules = payout_rules(deps, payout)
            try:
                started = rules_of.start_processing(payout, await _facts(uow, payout), now, rules)
            except (PayoutRefused, InvalidTransition) as exc:
                raise refused(exc) from None
            assert started.amounts is not None
            if payout.amounts is None:
                for entry in ledger.first_processing(
                    payout_id=payout.payout_id,
                    withholding=started.amounts.withholding,
                    retention_deduction=started.amounts.retention_deduction,
                    rules=rules,
                    at=now,
                ):
                    await uow.ledger.post(entry)
            transfer, destination = await _transfer(uow, started)
            await uow.payouts.claim_transfer(
                TransferRecord(
                    payout_id=payout_id,
                    attempt=started.attempt,
                    rail=rail,
                    destination=destination,
                    amount=transfer.amount,
                    claimed_at=now,
                    submitted_by=principal.account_id,
                )
            )
            await _changed(
                uow,
                payout,
                started,
                actor=str(principal.account_id),
                action="processing",
                at=now,
                rail=rail,
                attempt=started.attempt,
                destination=destination,
                net_cents=started.amounts.net.cents,
                withholding_cents=started.amounts.withholding.cents,
                retention_cents=started.amounts.retention_deduction.cents,
            )
            transfers.append(transfer)
            membership = await _membership(uow, started)
            _notify(uow, PayoutProcessing.name, membership, started, netCents=started.amounts.net.cents)
        try:
            chosen.check(transfers, reference=reference)
        except RailRefused as exc:
            raise Refused(f"the {rail} rail refused: {exc}", ["rail_refused"]) from None
        await uow.commit()
    sent = await chosen.submit(transfers, actor=str(principal.account_id), reference=reference)
    async with deps.uow() as uow:
        for done in sent:
            await uow.payouts.mark_sent(
                done.payout_id, done.attempt, reference=done.reference, trace_number=done.trace_number, at=now
            )
            await record_audit(
                uow,
                entity_type="payout",
                entity_id=str(done.payout_id),
                actor=str(principal.account_id),
                action="transfer_sent",
                at=now,
                after={"rail": done.rail, "attempt": done.attempt, "reference": done.reference},
            )
        await uow.commit()
    return list(sent)


async def _no_open_cancellation(uow: UnitOfWork, payout: Payout) -> None:
    """A payout someone asked to cancel is not approved, scheduled or sent until that request is settled."""
    pending = await uow.payouts.open_request(CANCEL_REQUEST, payout.payout_id)
    if pending is not None:
        raise Refused(
            f"a cancellation ({pending.reason}) is waiting for a second staff member; confirm or withdraw it first",
            ["cancellation_pending"],
        )


async def _transfer(uow: UnitOfWork, payout: Payout) -> tuple[Transfer, str]:
    """The rail's instruction for the payout's current attempt, and its destination without secrets."""
    payout_id = UUID(payout.payout_id)
    details = await uow.payouts.details(payout_id)
    assert details is not None  # processing_check refused otherwise
    assert payout.amounts is not None
    if details.method is PayoutMethod.ACH:
        destination = f"ach:{details.routing_number}:{details.account_last4}:{details.account_type}"
    else:
        destination = f"cheque:{details.address.postal_code if details.address else ''}"
    transfer = Transfer(
        payout_id=payout_id,
        attempt=payout.attempt,
        amount=payout.amounts.net,
        method=details.method,
        payee_name=details.holder_name or "",
        routing_number=details.routing_number,
        account_type=details.account_type,
        sealed_account_number=details.account_sealed,
        mailing_address=details.address if details.method is PayoutMethod.CHEQUE else None,
    )
    return transfer, destination


async def complete(deps: Deps, principal: Principal, payout_id: UUID) -> Payout:
    """PROCESSING → COMPLETED (the bank confirmed the transfer, or the cheque cleared), by finance staff who did
    not approve it. The membership becomes PAID."""
    require_finance(principal)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.payouts.lock_program()  # payout money moves one at a time (ledger lock order, D131)
        payout = await locked(uow, payout_id)
        await _membership(uow, payout)  # locked before any ledger row, as billing does (D131)
        sent = await uow.payouts.transfer(UUID(payout.payout_id), payout.attempt)
        if payout.status is PayoutStatus.PROCESSING and (sent is None or sent.sent_at is None):
            raise Refused("no transfer was sent for this attempt; mark it failed and retry", ["transfer_not_sent"])
        try:
            done = rules_of.complete(payout, str(principal.account_id), now)
        except (PayoutRefused, InvalidTransition) as exc:
            raise refused(exc) from None
        assert done.amounts is not None
        await uow.ledger.post(
            ledger.payout_completed(payout_id=done.payout_id, attempt=done.attempt, net=done.amounts.net, at=now)
        )
        await _changed(uow, payout, done, actor=str(principal.account_id), action="completed", at=now)
        membership = await _membership(uow, done)
        paid = await billing_sync.change_state(uow, membership, MembershipEvent.PAY, at=now, actor="payout")
        _notify(uow, PayoutCompleted.name, paid, done, netCents=done.amounts.net.cents)
        await uow.commit()
    return done


async def fail(deps: Deps, principal: Principal, payout_id: UUID, failure: str, *, not_sent: bool = False) -> Payout:
    """PROCESSING → FAILED (the rail or the bank refused it); the net stays owed until a retry or a cancellation.

    When the rail never confirmed the attempt (a crash after PROCESSING committed), the money may or may not have
    left: finance must check with the bank and either record it as sent (`confirm_sent`) or declare it not sent
    (``not_sent``, audited). A retry is approved again by two staff either way.
    """
    require_finance(principal)
    failure = failure.strip()
    if not failure:
        raise InvalidInput("say why the payout failed", ["failure_missing"])
    now = deps.clock.now()
    async with deps.uow() as uow:
        payout = await locked(uow, payout_id)
        claim = await uow.payouts.transfer(payout_id, payout.attempt)
        unconfirmed = payout.status is PayoutStatus.PROCESSING and claim is not None and claim.sent_at is None
        if unconfirmed and not not_sent:
            raise Refused(
                "the rail never confirmed this attempt: check with the bank whether it was sent, then record it as "
                "sent or declare it not sent",
                ["transfer_unconfirmed"],
            )
        try:
            failed = rules_of.fail(payout)
        except InvalidTransition as exc:
            raise refused(exc) from None
        await _changed(
            uow,
            payout,
            failed,
            actor=str(principal.account_id),
            action="failed",
            at=now,
            reason=failure,
            declared_not_sent=unconfirmed,
        )
        _notify(uow, PayoutFailed.name, await _membership(uow, failed), failed, failure=failure)
        await uow.commit()
    return failed


async def confirm_sent(deps: Deps, principal: Principal, payout_id: UUID, reference: str) -> Payout:
    """Record that an attempt the rail never confirmed did leave (finance found it at the bank): its reference is
    stored and the payout can be completed as usual."""
    require_finance(principal)
    reference = reference.strip()
    if not reference:
        raise InvalidInput("give the bank's reference for the transfer", ["reference_missing"])
    now = deps.clock.now()
    async with deps.uow() as uow:
        payout = await locked(uow, payout_id)
        claim = await uow.payouts.transfer(payout_id, payout.attempt)
        if payout.status is not PayoutStatus.PROCESSING or claim is None or claim.sent_at is not None:
            raise Refused(
                "only an unconfirmed attempt of a processing payout can be recorded as sent", ["wrong_status"]
            )
        await uow.payouts.mark_sent(payout_id, payout.attempt, reference=reference, trace_number=None, at=now)
        await record_audit(
            uow,
            entity_type="payout",
            entity_id=payout.payout_id,
            actor=str(principal.account_id),
            action="transfer_confirmed_sent",
            at=now,
            after={"attempt": payout.attempt, "reference": reference},
        )
        await uow.commit()
    return payout


async def mark_returned(deps: Deps, principal: Principal, payout_id: UUID, return_code: str) -> Payout:
    """COMPLETED → RETURNED for an ACH return (R01…) within 60 days: the money is back, the membership is WON
    again, and the payout may be retried (possibly with new details) or cancelled by two staff."""
    require_finance(principal)
    return_code = return_code.strip().upper()
    if not (len(return_code) == 3 and return_code[0] == "R" and return_code[1:].isdigit()):
        raise InvalidInput("an ACH return code looks like R01", ["return_code_invalid"])
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.payouts.lock_program()  # payout money moves one at a time (ledger lock order, D131)
        payout = await locked(uow, payout_id)
        await _membership(uow, payout)  # locked before any ledger row, as billing does (D131)
        try:
            returned = rules_of.mark_returned(payout, now, payout_services(deps).policy)
        except (PayoutRefused, InvalidTransition) as exc:
            raise refused(exc) from None
        assert payout.amounts is not None
        await uow.ledger.post(
            ledger.payout_returned(payout_id=payout.payout_id, attempt=payout.attempt, net=payout.amounts.net, at=now)
        )
        await _changed(
            uow, payout, returned, actor=str(principal.account_id), action="returned", at=now, reason=return_code
        )
        membership = await _membership(uow, returned)
        won = await billing_sync.change_state(
            uow, membership, MembershipEvent.PAYOUT_RETURNED, at=now, actor="payout", reason=return_code
        )
        _notify(uow, PayoutReturned.name, won, returned, returnCode=return_code)
        await uow.commit()
    return returned


# -- withholding correction --------------------------------------------------------------------------------------

CORRECTION_REQUEST = "withholding_correction"


async def correct_withholding(
    deps: Deps, principal: Principal, payout_id: UUID, *, w9_certified: bool
) -> TwoPersonStep:
    """Correct the withholding frozen at the first PROCESSING (e.g. a W-9 certified just too late): two finance
    staff, only while no money is in flight (FAILED or RETURNED); the next attempt pays the corrected net."""
    require_finance(principal)
    now = deps.clock.now()
    wanted = f"w9_certified={str(w9_certified).lower()}"
    async with deps.uow() as uow:
        staff = await staff_member(uow, principal)
        await uow.payouts.lock_program()  # payout money moves one at a time (ledger lock order, D131)
        payout = await locked(uow, payout_id)
        await _membership(uow, payout)  # locked before any ledger row, as billing does (D131)
        if payout.status not in (PayoutStatus.FAILED, PayoutStatus.RETURNED) or payout.amounts is None:
            raise Refused("withholding can be corrected only on a failed or returned payout", ["wrong_status"])
        rules = payout_rules(deps, payout)
        target = rules_of.payout_amounts(
            rules=rules,
            w9_certified=w9_certified,
            retention_prepaid=payout.amounts.retention_deduction.is_zero,
        )
        if target.withholding == payout.amounts.withholding:
            raise Refused("the withholding already matches", ["nothing_to_correct"])
        pending = await uow.payouts.open_request(CORRECTION_REQUEST, payout.payout_id)
        if pending is None:
            request = await two_person.ask(
                uow,
                deps,
                principal,
                kind=CORRECTION_REQUEST,
                target=("payout", payout.payout_id),
                reason=wanted,
                action="withholding_correction_requested",
                at=now,
                after={"withholding_cents": target.withholding.cents},
            )
            await uow.commit()
            return TwoPersonStep(payout=payout, pending=request)
        if pending.reason != wanted:
            raise Refused(f"the open request is {pending.reason!r}", ["reason_differs"])
        try:
            corrected = rules_of.correct_withholding(
                payout,
                w9_certified=w9_certified,
                requested_by=await _requester(uow, pending),
                confirmed_by=staff,
                rules=rules,
            )
        except PayoutRefused as exc:
            raise refused(exc) from None
        assert corrected.amounts is not None
        await uow.payouts.resolve_request(pending.id, by=principal.account_id, at=now, outcome="confirmed")
        await uow.ledger.post(
            ledger.withholding_corrected(
                payout_id=payout.payout_id,
                correction=corrected.withholding_corrections,
                before=payout.amounts.withholding,
                after=corrected.amounts.withholding,
                at=now,
            )
        )
        await _changed(
            uow,
            payout,
            corrected,
            actor=staff.staff_id,
            action="withholding_corrected",
            at=now,
            reason=wanted,
            withholding_cents=corrected.amounts.withholding.cents,
            net_cents=corrected.amounts.net.cents,
        )
        await uow.commit()
    return TwoPersonStep(payout=corrected, pending=None)
