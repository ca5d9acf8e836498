"""The SQL the queue repository really issues, captured and EXPLAINed (used by `bench.queue_plans` and by
`tests/integration/test_queue_plans.py`).

`capture(url, call)` runs a `SqlQueueRepository` method on a real engine with a `before_cursor_execute` listener
and returns every statement with its driver parameters; `explain(conn, stmt)` runs
`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` on exactly that text and those parameters over asyncpg (custom plans,
as the first executions of a prepared statement get), and returns times and the scan nodes of the plan.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import event

from bench.seed_queue import asyncpg_dsn

QUEUE_STATUSES = ("ACTIVE", "PAST_DUE")
BUDGET_MS = 1.0


@dataclass(frozen=True, slots=True)
class Stmt:
    label: str
    sql: str
    params: tuple[Any, ...]


@dataclass(slots=True)
class Plan:
    stmt: Stmt
    execution_ms: list[float] = field(default_factory=list)
    planning_ms: list[float] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def execution(self) -> float:
        return statistics.median(self.execution_ms)

    @property
    def planning(self) -> float:
        return statistics.median(self.planning_ms)

    def nodes(self) -> Iterator[dict[str, Any]]:
        stack = [self.plan]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.get("Plans", []))

    def scans(self) -> list[str]:
        """`Node Type on relation [using index]` for every node that reads a table or index."""
        out = []
        for node in self.nodes():
            if "Relation Name" in node or "Index Name" in node:
                text = f"{node['Node Type']} on {node.get('Relation Name', '?')}"
                if "Index Name" in node:
                    text += f" using {node['Index Name']}"
                out.append(text)
        return out

    def seq_scans(self, *relations: str) -> list[str]:
        return [
            f"Seq Scan on {n['Relation Name']}"
            for n in self.nodes()
            if n["Node Type"] == "Seq Scan" and (not relations or n["Relation Name"] in relations)
        ]

    def parallel(self) -> list[str]:
        return [n["Node Type"] for n in self.nodes() if n["Node Type"] in {"Gather", "Gather Merge"}]

    def estimated_rows(self, relation: str, index: str) -> int:
        """The planner's expected rows for the scans of `relation` using `index` (largest; 0 if none)."""
        return max(
            (
                int(n["Plan Rows"])
                for n in self.nodes()
                if n.get("Relation Name") == relation and n.get("Index Name") == index
            ),
            default=0,
        )

    def shared_buffers(self) -> int:
        return int(self.plan.get("Shared Hit Blocks", 0)) + int(self.plan.get("Shared Read Blocks", 0))


async def capture(url: str, label: str, call: Callable[[Any], Awaitable[Any]]) -> tuple[Any, list[Stmt]]:
    """Run `call(SqlQueueRepository)` in one session on a fresh engine; every statement it sent, in order."""
    from adapters.sql.engine import create_engine, session_factory
    from adapters.sql.queue import SqlQueueRepository

    engine = create_engine(url, pool_size=1)
    seen: list[Stmt] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "SET")):
            seen.append(Stmt(label=f"{label} #{len(seen) + 1}", sql=statement, params=tuple(parameters or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with session_factory(engine)() as session:
            result = await call(SqlQueueRepository(session))
            await session.rollback()
    finally:
        await engine.dispose()
    return result, seen


async def explain(conn: asyncpg.Connection, stmt: Stmt, *, runs: int = 3, warmup: int = 1) -> Plan:
    """EXPLAIN ANALYZE the statement `warmup + runs` times; times are the medians of the measured runs."""
    plan = Plan(stmt=stmt)
    for i in range(warmup + runs):
        raw = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + stmt.sql, *stmt.params)
        top = (json.loads(raw) if isinstance(raw, str) else raw)[0]
        if i >= warmup:
            plan.execution_ms.append(float(top["Execution Time"]))
            plan.planning_ms.append(float(top["Planning Time"]))
            plan.plan = top["Plan"]
    return plan


async def queue_key_at(conn: asyncpg.Connection, rank: int) -> asyncpg.Record:
    """The queue membership at `rank` (1-based), read straight from the table (set-up only, not measured)."""
    return await conn.fetchrow(
        "SELECT id, account_id, tenure_start, member_number FROM memberships "
        "WHERE status IN ('ACTIVE', 'PAST_DUE') ORDER BY tenure_start, member_number OFFSET $1 LIMIT 1",
        rank - 1,
    )


async def hot_statements(url: str, *, n: int, page_limit: int = 50, extra: bool = False) -> dict[str, list[Stmt]]:
    """The repository's statements for the P2/P4 reads on a queue of `n`, keyed by what they are for.

    position@R      `SqlQueueRepository.position(key at rank R)` — the bare lookup
    place@R         `place_of_account(account at rank R)` — what GET /api/queue/me issues (row + lookup + N)
    candidates      `candidates(after=None, limit=10)` — next winners (the join, then one lookup per candidate)
    deepest page    `page(limit=50, after=last key of the last-but-one page)` — keyset read + its first position
    (extra) rows_around@R and moves@R, the rest of GET /api/queue/me.
    """
    from domain.queue import QueueKey

    ranks = {"10": 10, "n/2": n // 2, "n-10": n - 10}
    out: dict[str, list[Stmt]] = {}
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for name, rank in ranks.items():
            row = await queue_key_at(conn, rank)
            key = QueueKey(tenure_start=row["tenure_start"], member_number=row["member_number"])
            position, out[f"position@{name}"] = await capture(url, f"position@{name}", lambda r, k=key: r.position(k))
            assert position == rank, (name, position, rank)
            place, out[f"place@{name}"] = await capture(
                url, f"place@{name}", lambda r, a=row["account_id"]: r.place_of_account(a)
            )
            assert place is not None, name
            assert (place.position, place.size) == (rank, n), (name, place)
            if extra:
                _, out[f"rows_around@{name}"] = await capture(
                    url, f"rows_around@{name}", lambda r, k=key, p=rank: r.rows_around(k, p, radius=5)
                )
                _, out[f"moves@{name}"] = await capture(
                    url,
                    f"moves@{name}",
                    lambda r, m=row["id"], k=key: r.moves(membership_id=m, key=k, before_seq=None, limit=40),
                )
        _, out["candidates"] = await capture(url, "candidates", lambda r: r.candidates(after=None, limit=10))
        last_full = (n - 1) // page_limit * page_limit  # the last row of the last-but-one page
        row = await queue_key_at(conn, last_full)
        after = QueueKey(tenure_start=row["tenure_start"], member_number=row["member_number"])
        rows, out["deepest page"] = await capture(url, "deepest page", lambda r: r.page(limit=page_limit, after=after))
        assert rows, "the deepest page is empty"
        assert (rows[0].position, rows[-1].position) == (last_full + 1, n), (rows[:1], rows[-1:])
    finally:
        await conn.close()
    return out


def format_plan(plan: Plan) -> str:
    return (
        f"{plan.stmt.label:<22} exec {plan.execution:7.3f} ms (runs {', '.join(f'{t:.3f}' for t in plan.execution_ms)})"
        f"  plan {plan.planning:6.3f} ms  buffers {plan.shared_buffers():>4}"
        + (f"  PARALLEL {'+'.join(plan.parallel())}" if plan.parallel() else "")
        + f"  {'; '.join(_short(s) for s in plan.scans())}"
    )


def _short(scan: str) -> str:
    return scan.replace("Bitmap Index Scan on ? using", "bitmap").replace(" on memberships using", " memberships/")
