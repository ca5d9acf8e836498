"""Announcements on PostgreSQL (issue 9): create → preview → publish → the batch jobs give every active member
exactly one feed item; replaying a batch or publishing again adds nothing; concurrent publishes publish once;
only staff may use any of it.

The audience is every active member account, so each test runs in a database of its own (the run's shared
database holds other tests' members). The autouse consistency checks of tests/integration/conftest.py look there
too (``test_settings`` is overridden below).
"""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.sessions import Role
from entrypoints.settings import Settings
from ports.outbound.announcements import AnnouncementStatus
from ports.outbound.email import EmailMessage
from ports.outbound.profiles import Profile
from ports.usecases import announcements
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import Forbidden, InvalidInput, NotFound, Refused
from ports.usecases.notifications import DELIVER_TASK, deliver_notification
from ports.usecases.tasks import TASKS
from tests import services
from tests.fakes import FakeClock, FakeTaskQueue

START = datetime(2026, 11, 25, 12, tzinfo=UTC)
BATCH = 7
MEMBERS = 23  # 4 batches of 7, 7, 7 and 2
_databases = itertools.count()


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    name = f"tenure_announce_{services.RUN_ID}_{next(_databases)}"
    await services.create_database(name)
    url = services.asyncpg_to_sqlalchemy(services.database_dsn(name))
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        yield url
    finally:
        await services.drop_database(name)


@pytest.fixture
def test_settings(pg_database: str, redis_namespace: str) -> Settings:
    from entrypoints.settings import load_settings

    return load_settings(
        {
            "TENURE_ENV": "test",
            "TENURE_DATABASE_URL": pg_database,
            "TENURE_REDIS_URL": services.REDIS_URL,
            "TENURE_QUEUE_NAME": redis_namespace,
        }
    )


@pytest.fixture
async def engine(pg_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_database, pool_size=12)
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(announcements, "BATCH", BATCH)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def deps(engine: AsyncEngine, clock: FakeClock) -> Deps:
    sessions = session_factory(engine)
    return Deps(uow=lambda: SqlUnitOfWork(sessions, clock=clock), tasks=FakeTaskQueue(), clock=clock)


def _principal(account_id: uuid.UUID, role: Role) -> Principal:
    return Principal(
        account_id=account_id,
        email=f"{account_id}@example.com",
        role=role,
        session_id=uuid.uuid4(),
        authenticated_at=START,
        second_factor=True,
    )


async def _account(deps: Deps, *, role: str, status: str = "active", at: datetime = START) -> uuid.UUID:
    async with deps.uow() as uow:
        account = await uow.accounts.add(email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role=role, now=at)
        assert isinstance(uow, SqlUnitOfWork)
        if status != "active":
            row = await uow.session.get(models.Account, account.id)
            assert row is not None
            row.status = status
        await uow.commit()
    return account.id


async def _feed_counts(deps: Deps, event_id: str) -> dict[uuid.UUID, int]:
    uow = deps.uow()
    assert isinstance(uow, SqlUnitOfWork)
    async with uow:
        n = models.Notification
        rows = await uow.session.execute(
            select(n.account_id, func.count()).where(n.event_id == event_id).group_by(n.account_id)
        )
        return {account_id: int(count) for account_id, count in rows}


async def _run(deps: Deps, jobs: list[tuple[str, dict[str, object], str | None]]) -> int:
    spec = TASKS[announcements.DELIVER_TASK]
    added = 0
    for task, payload, _key in jobs:
        assert task == announcements.DELIVER_TASK
        added += await spec.handler(deps, payload)  # type: ignore[arg-type]
    return int(added)


async def test_publish_reaches_every_active_member_exactly_once(deps: Deps, clock: FakeClock) -> None:
    admin = _principal(await _account(deps, role="admin"), Role.ADMIN)
    finance_id = await _account(deps, role="finance")
    members = [await _account(deps, role="member") for _ in range(MEMBERS)]
    disabled = await _account(deps, role="member", status="disabled")
    member = _principal(members[0], Role.MEMBER)

    with pytest.raises(InvalidInput):
        await announcements.create_announcement(deps, admin, title="  ", body="x", email=False)

    draft = await announcements.create_announcement(
        deps, admin, title=" Office closed ", body="We are closed on Friday.", email=False
    )
    assert draft.status is AnnouncementStatus.DRAFT
    assert draft.title == "Office closed"

    seen = await announcements.preview(deps, admin, draft.id)
    assert (seen.title, seen.body, seen.recipients) == ("Office closed", "We are closed on Friday.", MEMBERS)
    assert [a.id for a in await announcements.list_announcements(deps, admin)] == [draft.id]
    with pytest.raises(NotFound):
        await announcements.preview(deps, admin, uuid.uuid4())

    # a job that runs before its publish committed is retried, not skipped
    early = {"announcementId": str(draft.id), "publishedAt": "x", "batch": 0, "afterAccountId": None}
    with pytest.raises(announcements.AnnouncementNotPublishedYet):
        await TASKS[announcements.DELIVER_TASK].handler(deps, early)

    clock.advance(timedelta(minutes=1))
    published = await announcements.publish(deps, admin, draft.id)
    assert (published.recipients, published.batches, published.enqueued) == (MEMBERS, 4, 4)
    assert published.announcement.status is AnnouncementStatus.PUBLISHED

    queue = deps.tasks
    assert isinstance(queue, FakeTaskQueue)
    jobs = list(queue.enqueued)
    stamp = (START + timedelta(minutes=1)).isoformat()
    assert [key for _, _, key in jobs] == [f"announcement:{draft.id}:{stamp}:{i}" for i in range(4)]
    edges = [str(sorted(members)[i * BATCH - 1]) for i in (1, 2, 3)]
    assert [p["uptoAccountId"] for _, p, _ in jobs] == [*edges, None], "each batch is a range fixed at publish"
    assert jobs[0][1]["afterAccountId"] is None
    assert [p["afterAccountId"] for _, p, _ in jobs[1:]] == [str(sorted(members)[i * BATCH - 1]) for i in (1, 2, 3)]

    # a member who joins after publishing is not part of this announcement's audience
    clock.advance(timedelta(minutes=1))
    late = await _account(deps, role="member", at=clock.now())

    assert await _run(deps, jobs) == MEMBERS
    event_id = announcements.event_id(draft.id)
    counts = await _feed_counts(deps, event_id)
    assert counts == dict.fromkeys(members, 1)
    assert not {disabled, finance_id, late, admin.account_id} & counts.keys()

    async with deps.uow() as uow:
        feed = await uow.notifications.page(members[5], limit=10, after=None)
    assert [(f.title, f.body, f.event_name) for f in feed] == [
        ("Office closed", "We are closed on Friday.", announcements.EVENT_NAME)
    ]
    assert feed[0].created_at == START + timedelta(minutes=1)

    # replaying every batch, and publishing again, add nothing
    assert await _run(deps, jobs) == 0
    with pytest.raises(Refused, match="already published"):
        await announcements.publish(deps, admin, draft.id)
    assert len(queue.enqueued) == 4
    assert await _feed_counts(deps, event_id) == counts

    stored = (await announcements.list_announcements(deps, admin))[0]
    assert (stored.status, stored.recipients, stored.batches) == (AnnouncementStatus.PUBLISHED, MEMBERS, 4)
    assert stored.published_by == admin.account_id
    async with deps.uow() as uow:
        head = await uow.audit.head("announcement", str(draft.id))
    assert head is not None
    assert (head.record.seq, head.record.action) == (2, "publish")

    for call in (
        announcements.create_announcement(deps, member, title="t", body="b", email=False),
        announcements.list_announcements(deps, member),
        announcements.preview(deps, member, draft.id),
        announcements.publish(deps, member, draft.id),
    ):
        with pytest.raises(Forbidden):
            await call


async def test_concurrent_publishes_publish_once(deps: Deps) -> None:
    admins = [_principal(await _account(deps, role="admin"), Role.ADMIN) for _ in range(2)]
    for _ in range(BATCH * 2):  # exactly two full batches: no empty third batch
        await _account(deps, role="member")
    draft = await announcements.create_announcement(deps, admins[0], title="News", body="Body", email=False)

    results = await asyncio.gather(
        *(announcements.publish(deps, admins[i % 2], draft.id) for i in range(8)), return_exceptions=True
    )
    done = [r for r in results if isinstance(r, announcements.Published)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert (len(done), len(refused)) == (1, 7), results
    assert (done[0].recipients, done[0].batches) == (BATCH * 2, 2)
    queue = deps.tasks
    assert isinstance(queue, FakeTaskQueue)
    assert len(queue.enqueued) == 2
    assert await _run(deps, list(queue.enqueued)) == BATCH * 2


async def test_an_empty_audience_publishes_without_jobs(deps: Deps) -> None:
    admin = _principal(await _account(deps, role="admin"), Role.ADMIN)
    draft = await announcements.create_announcement(deps, admin, title="News", body="Body", email=False)
    published = await announcements.publish(deps, admin, draft.id)
    assert (published.recipients, published.batches, published.enqueued) == (0, 0, 0)
    queue = deps.tasks
    assert isinstance(queue, FakeTaskQueue)
    assert queue.enqueued == []


class CountingEmail:
    def __init__(self) -> None:
        self.to: list[str] = []

    async def send(self, message: EmailMessage) -> str:
        self.to.append(message.to)
        return f"email-{len(self.to)}"


async def test_an_email_copy_goes_once_to_every_member_whose_mail_has_not_bounced(deps: Deps) -> None:
    emails = CountingEmail()
    deps = replace(deps, email=emails)
    admin = _principal(await _account(deps, role="admin"), Role.ADMIN)
    members = [await _account(deps, role="member") for _ in range(5)]
    async with deps.uow() as uow:
        await uow.profiles.save(Profile(account_id=members[2], email_bounced=True), at=START)
        await uow.commit()
    draft = await announcements.create_announcement(deps, admin, title="Rules change", body="Read it.", email=True)
    await announcements.publish(deps, admin, draft.id)
    queue = deps.tasks
    assert isinstance(queue, FakeTaskQueue)
    batches = [job for job in queue.enqueued if job[0] == announcements.DELIVER_TASK]
    for _ in range(2):  # every batch replayed: the email jobs come twice, the emails once
        for _task, payload, _key in batches:
            await TASKS[announcements.DELIVER_TASK].handler(deps, payload)  # type: ignore[arg-type]
    mail_jobs = [payload for task, payload, _ in queue.enqueued if task == DELIVER_TASK]
    assert {p["accountId"] for p in mail_jobs} == {str(m) for m in members if m != members[2]}
    for payload in mail_jobs:
        await deliver_notification(deps, payload)
    assert len(emails.to) == 4, "one email per member, none to a bounced address"
    assert len(set(emails.to)) == 4


async def test_an_account_activated_before_the_jobs_run_cannot_push_anyone_out_of_a_batch(
    deps: Deps, clock: FakeClock
) -> None:
    admin = _principal(await _account(deps, role="admin"), Role.ADMIN)
    members = [await _account(deps, role="member") for _ in range(2 * BATCH)]
    returning = await _account(deps, role="member", status="disabled")  # sorts anywhere among the members
    draft = await announcements.create_announcement(deps, admin, title="Hello", body="News.", email=False)
    clock.advance(timedelta(minutes=1))
    await announcements.publish(deps, admin, draft.id)
    async with deps.uow() as uow:  # re-activated after the publish fixed the batches, before they run
        assert isinstance(uow, SqlUnitOfWork)
        row = await uow.session.get(models.Account, returning)
        assert row is not None
        row.status = "active"
        await uow.commit()
    queue = deps.tasks
    assert isinstance(queue, FakeTaskQueue)
    await _run(deps, [job for job in queue.enqueued if job[0] == announcements.DELIVER_TASK])
    counts = await _feed_counts(deps, announcements.event_id(draft.id))
    assert {m: counts.get(m) for m in members} == dict.fromkeys(members, 1), "every member of the audience, once"
