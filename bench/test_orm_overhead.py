"""P8 (shared/spec/PERFORMANCE.md): ORM overhead on the hot queue read ≤ 2.5× the raw driver for the same SQL.

    .venv/bin/python -m bench.seed_queue --members 1000000      # once: database tenure_bench
    .venv/bin/pytest bench/test_orm_overhead.py -q -s -p no:cacheprovider     # ≈ 30 s; not in the default run

pytest-benchmark is not installed in the project venv, so this is a manual timing loop in one pytest session:
`--rounds` (3) rounds, alternating the variants, each timing `--iterations` (400) calls; the median round is
reported, as µs per call. The read is what GET /api/queue/me does for the member's place — `place_of_account`
(the membership row, then the position lookup with N in one statement) — at rank n−10 (a rank whose plan is
clean; mid ranks hit the planner misestimate reported in RESULTS.md, which would swamp both sides equally):

* orm/request  `SqlQueueRepository(session).place_of_account(account)` in a new `AsyncSession` per call, as each
               request's unit of work does (checkout, BEGIN, 2 statements, ROLLBACK, return);
* orm/session  the same call on one open session (no checkout or transaction per call);
* raw/txn      asyncpg on one connection: BEGIN, the same two SQL texts with the same parameters, COMMIT;
* raw          the two statements alone.

Pass: orm/request ≤ 2.5 × raw/txn (the like-for-like pair: both open and end a transaction per read).
"""

import os
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from bench.queue_sql import capture, queue_key_at
from bench.seed_queue import asyncpg_dsn, database_url

DATABASE = os.environ.get("BENCH_DATABASE", "tenure_bench")
ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "400"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
GOAL = 2.5


async def _timed(call: Callable[[], Awaitable[object]], iterations: int) -> float:
    """µs per call."""
    for _ in range(20):
        await call()
    started = time.perf_counter()
    for _ in range(iterations):
        await call()
    return (time.perf_counter() - started) / iterations * 1e6


async def test_orm_overhead_on_the_position_read() -> None:
    from adapters.sql.engine import create_engine, session_factory
    from adapters.sql.queue import SqlQueueRepository

    url = database_url(DATABASE)
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"{DATABASE} not reachable ({exc}): run python -m bench.seed_queue first")
    try:
        n = int(await conn.fetchval("SELECT size FROM queue_head WHERE id = 1"))
        row = await queue_key_at(conn, n - 10)
        account = row["account_id"]
        place, statements = await capture(url, "place", lambda r: r.place_of_account(account))
        assert place is not None
        assert place.position == n - 10
        assert len(statements) == 2

        engine = create_engine(url, pool_size=2)
        sessions = session_factory(engine)
        long_session = sessions()

        async def orm_request() -> object:
            async with sessions() as session:
                return await SqlQueueRepository(session).place_of_account(account)

        async def orm_session() -> object:
            return await SqlQueueRepository(long_session).place_of_account(account)

        async def raw_txn() -> object:
            async with conn.transaction():
                first = await conn.fetchrow(statements[0].sql, *statements[0].params)
                second = await conn.fetchrow(statements[1].sql, *statements[1].params)
            return first, second

        async def raw() -> object:
            first = await conn.fetchrow(statements[0].sql, *statements[0].params)
            return first, await conn.fetchrow(statements[1].sql, *statements[1].params)

        variants = {"orm/request": orm_request, "orm/session": orm_session, "raw/txn": raw_txn, "raw": raw}
        results: dict[str, list[float]] = {name: [] for name in variants}
        try:
            for _ in range(ROUNDS):
                for name, call in variants.items():
                    results[name].append(await _timed(call, ITERATIONS))
        finally:
            await long_session.close()
            await engine.dispose()
    finally:
        await conn.close()

    median = {name: statistics.median(times) for name, times in results.items()}
    print(f"\nP8 — place_of_account at rank n−10 (N = {n:,}), {ROUNDS} rounds × {ITERATIONS} calls, µs per call:")
    for name, times in results.items():
        print(f"  {name:<12} median {median[name]:8.1f}   rounds {', '.join(f'{t:.1f}' for t in times)}")
    ratio = median["orm/request"] / median["raw/txn"]
    print(f"  orm/request ÷ raw/txn = {ratio:.2f}×  (orm/session ÷ raw = {median['orm/session'] / median['raw']:.2f}×)")
    print(f"  {'PASS' if ratio <= GOAL else 'FAIL'}  P8 ORM overhead ≤ {GOAL}× the raw driver: {ratio:.2f}×")
    assert ratio <= GOAL
