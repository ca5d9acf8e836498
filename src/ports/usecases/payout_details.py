"""A winner's payout details (DOMAIN.md §8): bank account or cheque, the W-9, and how a payout is shown.

Bank and tax numbers are sealed the moment they arrive (their own key from settings) and only their last four
digits are ever shown. A change after the first approval needs a fresh step-up, clears the approvals, starts a
72-hour hold and is announced on every channel: a hijacked account redirecting $100,000 must be seen and stopped.
"""

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from domain import payouts as rules_of
from domain.checkout import PostalAddress, address_problems
from domain.errors import InvalidTransition
from domain.events import PayoutDetailsChanged
from domain.kyc import KycStatus
from domain.payouts import Payout, PayoutStatus, unclaimed_deadline
from domain.routing import check_bank_details, cheque_address_problems, name_digest
from domain.tax import TinType, masked, normalise_tin, tin_problems
from ports.outbound.payout_rail import PayoutMethod, account_context
from ports.outbound.payouts import PayoutDetailsRecord, StaffRequestRecord, TaxFormRecord, TransferRecord
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import billing_sync
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.credentials import require_recent_authentication
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound, Refused
from ports.usecases.payouts import CANCEL_REQUEST, payout_rules, refused
from ports.usecases.rounds import payout_services

TIN_CONTEXT = "payout-tin:{payout_id}"
LIST_MAX = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutView:
    """A payout with what is on file for it (masked) and what is still missing."""

    payout: Payout
    method: PayoutMethod | None
    holder_name: str | None
    routing_number: str | None
    account_last4: str | None
    cheque_address: PostalAddress | None
    w9_on_file: bool
    w9_certified: bool
    tin_masked: str | None
    missing: tuple[str, ...]
    info_deadline: datetime
    pending_cancellation: StaffRequestRecord | None = None
    transfers: tuple[TransferRecord, ...] = ()


async def _view(uow: UnitOfWork, deps: Deps, payout: Payout, *, staff: bool) -> PayoutView:
    payout_id = UUID(payout.payout_id)
    details = await uow.payouts.details(payout_id)
    tax = await uow.payouts.tax_form(payout_id)
    missing = tuple(name for name, absent in (("payment_details", details is None), ("w9", tax is None)) if absent)
    return PayoutView(
        payout=payout,
        method=details.method if details else None,
        holder_name=details.holder_name if details else None,
        routing_number=details.routing_number if details else None,
        account_last4=details.account_last4 if details else None,
        cheque_address=details.address if details else None,
        w9_on_file=tax is not None,
        w9_certified=tax is not None and tax.certified,
        tin_masked=masked(TinType(tax.tin_type), tax.tin_last4) if tax else None,
        missing=missing,
        info_deadline=unclaimed_deadline(payout.selected_at, payout_rules(deps, payout)),
        pending_cancellation=await uow.payouts.open_request(CANCEL_REQUEST, payout.payout_id) if staff else None,
        transfers=tuple(await uow.payouts.transfers(payout_id)) if staff else (),
    )


# -- member side -------------------------------------------------------------------------------------------------


async def my_payouts(deps: Deps, principal: Principal) -> list[PayoutView]:
    async with deps.uow() as uow:
        return [await _view(uow, deps, p, staff=False) for p in await uow.payouts.of_account(principal.account_id)]


async def my_payout(deps: Deps, principal: Principal, payout_id: UUID) -> PayoutView:
    """One of my payouts; somebody else's answers 404 exactly like one that does not exist."""
    async with deps.uow() as uow:
        payout = await uow.payouts.get(payout_id)
        if payout is None or payout.winner_person_id != str(principal.account_id):
            raise NotFound("no such payout")
        return await _view(uow, deps, payout, staff=False)


async def _mine_for_change(uow: UnitOfWork, deps: Deps, principal: Principal, payout_id: UUID) -> Payout:
    payout = await uow.payouts.get(payout_id, for_update=True)
    if payout is None or payout.winner_person_id != str(principal.account_id):
        raise NotFound("no such payout")
    if (payout.status, rules_of.PayoutAction.DETAILS_CHANGED) not in rules_of.TRANSITIONS:
        raise Refused("payout details cannot change while money is in flight or after it arrived", ["wrong_status"])
    # Where $100,000 goes is decided only by someone who just proved they are the member (a password, and the
    # second factor if enabled), not by whoever holds a session cookie; §8 asks it after the first approval (D134).
    require_recent_authentication(deps, principal)
    return payout


async def _details_changed(
    uow: UnitOfWork, deps: Deps, principal: Principal, payout: Payout, *, what: str, summary: str, at: datetime
) -> Payout:
    """Apply the domain's rule for a change of details, audit it, and tell the member when approvals were reset."""
    try:
        changed = rules_of.change_details(payout, at, payout_services(deps).policy)
    except InvalidTransition as exc:
        raise refused(exc) from None
    await uow.payouts.save(changed)
    await record_audit(
        uow,
        entity_type="payout",
        entity_id=payout.payout_id,
        actor=str(principal.account_id),
        action=f"{what}_changed",
        at=at,
        before={"status": payout.status.value, "approvals": len(payout.approvals)},
        after={
            "status": changed.status.value,
            "approvals": len(changed.approvals),
            "hold_until": changed.hold_until.isoformat() if changed.hold_until else None,
            "summary": summary,
        },
    )
    if payout.first_approved_at is not None:
        membership = await uow.billing.get_membership(UUID(payout.membership_id))
        assert membership is not None
        assert changed.hold_until is not None
        billing_sync.notify(
            uow, PayoutDetailsChanged.name, membership, payoutId=payout.payout_id, holdUntil=changed.hold_until
        )
    return changed


async def _legal_name(uow: UnitOfWork, account_id: UUID) -> str:
    profile = await uow.profiles.get(account_id)
    parts = (profile.legal_first_name, profile.legal_last_name) if profile else ()
    return " ".join(part for part in parts if part)


async def submit_bank_details(
    deps: Deps,
    principal: Principal,
    payout_id: UUID,
    *,
    holder_name: str,
    routing_number: str,
    account_number: str,
    account_type: str,
) -> PayoutView:
    """ACH details: the holder must be the verified winner (the profile's legal name, D117), the routing number
    passes the ABA checksum, the account is 4–17 digits, checking or savings."""
    now = deps.clock.now()
    routing_number, account_number = routing_number.strip(), account_number.replace(" ", "").replace("-", "")
    box = payout_services(deps).box
    async with deps.uow() as uow:
        payout = await _mine_for_change(uow, deps, principal, payout_id)
        stored = await uow.kyc.get(principal.account_id)
        verified = stored.record.name_digest if stored else None
        if verified is None:
            raise Refused(
                "verify your identity again: we have no verified name to match the account", ["kyc_name_unknown"]
            )
        check = check_bank_details(
            routing_number=routing_number,
            account_number=account_number,
            holder_name=holder_name,
            verified_name_digest=verified,
            name_key=deps.identity_key,
            account_type=account_type,
        )
        if not check.ok:
            raise InvalidInput("the bank details were refused", [p.value for p in check.problems])
        await uow.payouts.put_details(
            PayoutDetailsRecord(
                payout_id=payout_id,
                method=PayoutMethod.ACH,
                updated_at=now,
                holder_name=holder_name.strip(),
                routing_number=routing_number,
                account_type=account_type,
                account_last4=account_number[-4:],
                account_sealed=box.seal(account_number.encode(), context=account_context(payout_id)),
            )
        )
        summary = f"ach:{routing_number}:{account_type}"  # which bank and kind; never the account number
        changed = await _details_changed(uow, deps, principal, payout, what="payment_details", summary=summary, at=now)
        view = await _view(uow, deps, changed, staff=False)
        await uow.commit()
    return view


async def choose_cheque(deps: Deps, principal: Principal, payout_id: UUID) -> PayoutView:
    """A cheque to the profile's US address, which counts as verified once the identity is (D116)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        payout = await _mine_for_change(uow, deps, principal, payout_id)
        profile = await uow.profiles.get(principal.account_id)
        stored = await uow.kyc.get(principal.account_id)
        address = profile.address if profile else None
        verified = stored is not None and stored.record.status is KycStatus.VERIFIED
        problems = [p.value for p in cheque_address_problems(address, verified=verified)]
        payee = await _legal_name(uow, principal.account_id)
        payee_digest = name_digest(key=deps.identity_key, name=payee)
        if stored is None or stored.record.name_digest is None or payee_digest != stored.record.name_digest:
            problems.append("payee_name_not_verified")  # the cheque is made out to the verified name only
        if problems:
            raise InvalidInput("a cheque cannot be sent", problems)
        await uow.payouts.put_details(
            PayoutDetailsRecord(
                payout_id=payout_id,
                method=PayoutMethod.CHEQUE,
                updated_at=now,
                holder_name=payee,
                address=address,
                address_verified=True,
            )
        )
        changed = await _details_changed(uow, deps, principal, payout, what="payment_details", summary="cheque", at=now)
        view = await _view(uow, deps, changed, staff=False)
        await uow.commit()
    return view


async def submit_w9(
    deps: Deps,
    principal: Principal,
    payout_id: UUID,
    *,
    legal_name: str,
    tin: str,
    tin_type: str,
    address: PostalAddress,
    certified: bool,
) -> PayoutView:
    """The winner's W-9. Without the certification, withholding applies as if no W-9 were on file."""
    now = deps.clock.now()
    try:
        kind = TinType(tin_type)
    except ValueError:
        raise InvalidInput("the TIN type is ssn or ein", ["tin_type_invalid"]) from None
    digits = normalise_tin(tin)
    problems = [p.value for p in tin_problems(digits, kind)] + [p.value for p in address_problems(address)]
    if not legal_name.strip():
        problems.append("legal_name_missing")
    if problems:
        raise InvalidInput("the W-9 was refused", problems)
    box = payout_services(deps).box
    async with deps.uow() as uow:
        payout = await _mine_for_change(uow, deps, principal, payout_id)
        await uow.payouts.put_tax_form(
            TaxFormRecord(
                payout_id=payout_id,
                legal_name=legal_name.strip(),
                tin_type=kind.value,
                tin_last4=digits[-4:],
                tin_sealed=box.seal(digits.encode(), context=TIN_CONTEXT.format(payout_id=payout_id)),
                address=address,
                certified=certified,
                signed_at=now,
            )
        )
        summary = f"w9:{kind.value}:{'certified' if certified else 'uncertified'}"
        changed = await _details_changed(uow, deps, principal, payout, what="tax_details", summary=summary, at=now)
        view = await _view(uow, deps, changed, staff=False)
        await uow.commit()
    return view


# -- staff side --------------------------------------------------------------------------------------------------


async def payout_detail(deps: Deps, principal: Principal, payout_id: UUID) -> PayoutView:
    require_staff(principal)
    async with deps.uow() as uow:
        payout = await uow.payouts.get(payout_id)
        if payout is None:
            raise NotFound("no such payout")
        return await _view(uow, deps, payout, staff=True)


async def payout_list(
    deps: Deps, principal: Principal, *, status: PayoutStatus | None, after: UUID | None, limit: int
) -> list[PayoutView]:
    require_staff(principal)
    async with deps.uow() as uow:
        page = await uow.payouts.listing(status=status, after=after, limit=max(1, min(limit, LIST_MAX)))
        return [await _view(uow, deps, p, staff=True) for p in page]


async def round_payouts(deps: Deps, principal: Principal, key: date) -> list[PayoutView]:
    """Every payout of one round (the round page of the staff console)."""
    require_staff(principal)
    async with deps.uow() as uow:
        return [await _view(uow, deps, p, staff=True) for p in await uow.payouts.of_round(key)]
