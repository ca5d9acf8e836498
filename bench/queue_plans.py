"""P2, P3, P4 (shared/spec/PERFORMANCE.md) on the seeded 1M queue: plan shapes and database time of the queue's
hot reads, the full index rebuild against the bare window query, and a round's snapshot.

    .venv/bin/python -m bench.seed_queue --members 1000000     # once: database tenure_bench
    .venv/bin/python -m bench.queue_plans                      # ≈ 1-2 min; --skip-p3 for the plans only

P2/P4: every statement `SqlQueueRepository` sends for `position` and `place_of_account` (what GET /api/queue/me
uses) at ranks 10, n/2, n−10, for `rows_around` and `moves` (the rest of /me), `candidates(limit=10)` and the
deepest public page (`page` after the last-but-one page) is captured with its parameters and EXPLAINed
(ANALYZE, BUFFERS, FORMAT JSON): one warm-up, median of 3. Budget: 1 ms execution per statement, no seq scan
of memberships or queue_counts, no parallel plan.

P3: `rebuild()` (the repository's SQL, in its own transaction, committed) vs the bare window query
`SELECT id, row_number() OVER (ORDER BY tenure_start, member_number) FROM memberships WHERE status IN
('ACTIVE','PAST_DUE')`, both fully executed server-side, alternated, median of 3; goal ≤ 8×. Then a round's
1M-row snapshot as one `INSERT … SELECT` (ranked with the same window) into a scratch table, median of 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import asyncpg

from bench.queue_sql import BUDGET_MS, capture, explain, format_plan, hot_statements
from bench.seed_queue import asyncpg_dsn, database_url, rebuild_index

WINDOW_SQL = (
    "SELECT id, row_number() OVER (ORDER BY tenure_start, member_number) FROM memberships "
    "WHERE status IN ('ACTIVE','PAST_DUE')"
)
SNAPSHOT_TABLE = "bench_round_snapshot"
SNAPSHOT_SQL = f"""
INSERT INTO {SNAPSHOT_TABLE} (round_id, position, membership_id, account_id, tenure_start, member_number, status)
SELECT 1, row_number() OVER (ORDER BY tenure_start, member_number), id, account_id, tenure_start, member_number,
       status
FROM memberships WHERE status IN ('ACTIVE', 'PAST_DUE')
"""


async def plans(url: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    n = int(await conn.fetchval("SELECT size FROM queue_head WHERE id = 1"))
    print(f"P2/P4 — queue N = {n:,}; EXPLAIN (ANALYZE, BUFFERS): 1 warm-up, median of 3 (ms)")
    ok = True
    try:
        statements = await hot_statements(url, n=n, extra=True)
        for label, stmts in statements.items():
            total_exec = total_plan = 0.0
            for stmt in stmts:
                plan = await explain(conn, stmt)
                total_exec += plan.execution
                total_plan += plan.planning
                bad = plan.seq_scans("memberships", "queue_counts") + plan.parallel()
                # The history read has no PERFORMANCE.md budget (it is bounded by the moves since the member
                # joined, not by N); it is shown for information.
                over = plan.execution > BUDGET_MS and not label.startswith("moves@")
                ok &= not (bad or over)
                print(("FAIL " if bad or over else "     ") + format_plan(plan))
                if bad or over:
                    print(f"       SQL: {stmt.sql}\n       params: {stmt.params}")
                    print("       plan: " + json.dumps(plan.plan)[:3000])
            print(
                f"     {label:<22} total: exec {total_exec:.3f} ms + planning {total_plan:.3f} ms "
                f"over {len(stmts)} statement(s)"
            )
    finally:
        await conn.close()
    return ok


async def _timed(conn: asyncpg.Connection, sql: str) -> float:
    started = time.perf_counter()
    await conn.execute(sql)
    return time.perf_counter() - started


async def p3(url: str, runs: int) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(url), command_timeout=600)
    window, rebuild, window_fetch = [], [], []
    try:
        await conn.execute("SET max_parallel_workers_per_gather = 0")  # as the app's sessions run: comparable
        # warm the table and index into the cache
        await conn.fetchval(f"SELECT count(*) FROM ({WINDOW_SQL}) AS w")
        for i in range(runs):
            top = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {WINDOW_SQL}"))[0]
            window.append(float(top["Execution Time"]) / 1000)
            started = time.perf_counter()
            rows = await conn.fetch(WINDOW_SQL)
            window_fetch.append(time.perf_counter() - started)
            size, seconds = await rebuild_index(url)
            rebuild.append(seconds)
            print(
                f"P3 round {i + 1}: window query {window[-1]:.3f} s (server) / {window_fetch[-1]:.3f} s "
                f"(fetched, {len(rows):,} rows); rebuild() {seconds:.3f} s (N = {size:,})"
            )
            del rows
        await conn.execute("VACUUM ANALYZE queue_counts")
        await conn.execute(f"DROP TABLE IF EXISTS {SNAPSHOT_TABLE}")
        await conn.execute(
            f"CREATE TABLE {SNAPSHOT_TABLE} (round_id bigint NOT NULL, position bigint NOT NULL, "
            "membership_id uuid NOT NULL, account_id uuid NOT NULL, tenure_start timestamptz NOT NULL, "
            "member_number bigint NOT NULL, status varchar(16) NOT NULL, PRIMARY KEY (round_id, position))"
        )
        snapshot = []
        for i in range(runs):
            await conn.execute(f"TRUNCATE {SNAPSHOT_TABLE}")
            started = time.perf_counter()
            status = await conn.execute(SNAPSHOT_SQL)
            snapshot.append(time.perf_counter() - started)
            print(f"P3 snapshot {i + 1}: {status} in {snapshot[-1]:.3f} s (one INSERT … SELECT, logged table, PK)")
        await conn.execute(f"DROP TABLE {SNAPSHOT_TABLE}")
    finally:
        await conn.close()
    await rebuild_breakdown(url)
    w, r, f, s = (statistics.median(x) for x in (window, rebuild, window_fetch, snapshot))
    print(
        f"P3 medians: window {w:.3f} s server-side ({f:.3f} s fetched to the client); rebuild() {r:.3f} s; "
        f"ratio {r / w:.1f}× (vs fetched: {r / f:.1f}×); snapshot {s:.3f} s"
    )
    met = r / w <= 8
    print(f"{'PASS' if met else 'FAIL'}  P3 rebuild ≤ 8× the bare window query: {r / w:.1f}×")
    return met


async def rebuild_breakdown(url: str) -> None:
    """Where rebuild() spends its time: each of its statements (captured) EXPLAIN ANALYZEd in one transaction,
    rolled back."""
    from datetime import UTC, datetime

    _, statements = await capture(url, "rebuild", lambda r: r.rebuild(at=datetime.now(UTC)))
    conn = await asyncpg.connect(asyncpg_dsn(url), command_timeout=600)
    try:
        async with conn.transaction():
            print("P3 rebuild() breakdown (EXPLAIN ANALYZE of each statement, one transaction, rolled back):")
            for stmt in statements:
                if not stmt.sql.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
                    started = time.perf_counter()
                    await conn.execute(stmt.sql, *stmt.params)  # TRUNCATE, SET LOCAL: not explainable
                    print(f"  {(time.perf_counter() - started) * 1000:.3f} ms (executed)  {stmt.sql}")
                    continue
                rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + stmt.sql, *stmt.params)
                lines = [r[0] for r in rows]
                total = next(line for line in lines if line.startswith("Execution Time"))
                print(f"  {total:<28} {' '.join(stmt.sql.split())[:150]}")
                for line in lines[:14]:
                    print("      " + line[:160])
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description="P2/P3/P4 on the seeded queue")
    parser.add_argument("--database", default="tenure_bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-p3", action="store_true")
    parser.add_argument("--skip-plans", action="store_true")
    args = parser.parse_args()
    url = database_url(args.database)
    ok = True
    if not args.skip_plans:
        ok &= asyncio.run(plans(url))
    if not args.skip_p3:
        ok &= asyncio.run(p3(url, args.runs))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
