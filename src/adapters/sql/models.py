"""ORM models: the shape of the schema as alembic migrations create it (alembic is the source of truth;
`alembic check` in the test suite proves the two agree).

Money is BIGINT cents with CHECK constraints. "One open X per Y" rules are partial unique indexes.
Append-only tables (ledger, audit log) are protected by database triggers created in the migrations.
"""

from datetime import date, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase, UUIDv7Base
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

LIVE_MEMBERSHIP_STATUSES = ("PENDING", "ACTIVE", "PAST_DUE", "WON", "PAID")
QUEUE_STATUSES = ("ACTIVE", "PAST_DUE")
WINNER_STATUSES = ("WON", "PAID", "ENDED")


def _status_in(statuses: tuple[str, ...]) -> Any:
    listed = ", ".join(f"'{s}'" for s in statuses)
    return text(f"status IN ({listed})")


_CANDIDATE = text("status = 'ACTIVE' AND cancel_effective_at IS NULL")
"""Where a round's selection walks: the queue order of memberships in good standing (DOMAIN.md §6 rule 1)."""

metadata = UUIDv7Base.metadata

member_number_seq = Sequence("member_number_seq", start=1, increment=1, metadata=metadata)
"""Member numbers: never reused, never a UUID. On SQLite the migration creates an AUTOINCREMENT table
(`member_number_allocations`) instead; `adapters.sql.member_numbers` hides the difference."""


class Account(UUIDv7AuditBase):
    __tablename__ = "accounts"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    status: Mapped[str] = mapped_column(String(24), default="active")
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("role IN ('member', 'admin', 'finance')", name="role_known"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("status IN ('active', 'disabled', 'erased')", name="status_known"),
    )


class AuthSession(UUIDv7Base):
    """A server-side session. Only the SHA-256 of the cookie's random token is stored."""

    __tablename__ = "auth_sessions"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    authenticated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    second_factor_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))

    __table_args__ = (
        Index(
            "ix_auth_sessions_live_by_account",
            "account_id",
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )


class OneTimeCode(UUIDv7Base):
    """The current emailed/SMS code of an account for one purpose, as a keyed digest."""

    __tablename__ = "one_time_codes"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        UniqueConstraint("account_id", "purpose", name="uq_one_time_codes_account_purpose"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )


class BackupCode(UUIDv7Base):
    """A second-factor backup code as a keyed digest; `used_at` makes it single-use."""

    __tablename__ = "backup_codes"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (UniqueConstraint("account_id", "digest", name="uq_backup_codes_account_digest"),)


class PasskeyCredential(UUIDv7Base):
    """A WebAuthn credential: its id (unique across every account), COSE public key and signature counter."""

    __tablename__ = "passkeys"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(64))
    aaguid: Mapped[str] = mapped_column(String(36))
    backed_up: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (CheckConstraint("sign_count >= 0", name="sign_count_not_negative"),)


class LinkedIdentity(UUIDv7Base):
    """An OpenID provider's account linked to ours, keyed by (issuer, subject); one per provider per account."""

    __tablename__ = "linked_identities"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_linked_identities_issuer_subject"),
        UniqueConstraint("account_id", "provider", name="uq_linked_identities_account_provider"),
    )


class AuthChallenge(UUIDv7Base):
    """A ceremony challenge (passkey or OpenID sign-in): redeemed at most once, before `expires_at`."""

    __tablename__ = "auth_challenges"

    kind: Mapped[str] = mapped_column(String(32))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    session_id: Mapped[UUID | None] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"))
    binding_digest: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (CheckConstraint("expires_at > issued_at", name="expires_after_issue"),)


class MemberNote(UUIDv7Base):
    """A staff note on a member's account (personal data: erased with the account, never copied to the audit log)."""

    __tablename__ = "member_notes"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    author_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        Index("ix_member_notes_account_created", "account_id", "created_at"),
        CheckConstraint("length(body) BETWEEN 1 AND 2000", name="body_length"),
    )


class SecurityEvent(UUIDv7Base):
    """Sign-in successes and failures, code failures, lockouts: separate from the chained audit log."""

    __tablename__ = "security_events"

    kind: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    email_hash: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)


class SandboxEmail(UUIDv7Base):
    """Messages 'sent' by the sandbox email adapter (development and tests only; refused in production)."""

    __tablename__ = "sandbox_mailbox"

    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class Membership(UUIDv7AuditBase):
    __tablename__ = "memberships"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    member_number: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    tenure_start: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    cancel_effective_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(64))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    rules_version: Mapped[int] = mapped_column(Integer)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    checkout_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    joining_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    """The provider invoice whose payment activated the membership (its paid-at is tenure_start)."""
    grace_ends_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """While PAST_DUE: the earliest grace end of its unpaid invoices; kept after a default (late truth)."""
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    billing_paused_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    retention_prepaid_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    next_due_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), index=True)
    """The next dues date from the anchor, for the "dues upcoming" notice."""

    __table_args__ = (
        CheckConstraint(
            "status IN ('PENDING', 'ACTIVE', 'PAST_DUE', 'WON', 'PAID', 'ENDED', 'CANCELLED', "
            "'DEFAULTED', 'ABANDONED')",
            name="status_known",
        ),
        CheckConstraint(
            "status IN ('PENDING', 'ABANDONED') OR (tenure_start IS NOT NULL AND member_number IS NOT NULL)",
            name="activated_has_tenure",
        ),
        Index(
            "uq_memberships_one_live_per_account",
            "account_id",
            unique=True,
            postgresql_where=_status_in(LIVE_MEMBERSHIP_STATUSES),
            sqlite_where=_status_in(LIVE_MEMBERSHIP_STATUSES),
        ),
        Index(
            "ix_memberships_queue_order",
            "tenure_start",
            "member_number",
            postgresql_where=_status_in(QUEUE_STATUSES),
            sqlite_where=_status_in(QUEUE_STATUSES),
        ),
        Index(
            "ix_memberships_winners",
            "status",
            postgresql_where=_status_in(WINNER_STATUSES),
            sqlite_where=_status_in(WINNER_STATUSES),
        ),
        Index(
            "ix_memberships_candidates",
            "tenure_start",
            "member_number",
            postgresql_where=_CANDIDATE,
            sqlite_where=_CANDIDATE,
        ),
    )


class QueueCount(DefaultBase):
    """Queue memberships per time bucket at each level (`domain.queue_index`): positions in O(levels) reads."""

    __tablename__ = "queue_counts"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Epoch seconds of the bucket's start."""
    members: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("members >= 0", name="members_not_negative"),)


class QueueHead(DefaultBase):
    """The one row every queue move locks first: moves are serialised, N is O(1), and `last_seq` numbers the
    moves gap-free in commit order."""

    __tablename__ = "queue_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("size >= 0", name="size_not_negative"),
    )


class QueueMoveRow(DefaultBase):
    """One membership entering or leaving the queue: the source of every member's position history."""

    __tablename__ = "queue_moves"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id", ondelete="RESTRICT"))
    tenure_start: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    member_number: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(BigInteger)
    size_after: Mapped[int] = mapped_column(BigInteger)
    shifts_others: Mapped[bool] = mapped_column(Boolean)
    """False for a move at the back (a join to the end, the last member leaving): it moves nobody, and most joins
    are such. Histories only ever read the moves that shift others (partial indexes)."""

    __table_args__ = (
        Index("ix_queue_moves_membership_seq", "membership_id", "seq"),
        Index(
            "ix_queue_moves_key",
            "tenure_start",
            "member_number",
            postgresql_where=text("shifts_others"),
            sqlite_where=text("shifts_others"),
        ),
        Index(
            "ix_queue_moves_shifting_seq",
            "seq",
            postgresql_where=text("shifts_others"),
            sqlite_where=text("shifts_others"),
        ),
        CheckConstraint("position >= 1", name="position_positive"),
    )


class FundInflowDay(DefaultBase):
    """Net member money into the fund per UTC day (payments' fund share less refunds and lost disputes; commits and
    releases excluded), kept with each posting: the public estimate's trailing inflow in ≤ 91 rows."""

    __tablename__ = "fund_inflow_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    cents: Mapped[int] = mapped_column(BigInteger)


class Invoice(UUIDv7AuditBase):
    __tablename__ = "invoices"

    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id", ondelete="RESTRICT"), index=True)
    provider_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    period_index: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    first_failed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    grace_start: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    grace_ends_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    rules_version: Mapped[int] = mapped_column(Integer)
    reversed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """Full refund or lost dispute of its payment: the period is unpaid again from this instant."""
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("membership_id", "purpose", "period_index", name="uq_invoices_membership_period"),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("purpose IN ('joining', 'dues', 'retention')", name="purpose_known"),
        CheckConstraint("status IN ('open', 'paid', 'void', 'uncollectible', 'refunded')", name="status_known"),
        CheckConstraint("period_index >= 0", name="period_not_negative"),
    )


class Payment(UUIDv7AuditBase):
    __tablename__ = "payments"

    invoice_id: Mapped[UUID] = mapped_column(ForeignKey("invoices.id", ondelete="RESTRICT"), index=True)
    provider_payment_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    dispute_status: Mapped[str | None] = mapped_column(String(16))
    provider_charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)

    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("fee_cents >= 0", name="fee_not_negative"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refund_within_amount"),
    )


class Refund(UUIDv7Base):
    """A provider refund of one of our payments, recorded once (its ledger entry is keyed by the refund id)."""

    __tablename__ = "refunds"

    payment_id: Mapped[UUID] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    provider_refund_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)


class Dispute(UUIDv7Base):
    """A card dispute on one of our payments; while open the membership is not eligible (DOMAIN.md §5)."""

    __tablename__ = "disputes"

    payment_id: Mapped[UUID] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    provider_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("status IN ('open', 'won', 'lost')", name="status_known"),
    )


class TermsAcceptance(UUIDv7Base):
    """Evidence of consent before checkout (DOMAIN.md §3): what was accepted, when, from where."""

    __tablename__ = "terms_acceptances"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    terms_version: Mapped[str] = mapped_column(String(32))
    payment_authorization: Mapped[bool] = mapped_column(Boolean)
    accepted_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(45))


class ScheduledNotice(UUIDv7Base):
    """Time-based notices already raised (grace reminders, dues upcoming): each at most once per key."""

    __tablename__ = "scheduled_notices"

    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"))
    notice_key: Mapped[str] = mapped_column(String(128))
    raised_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (UniqueConstraint("membership_id", "notice_key", name="uq_scheduled_notices_key"),)


class ReconciliationRun(UUIDv7Base):
    """One run of a reconciliation job; payouts need a successful one less than an hour old (DOMAIN.md §7)."""

    __tablename__ = "reconciliation_runs"

    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    drift_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonB)

    __table_args__ = (Index("ix_reconciliation_runs_kind_finished", "kind", "finished_at"),)


class SandboxPaymentObject(DefaultBase):
    """State of the offline sandbox payment provider (embedded default only; refused in production)."""

    __tablename__ = "sandbox_payment_objects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonB)
    seq: Mapped[int] = mapped_column(BigInteger)


class KycRecord(DefaultBase):
    """A person's identity verification as the domain needs it (DOMAIN.md §10): no names, documents or ID numbers."""

    __tablename__ = "kyc_records"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    attempt_id: Mapped[str | None] = mapped_column(String(64))
    attempt_started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    status_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    staff_decided_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    review_reasons: Mapped[list[str]] = mapped_column(JsonB)
    failure_reasons: Mapped[list[str]] = mapped_column(JsonB)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    country: Mapped[str | None] = mapped_column(String(2))
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    name_digest: Mapped[str | None] = mapped_column(String(64))
    """Keyed digest of the verified legal name (the name itself is never stored)."""
    verification_url: Mapped[str | None] = mapped_column(Text)
    flagged_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """A provider status arrived after a staff decision: recorded and flagged for staff, not applied."""
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "status IN ('not_started', 'pending', 'verified', 'needs_review', 'failed')", name="status_known"
        ),
        Index(
            "ix_kyc_records_pending",
            "attempt_started_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class KycAttempt(UUIDv7Base):
    """Every verification attempt started (the 30-day attempt limit counts these)."""

    __tablename__ = "kyc_attempts"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    provider_attempt_id: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class KycStaffVote(UUIDv7Base):
    """One staff member's decision on a NEEDS_REVIEW attempt; two distinct votes are needed near the front."""

    __tablename__ = "kyc_staff_votes"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    attempt_id: Mapped[str] = mapped_column(String(64))
    staff_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        UniqueConstraint("account_id", "attempt_id", "staff_id", name="uq_kyc_staff_votes_once"),
        CheckConstraint("decision IN ('approve', 'reject')", name="decision_known"),
    )


class LedgerEntry(UUIDv7Base):
    """A journal entry. `reference` is the business identity of the movement: replaying it posts nothing."""

    __tablename__ = "ledger_entries"

    reference: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(48))
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    memo: Mapped[str | None] = mapped_column(Text)


class LedgerPosting(UUIDv7Base):
    """One leg of an entry: positive amounts debit the account, negative amounts credit it."""

    __tablename__ = "ledger_postings"

    entry_id: Mapped[UUID] = mapped_column(ForeignKey("ledger_entries.id", ondelete="RESTRICT"), index=True)
    account: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    __table_args__ = (
        CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        Index("ix_ledger_postings_account_currency", "account", "currency"),
    )


class LedgerBalance(DefaultBase):
    """Running balance per (account, currency), debit-positive, updated in the posting's transaction.

    A derived cache of `ledger_postings` (a test proves they agree) that makes the fund an O(1) read, and
    whose row lock serialises concurrent commits against the fund."""

    __tablename__ = "ledger_balances"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    debit_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditRecord(UUIDv7Base):
    """One link of an entity's audit hash chain. Personal data never goes here (it is not erasable)."""

    __tablename__ = "audit_log"

    entity_type: Mapped[str] = mapped_column(String(48))
    entity_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "seq", name="uq_audit_log_entity_seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
    )


class InboxMessage(UUIDv7Base):
    """A verified inbound provider message, stored before we answer 2xx."""

    __tablename__ = "provider_inbox"

    provider: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(255))
    """The provider's customer the event is about, so the default sweep can wait for that customer's backlog."""

    __table_args__ = (
        Index(
            "ix_provider_inbox_subject_unprocessed",
            "provider",
            "subject",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
        UniqueConstraint("provider", "event_key", name="uq_provider_inbox_provider_event_key"),
        Index(
            "ix_provider_inbox_unprocessed",
            "provider",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )


class OutboxMessage(UUIDv7Base):
    """A domain event written in the same transaction as the state change it describes."""

    __tablename__ = "outbox"

    event_name: Mapped[str] = mapped_column(String(96))
    aggregate_type: Mapped[str] = mapped_column(String(48))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonB)
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "occurred_at",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )


class Profile(DefaultBase):
    """A member's personal data, keyed by account (erasable later without touching ledger or audit rows)."""

    __tablename__ = "profiles"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    legal_first_name: Mapped[str | None] = mapped_column(String(100))
    legal_last_name: Mapped[str | None] = mapped_column(String(100))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    address_city: Mapped[str | None] = mapped_column(String(200))
    address_state: Mapped[str | None] = mapped_column(String(2))
    address_zip: Mapped[str | None] = mapped_column(String(10))
    address_country: Mapped[str | None] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(16))
    phone_verified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    email_bounced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    deletion_requested_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (CheckConstraint("address_country IS NULL OR address_country = 'US'", name="us_only"),)


class NotificationPreference(DefaultBase):
    """A member's notification choices as `{group: [channel, ...]}`; groups not listed take the defaults."""

    __tablename__ = "notification_preferences"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    choices: Mapped[dict[str, Any]] = mapped_column(JsonB)
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class Notification(UUIDv7Base):
    """An in-app feed item: at most one per (event, account)."""

    __tablename__ = "notifications"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_name: Mapped[str] = mapped_column(String(96))
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_id", "account_id", name="uq_notifications_event_account"),
        Index("ix_notifications_feed", "account_id", "created_at", "id"),
    )


class NotificationDelivery(UUIDv7Base):
    """The idempotency record of one delivery: at most one per (event, recipient, channel)."""

    __tablename__ = "notification_deliveries"

    event_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    event_name: Mapped[str] = mapped_column(String(96))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    provider_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    """Found again by the SMS status callback (Twilio's message sid)."""
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("event_id", "account_id", "channel", name="uq_notification_deliveries_key"),
        CheckConstraint("channel IN ('email', 'sms', 'in_app')", name="channel_known"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'delivered', 'undelivered')",
            name="status_known",
        ),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )


# -- payout rounds and payouts (issue 8) --------------------------------------------------------------------------


class ProgramState(DefaultBase):
    """The one program-wide row: the payouts-frozen switch. Every evaluation locks it first, so two evaluations
    (cron and a staff trigger, or two workers) run one after the other and never select twice."""

    __tablename__ = "program_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    payouts_frozen: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class RoundEvaluation(UUIDv7Base):
    """Every evaluation, whether or not it opened a round (DOMAIN.md §7: "the evaluation is recorded")."""

    __tablename__ = "round_evaluations"

    evaluated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    day: Mapped[date] = mapped_column(Date)
    triggered_by: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    blockers: Mapped[str] = mapped_column(Text)
    fund_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    queue_size: Mapped[int] = mapped_column(BigInteger)
    round_id: Mapped[UUID | None] = mapped_column(ForeignKey("payout_rounds.id", ondelete="RESTRICT"))


class PayoutRound(UUIDv7Base):
    """A one-shot selection, keyed by its evaluation date: the unique key is what makes a second one impossible."""

    __tablename__ = "payout_rounds"

    round_key: Mapped[date] = mapped_column(Date, unique=True)
    evaluated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    triggered_by: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    fund_before_cents: Mapped[int] = mapped_column(BigInteger)
    reward_cents: Mapped[int] = mapped_column(BigInteger)
    winners: Mapped[int] = mapped_column(Integer)
    queue_size: Mapped[int] = mapped_column(BigInteger)
    evaluated_through: Mapped[int] = mapped_column(BigInteger)
    """Entries up to this position had their eligibility checked; those behind it are recorded `not_reached`."""
    digest: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("winners >= 1", name="winners_positive"),
        CheckConstraint("fund_before_cents >= reward_cents * winners", name="fund_covers_rewards"),
    )


class RoundEntry(DefaultBase):
    """One queue member as the round saw it, with the secret salt of its Merkle leaf (shown only to that member).

    Written by one `INSERT … SELECT` over the queue (PERFORMANCE.md P3) before the round row, whose digest is
    computed from these rows. Neither id has a foreign key, on purpose: a deferred check of ``round_id`` costs a
    million row checks at commit, and one of ``membership_id`` a share lock on every member's row (a million row
    writes, and a wait behind every billing change), for ids the same transaction just wrote or read. The round row
    is written in the same transaction, the table is append-only, and memberships are never deleted."""

    __tablename__ = "round_entries"

    round_id: Mapped[UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    member_number: Mapped[int] = mapped_column(BigInteger)
    membership_id: Mapped[UUID] = mapped_column()
    tenure_start: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    eligible: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[str] = mapped_column(Text)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (Index("ix_round_entries_key", "round_id", "tenure_start", "member_number"),)


class RoundChunk(DefaultBase):
    """The Merkle root of each aligned run of `CHUNK` snapshot entries: a member's proof reads one run and these
    roots (``domain.merkle.chunked_proof``) instead of the whole snapshot."""

    __tablename__ = "round_chunks"

    round_id: Mapped[UUID] = mapped_column(
        ForeignKey("payout_rounds.id", ondelete="RESTRICT", deferrable=True, initially="DEFERRED"), primary_key=True
    )
    chunk_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))


class RoundVerdict(DefaultBase):
    """The eligibility checked for one member at the front of a round's queue; the snapshot statement joins it."""

    __tablename__ = "round_verdicts"

    round_id: Mapped[UUID] = mapped_column(
        ForeignKey("payout_rounds.id", ondelete="RESTRICT", deferrable=True, initially="DEFERRED"), primary_key=True
    )
    membership_id: Mapped[UUID] = mapped_column(primary_key=True)
    eligible: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[str] = mapped_column(Text)


class Payout(UUIDv7AuditBase):
    """One winner's payout. Status values are `domain.payouts.PayoutStatus`; amounts are frozen at first PROCESSING."""

    __tablename__ = "payouts"

    round_id: Mapped[UUID] = mapped_column(ForeignKey("payout_rounds.id", ondelete="RESTRICT"))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id", ondelete="RESTRICT"))
    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    gross_cents: Mapped[int] = mapped_column(BigInteger)
    rules_version: Mapped[int] = mapped_column(Integer)
    selected_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    first_approved_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    hold_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    approval_generation: Mapped[int] = mapped_column(Integer)
    """Approvals of older generations were cleared by a details change; only the current generation counts."""
    withholding_cents: Mapped[int | None] = mapped_column(BigInteger)
    retention_cents: Mapped[int | None] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    withholding_corrections: Mapped[int] = mapped_column(Integer)
    """Two-staff corrections of the frozen withholding so far (each has its own ledger reference)."""
    completed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    completed_by: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    cancel_disqualifying: Mapped[bool | None] = mapped_column(Boolean)
    cancel_requested_by: Mapped[str | None] = mapped_column(String(64))
    cancel_confirmed_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        UniqueConstraint("round_id", "membership_id", name="uq_payouts_round_membership"),
        Index(
            "uq_payouts_one_open_per_membership",
            "membership_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
        Index("ix_payouts_status", "status", "selected_at"),
        CheckConstraint(
            "status IN ('pending_approval', 'approved', 'scheduled', 'processing', 'completed', 'failed', "
            "'returned', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("gross_cents > 0", name="gross_positive"),
        CheckConstraint("attempt >= 0", name="attempt_not_negative"),
        CheckConstraint("(withholding_cents IS NULL) = (retention_cents IS NULL)", name="amounts_frozen_together"),
    )


class PayoutApproval(UUIDv7Base):
    """One staff approval; the unique key makes "each approves once" a database fact."""

    __tablename__ = "payout_approvals"

    payout_id: Mapped[UUID] = mapped_column(ForeignKey("payouts.id", ondelete="RESTRICT"))
    generation: Mapped[int] = mapped_column(Integer)
    staff_account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    finance: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (UniqueConstraint("payout_id", "generation", "staff_account_id", name="uq_payout_approvals_once"),)


class StaffRequest(UUIDv7Base):
    """The first half of a two-person action (cancel a payout, freeze or unfreeze payouts): at most one open per
    target, confirmed or withdrawn by someone else."""

    __tablename__ = "staff_requests"

    kind: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    requested_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    resolved_by: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    outcome: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index(
            "uq_staff_requests_one_open",
            "kind",
            "target_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
    )


class PayoutDetails(DefaultBase):
    """Where a payout goes. Personal data (erasable): the account number is sealed, only its last 4 shown."""

    __tablename__ = "payout_details"

    payout_id: Mapped[UUID] = mapped_column(ForeignKey("payouts.id", ondelete="RESTRICT"), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    holder_name: Mapped[str | None] = mapped_column(Text)
    routing_number: Mapped[str | None] = mapped_column(String(9))
    account_type: Mapped[str | None] = mapped_column(String(8))
    account_last4: Mapped[str | None] = mapped_column(String(4))
    account_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    address: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
    address_verified: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (CheckConstraint("method IN ('ach', 'cheque')", name="method_known"),)


class PayoutTaxForm(DefaultBase):
    """The winner's W-9: the TIN is sealed, only its last 4 shown."""

    __tablename__ = "payout_tax_forms"

    payout_id: Mapped[UUID] = mapped_column(ForeignKey("payouts.id", ondelete="RESTRICT"), primary_key=True)
    legal_name: Mapped[str] = mapped_column(Text)
    tin_type: Mapped[str] = mapped_column(String(3))
    tin_last4: Mapped[str] = mapped_column(String(4))
    tin_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    address: Mapped[dict[str, Any]] = mapped_column(JsonB)
    certified: Mapped[bool] = mapped_column(Boolean)
    signed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (CheckConstraint("tin_type IN ('ssn', 'ein')", name="tin_type_known"),)


class PayoutTransfer(UUIDv7Base):
    """One processing attempt: claimed in the transaction that starts PROCESSING (so a rail is never asked twice
    for one attempt, and completion needs a transfer that was sent), then marked sent with the rail's reference."""

    __tablename__ = "payout_transfers"

    payout_id: Mapped[UUID] = mapped_column(ForeignKey("payouts.id", ondelete="RESTRICT"))
    attempt: Mapped[int] = mapped_column(Integer)
    rail: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(64))
    """Where it goes, without secrets: ``ach:<routing>:<last 4>:<type>`` or ``cheque:<ZIP>``."""
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    claimed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    submitted_by: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    reference: Mapped[str | None] = mapped_column(String(255))
    trace_number: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    __table_args__ = (
        UniqueConstraint("payout_id", "attempt", name="uq_payout_transfers_attempt"),
        CheckConstraint("(reference IS NULL) = (sent_at IS NULL)", name="sent_has_reference"),
    )


class WithholdingRemittance(UUIDv7Base):
    """Backup withholding paid to the IRS (its ledger entry is `withholding:<id>:remitted`)."""

    __tablename__ = "withholding_remittances"

    tax_year: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(128), unique=True)
    remitted_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    recorded_by: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))

    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)


# -- announcements (issue 9) ---------------------------------------------------------------------------------------


class Announcement(UUIDv7Base):
    """A staff announcement (news feed): a draft until published, published exactly once. Publishing records how
    many members it was sent to and in how many batch jobs; members read it as an item of their in-app feed."""

    __tablename__ = "announcements"

    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    published_by: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    recipients: Mapped[int | None] = mapped_column(BigInteger)
    batches: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published')", name="status_known"),
        CheckConstraint("length(body) <= 2000", name="body_length"),
        CheckConstraint(
            "(status = 'published') = (published_at IS NOT NULL AND published_by IS NOT NULL "
            "AND recipients IS NOT NULL AND batches IS NOT NULL)",
            name="published_complete",
        ),
    )


class RulesChange(UUIDv7Base):
    """A proposed change of the program rules; once approved it is version ``version`` (2, 3, …) of the rules, on
    top of the one before. Version 1 is the deployment's settings. At most one proposal is open at a time."""

    __tablename__ = "program_rules_changes"

    changes: Mapped[dict[str, Any]] = mapped_column(JsonB)
    effective_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    proposed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    decided_by: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    version: Mapped[int | None] = mapped_column(Integer, unique=True)

    __table_args__ = (
        CheckConstraint("status IN ('proposed', 'approved', 'rejected')", name="status_known"),
        CheckConstraint("(status = 'approved') = (version IS NOT NULL)", name="approved_has_version"),
        CheckConstraint("(status = 'proposed') = (decided_at IS NULL)", name="decided_unless_open"),
        CheckConstraint("version IS NULL OR version >= 2", name="version_after_settings"),
        Index(
            "uq_program_rules_changes_one_open",
            "status",
            unique=True,
            postgresql_where=text("status = 'proposed'"),
            sqlite_where=text("status = 'proposed'"),
        ),
    )
