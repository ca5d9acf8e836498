"""The unit of work: one database transaction, its repositories, and the events it will publish.

Events recorded on the unit of work are written to the outbox inside the same transaction as the state
change, so a crash can lose neither or both. After a successful commit the adapter wakes the dispatcher.
"""

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self

from ports.outbound.accounts import (
    AccountRepository,
    BackupCodeRepository,
    CodeRepository,
    SecurityLog,
    SessionRepository,
)
from ports.outbound.announcements import AnnouncementRepository
from ports.outbound.audit import AuditLogRepository
from ports.outbound.billing import BillingRepository
from ports.outbound.challenges import ChallengeRepository
from ports.outbound.directory import MemberDirectory
from ports.outbound.inbox import InboxRepository
from ports.outbound.kyc_records import KycRepository
from ports.outbound.ledger import LedgerRepository
from ports.outbound.notes import MemberNoteRepository
from ports.outbound.notifications import DeliveryLog, NotificationFeed, NotificationPreferenceRepository
from ports.outbound.oidc import IdentityRepository
from ports.outbound.operations import OperationalReadingsReader
from ports.outbound.outbox import OutboxRepository
from ports.outbound.passkeys import PasskeyRepository
from ports.outbound.payouts import PayoutRepository
from ports.outbound.profiles import ProfileRepository, SecurityEventReader
from ports.outbound.queue import QueueRepository
from ports.outbound.rules_changes import RulesChangeRepository


class UnitOfWork(Protocol):
    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def inbox(self) -> InboxRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def codes(self) -> CodeRepository: ...

    @property
    def backup_codes(self) -> BackupCodeRepository: ...

    @property
    def passkeys(self) -> PasskeyRepository: ...

    @property
    def identities(self) -> IdentityRepository: ...

    @property
    def challenges(self) -> ChallengeRepository: ...

    @property
    def security_log(self) -> SecurityLog: ...

    @property
    def audit(self) -> AuditLogRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def billing(self) -> BillingRepository: ...

    @property
    def kyc(self) -> KycRepository: ...

    @property
    def queue(self) -> QueueRepository: ...

    @property
    def payouts(self) -> PayoutRepository: ...

    @property
    def profiles(self) -> ProfileRepository: ...

    @property
    def security_events(self) -> SecurityEventReader: ...

    @property
    def notification_preferences(self) -> NotificationPreferenceRepository: ...

    @property
    def notifications(self) -> NotificationFeed: ...

    @property
    def notification_deliveries(self) -> DeliveryLog: ...

    @property
    def announcements(self) -> AnnouncementRepository: ...

    @property
    def operations(self) -> OperationalReadingsReader: ...

    @property
    def directory(self) -> MemberDirectory: ...

    @property
    def notes(self) -> MemberNoteRepository: ...

    @property
    def rules_changes(self) -> RulesChangeRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back anything not committed."""
        ...

    def record(self, *, event_name: str, aggregate_type: str, aggregate_id: str, payload: dict[str, Any]) -> None:
        """Queue a domain event for the outbox; it is written at `commit` in the same transaction."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
