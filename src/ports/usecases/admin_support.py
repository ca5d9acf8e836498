"""Staff support actions on a member's account, each with a reason and written to the account's audit chain, and
the audit log browser. The actions go through the same use cases members' own requests use (codes, sessions)."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.audit import AuditLink
from domain.one_time_codes import CodePurpose
from ports.outbound.audit import AuditFilter
from ports.outbound.notes import MemberNote
from ports.usecases.admin_members import member_account
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, issue_emailed_code, require_staff
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, Refused
from ports.usecases.roles import AUDIT_ENTITY

AUDIT_PAGE_MAX = 200
REASON_MIN, REASON_MAX = 3, 500


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    items: Sequence[AuditLink]
    next_cursor: UUID | None


def staff_reason(reason: str) -> str:
    """A staff member's stated reason, trimmed and of sane length."""
    cleaned = reason.strip()
    if not REASON_MIN <= len(cleaned) <= REASON_MAX:
        raise InvalidInput(f"a reason of {REASON_MIN} to {REASON_MAX} characters is required")
    return cleaned


async def browse_audit(
    deps: Deps, staff: Principal, where: AuditFilter, *, cursor: UUID | None, limit: int
) -> AuditPage:
    require_staff(staff)
    if not 1 <= limit <= AUDIT_PAGE_MAX:
        raise InvalidInput(f"limit must be between 1 and {AUDIT_PAGE_MAX}")
    async with deps.uow() as uow:
        found = await uow.audit.browse(where, before=cursor, limit=limit + 1)
    page = found[:limit]
    return AuditPage(items=[link for _, link in page], next_cursor=page[-1][0] if len(found) > limit else None)


async def resend_verification(deps: Deps, staff: Principal, account_id: UUID, *, reason: str) -> None:
    """Email the member a fresh verification code (their address is still unverified)."""
    require_staff(staff)
    why = staff_reason(reason)
    async with deps.uow() as uow:
        account = await member_account(uow, account_id, for_update=True)
        if account.email_verified_at is not None:
            raise Refused("the member's email address is verified already")
        await issue_emailed_code(deps, uow, account, CodePurpose.EMAIL_VERIFICATION)
        await record_audit(
            uow,
            entity_type=AUDIT_ENTITY,
            entity_id=str(account.id),
            actor=f"account:{staff.account_id}",
            action="verification_resent",
            at=deps.clock.now(),
            reason=why,
        )
        await uow.commit()


async def end_sessions(deps: Deps, staff: Principal, account_id: UUID, *, reason: str) -> int:
    """Sign the member out everywhere (a lost phone, a suspected takeover); how many sessions ended."""
    require_staff(staff)
    why = staff_reason(reason)
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await member_account(uow, account_id, for_update=True)
        ended = await uow.sessions.revoke_all(account.id, at=now)
        await record_audit(
            uow,
            entity_type=AUDIT_ENTITY,
            entity_id=str(account.id),
            actor=f"account:{staff.account_id}",
            action="sessions_ended",
            at=now,
            after={"sessions": ended},
            reason=why,
        )
        await uow.security_log.record("sessions_ended_by_staff", at=now, account_id=account.id)
        await uow.commit()
    return ended


NOTE_MAX = 2000
NOTES_SHOWN = 100


async def add_note(deps: Deps, staff: Principal, account_id: UUID, *, body: str) -> MemberNote:
    """A note for other staff on the member's account. Its text stays in the notes (erasable personal data); the
    audit chain records only that a note was added, by whom."""
    require_staff(staff)
    text = body.strip()
    if not 1 <= len(text) <= NOTE_MAX:
        raise InvalidInput(f"a note has 1 to {NOTE_MAX} characters")
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await member_account(uow, account_id, for_update=True)
        note = await uow.notes.add(account_id=account.id, author_id=staff.account_id, body=text, now=now)
        await record_audit(
            uow,
            entity_type=AUDIT_ENTITY,
            entity_id=str(account.id),
            actor=f"account:{staff.account_id}",
            action="note_added",
            at=now,
            after={"note": str(note.id)},
        )
        await uow.commit()
    return note


async def notes_of(deps: Deps, staff: Principal, account_id: UUID) -> Sequence[MemberNote]:
    require_staff(staff)
    async with deps.uow() as uow:
        await member_account(uow, account_id, for_update=True)
        return await uow.notes.for_account(account_id, limit=NOTES_SHOWN)
