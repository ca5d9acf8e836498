"""Verifying every audit chain and the daily head digest, on PostgreSQL.

Tampering needs the superuser to switch the append-only trigger off; each tamper runs in one transaction
(the ALTER TABLE lock keeps everyone else out meanwhile) and is undone afterwards, because later tests in
this run verify the same shared database.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import asyncpg
import pytest
from click.testing import CliRunner

from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from domain.audit import BreakKind
from domain.errors import AuditError
from entrypoints.cli.main import cli
from entrypoints.settings import Settings
from ports.usecases.audit import AuditVerification, ChainBreak, audit_head_digest, record_audit, verify_audit_chains
from ports.usecases.deps import Deps
from tests.fakes import FakeTaskQueue

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UowFactory = Callable[..., SqlUnitOfWork]


def _dsn(settings: Settings) -> str:
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def _write_chain(make_uow: UowFactory, entity_type: str, entity_id: str, length: int, at: datetime = T0) -> None:
    for i in range(length):
        async with make_uow() as uow:
            await record_audit(
                uow,
                entity_type=entity_type,
                entity_id=entity_id,
                actor="cli",
                action="role_changed",
                at=at + timedelta(minutes=i),
                after={"step": i},
            )
            await uow.commit()


@asynccontextmanager
async def tampered(settings: Settings, entity_type: str, entity_id: str, seq: int, change: str) -> AsyncIterator[None]:
    """Apply `change` (SQL with $1 = the row id) to one stored link behind the trigger's back; restore it after."""
    conn = await asyncpg.connect(_dsn(settings))
    try:
        original = await conn.fetchrow(
            "SELECT * FROM audit_log WHERE entity_type = $1 AND entity_id = $2 AND seq = $3",
            entity_type,
            entity_id,
            seq,
        )
        assert original is not None
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            await conn.execute(change, original["id"])
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        try:
            yield
        finally:
            columns = list(original.keys())
            placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            async with conn.transaction():
                await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
                await conn.execute("DELETE FROM audit_log WHERE id = $1", original["id"])
                await conn.execute(
                    f"INSERT INTO audit_log ({', '.join(columns)}) VALUES ({placeholders})", *original.values()
                )
                await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await conn.close()


@pytest.fixture
def deps(make_uow: UowFactory) -> Deps:
    return Deps(uow=make_uow, tasks=FakeTaskQueue(), clock=SystemClock())


@pytest.fixture
async def three_chains(make_uow: UowFactory) -> tuple[str, list[str]]:
    entity_type = f"verify-{uuid.uuid4().hex[:12]}"
    ids = [f"e{n}" for n in range(3)]
    for entity_id in ids:
        await _write_chain(make_uow, entity_type, entity_id, 3)
    return entity_type, ids


async def test_every_chain_verifies_in_keyset_batches(
    deps: Deps, three_chains: tuple[str, list[str]], test_settings: Settings
) -> None:
    seen: list[AuditVerification] = []
    result = await verify_audit_chains(deps, batch_size=2, on_batch=seen.append)

    conn = await asyncpg.connect(_dsn(test_settings))
    try:
        chains, links = await conn.fetchrow("SELECT count(DISTINCT (entity_type, entity_id)), count(*) FROM audit_log")
    finally:
        await conn.close()
    assert result.ok, result.breaks
    assert (result.chains, result.links) == (chains, links), "every chain read exactly once across the pages"
    assert seen[-1] == result
    assert all(0 < later.chains - earlier.chains <= 2 for earlier, later in pairwise(seen))


async def test_an_edited_record_breaks_its_chain_at_that_seq(
    deps: Deps, three_chains: tuple[str, list[str]], test_settings: Settings
) -> None:
    entity_type, ids = three_chains
    edit = """UPDATE audit_log SET after = '{"step": 99}'::jsonb WHERE id = $1"""
    async with tampered(test_settings, entity_type, ids[1], 2, edit):
        result = await verify_audit_chains(deps, batch_size=2)
    assert result.breaks == (
        ChainBreak(entity_type=entity_type, entity_id=ids[1], seq=2, kind=BreakKind.HASH_MISMATCH),
    )
    async with tampered(test_settings, entity_type, ids[2], 3, "UPDATE audit_log SET actor = 'mallory' WHERE id = $1"):
        result = await verify_audit_chains(deps)
    assert result.breaks == (
        ChainBreak(entity_type=entity_type, entity_id=ids[2], seq=3, kind=BreakKind.HASH_MISMATCH),
    )
    assert (await verify_audit_chains(deps)).ok, "restored"


async def test_a_deleted_middle_record_breaks_its_chain(
    deps: Deps, three_chains: tuple[str, list[str]], test_settings: Settings
) -> None:
    entity_type, ids = three_chains
    async with tampered(test_settings, entity_type, ids[0], 2, "DELETE FROM audit_log WHERE id = $1"):
        result = await verify_audit_chains(deps)
    assert result.breaks == (ChainBreak(entity_type=entity_type, entity_id=ids[0], seq=2, kind=BreakKind.SEQUENCE_GAP),)


async def test_a_record_that_no_longer_decodes_is_named(
    deps: Deps, three_chains: tuple[str, list[str]], test_settings: Settings
) -> None:
    entity_type, ids = three_chains
    edit = """UPDATE audit_log SET after = '{"email": "x@example.com"}'::jsonb WHERE id = $1"""
    async with tampered(test_settings, entity_type, ids[0], 1, edit):
        with pytest.raises(AuditError, match=f"{entity_type}/{ids[0]} seq 1 is unreadable"):
            await verify_audit_chains(deps)


async def test_head_digest_is_deterministic_and_follows_the_heads_of_that_day(deps: Deps, make_uow: UowFactory) -> None:
    day = date(2019, 3, 4)  # no other test writes audit records this far back
    noon = datetime(2019, 3, 4, 12, tzinfo=UTC)
    entity_type = f"digest-{uuid.uuid4().hex[:12]}"
    await _write_chain(make_uow, entity_type, "a", 2, at=noon)

    first = await audit_head_digest(deps, day)
    assert first == await audit_head_digest(deps, day, batch_size=1), "same digest, however it is paged"
    assert first.day == day
    assert first.chain_count >= 1

    await _write_chain(make_uow, entity_type, "b", 1, at=noon + timedelta(days=1))
    assert await audit_head_digest(deps, day) == first, "a link recorded after midnight belongs to the next day"

    async with make_uow() as uow:
        await record_audit(
            uow, entity_type=entity_type, entity_id="a", actor="cli", action="x", at=noon.replace(hour=23)
        )
        await uow.commit()
    moved = await audit_head_digest(deps, day)
    assert moved.chain_count == first.chain_count
    assert moved.digest != first.digest, "a new head of the day changes the digest"
    assert (await audit_head_digest(deps, day + timedelta(days=1))).chain_count == first.chain_count + 1


@pytest.fixture
def env(test_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENURE_ENV", "test")
    monkeypatch.setenv("TENURE_DATABASE_URL", test_settings.database_url)
    monkeypatch.setenv("TENURE_REDIS_URL", str(test_settings.redis_url))
    monkeypatch.setenv("TENURE_QUEUE_NAME", test_settings.queue_name)


def test_cli_audit_verify_exits_1_on_a_broken_chain(env: None, test_settings: Settings) -> None:
    entity_type = f"cli-{uuid.uuid4().hex[:12]}"

    async def write() -> None:
        engine = create_engine(test_settings.database_url)
        try:
            sessions = session_factory(engine)
            await _write_chain(lambda: SqlUnitOfWork(sessions, clock=SystemClock()), entity_type, "x", 3)
        finally:
            await engine.dispose()

    async def verify_while_tampered() -> None:
        edit = "UPDATE audit_log SET actor = 'mallory' WHERE id = $1"
        async with tampered(test_settings, entity_type, "x", 2, edit):
            broken = await asyncio.to_thread(runner.invoke, cli, ["audit", "verify"])
        assert broken.exit_code == 1, broken.output
        assert f"BROKEN {entity_type} x at seq 2: hash_mismatch" in broken.output

    asyncio.run(write())
    runner = CliRunner()
    clean = runner.invoke(cli, ["audit", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "links: OK" in clean.output
    assert "checked " in clean.stderr, "progress goes to stderr"

    asyncio.run(verify_while_tampered())
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0

    digest = runner.invoke(cli, ["audit", "head-digest", "--day", "2026-01-01"])
    assert digest.exit_code == 0, digest.output
    assert digest.output.startswith("tenure-audit-heads/v1 2026-01-01 chains=")
    assert runner.invoke(cli, ["audit", "head-digest", "--day", "01/01/2026"]).exit_code == 2
    assert runner.invoke(cli, ["audit", "head-digest"]).exit_code == 0, "yesterday by default"
