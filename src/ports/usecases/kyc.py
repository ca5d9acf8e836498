"""Identity verification (DOMAIN.md §10): start a hosted verification, apply the provider's results, and let
staff decide the cases it sends for review.

The provider's word reaches us only one way: a verified webhook is stored in the inbox, and a job re-reads the
attempt through the port (`sync_attempt`). The hosted page's client-side "success" is never trusted. The hourly
re-fetch uses the same function for attempts whose webhook was lost. Personal data stays in memory: the name and
ID number become the keyed identity fingerprint, and only the domain's fields are stored.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain import kyc as rules_kyc
from domain.errors import InvalidIdentity
from domain.events import KycFailed, KycNeedsReview, KycReminder, KycVerified
from domain.identity import fingerprint
from domain.kyc import KycStatus, ProviderOutcome, ProviderResult, StaffDecision
from domain.routing import name_digest
from domain.sessions import Role
from ports.outbound.kyc import IdentityVerifier, VerificationFacts
from ports.outbound.kyc_records import StoredKyc
from ports.outbound.tasks import Payload
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.errors import Forbidden, InvalidInput, NotFound, Refused
from ports.usecases.inbox import enqueue_message_job, message_job_key, process_message

logger = logging.getLogger(__name__)

PROVIDER = "plaid"
PROCESS_TASK = "kyc.process_event"
REFETCH_TASK = "kyc.refetch_pending"
REMINDER_TASK = "kyc.remind"
REMINDER_AFTER = timedelta(days=7)
ATTEMPT_WINDOW = timedelta(days=30)

_OUTCOMES = {
    "success": ProviderOutcome.VERIFIED,
    "failed": ProviderOutcome.FAILED,
    "pending_review": ProviderOutcome.NEEDS_REVIEW,
    "expired": ProviderOutcome.EXPIRED,
    "canceled": ProviderOutcome.CANCELED,
}
"""Plaid statuses that end an attempt; `active` (in progress) changes nothing."""


def verifier(deps: Deps) -> IdentityVerifier:
    if deps.kyc is None:
        raise RuntimeError("no identity-verification provider is configured")
    return deps.kyc


def _notify(uow: UnitOfWork, name: str, account_id: UUID, **payload: Any) -> None:
    body: dict[str, Any] = {"accountId": str(account_id), **payload}
    uow.record(event_name=name, aggregate_type="kyc", aggregate_id=str(account_id), payload=body)


async def _audit(
    uow: UnitOfWork,
    stored: StoredKyc,
    *,
    actor: str,
    action: str,
    at: datetime,
    before: KycStatus,
    reason: str | None = None,
) -> None:
    await record_audit(
        uow,
        entity_type="kyc",
        entity_id=str(stored.account_id),
        actor=actor,
        action=action,
        at=at,
        before={"status": before.value},
        after={
            "status": stored.record.status.value,
            "attempt": stored.record.attempt_id,
            "review_reasons": ",".join(r.value for r in stored.record.review_reasons),
        },
        reason=reason,
    )


# -- the member's side ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KycView:
    status: str
    reasons: tuple[str, ...]
    valid_until: datetime | None
    may_retry: bool
    retry_after: datetime | None
    verification_url: str | None


async def kyc_status(deps: Deps, principal: Principal) -> KycView:
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    async with deps.uow() as uow:
        stored = await uow.kyc.get(principal.account_id) or StoredKyc(account_id=principal.account_id)
        starts = await uow.kyc.attempt_starts(principal.account_id, since=now - ATTEMPT_WINDOW)
    record = stored.record
    decision = rules_kyc.may_start_attempt(record=record, previous_starts=starts, now=now, rules=rules)
    expired = rules_kyc.is_expired(record, now, rules)
    reasons = tuple(r.value for r in record.review_reasons) + stored.failure_reasons
    if record.status is KycStatus.VERIFIED and expired:
        reasons = ("verification_expired",)
    return KycView(
        status=record.status.value,
        reasons=reasons,
        valid_until=rules_kyc.expires_at(record.verified_at, rules) if record.verified_at else None,
        may_retry=decision.ok,
        retry_after=decision.retry_after,
        verification_url=stored.verification_url if record.status is KycStatus.PENDING else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    attempt_id: str
    url: str


async def start_verification(deps: Deps, principal: Principal) -> Started:
    """Start (or, while one is in progress, return) my verification; at most `kyc_attempts_per_30_days`."""
    if principal.role is not Role.MEMBER:
        raise Forbidden("staff accounts are not verified here")
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    async with deps.uow() as uow:
        stored = await uow.kyc.get_or_create(principal.account_id, at=now)
        starts = await uow.kyc.attempt_starts(principal.account_id, since=now - ATTEMPT_WINDOW)
        await uow.commit()
    decision = rules_kyc.may_start_attempt(record=stored.record, previous_starts=starts, now=now, rules=rules)
    in_progress = rules_kyc.StartRefusal.ATTEMPT_IN_PROGRESS in decision.reasons
    if in_progress and stored.record.attempt_id and stored.verification_url:
        return Started(attempt_id=stored.record.attempt_id, url=stored.verification_url)
    if not decision.ok:
        detail = "you cannot start a verification now"
        if decision.retry_after is not None:
            detail += f"; you may try again after {decision.retry_after.isoformat()}"
        raise Refused(detail, [r.value for r in decision.reasons])
    session = await verifier(deps).start(
        client_user_id=str(principal.account_id),
        email=principal.email,
        retry=bool(starts) or stored.record.attempt_id is not None,
    )
    if not session.url:
        raise Refused("the provider did not return a verification page", ["provider_no_url"])
    async with deps.uow() as uow:
        locked = await uow.kyc.get_or_create(principal.account_id, at=now)
        if (
            locked.record.status is KycStatus.PENDING
            and locked.record.attempt_id not in (None, session.attempt_id)
            and locked.verification_url
        ):
            # A concurrent request started another attempt first: everyone gets that one (only its result counts).
            return Started(attempt_id=locked.record.attempt_id, url=locked.verification_url)
        if locked.record.status is not KycStatus.PENDING or locked.record.attempt_id != session.attempt_id:
            if locked.record.status is not KycStatus.PENDING:
                before = locked.record.status
                started = rules_kyc.start_attempt(locked.record, attempt_id=session.attempt_id, now=now)
                # Later statuses of this attempt carry the provider's times (whole seconds); its start must too,
                # or a result in the same second would look older than the start and be dropped as stale.
                started = replace(started, status_at=min(session.created_at, now))
                locked = replace(
                    locked,
                    record=started,
                    failure_reasons=(),
                    verification_url=session.url,
                    flagged_at=None,
                )
                await uow.kyc.save(locked, at=now)
                await _audit(
                    uow, locked, actor=f"account:{principal.account_id}", action="start", at=now, before=before
                )
            await uow.kyc.add_attempt(
                account_id=principal.account_id, provider_attempt_id=session.attempt_id, started_at=now
            )
        await uow.commit()
    return Started(attempt_id=session.attempt_id, url=session.url)


# -- the provider's results -----------------------------------------------------------------------------------


def _identity(deps: Deps, facts: VerificationFacts) -> str | None:
    """The keyed fingerprint of the verified identity, or None when the provider gave too little."""
    name = " ".join(part for part in (facts.given_name, facts.family_name) if part)
    if not name or facts.date_of_birth is None or not facts.id_number:
        return None
    try:
        return fingerprint(
            key=deps.identity_key, legal_name=name, date_of_birth=facts.date_of_birth, id_number=facts.id_number
        )
    except InvalidIdentity:
        return None


async def sync_attempt(deps: Deps, attempt_id: str) -> str:
    """Re-read one attempt from the provider and apply it (stale, foreign and overruled results change nothing)."""
    facts = await verifier(deps).get(attempt_id)
    outcome = _OUTCOMES.get(facts.status)
    if outcome is None:
        return "in progress"
    identity = _identity(deps, facts)
    verified_name = name_digest(
        key=deps.identity_key, name=" ".join(part for part in (facts.given_name, facts.family_name) if part)
    )
    now = deps.clock.now()
    async with deps.uow() as uow:
        stored = await uow.kyc.by_attempt(attempt_id, for_update=True)
        if stored is None:
            raise LookupError(f"verification attempt {attempt_id} belongs to nobody we know (yet)")
        profile = await uow.profiles.get(stored.account_id)
        conflict = identity is not None and await uow.kyc.fingerprint_taken(identity, other_than=stored.account_id)
        update = rules_kyc.apply_provider_result(
            stored.record,
            ProviderResult(
                attempt_id=attempt_id,
                outcome=outcome,
                occurred_at=facts.status_at,
                date_of_birth=facts.date_of_birth,
                country=facts.country,
                fingerprint=identity,
                name_digest=verified_name,
            ),
            fingerprint_conflict=conflict,
            profile_date_of_birth=profile.date_of_birth if profile else None,
        )
        if update.note is rules_kyc.KycNote.STAFF_DECISION_STANDS:
            flagged = replace(stored, flagged_at=now)
            await uow.kyc.save(flagged, at=now)
            await record_audit(
                uow,
                entity_type="kyc",
                entity_id=str(stored.account_id),
                actor=PROVIDER,
                action="provider_status_after_staff_decision",
                at=now,
                after={"provider_status": facts.status, "attempt": attempt_id},
                reason="recorded and flagged; the staff decision stands",
            )
        elif update.applied:
            before = stored.record.status
            failures = facts.failure_reasons if update.record.status is KycStatus.FAILED else ()
            changed = replace(stored, record=update.record, failure_reasons=failures)
            await uow.kyc.save(changed, at=now)
            await _audit(uow, changed, actor=PROVIDER, action=f"provider_{facts.status}", at=now, before=before)
            await _tell(deps, uow, changed, now=now)
        await uow.commit()
    return update.note.value


async def _tell(deps: Deps, uow: UnitOfWork, stored: StoredKyc, *, now: datetime) -> None:
    status = stored.record.status
    if status is KycStatus.VERIFIED:
        _notify(uow, KycVerified.name, stored.account_id)
    elif status is KycStatus.NEEDS_REVIEW:
        _notify(uow, KycNeedsReview.name, stored.account_id)
    elif status is KycStatus.FAILED:
        starts = await uow.kyc.attempt_starts(stored.account_id, since=now - ATTEMPT_WINDOW)
        left = max(0, deps.rules.in_force(now).kyc_attempts_per_30_days - len(starts))
        _notify(uow, KycFailed.name, stored.account_id, attemptsLeft=left)


def process_key(payload: Payload) -> str:
    return message_job_key(PROCESS_TASK, payload)


async def process_event(deps: Deps, payload: Payload) -> str:
    """Job: apply one stored identity-verification webhook by re-reading its attempt."""
    decoder = deps.kyc_events
    if decoder is None:
        raise RuntimeError("no identity-verification event decoder is configured")

    async def apply(body: str) -> str:
        return await sync_attempt(deps, decoder.decode(body).attempt_id)

    return await process_message(deps, UUID(str(payload["messageId"])), apply)


async def enqueue_processing(deps: Deps, message_id: UUID) -> None:
    await enqueue_message_job(deps, PROCESS_TASK, message_id)


async def refetch_pending(deps: Deps, payload: Payload) -> dict[str, int]:
    """Hourly: attempts pending for more than `kyc_pending_refetch_minutes` are re-read (lost webhooks), and
    stored webhooks whose job was lost are applied."""
    del payload
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    cutoff = now - timedelta(minutes=rules.kyc_pending_refetch_minutes)
    async with deps.uow() as uow:
        attempts = await uow.kyc.pending_since(cutoff, limit=500)
        stored = await uow.inbox.pending(PROVIDER, received_before=now - timedelta(seconds=30), limit=500)
    counts = {"refetched": 0, "failed": 0, "events": 0}
    for message in stored:
        try:
            await process_event(deps, {"messageId": str(message.id)})
            counts["events"] += 1
        except Exception:
            logger.warning("recovery of a stored identity-verification event failed", exc_info=True)
    for attempt_id in attempts:
        try:
            await sync_attempt(deps, attempt_id)
            counts["refetched"] += 1
        except Exception:
            counts["failed"] += 1
            logger.warning("re-fetch of a pending verification failed", exc_info=True)
    return counts


async def remind(deps: Deps, payload: Payload) -> int:
    """Daily: a reminder 7 days after joining when no verification was started (once per membership)."""
    del payload
    now = deps.clock.now()
    sent = 0
    async with deps.uow() as uow:
        for account_id, membership_id in await uow.kyc.without_verification(
            activated_before=now - REMINDER_AFTER, limit=1000
        ):
            if await uow.billing.raise_notice_once(membership_id=membership_id, notice_key="kyc_reminder", at=now):
                _notify(uow, KycReminder.name, account_id, membershipId=str(membership_id))
                sent += 1
        await uow.commit()
    return sent


# -- staff review ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewItem:
    account_id: UUID
    attempt_id: str | None
    reasons: tuple[str, ...]
    since: datetime | None
    position: int | None
    flagged: bool


async def review_queue(deps: Deps, staff: Principal, *, after: UUID | None, limit: int) -> list[ReviewItem]:
    require_staff(staff)
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100", ["limit"])
    items = []
    async with deps.uow() as uow:
        for stored in await uow.kyc.review_queue(after=after, limit=limit):
            items.append(
                ReviewItem(
                    account_id=stored.account_id,
                    attempt_id=stored.record.attempt_id,
                    reasons=tuple(r.value for r in stored.record.review_reasons),
                    since=stored.record.status_at,
                    position=await _position(uow, stored.account_id),
                    flagged=stored.flagged_at is not None,
                )
            )
    return items


async def _position(uow: UnitOfWork, account_id: UUID) -> int | None:
    place = await uow.queue.place_of_account(account_id)
    return place.position if place else None


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionResult:
    status: str
    decided: bool
    votes: int
    needed: int


async def decide(
    deps: Deps, staff: Principal, account_id: UUID, *, decision: StaffDecision, reason: str
) -> DecisionResult:
    """A staff vote on a NEEDS_REVIEW verification; it takes effect when enough distinct staff agree (two for a
    member in the queue's top 10). Audited; a later provider status does not overturn it."""
    require_staff(staff)
    if staff.account_id == account_id:
        raise Forbidden("nobody decides on their own verification")
    reason = reason.strip()
    if not 3 <= len(reason) <= 500:
        raise InvalidInput("give a reason (3 to 500 characters)", ["reason"])
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    async with deps.uow() as uow:
        stored = await uow.kyc.get(account_id, for_update=True)
        if stored is None or stored.record.status is not KycStatus.NEEDS_REVIEW or stored.record.attempt_id is None:
            raise NotFound("no verification waits for review for this member")
        attempt = stored.record.attempt_id
        await uow.kyc.add_vote(
            account_id=account_id,
            attempt_id=attempt,
            staff_id=staff.account_id,
            decision=decision.value,
            reason=reason,
            at=now,
        )
        voters = [str(v.staff_id) for v in await uow.kyc.votes(account_id, attempt) if v.decision == decision.value]
        position = await _position(uow, account_id)
        needed = rules_kyc.staff_required(position, rules)
        outcome = rules_kyc.staff_decide(
            stored.record, decision=decision, staff_ids=voters, queue_position=position, at=now, rules=rules
        )
        await record_audit(
            uow,
            entity_type="kyc",
            entity_id=str(account_id),
            actor=f"account:{staff.account_id}",
            action=f"staff_vote_{decision.value}",
            at=now,
            after={"attempt": attempt, "votes": len(voters), "needed": needed},
            reason=reason,
        )
        if outcome.ok:
            changed = replace(stored, record=outcome.record, flagged_at=None)
            await uow.kyc.save(changed, at=now)
            await _audit(
                uow,
                changed,
                actor=f"account:{staff.account_id}",
                action=f"staff_{decision.value}",
                at=now,
                before=stored.record.status,
                reason=reason,
            )
            _notify(
                uow,
                KycVerified.name if decision is StaffDecision.APPROVE else KycFailed.name,
                account_id,
                **({} if decision is StaffDecision.APPROVE else {"attemptsLeft": rules.kyc_attempts_per_30_days}),
            )
        await uow.commit()
    return DecisionResult(
        status=(outcome.record.status if outcome.ok else stored.record.status).value,
        decided=outcome.ok,
        votes=len(voters),
        needed=needed,
    )
