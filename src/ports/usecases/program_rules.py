"""Program rules changes (DOMAIN.md §2): one staff member proposes new numbers with an effective time, a second
approves, and the approved change becomes the next rules version. Members are told at once (an announcement in
their feed and by email, and the business rules page lists upcoming changes) and it applies from its effective
time, which is at least the notice period away (D156).

Every process learns approved versions from the database (`refresh`, at start and every minute), so the API
instances and workers agree on the rules long before a new version takes effect.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from uuid import UUID, uuid5

from domain.errors import RulesInvalid
from domain.rules import ProgramRules
from domain.rules_changes import (
    DEFAULT_NOTICE,
    MONEY_FIELDS,
    ApprovedChange,
    differences,
    history_of,
    proposed_version,
    value_of,
)
from domain.sessions import Role
from ports.outbound.announcements import AnnouncementStatus
from ports.outbound.errors import ConflictError
from ports.outbound.outbox import OutboxMessage
from ports.outbound.rules_changes import RulesChangeRecord
from ports.usecases import announcements
from ports.usecases.admin_support import staff_reason
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound, Refused
from ports.usecases.payment_events import check_provider_dunning

logger = logging.getLogger(__name__)

AUDIT = ("rules", "program")
ANNOUNCEMENT_NAMESPACE = UUID("8f5c2c1e-4f0d-4a51-9a7e-2f6f0c3b9d10")
"""Announcements of rules versions get ids derived from the version (one per version, however often asked)."""
RECENT = 20
LABELS = {
    "joining_fee": "joining fee",
    "reward": "reward",
    "payout_threshold": "fund needed for a payout round",
    "form_1099_threshold": "1099-MISC threshold",
    "retention_months": "retention months",
    "grace_days": "grace days to cure a missed payment",
    "invoice_unpaid_after_hours": "hours before an unpaid invoice starts grace",
    "fund_share_bps": "share of payments going to the reward fund (basis points)",
    "backup_withholding_bps": "backup withholding without a W-9 (basis points)",
    "approvals_required": "staff approvals per payout",
    "min_age_years": "minimum age",
    "min_tenure_months": "minimum tenure in months to be eligible",
    "kyc_valid_months": "months an identity verification stays valid",
    "kyc_attempts_per_30_days": "identity verification attempts per 30 days",
    "payout_info_deadline_days": "days a winner has to give payout details",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeView:
    record: RulesChangeRecord
    differences: Mapping[str, tuple[int, int]]
    """``{field: (before, after)}``: against its predecessor once approved, against the latest version if open."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesOverview:
    in_force: ProgramRules
    latest: ProgramRules
    changes: Sequence[ChangeView]


@dataclass(frozen=True, slots=True, kw_only=True)
class Upcoming:
    version: int
    effective_at: datetime
    differences: Mapping[str, tuple[int, int]]


async def refresh(deps: Deps) -> bool:
    """Learn the approved versions from the database; True when a new one was learnt."""
    async with deps.uow() as uow:
        approved = await uow.rules_changes.approved()
    if len(approved) + 1 <= len(deps.rules.history.versions):
        return False
    learnt = deps.rules.learn(history_of(deps.rules.first, [_approved(r) for r in approved]))
    if learnt:
        logger.info("program rules version %s learnt", deps.rules.latest.version)
    else:  # the stored versions do not extend what this process runs on (its version 1 differs: its settings)
        logger.error("the stored program rules versions disagree with this process's; check TENURE_LAUNCH_DATE")
    return learnt


def _approved(record: RulesChangeRecord) -> ApprovedChange:
    assert record.version is not None  # a database fact for approved rows
    return ApprovedChange(version=record.version, effective_at=record.effective_at, changes=record.changes)


def upcoming(deps: Deps) -> list[Upcoming]:
    """Approved versions not yet in force, with what each changes (shown to members)."""
    now = deps.clock.now()
    versions = deps.rules.history.versions
    return [
        Upcoming(version=later.version, effective_at=later.effective_at, differences=differences(earlier, later))
        for earlier, later in pairwise(versions)
        if later.effective_at > now
    ]


async def overview(deps: Deps, staff: Principal) -> RulesOverview:
    require_staff(staff)
    await refresh(deps)
    async with deps.uow() as uow:
        recent = await uow.rules_changes.recent(limit=RECENT)
    history = deps.rules.history
    views = []
    for record in recent:
        if record.version is not None and record.version <= len(history.versions):
            before, after = history.version(record.version - 1), history.version(record.version)
            views.append(ChangeView(record=record, differences=differences(before, after)))
        else:
            latest = history.latest
            views.append(
                ChangeView(
                    record=record,
                    differences={k: (value_of(latest, k), v) for k, v in sorted(record.changes.items())},
                )
            )
    return RulesOverview(in_force=deps.rules.in_force(deps.clock.now()), latest=history.latest, changes=views)


async def propose(
    deps: Deps, staff: Principal, *, changes: Mapping[str, int], effective_at: datetime, reason: str
) -> ChangeView:
    """Open a proposal (one at a time), checked now as it would be at approval."""
    require_staff(staff)
    why = staff_reason(reason)
    await refresh(deps)
    now = deps.clock.now()
    try:
        proposed = proposed_version(
            deps.rules.history, changes, effective_at=effective_at, now=now, notice=DEFAULT_NOTICE
        )
    except RulesInvalid as exc:
        raise InvalidInput("the proposed rules are not valid", list(exc.problems)) from None
    record = RulesChangeRecord(
        id=deps.new_id(),
        changes=dict(changes),
        effective_at=proposed.effective_at,
        reason=why,
        status="proposed",
        proposed_by=staff.account_id,
        proposed_at=now,
    )
    async with deps.uow() as uow:
        try:
            await uow.rules_changes.propose(record)
        except ConflictError:
            raise Refused("another rules change is waiting for approval", ["change_open"]) from None
        await record_audit(
            uow,
            entity_type=AUDIT[0],
            entity_id=AUDIT[1],
            actor=f"account:{staff.account_id}",
            action="rules_change_proposed",
            at=now,
            after={"change": str(record.id), "effective_at": proposed.effective_at.isoformat(), **changes},
            reason=why,
        )
        await uow.commit()
    return ChangeView(record=record, differences=differences(deps.rules.latest, proposed))


async def approve(deps: Deps, staff: Principal, change_id: UUID) -> ProgramRules:
    """A second staff member approves: the change becomes the next version, and members are told."""
    require_staff(staff)
    await refresh(deps)
    async with deps.uow() as uow:
        record = await uow.rules_changes.get(change_id)
    if record is None:
        raise NotFound("no such rules change")
    _check_open(record, staff)
    new_grace = record.changes.get("grace_days")
    if new_grace is not None and deps.payments is not None:
        try:  # the provider's dunning must still leave our grace alone (§5), or the next start-up refuses
            await check_provider_dunning(deps, grace_days=new_grace)
        except RuntimeError as exc:
            raise Refused(str(exc), ["provider_dunning_too_short"]) from None
    now = deps.clock.now()
    async with deps.uow() as uow:
        record = await uow.rules_changes.get(change_id, for_update=True)
        assert record is not None
        _check_open(record, staff)
        try:
            version = proposed_version(
                deps.rules.history, record.changes, effective_at=record.effective_at, now=now, notice=DEFAULT_NOTICE
            )
        except RulesInvalid as exc:
            raise Refused("the change cannot be approved any more: propose it again", list(exc.problems)) from None
        decided = replace(
            record, status="approved", decided_by=staff.account_id, decided_at=now, version=version.version
        )
        try:
            await uow.rules_changes.decide(decided)
        except ConflictError:
            raise Refused("another rules version was approved meanwhile: propose again", ["version_taken"]) from None
        await record_audit(
            uow,
            entity_type=AUDIT[0],
            entity_id=AUDIT[1],
            actor=f"account:{staff.account_id}",
            action="rules_change_approved",
            at=now,
            before={"version": version.version - 1, "proposed_by": str(record.proposed_by)},
            after={
                "change": str(record.id),
                "version": version.version,
                "effective_at": version.effective_at.isoformat(),
            },
            reason=record.reason,
        )
        uow.record(  # members are told from the outbox: once, even if this process stops right after the commit
            event_name=RULES_APPROVED,
            aggregate_type="rules",
            aggregate_id=str(version.version),
            payload={"version": version.version, "approvedBy": str(staff.account_id)},
        )
        await uow.commit()
    await refresh(deps)
    return version


async def reject(deps: Deps, staff: Principal, change_id: UUID, *, reason: str) -> None:
    """Close an open proposal without a new version: its proposer withdrawing it, or another staff member
    declining it (audited with the reason)."""
    require_staff(staff)
    why = staff_reason(reason)
    now = deps.clock.now()
    async with deps.uow() as uow:
        record = await uow.rules_changes.get(change_id, for_update=True)
        if record is None:
            raise NotFound("no such rules change")
        _require_open(record)
        await uow.rules_changes.decide(replace(record, status="rejected", decided_by=staff.account_id, decided_at=now))
        await record_audit(
            uow,
            entity_type=AUDIT[0],
            entity_id=AUDIT[1],
            actor=f"account:{staff.account_id}",
            action="rules_change_rejected",
            at=now,
            after={"change": str(record.id)},
            reason=why,
        )
        await uow.commit()


def _require_open(record: RulesChangeRecord) -> None:
    if record.status != "proposed":
        raise Refused(f"this change is {record.status} already", ["not_open"])


def _check_open(record: RulesChangeRecord, staff: Principal) -> None:
    """Open, and not the proposer's own: a second staff member approves."""
    _require_open(record)
    if record.proposed_by == staff.account_id:
        raise Refused("a second staff member must approve", ["same_staff_twice"])


def describe(version: ProgramRules, changed: Mapping[str, tuple[int, int]]) -> str:
    """The announcement members get: every change in words, and when it applies."""
    lines = [f"From {version.effective_at:%Y-%m-%d %H:%M} UTC, these program rules change:"]
    for name, (before, after) in changed.items():
        shown = _dollars if name in MONEY_FIELDS else str
        lines.append(f"- {LABELS.get(name, name)}: {shown(before)} → {shown(after)}")
    lines.append("Payments and payouts created before then keep the rules they were created under.")
    return "\n".join(lines)


def _dollars(cents: int) -> str:
    """``35000`` → ``$350.00`` (integer arithmetic: no float on a money path, not even for display)."""
    whole, minor = divmod(cents, 100)
    return f"${whole:,}.{minor:02d}"


RULES_APPROVED = "program.rules_approved"


async def on_rules_approved(deps: Deps, message: OutboxMessage) -> None:
    """Publish the approved change to every member (feed and email), once per version: the announcement's id is
    derived from the version, so a retried message finds it and only publishes it if that step was missed."""
    await refresh(deps)
    version = deps.rules.version(int(message.payload["version"]))
    approver = Principal(
        account_id=UUID(str(message.payload["approvedBy"])),
        email="",
        role=Role.ADMIN,
        session_id=UUID(int=0),
        authenticated_at=message.occurred_at,
        second_factor=True,
    )
    announcement_id = uuid5(ANNOUNCEMENT_NAMESPACE, f"rules-version-{version.version}")
    async with deps.uow() as uow:
        existing = await uow.announcements.get(announcement_id)
    if existing is not None and existing.status is not AnnouncementStatus.DRAFT:
        return  # published by an earlier attempt
    if existing is None:
        changed = differences(deps.rules.version(version.version - 1), version)
        await announcements.create_announcement(
            deps,
            approver,
            title=f"Program rules change on {version.effective_at:%Y-%m-%d}",
            body=describe(version, changed),
            email=True,
            announcement_id=announcement_id,
        )
    await announcements.publish(deps, approver, announcement_id)


HANDLERS = {RULES_APPROVED: (on_rules_approved,)}
