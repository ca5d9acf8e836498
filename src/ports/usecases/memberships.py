"""What a member does with their membership and sees of it: join (checkout), cancel and undo, rejoin, update the
card, pay an overdue invoice, prepay retention; status, next charge and payment history.

Everything is addressed through the session's account: a member never names a membership, so nobody can act on
someone else's. Money changes only through the provider's hosted pages; what they report comes back through
`billing_sync`, never through these calls.
"""

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from domain import billing as billing_rules
from domain.checkout import ProfileFacts, checkout_blockers
from domain.events import MembershipCancelScheduled, MembershipCancelUndone
from domain.membership import (
    ENDED_STATES,
    LIVE_STATES,
    QUEUE_STATES,
    MembershipState,
    may_join,
    schedule_cancellation,
    undo_cancellation,
)
from domain.money import Money
from domain.termination import is_terminated
from ports.outbound.billing import MembershipRecord, PaymentHistoryItem
from ports.outbound.errors import ConflictError
from ports.outbound.payments import PaymentProviderError
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import billing_sync
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.eligibility import has_won
from ports.usecases.errors import Forbidden, InvalidInput, NotFound, Refused

HISTORY_MAX_LIMIT = 100


def _member_only(principal: Principal) -> None:
    if principal.role.value != "member":
        raise Forbidden("staff accounts cannot hold memberships")


async def _latest(deps: Deps, account_id: UUID) -> MembershipRecord | None:
    async with deps.uow() as uow:
        memberships = await uow.billing.memberships_of(account_id)
    return memberships[0] if memberships else None


async def _live(deps: Deps, principal: Principal) -> MembershipRecord:
    latest = await _latest(deps, principal.account_id)
    if latest is None or latest.status not in LIVE_STATES:
        raise NotFound("you have no membership")
    return latest


# -- joining --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutStarted:
    membership_id: UUID
    url: str
    expires_at: datetime | None


async def start_checkout(
    deps: Deps,
    principal: Principal,
    *,
    accept_terms_version: str | None,
    accept_payment_authorization: bool,
    ip: str | None,
    rejoin: bool = False,
) -> CheckoutStarted:
    """Start (or resume) the joining checkout: preconditions of §3, consent recorded, one session per membership."""
    _member_only(principal)
    if accept_terms_version is not None and accept_terms_version != deps.billing.terms_version:
        raise InvalidInput("accept the current terms", [f"terms_version_is:{deps.billing.terms_version}"])
    pending = await _pending_membership(
        deps,
        principal,
        accept_terms_version=accept_terms_version,
        accept_payment_authorization=accept_payment_authorization,
        ip=ip,
        rejoin=rejoin,
    )
    now = deps.clock.now()
    if pending.checkout_session_id and pending.checkout_expires_at and pending.checkout_expires_at <= now:
        # Its session expired: settle it with the provider (it may have been paid after all), then start afresh.
        after = await billing_sync.close_expired_checkout(deps, pending.checkout_session_id)
        if after is not None and after.status is not MembershipState.ABANDONED:
            return _started(after)
        pending = await _pending_membership(
            deps, principal, accept_terms_version=None, accept_payment_authorization=False, ip=ip, rejoin=rejoin
        )
    if pending.checkout_url and pending.checkout_expires_at and pending.checkout_expires_at > now:
        return _started(pending)
    return await _open_session(deps, principal, pending)


def _started(membership: MembershipRecord) -> CheckoutStarted:
    if membership.status is not MembershipState.PENDING or not membership.checkout_url:
        raise Refused("this membership is already paid for", ["has_live_membership"])
    return CheckoutStarted(
        membership_id=membership.id, url=membership.checkout_url, expires_at=membership.checkout_expires_at
    )


async def _pending_membership(
    deps: Deps,
    principal: Principal,
    *,
    accept_terms_version: str | None,
    accept_payment_authorization: bool,
    ip: str | None,
    rejoin: bool,
) -> MembershipRecord:
    """The account's PENDING membership, created if the person may join and every precondition holds; consent
    given with the request is recorded even when something else is still missing."""
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    async with deps.uow() as uow:
        await uow.billing.lock_account_memberships(principal.account_id)
        memberships = list(await uow.billing.memberships_of(principal.account_id))
        pending = next((m for m in memberships if m.status is MembershipState.PENDING), None)
        if rejoin and not any(m.status in ENDED_STATES and m.tenure_start for m in memberships):
            raise Refused("there is no earlier membership to rejoin after", ["no_ended_membership"])
        if pending is None:
            person_won, identity_won = await has_won(uow, principal.account_id)
            decision = may_join(
                earlier_states=[m.status for m in memberships],
                person_has_won=person_won,
                identity_has_won=identity_won,
                terminated_for_cause=any(is_terminated(m.end_reason) for m in memberships),
            )
            if not decision.ok:
                raise Refused("you cannot start a new membership", [r.value for r in decision.reasons])
        if accept_terms_version is not None:
            await uow.billing.record_terms(
                account_id=principal.account_id,
                terms_version=accept_terms_version,
                payment_authorization=accept_payment_authorization,
                at=now,
                ip=ip,
            )
        blockers = await _checkout_blockers(deps, uow, principal.account_id, now=now)
        if blockers:
            await uow.commit()  # keep the recorded consent
            raise Refused("complete these steps before paying", blockers)
        if pending is None:
            pending = await _new_membership(
                uow, principal, rules_version=rules.version, now=now, terms=deps.billing.terms_version
            )
        await uow.commit()
    return pending


async def _checkout_blockers(deps: Deps, uow: UnitOfWork, account_id: UUID, *, now: datetime) -> list[str]:
    terms = await uow.billing.latest_terms(account_id)
    profile = await uow.profiles.get(account_id)
    name = " ".join(p for p in (profile.legal_first_name, profile.legal_last_name) if p) if profile else ""
    facts = ProfileFacts(
        legal_name=name or None,
        date_of_birth=profile.date_of_birth if profile else None,
        address=profile.address if profile else None,
    )
    blockers = checkout_blockers(
        profile=facts,
        accepted_terms_version=terms.terms_version if terms else None,
        current_terms_version=deps.billing.terms_version,
        payment_authorization_accepted=terms.payment_authorization if terms else False,
        now=now,
        rules=deps.rules.in_force(now),
    )
    return [b.value for b in blockers]


async def _new_membership(
    uow: UnitOfWork, principal: Principal, *, rules_version: int, now: datetime, terms: str
) -> MembershipRecord:
    try:
        pending = await uow.billing.add_membership(account_id=principal.account_id, rules_version=rules_version, at=now)
    except ConflictError:
        raise Refused("you already hold a live membership", ["has_live_membership"]) from None
    await record_audit(
        uow,
        entity_type="membership",
        entity_id=str(pending.id),
        actor=f"account:{principal.account_id}",
        action="checkout_started",
        at=now,
        after={"status": "pending", "rules_version": rules_version, "terms_version": terms},
    )
    return pending


async def _open_session(deps: Deps, principal: Principal, pending: MembershipRecord) -> CheckoutStarted:
    """One hosted session per membership: the idempotency key is the membership, so racing requests (two tabs)
    get the same session back from the provider."""
    rules = deps.rules.version(pending.rules_version)
    base = deps.billing.public_url.rstrip("/")
    session = await billing_sync.gateway(deps).create_joining_checkout(
        membership_id=str(pending.id),
        customer_email=principal.email,
        monthly_dues=rules.monthly_dues,
        joining_fee=rules.joining_fee,
        success_url=f"{base}/checkout/complete?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/join?cancelled=1",
        idempotency_key=f"join:{pending.id}",
    )
    async with deps.uow() as uow:
        locked = await uow.billing.get_membership(pending.id, for_update=True)
        if locked is not None and locked.status is MembershipState.PENDING and locked.checkout_session_id is None:
            await uow.billing.save_membership(
                replace(
                    locked,
                    checkout_session_id=session.id,
                    checkout_url=session.url,
                    checkout_expires_at=session.expires_at,
                ),
                at=deps.clock.now(),
            )
            await uow.commit()
    if session.status != "open" or not session.url:
        await billing_sync.sync_checkout(deps, session.id)
        raise Refused("this checkout is no longer open; start again", ["checkout_closed"])
    return CheckoutStarted(membership_id=pending.id, url=session.url, expires_at=session.expires_at)


async def complete_checkout(deps: Deps, principal: Principal, session_id: str) -> "MembershipStatus":
    """The provider redirected the member back: fulfil through the same path as the webhook, then report."""
    async with deps.uow() as uow:
        membership = await uow.billing.membership_by_checkout(session_id)
        mine = {m.id for m in await uow.billing.memberships_of(principal.account_id)}
    if membership is None:  # a retention checkout is not the membership's joining session: ask the provider
        try:
            session = await billing_sync.gateway(deps).get_checkout_session(session_id)
        except PaymentProviderError:
            raise NotFound("no such checkout") from None
        owner = _uuid_or_none(session.membership_id)
        if owner is None or owner not in mine:
            raise NotFound("no such checkout")
    elif membership.account_id != principal.account_id:
        raise NotFound("no such checkout")
    await billing_sync.sync_checkout(deps, session_id)
    return await membership_status(deps, principal)


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


# -- reads ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipStatus:
    membership_id: UUID | None
    status: str
    member_number: int | None = None
    tenure_start: datetime | None = None
    grace_ends_at: datetime | None = None
    cancel_effective_at: datetime | None = None
    can_cancel: bool = False
    can_undo: bool = False
    can_rejoin: bool = False
    can_join: bool = False
    checkout_url: str | None = None
    position: int | None = None
    queue_size: int | None = None
    retention_prepaid: bool = False
    ended_at: datetime | None = None
    end_reason: str | None = None


async def membership_status(deps: Deps, principal: Principal) -> MembershipStatus:
    now = deps.clock.now()
    async with deps.uow() as uow:
        memberships = list(await uow.billing.memberships_of(principal.account_id))
        latest = memberships[0] if memberships else None
        place = await uow.queue.place_of_membership(latest.id) if latest else None
        person_won, identity_won = await has_won(uow, principal.account_id)
    join_ok = may_join(
        earlier_states=[m.status for m in memberships],
        person_has_won=person_won,
        identity_has_won=identity_won,
        terminated_for_cause=any(is_terminated(m.end_reason) for m in memberships),
    ).ok
    if latest is None:
        return MembershipStatus(membership_id=None, status="none", can_join=principal.role.value == "member")
    anchor = latest.tenure_start
    can_cancel = (
        anchor is not None
        and schedule_cancellation(
            state=latest.status, anchor=anchor, now=now, scheduled_at=latest.cancel_effective_at
        ).ok
    )
    can_undo = undo_cancellation(state=latest.status, scheduled_effective_at=latest.cancel_effective_at, now=now).ok
    return MembershipStatus(
        membership_id=latest.id,
        status=latest.status.value,
        member_number=latest.member_number,
        tenure_start=latest.tenure_start,
        grace_ends_at=latest.grace_ends_at if latest.status is MembershipState.PAST_DUE else None,
        cancel_effective_at=latest.cancel_effective_at if latest.status in QUEUE_STATES else None,
        can_cancel=can_cancel,
        can_undo=can_undo,
        can_rejoin=join_ok and latest.status in ENDED_STATES and latest.tenure_start is not None,
        can_join=join_ok,
        checkout_url=latest.checkout_url if latest.status is MembershipState.PENDING else None,
        position=place.position if place else None,
        queue_size=place.size if place else None,
        retention_prepaid=latest.retention_prepaid_at is not None,
        ended_at=latest.ended_at,
        end_reason=latest.end_reason,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NextCharge:
    due_at: datetime | None
    amount: Money | None
    overdue_invoice_ids: tuple[str, ...] = ()


async def next_charge(deps: Deps, principal: Principal) -> NextCharge:
    """The next dues date and amount (none while billing is paused, or when a cancellation comes first)."""
    now = deps.clock.now()
    latest = await _latest(deps, principal.account_id)
    if latest is None or latest.status not in QUEUE_STATES or latest.tenure_start is None:
        return NextCharge(due_at=None, amount=None)
    async with deps.uow() as uow:
        invoices = list(await uow.billing.invoices_of(latest.id))
    status = billing_rules.billing_status(billing_sync.domain_invoices(invoices), deps.rules.history, now)
    due = billing_rules.next_due_after(latest.tenure_start, now)
    if latest.billing_paused_at is not None or (
        latest.cancel_effective_at is not None and latest.cancel_effective_at <= due
    ):
        return NextCharge(due_at=None, amount=None, overdue_invoice_ids=status.overdue_invoice_ids)
    return NextCharge(
        due_at=due, amount=deps.rules.in_force(due).monthly_dues, overdue_invoice_ids=status.overdue_invoice_ids
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryPage:
    items: tuple[PaymentHistoryItem, ...]
    next_cursor: str | None


def _encode_cursor(item: PaymentHistoryItem) -> str:
    raw = f"{item.paid_at.isoformat()}|{item.payment_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, payment_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, UUID(payment_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is not valid", ["cursor"]) from None


async def payment_history(deps: Deps, principal: Principal, *, cursor: str | None, limit: int) -> HistoryPage:
    if not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {HISTORY_MAX_LIMIT}", ["limit"])
    before = _decode_cursor(cursor) if cursor else None
    async with deps.uow() as uow:
        items = tuple(await uow.billing.payment_history(principal.account_id, before=before, limit=limit + 1))
    more = len(items) > limit
    items = items[:limit]
    return HistoryPage(items=items, next_cursor=_encode_cursor(items[-1]) if more and items else None)


# -- member actions -------------------------------------------------------------------------------------------


async def cancel_at_period_end(deps: Deps, principal: Principal) -> MembershipStatus:
    """Schedule the end at the current period's end, which the provider's subscription items define."""
    membership = await _live(deps, principal)
    now = deps.clock.now()
    if membership.tenure_start is None or membership.provider_subscription_id is None:
        raise Refused("there is no active membership to cancel", ["not_in_queue"])
    decision = schedule_cancellation(
        state=membership.status, anchor=membership.tenure_start, now=now, scheduled_at=membership.cancel_effective_at
    )
    if not decision.ok:
        raise Refused("the membership cannot be cancelled now", [r.value for r in decision.reasons])
    subscription = await billing_sync.gateway(deps).get_subscription(membership.provider_subscription_id)
    effective = subscription.current_period_end or decision.effective_at
    if effective is None or effective <= now:
        effective = decision.effective_at
    async with deps.uow() as uow:
        locked = await uow.billing.get_membership(membership.id, for_update=True)
        if locked is None or locked.cancel_effective_at is not None or locked.status not in QUEUE_STATES:
            raise Refused("the membership cannot be cancelled now", ["already_scheduled"])
        changed = replace(locked, cancel_effective_at=effective, cancel_requested_at=now)
        await _save_cancellation(uow, principal, locked, changed, at=now)
        billing_sync.notify(uow, MembershipCancelScheduled.name, changed, effectiveAt=effective)
        await uow.commit()
    return await membership_status(deps, principal)


async def _save_cancellation(
    uow: UnitOfWork, principal: Principal, before: MembershipRecord, after: MembershipRecord, *, at: datetime
) -> None:
    """Schedule or undo: save, audit, and have the provider follow (cancel at period end on or off)."""
    scheduled = after.cancel_effective_at is not None
    await uow.billing.save_membership(after, at=at)
    await record_audit(
        uow,
        entity_type="membership",
        entity_id=str(before.id),
        actor=f"account:{principal.account_id}",
        action="cancel_scheduled" if scheduled else "cancel_undone",
        at=at,
        before={"cancel_effective_at": _iso(before.cancel_effective_at)},
        after={"cancel_effective_at": _iso(after.cancel_effective_at)},
    )
    billing_sync.command(
        uow,
        billing_sync.CANCEL_AT_PERIOD_END_REQUESTED,
        after,
        subscriptionId=before.provider_subscription_id,
        on=scheduled,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def undo_cancel(deps: Deps, principal: Principal) -> MembershipStatus:
    membership = await _live(deps, principal)
    now = deps.clock.now()
    async with deps.uow() as uow:
        locked = await uow.billing.get_membership(membership.id, for_update=True)
        assert locked is not None
        decision = undo_cancellation(state=locked.status, scheduled_effective_at=locked.cancel_effective_at, now=now)
        if not decision.ok:
            raise Refused("there is no cancellation to undo", [r.value for r in decision.reasons])
        changed = replace(locked, cancel_effective_at=None, cancel_requested_at=None)
        await _save_cancellation(uow, principal, locked, changed, at=now)
        billing_sync.notify(uow, MembershipCancelUndone.name, changed)
        await uow.commit()
    return await membership_status(deps, principal)


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    url: str


async def billing_portal(deps: Deps, principal: Principal) -> Link:
    """A provider-hosted page to update the card (nothing else about money is editable there)."""
    membership = await _live(deps, principal)
    if membership.provider_customer_id is None:
        raise Refused("there is no card on file yet", ["not_activated"])
    now = deps.clock.now()
    link = await billing_sync.gateway(deps).create_billing_portal_link(
        customer_id=membership.provider_customer_id,
        return_url=f"{deps.billing.public_url.rstrip('/')}/billing",
        idempotency_key=f"portal:{membership.id}:{now:%Y%m%d%H%M}",
    )
    return Link(url=link.url)


async def pay_now(deps: Deps, principal: Principal) -> Link:
    """The provider's hosted page for the oldest overdue invoice (read fresh: it may just have been paid)."""
    membership = await _live(deps, principal)
    async with deps.uow() as uow:
        invoices = [
            i for i in await uow.billing.invoices_of(membership.id) if i.status in {"open", "uncollectible", "refunded"}
        ]
    provider = billing_sync.gateway(deps)
    for record in sorted(invoices, key=lambda i: i.due_at):
        current = await provider.get_invoice(record.provider_invoice_id)
        if current.status in {"open", "uncollectible"} and current.hosted_invoice_url:
            return Link(url=current.hosted_invoice_url)
    raise Refused("nothing is overdue", ["nothing_due"])


async def retention_checkout(deps: Deps, principal: Principal) -> Link:
    """The optional, non-refundable retention prepayment (§7): one per membership."""
    membership = await _live(deps, principal)
    if membership.retention_prepaid_at is not None:
        raise Refused("the retention prepayment is already paid", ["already_prepaid"])
    if membership.status not in QUEUE_STATES or membership.provider_customer_id is None:
        raise Refused("only an active membership can prepay retention", ["not_in_queue"])
    rules = deps.rules.version(membership.rules_version)
    base = deps.billing.public_url.rstrip("/")
    session = await billing_sync.gateway(deps).create_retention_checkout(
        membership_id=str(membership.id),
        customer_id=membership.provider_customer_id,
        amount=rules.retention_amount,
        success_url=f"{base}/checkout/complete?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/billing",
        idempotency_key=f"retention:{membership.id}",
    )
    if not session.url:
        raise Refused("the retention checkout is closed", ["checkout_closed"])
    return Link(url=session.url)
