"""A large, deterministic queue for the P1-P5/P8 benchmarks and the plan-shape test (shared/spec/PERFORMANCE.md).

    .venv/bin/python -m bench.seed_queue --members 1000000            # ≈ 1-2 min on the 2-core box
    .venv/bin/python -m bench.seed_queue --members 1000000 --database tenure_bench --sessions 10000

Drops and creates the database (default `tenure_bench`), migrates it (`adapters.sql.migrations.upgrade`), then
bulk-loads with set-based SQL (`INSERT … SELECT … FROM generate_series`, `setseed` fixes every `random()`):

* `--members` queue memberships (ACTIVE, ≈ 3% PAST_DUE with a grace end, ≈ 5% with a scheduled cancellation),
  tenure starts spread over 6 years (2020-11-20 … 2026-11-20) with same-second ties (birthday collisions plus
  ≈ 2% of starts rounded to 1,000 s), member numbers in tenure order and the `member_number_seq` moved past them;
* ≈ 5% more memberships that are not in the queue (ENDED, CANCELLED, DEFAULTED, WON, PAID; a few PENDING);
* one account per membership; `kyc_records` `verified` for ≈ 85% of accounts, `not_started` for ≈ 5%, none else;
* `--sessions` member sessions of queue members (a deterministic sample), tokens written one per line to
  `--tokens` (default `/tmp/tenure_bench_tokens.txt`, outside the work tree) for wrk;
* the bucket index with `SqlQueueRepository.rebuild()` (the repository's own SQL), then `VACUUM ANALYZE`.

`seed(url, members=…)` is importable: the plan test seeds a smaller queue in its own database with it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.webhook_intake import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TOKENS = Path("/tmp/tenure_bench_tokens.txt")
SEED = 0.42
FIRST_TENURE = "2020-11-20 00:00:00+00"
TENURE_SPAN_S = 6 * 365 * 86400
SEEDED_AT = datetime(2026, 11, 25, tzinfo=UTC)

Log = Callable[[str], None]


def database_url(name: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass(frozen=True, slots=True)
class Seeded:
    members: int
    """Queue memberships (ACTIVE + PAST_DUE) = the queue's N."""
    memberships: int
    accounts: int
    verified: int
    sessions: int
    timings: dict[str, float]


# One statement per table. `g` is 1 … total; rows g ≤ members are in the queue, the rest have left it.
_SETUP = """
CREATE TEMP TABLE seed_rows ON COMMIT DROP AS
SELECT g,
       CASE WHEN random() < 0.02
            THEN floor(s / 1000) * 1000
            ELSE s END AS second,
       random() AS r1, random() AS r2, random() AS r3
FROM (SELECT g, floor(random() * {span})::bigint AS s FROM generate_series(1, {total}) AS g) AS t
"""

_ACCOUNTS = """
INSERT INTO accounts (id, email, email_verified_at, password_hash, role, status, created_at, updated_at)
SELECT md5('bench-account-' || g)::uuid, 'member-' || g || '@bench.example', ts, NULL, 'member', 'active', ts, ts
FROM (SELECT g, timestamptz '{first}' + make_interval(secs => second) AS ts FROM seed_rows) AS s
"""

_MEMBERSHIPS = """
INSERT INTO memberships (id, account_id, status, member_number, tenure_start, activated_at, cancel_effective_at,
                         ended_at, end_reason, grace_ends_at, rules_version, created_at, updated_at, next_due_at)
SELECT md5('bench-membership-' || g)::uuid, md5('bench-account-' || g)::uuid, status,
       CASE WHEN status = 'PENDING' THEN NULL ELSE number END,
       CASE WHEN status = 'PENDING' THEN NULL ELSE ts END,
       CASE WHEN status = 'PENDING' THEN NULL ELSE ts END,
       CASE WHEN status = 'ACTIVE' AND r2 < 0.05 THEN timestamptz '2026-12-20 00:00:00+00' END,
       CASE WHEN status IN ('ENDED', 'CANCELLED', 'DEFAULTED') THEN timestamptz '2026-11-01 00:00:00+00' END,
       CASE WHEN status IN ('ENDED', 'CANCELLED', 'DEFAULTED') THEN lower(status) END,
       CASE WHEN status = 'PAST_DUE' THEN timestamptz '2026-12-01 00:00:00+00' END,
       1, ts, ts,
       CASE WHEN status IN ('ACTIVE', 'PAST_DUE') THEN timestamptz '2026-12-15 00:00:00+00' END
FROM (
    SELECT g, ts, r2, number,
           CASE WHEN g <= {members} THEN (CASE WHEN r1 < 0.03 THEN 'PAST_DUE' ELSE 'ACTIVE' END)
                WHEN r1 < 0.35 THEN 'ENDED' WHEN r1 < 0.60 THEN 'CANCELLED' WHEN r1 < 0.80 THEN 'DEFAULTED'
                WHEN r1 < 0.88 THEN 'WON' WHEN r1 < 0.94 THEN 'PAID' ELSE 'PENDING' END AS status
    FROM (SELECT g, r1, r2, timestamptz '{first}' + make_interval(secs => second) AS ts,
                 row_number() OVER (ORDER BY second, g) AS number
          FROM seed_rows) AS n
) AS m
"""

_MOVES = """
INSERT INTO queue_moves (seq, at, membership_id, tenure_start, member_number, reason, position, size_after,
                         shifts_others)
SELECT member_number, tenure_start, id, tenure_start, member_number, 'activated', member_number, member_number, false
FROM memberships WHERE member_number IS NOT NULL;
INSERT INTO queue_moves (seq, at, membership_id, tenure_start, member_number, reason, position, size_after,
                         shifts_others)
SELECT (SELECT max(seq) FROM queue_moves) + row_number() OVER (ORDER BY md5(id::text)),
       timestamptz '2026-11-01 00:00:00+00', id, tenure_start, member_number,
       CASE WHEN status IN ('WON', 'PAID', 'ENDED') THEN 'won' ELSE lower(status) END, 1 + ahead, {members}, true
FROM (SELECT id, tenure_start, member_number, status,
             sum(CASE WHEN status IN ('ACTIVE', 'PAST_DUE') THEN 1 ELSE 0 END) OVER (ORDER BY member_number) AS ahead
      FROM memberships WHERE member_number IS NOT NULL) AS m
WHERE status NOT IN ('ACTIVE', 'PAST_DUE');
UPDATE queue_head SET last_seq = (SELECT max(seq) FROM queue_moves);
"""
"""The move log as it would read: every activation a join at the back (in member-number order, which is tenure
order here), then one leave (shifting those behind) per membership that is out of the queue, in random order —
the history query reads through these."""

_KYC = """
INSERT INTO kyc_records (account_id, status, status_at, verified_at, review_reasons, failure_reasons, country,
                         updated_at)
SELECT md5('bench-account-' || g)::uuid,
       CASE WHEN r3 < 0.85 THEN 'verified' ELSE 'not_started' END,
       CASE WHEN r3 < 0.85 THEN ts END, CASE WHEN r3 < 0.85 THEN ts END, '[]', '[]',
       CASE WHEN r3 < 0.85 THEN 'US' END, ts
FROM (SELECT g, r3, timestamptz '{first}' + make_interval(secs => second) AS ts FROM seed_rows) AS s
WHERE r3 < 0.90
"""

_SESSIONS = """
INSERT INTO auth_sessions (id, account_id, token_hash, created_at, last_seen_at, authenticated_at)
SELECT md5('bench-session-' || n)::uuid, account_id, encode(sha256(convert_to(token, 'UTF8')), 'hex'),
       now(), now(), now()
FROM (
    SELECT row_number() OVER (ORDER BY md5('pick-' || m.id::text)) AS n, m.account_id,
           'bench_' || md5('bench-token-' || m.id::text) AS token
    FROM memberships m WHERE m.status IN ('ACTIVE', 'PAST_DUE')
    ORDER BY md5('pick-' || m.id::text) LIMIT {sessions}
) AS picked
"""


async def rebuild_index(url: str, *, at: datetime = SEEDED_AT) -> tuple[int, float]:
    """`SqlQueueRepository.rebuild()` in one transaction (the repository's own SQL); returns (N, seconds)."""
    from adapters.sql.engine import create_engine, session_factory
    from adapters.sql.queue import SqlQueueRepository

    engine = create_engine(url, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            started = time.perf_counter()
            size = await SqlQueueRepository(session).rebuild(at=at)
            await session.commit()
            return size, time.perf_counter() - started
    finally:
        await engine.dispose()


async def seed(
    url: str,
    *,
    members: int,
    sessions: int = 0,
    tokens: Path | None = None,
    seed_value: float = SEED,
    log: Log = print,
) -> Seeded:
    """Bulk-load a migrated, empty database at `url` (SQLAlchemy URL) and build the queue index."""
    total = members + members // 20
    fmt = {"members": members, "total": total, "span": TENURE_SPAN_S, "first": FIRST_TENURE, "sessions": sessions}
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(asyncpg_dsn(url), command_timeout=1800)
    try:
        async with conn.transaction():
            # Deterministic: one backend, no parallel workers, a fixed seed for random().
            await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            await conn.execute(f"SELECT setseed({seed_value})")
            for name, sql in (
                ("rows", _SETUP),
                ("accounts", _ACCOUNTS),
                ("memberships", _MEMBERSHIPS),
                ("queue_moves", _MOVES),
                ("kyc_records", _KYC),
                ("auth_sessions", _SESSIONS),
            ):
                if name == "auth_sessions" and not sessions:
                    continue
                started = time.perf_counter()
                status = await conn.execute(sql.format(**fmt))
                timings[name] = time.perf_counter() - started
                log(f"  {name:<14} {status:<22} {timings[name]:6.1f} s")
            await conn.execute("SELECT setval('member_number_seq', (SELECT max(member_number) FROM memberships), true)")
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE accounts, memberships, kyc_records, auth_sessions, queue_moves")
        timings["vacuum_analyze_1"] = time.perf_counter() - started
        log(f"  VACUUM ANALYZE {'':<22} {timings['vacuum_analyze_1']:6.1f} s")
        size, timings["rebuild"] = await rebuild_index(url)
        log(f"  rebuild()      N = {size:<18,} {timings['rebuild']:6.1f} s")
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE queue_counts, queue_head")
        timings["vacuum_analyze_2"] = time.perf_counter() - started
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM memberships) AS memberships, (SELECT count(*) FROM accounts) AS accounts, "
            "(SELECT count(*) FROM kyc_records WHERE status = 'verified') AS verified, "
            "(SELECT count(*) FROM auth_sessions) AS sessions, "
            "(SELECT count(*) FROM memberships WHERE status IN ('ACTIVE', 'PAST_DUE')) AS queue"
        )
        assert counts["queue"] == members == size, (counts["queue"], members, size)
        if sessions and tokens is not None:
            rows = await conn.fetch(
                "SELECT 'bench_' || md5('bench-token-' || m.id::text) AS token FROM auth_sessions s "
                "JOIN memberships m ON m.account_id = s.account_id AND m.status IN ('ACTIVE', 'PAST_DUE') "
                "ORDER BY s.id"
            )
            await asyncio.to_thread(tokens.write_text, "".join(r["token"] + "\n" for r in rows))
            log(f"  {len(rows):,} session tokens → {tokens}")
    finally:
        await conn.close()
    return Seeded(
        members=members,
        memberships=int(counts["memberships"]),
        accounts=int(counts["accounts"]),
        verified=int(counts["verified"]),
        sessions=int(counts["sessions"]),
        timings=timings,
    )


async def refresh_sessions(url: str) -> int:
    """Make every seeded session fresh again (idle and absolute timeouts count from now)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        status = await conn.execute(
            "UPDATE auth_sessions SET created_at = now(), last_seen_at = now(), authenticated_at = now(), "
            "revoked_at = NULL"
        )
        return int(status.split()[-1])
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Seed a large deterministic queue", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000, help="queue memberships (N)")
    parser.add_argument("--sessions", type=int, default=10_000, help="member sessions with known tokens")
    parser.add_argument("--database", default="tenure_bench", help="dropped and created")
    parser.add_argument("--tokens", type=Path, default=DEFAULT_TOKENS, help="where the session tokens go")
    args = parser.parse_args()
    from adapters.sql.migrations import upgrade

    started = time.perf_counter()
    url = database_url(args.database)
    asyncio.run(drop_database(args.database))
    asyncio.run(create_database(args.database))
    upgrade(url)
    print(f"database {args.database} created and migrated ({time.perf_counter() - started:.1f} s); seeding")
    seeded = asyncio.run(seed(url, members=args.members, sessions=args.sessions, tokens=args.tokens))
    print(
        f"done in {time.perf_counter() - started:.1f} s: N = {seeded.members:,} queue members, "
        f"{seeded.memberships:,} memberships, {seeded.accounts:,} accounts, {seeded.verified:,} KYC verified, "
        f"{seeded.sessions:,} sessions"
    )


if __name__ == "__main__":
    main()
