"""Identity verification (DOMAIN.md §10): a state machine that stale events and later provider news cannot undo.

Why so defensive: KYC gates who can be paid $100,000. Provider webhooks arrive late, twice and out of order, so a
result is applied only if it belongs to the current attempt and is not older than what we have; an audited staff
decision is final against later provider statuses (they are recorded and flagged, never applied silently).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.calendar import add_months_utc, ensure_utc
from domain.errors import InvalidTransition
from domain.rules import ProgramRules

KYC_ATTEMPT_WINDOW = timedelta(days=30)
"""The rolling window of ``kyc_attempts_per_30_days`` (the number of days is part of the rule's name)."""

US = "US"


class KycStatus(StrEnum):
    NOT_STARTED = "not_started"
    PENDING = "pending"
    VERIFIED = "verified"
    NEEDS_REVIEW = "needs_review"
    FAILED = "failed"


class KycEvent(StrEnum):
    START = "start"
    PROVIDER_VERIFIED = "provider_verified"
    PROVIDER_NEEDS_REVIEW = "provider_needs_review"
    PROVIDER_FAILED = "provider_failed"
    SESSION_ENDED = "session_ended"
    """The provider session expired or was canceled: the attempt ends, a retry may start."""
    STAFF_APPROVE = "staff_approve"
    STAFF_REJECT = "staff_reject"


K = KycStatus
KE = KycEvent

TRANSITIONS: dict[tuple[KycStatus, KycEvent], KycStatus] = {
    (K.NOT_STARTED, KE.START): K.PENDING,
    (K.FAILED, KE.START): K.PENDING,
    (K.VERIFIED, KE.START): K.PENDING,  # renewal, only once the verification has expired
    (K.PENDING, KE.PROVIDER_VERIFIED): K.VERIFIED,
    (K.PENDING, KE.PROVIDER_NEEDS_REVIEW): K.NEEDS_REVIEW,
    (K.PENDING, KE.PROVIDER_FAILED): K.FAILED,
    (K.PENDING, KE.SESSION_ENDED): K.NOT_STARTED,
    # A *newer* provider status for the same attempt (provider-side review) may still move the result.
    (K.NEEDS_REVIEW, KE.PROVIDER_VERIFIED): K.VERIFIED,
    (K.NEEDS_REVIEW, KE.PROVIDER_NEEDS_REVIEW): K.NEEDS_REVIEW,
    (K.NEEDS_REVIEW, KE.PROVIDER_FAILED): K.FAILED,
    (K.VERIFIED, KE.PROVIDER_NEEDS_REVIEW): K.NEEDS_REVIEW,
    (K.VERIFIED, KE.PROVIDER_FAILED): K.FAILED,
    (K.NEEDS_REVIEW, KE.STAFF_APPROVE): K.VERIFIED,
    (K.NEEDS_REVIEW, KE.STAFF_REJECT): K.FAILED,
    (K.FAILED, KE.STAFF_APPROVE): K.VERIFIED,
    (K.VERIFIED, KE.STAFF_REJECT): K.FAILED,
}


def transition(status: KycStatus, event: KycEvent) -> KycStatus:
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidTransition("kyc", status, event) from None


class ReviewReason(StrEnum):
    DUPLICATE_IDENTITY = "duplicate_identity"
    """The fingerprint matches another person with a live membership or a past win."""
    DOB_MISMATCH = "dob_mismatch"
    """Profile date of birth differs from the verified one."""
    MISSING_IDENTITY_DATA = "missing_identity_data"
    """A 'verified' result without date of birth, country or fingerprint cannot be used for eligibility."""
    PROVIDER_REVIEW = "provider_review"


@dataclass(frozen=True, slots=True, kw_only=True)
class KycRecord:
    """A person's verification state. ``status_at`` is the provider (or staff) time of the current status."""

    status: KycStatus = KycStatus.NOT_STARTED
    attempt_id: str | None = None
    attempt_started_at: datetime | None = None
    status_at: datetime | None = None
    verified_at: datetime | None = None
    staff_decided_at: datetime | None = None
    review_reasons: tuple[ReviewReason, ...] = ()
    date_of_birth: date | None = None
    country: str | None = None
    fingerprint: str | None = None
    name_digest: str | None = None
    """Keyed digest of the verified legal name (``domain.routing.name_digest``): a payout's account holder is
    checked against it, never against a name the member can edit."""


# -- validity -----------------------------------------------------------------------------------------------------


def expires_at(verified_at: datetime, rules: ProgramRules) -> datetime:
    """A verification counts for ``kyc_valid_months`` calendar months; strictly older is expired."""
    return add_months_utc(verified_at, rules.kyc_valid_months)


def is_expired(record: KycRecord, at: datetime, rules: ProgramRules) -> bool:
    return record.verified_at is not None and ensure_utc(at, "at") > expires_at(record.verified_at, rules)


def is_current(record: KycRecord, at: datetime, rules: ProgramRules) -> bool:
    """VERIFIED and not expired at ``at`` (what eligibility and PROCESSING need)."""
    return record.status is KycStatus.VERIFIED and record.verified_at is not None and not is_expired(record, at, rules)


def needs_refetch(record: KycRecord, now: datetime, rules: ProgramRules) -> bool:
    """A pending attempt older than ``kyc_pending_refetch_minutes`` is re-read from the provider (lost webhooks)."""
    return (
        record.status is KycStatus.PENDING
        and record.attempt_started_at is not None
        and ensure_utc(now, "now") - record.attempt_started_at > timedelta(minutes=rules.kyc_pending_refetch_minutes)
    )


# -- starting attempts --------------------------------------------------------------------------------------------


class StartRefusal(StrEnum):
    ATTEMPT_IN_PROGRESS = "attempt_in_progress"
    """Reuse the pending attempt instead of opening another."""
    ALREADY_VERIFIED = "already_verified"
    UNDER_REVIEW = "under_review"
    ATTEMPT_LIMIT_REACHED = "attempt_limit_reached"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartDecision:
    ok: bool
    reasons: tuple[StartRefusal, ...]
    retry_after: datetime | None = None
    """When the attempt limit is the blocker: the first instant a new attempt is allowed."""


def may_start_attempt(
    *, record: KycRecord, previous_starts: Iterable[datetime], now: datetime, rules: ProgramRules
) -> StartDecision:
    """At most ``kyc_attempts_per_30_days`` starts in any rolling 30 days: ``(now - 30 days, now]``."""
    now = ensure_utc(now, "now")
    reasons: list[StartRefusal] = []
    if record.status is KycStatus.PENDING:
        reasons.append(StartRefusal.ATTEMPT_IN_PROGRESS)
    elif record.status is KycStatus.NEEDS_REVIEW:
        reasons.append(StartRefusal.UNDER_REVIEW)
    elif record.status is KycStatus.VERIFIED and not is_expired(record, now, rules):
        reasons.append(StartRefusal.ALREADY_VERIFIED)
    in_window = sorted(
        start for start in (ensure_utc(s, "start") for s in previous_starts) if now - KYC_ATTEMPT_WINDOW < start <= now
    )
    retry_after = None
    if len(in_window) >= rules.kyc_attempts_per_30_days:
        reasons.append(StartRefusal.ATTEMPT_LIMIT_REACHED)
        retry_after = in_window[len(in_window) - rules.kyc_attempts_per_30_days] + KYC_ATTEMPT_WINDOW
    return StartDecision(ok=not reasons, reasons=tuple(reasons), retry_after=retry_after)


def start_attempt(record: KycRecord, *, attempt_id: str, now: datetime) -> KycRecord:
    """Open a new attempt (call only after ``may_start_attempt`` said ok). Earlier results stop counting."""
    now = ensure_utc(now, "now")
    return replace(
        record,
        status=transition(record.status, KycEvent.START),
        attempt_id=attempt_id,
        attempt_started_at=now,
        status_at=now,
        staff_decided_at=None,
        review_reasons=(),
    )


# -- provider results ---------------------------------------------------------------------------------------------


class ProviderOutcome(StrEnum):
    VERIFIED = "verified"
    NEEDS_REVIEW = "needs_review"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"


_OUTCOME_EVENT = {
    ProviderOutcome.VERIFIED: KycEvent.PROVIDER_VERIFIED,
    ProviderOutcome.NEEDS_REVIEW: KycEvent.PROVIDER_NEEDS_REVIEW,
    ProviderOutcome.FAILED: KycEvent.PROVIDER_FAILED,
    ProviderOutcome.EXPIRED: KycEvent.SESSION_ENDED,
    ProviderOutcome.CANCELED: KycEvent.SESSION_ENDED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderResult:
    attempt_id: str
    outcome: ProviderOutcome
    occurred_at: datetime
    """The provider's time for this status (not when we received it)."""
    date_of_birth: date | None = None
    country: str | None = None
    fingerprint: str | None = None
    name_digest: str | None = None


class KycNote(StrEnum):
    APPLIED = "applied"
    STALE_ATTEMPT = "stale_attempt"
    STALE_EVENT = "stale_event"
    NOT_APPLICABLE = "not_applicable"
    STAFF_DECISION_STANDS = "staff_decision_stands"
    """Flag for staff: the provider reported a status after an audited staff decision; recorded, not applied."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KycUpdate:
    record: KycRecord
    applied: bool
    note: KycNote


_STATUS_STRENGTH: dict[KycStatus, int] = {
    K.NOT_STARTED: 0,
    K.PENDING: 0,
    K.FAILED: 1,
    K.NEEDS_REVIEW: 2,
    K.VERIFIED: 3,
}
"""Tie-break for two statuses with the same provider time: VERIFIED > NEEDS_REVIEW > FAILED > PENDING/NOT_STARTED.

Provider times have one-second resolution, so "verified" and "failed" can share a second, and the order they
reach us says nothing about which is newer. On a tie a result is never downgraded (§10); an equal or stronger
one is applied. FAILED has no provider exit, and staff can still overrule any result, so a tie can only keep a
result the provider itself reported for this attempt.
"""


def apply_provider_result(
    record: KycRecord,
    result: ProviderResult,
    *,
    fingerprint_conflict: bool,
    profile_date_of_birth: date | None,
) -> KycUpdate:
    """Apply a provider status unless it is stale, for another attempt, or overruled by staff.

    ``fingerprint_conflict``: the result's fingerprint matches another person with a live membership or a past
    win (the caller queries; the fingerprint is in ``result``). A 'verified' result with a conflict, a DOB
    that differs from the profile, or missing identity data becomes NEEDS_REVIEW with those reasons; a provider
    NEEDS_REVIEW carries the conflict and DOB reasons too, so staff see every cause. An event older than the
    current status is stale; one at the *same* instant is applied only if it is not a downgrade
    (``_STATUS_STRENGTH``).
    """
    occurred_at = ensure_utc(result.occurred_at, "occurred_at")
    if record.attempt_id is None or result.attempt_id != record.attempt_id:
        return KycUpdate(record=record, applied=False, note=KycNote.STALE_ATTEMPT)
    if record.status_at is not None and occurred_at < record.status_at:
        return KycUpdate(record=record, applied=False, note=KycNote.STALE_EVENT)
    if record.staff_decided_at is not None:
        return KycUpdate(record=record, applied=False, note=KycNote.STAFF_DECISION_STANDS)
    event = _OUTCOME_EVENT[result.outcome]
    reasons: tuple[ReviewReason, ...] = ()
    if event is KycEvent.PROVIDER_VERIFIED:
        reasons = _review_reasons(result, fingerprint_conflict, profile_date_of_birth)
        if reasons:
            event = KycEvent.PROVIDER_NEEDS_REVIEW
    elif event is KycEvent.PROVIDER_NEEDS_REVIEW:
        reasons = (
            ReviewReason.PROVIDER_REVIEW,
            *_identity_conflicts(result, fingerprint_conflict, profile_date_of_birth),
        )
    if (record.status, event) not in TRANSITIONS:
        return KycUpdate(record=record, applied=False, note=KycNote.NOT_APPLICABLE)
    status = transition(record.status, event)
    if occurred_at == record.status_at and _STATUS_STRENGTH[status] < _STATUS_STRENGTH[record.status]:
        return KycUpdate(record=record, applied=False, note=KycNote.STALE_EVENT)
    if event is KycEvent.SESSION_ENDED:
        updated = replace(record, status=status, attempt_id=None, status_at=occurred_at, review_reasons=())
    else:
        updated = replace(
            record,
            status=status,
            status_at=occurred_at,
            verified_at=occurred_at if status is KycStatus.VERIFIED else None,
            review_reasons=reasons,
            date_of_birth=result.date_of_birth,
            country=result.country,
            fingerprint=result.fingerprint,
            name_digest=result.name_digest,
        )
    return KycUpdate(record=updated, applied=True, note=KycNote.APPLIED)


def _identity_conflicts(
    result: ProviderResult, fingerprint_conflict: bool, profile_date_of_birth: date | None
) -> tuple[ReviewReason, ...]:
    """Reasons that send any result to review: a duplicate identity, a profile/KYC date-of-birth mismatch."""
    reasons: list[ReviewReason] = []
    if fingerprint_conflict:
        reasons.append(ReviewReason.DUPLICATE_IDENTITY)
    if (
        profile_date_of_birth is not None
        and result.date_of_birth is not None
        and profile_date_of_birth != result.date_of_birth
    ):
        reasons.append(ReviewReason.DOB_MISMATCH)
    return tuple(reasons)


def _review_reasons(
    result: ProviderResult, fingerprint_conflict: bool, profile_date_of_birth: date | None
) -> tuple[ReviewReason, ...]:
    """Why a 'verified' result cannot stand: identity conflicts, or identity data missing."""
    reasons = list(_identity_conflicts(result, fingerprint_conflict, profile_date_of_birth))
    if result.date_of_birth is None or result.country is None or result.fingerprint is None:
        reasons.append(ReviewReason.MISSING_IDENTITY_DATA)
    return tuple(reasons)


# -- staff decisions ----------------------------------------------------------------------------------------------


class StaffDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class StaffRefusal(StrEnum):
    NEEDS_SECOND_STAFF = "needs_second_staff"
    NOT_APPLICABLE = "not_applicable"
    NO_STAFF = "no_staff"


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffOutcome:
    ok: bool
    reasons: tuple[StaffRefusal, ...]
    record: KycRecord


def staff_required(queue_position: int | None, rules: ProgramRules) -> int:
    """Two staff for a member in the top ``kyc_two_staff_top_positions`` of the queue, else one."""
    if queue_position is not None and queue_position <= rules.kyc_two_staff_top_positions:
        return 2
    return 1


def staff_decide(
    record: KycRecord,
    *,
    decision: StaffDecision,
    staff_ids: Sequence[str],
    queue_position: int | None,
    at: datetime,
    rules: ProgramRules,
) -> StaffOutcome:
    """An audited staff decision; once made it wins over any later provider status for this attempt."""
    at = ensure_utc(at, "at")
    distinct = set(staff_ids)
    reasons: list[StaffRefusal] = []
    event = KycEvent.STAFF_APPROVE if decision is StaffDecision.APPROVE else KycEvent.STAFF_REJECT
    if (record.status, event) not in TRANSITIONS:
        reasons.append(StaffRefusal.NOT_APPLICABLE)
    if not distinct:
        reasons.append(StaffRefusal.NO_STAFF)
    elif len(distinct) < staff_required(queue_position, rules):
        reasons.append(StaffRefusal.NEEDS_SECOND_STAFF)
    if reasons:
        return StaffOutcome(ok=False, reasons=tuple(reasons), record=record)
    status = transition(record.status, event)
    updated = replace(
        record,
        status=status,
        status_at=at,
        staff_decided_at=at,
        verified_at=at if status is KycStatus.VERIFIED else None,
    )
    return StaffOutcome(ok=True, reasons=(), record=updated)
