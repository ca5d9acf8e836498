"""`UnitOfWork` over one SQLAlchemy `AsyncSession`: repositories share its transaction.

Recorded events are flushed into the outbox just before COMMIT, inside the same transaction. After a
successful commit that wrote events, `on_events_committed` wakes the outbox dispatcher; a failed
wake-up is only logged, because the dispatcher's cron sweep picks the rows up anyway.
"""

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sql.accounts import (
    SqlAccountRepository,
    SqlBackupCodeRepository,
    SqlCodeRepository,
    SqlSecurityLog,
    SqlSessionRepository,
)
from adapters.sql.announcements import SqlAnnouncementRepository
from adapters.sql.audit import SqlAuditLogRepository
from adapters.sql.billing import SqlBillingRepository
from adapters.sql.directory import SqlMemberDirectory
from adapters.sql.inbox import SqlInboxRepository
from adapters.sql.kyc import SqlKycRepository
from adapters.sql.ledger import SqlLedgerRepository
from adapters.sql.notes import SqlMemberNoteRepository
from adapters.sql.notifications import SqlDeliveryLog, SqlNotificationFeed, SqlNotificationPreferenceRepository
from adapters.sql.operations import SqlOperationalReadings
from adapters.sql.outbox import SqlOutboxRepository
from adapters.sql.passkeys import SqlChallengeRepository, SqlIdentityRepository, SqlPasskeyRepository
from adapters.sql.payouts import SqlPayoutRepository
from adapters.sql.profiles import SqlProfileRepository, SqlSecurityEventReader
from adapters.sql.queue import SqlQueueRepository
from adapters.sql.rules_changes import SqlRulesChangeRepository
from ports.outbound.clock import Clock
from ports.outbound.errors import ComponentUnavailable, ConflictError

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


def database_unavailable(exc: BaseException) -> bool:
    """Connection-level failures (retryable), as opposed to errors in what we asked the database to do."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError | PoolTimeout):
        return True  # a pool timeout (every connection busy) is as retryable as a dead database
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class SqlUnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        on_events_committed: AfterCommit | None = None,
        email_hash_key: bytes = b"",
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._email_hash_key = email_hash_key
        self._on_events_committed = on_events_committed
        self._pending: list[dict[str, Any]] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.outbox = SqlOutboxRepository(self._session)
        self.inbox = SqlInboxRepository(self._session)
        self.accounts = SqlAccountRepository(self._session)
        self.sessions = SqlSessionRepository(self._session)
        self.codes = SqlCodeRepository(self._session)
        self.backup_codes = SqlBackupCodeRepository(self._session)
        self.passkeys = SqlPasskeyRepository(self._session)
        self.identities = SqlIdentityRepository(self._session)
        self.challenges = SqlChallengeRepository(self._session)
        self.security_log = SqlSecurityLog(self._session, email_hash_key=self._email_hash_key)
        self.audit = SqlAuditLogRepository(self._session)
        self.ledger = SqlLedgerRepository(self._session)
        self.queue = SqlQueueRepository(self._session)
        self.billing = SqlBillingRepository(self._session, self.queue)
        self.kyc = SqlKycRepository(self._session)
        self.payouts = SqlPayoutRepository(self._session)
        self.profiles = SqlProfileRepository(self._session)
        self.security_events = SqlSecurityEventReader(self._session)
        self.notification_preferences = SqlNotificationPreferenceRepository(self._session)
        self.notifications = SqlNotificationFeed(self._session)
        self.notification_deliveries = SqlDeliveryLog(self._session)
        self.announcements = SqlAnnouncementRepository(self._session)
        self.operations = SqlOperationalReadings(self._session)
        self.directory = SqlMemberDirectory(self._session)
        self.notes = SqlMemberNoteRepository(self._session)
        self.rules_changes = SqlRulesChangeRepository(self._session)
        self._pending = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            await self.session.close()
            self._session = None
        if exc is not None and database_unavailable(exc):
            raise ComponentUnavailable("database", f"{type(exc).__name__}: {exc}".splitlines()[0][:200]) from exc

    def record(self, *, event_name: str, aggregate_type: str, aggregate_id: str, payload: dict[str, Any]) -> None:
        self._pending.append(
            {
                "event_name": event_name,
                "aggregate_type": aggregate_type,
                "aggregate_id": aggregate_id,
                "payload": payload,
            }
        )

    async def commit(self) -> None:
        events, self._pending = self._pending, []
        now = self._clock.now()
        await self.queue.flush(at=now)  # last lock of the transaction: the queue head (see adapters.sql.queue)
        for event in events:
            await self.outbox.add(occurred_at=now, **event)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            raise ConflictError(str(exc.orig)) from exc
        if events and self._on_events_committed is not None:
            try:
                await self._on_events_committed()
            except Exception:
                logger.warning("outbox wake-up failed; the cron sweep will dispatch", exc_info=True)

    async def rollback(self) -> None:
        self._pending = []
        self.queue.forget()
        await self.session.rollback()
