"""P7 (shared/spec/PERFORMANCE.md): publishing an announcement to 100,000 members enqueues its batched delivery
jobs in ≤ 1 s.

    cd /work/main && .venv/bin/python -m bench.announcements          # ≈ 30 s, loopback only

1. Creates a scratch database `tenure_bench_ann_<run>`, migrates it, and seeds N (default 100,000) active member
   accounts with one `INSERT … SELECT generate_series` (plus one admin), then `VACUUM ANALYZE`.
2. Uses the real SAQ queue on Redis under a private queue name (`tenure_bench_ann_<run>`); no worker runs.
3. Three rounds, each: the baselines — a bare `SELECT count(*)` of the audience, and one SAQ enqueue of a job
   through the same `SaqTaskQueue` — then `announcements.publish` of a fresh draft (lock, audience + batch
   boundaries in one statement, audit, ⌈N / 1000⌉ enqueues, commit), timed end to end.
4. Prints the medians and appends a section to `bench/RESULTS.md` (`--no-results` to skip); drops the database
   and deletes the queue's Redis keys. Exit status 0 only if the median publish is ≤ 1 s and enqueued every batch.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import statistics
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
GOAL_S = 1.0


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs, {model}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


async def seed(dsn: str, members: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO accounts (id, email, role, status, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'm' || g || '@bench.example', 'member', 'active', "
            "now() - interval '1 day', now() - interval '1 day' FROM generate_series(1, $1) AS g",
            members,
        )
        await conn.execute("VACUUM ANALYZE accounts")
    finally:
        await conn.close()


async def run(members: int, rounds: int) -> dict[str, object]:
    from adapters.saq.queue import SaqTaskQueue, connect_queue
    from adapters.sql import migrations
    from adapters.sql.engine import create_engine, session_factory
    from adapters.sql.unit_of_work import SqlUnitOfWork
    from adapters.system.clock import SystemClock
    from domain.sessions import Role
    from ports.usecases import announcements
    from ports.usecases.auth import Principal
    from ports.usecases.deps import Deps
    from ports.usecases.tasks import TASKS
    from tests import services

    run_id = secrets.token_hex(4)
    name = f"tenure_bench_ann_{run_id}"
    queue_name = f"tenure_bench_ann_{run_id}"
    await services.create_database(name)
    dsn = services.database_dsn(name)
    url = services.asyncpg_to_sqlalchemy(dsn)
    engine = create_engine(url, pool_size=4)
    queue = connect_queue(services.REDIS_URL, queue_name)
    try:
        t0 = time.perf_counter()
        await asyncio.to_thread(migrations.upgrade, url)
        await seed(dsn, members)
        seed_s = time.perf_counter() - t0
        clock = SystemClock()
        sessions = session_factory(engine)
        tasks = SaqTaskQueue(queue, TASKS)
        deps = Deps(uow=lambda: SqlUnitOfWork(sessions, clock=clock), tasks=tasks, clock=clock)
        async with deps.uow() as uow:
            admin = await uow.accounts.add(
                email="admin@bench.example", password_hash=None, role="admin", now=clock.now()
            )
            await uow.commit()
        staff = Principal(
            account_id=admin.id,
            email=admin.email,
            role=Role.ADMIN,
            session_id=admin.id,
            authenticated_at=clock.now(),
            second_factor=True,
        )
        conn = await asyncpg.connect(dsn)
        raw: dict[str, list[float]] = {"count": [], "enqueue_one": [], "publish": []}
        results: list[dict[str, int]] = []
        try:
            for r in range(rounds + 1):  # round 0 warms up caches and connections, not reported
                t = time.perf_counter()
                counted = await conn.fetchval(
                    "SELECT count(*) FROM accounts WHERE role = 'member' AND status = 'active' AND created_at <= now()"
                )
                count_s = time.perf_counter() - t
                assert counted == members
                t = time.perf_counter()
                await tasks.enqueue(
                    announcements.DELIVER_TASK,
                    {"announcementId": str(admin.id), "batch": r, "afterAccountId": None, "limit": 1},
                    key=f"baseline:{r}",
                )
                one_s = time.perf_counter() - t
                draft = await announcements.create_announcement(
                    deps, staff, title=f"Bench {r}", body="P7 fan-out benchmark", email=False
                )
                t = time.perf_counter()
                published = await announcements.publish(deps, staff, draft.id)
                publish_s = time.perf_counter() - t
                if r:
                    raw["count"].append(count_s)
                    raw["enqueue_one"].append(one_s)
                    raw["publish"].append(publish_s)
                    results.append(
                        {
                            "recipients": published.recipients,
                            "batches": published.batches,
                            "enqueued": published.enqueued,
                        }
                    )
            queued = await queue.count("queued")
            # For information: one delivery job of the last publish (1,000 feed items), run in-process.
            # The first batch as publish() fixes it: from the start up to the BATCH-th member account id.
            upto = await conn.fetchval(
                "SELECT id FROM accounts WHERE role = 'member' AND status = 'active' ORDER BY id OFFSET $1 LIMIT 1",
                announcements.BATCH - 1,
            )
            first = {
                "announcementId": str(draft.id),
                "batch": 0,
                "afterAccountId": None,
                "uptoAccountId": str(upto),
            }
            t = time.perf_counter()
            added = await TASKS[announcements.DELIVER_TASK].handler(deps, first)
            batch_s = time.perf_counter() - t
        finally:
            await conn.close()
        return {
            "members": members,
            "batch": announcements.BATCH,
            "seed_s": round(seed_s, 2),
            "raw": {k: [round(v, 4) for v in vs] for k, vs in raw.items()},
            "median": {k: round(statistics.median(vs), 4) for k, vs in raw.items()},
            "results": results,
            "queued_in_redis": queued,
            "one_batch_job_s": round(batch_s, 4),
            "one_batch_job_added": added,
        }
    finally:
        await engine.dispose()
        await queue.disconnect()
        await services.delete_redis_keys(f"saq:{queue_name}*")
        await services.drop_database(name)


def report(data: dict[str, object], *, at: str) -> tuple[str, bool]:
    median = data["median"]
    raw = data["raw"]
    results = data["results"]
    assert isinstance(median, dict)
    assert isinstance(raw, dict)
    assert isinstance(results, list)
    members = int(str(data["members"]))
    expected_batches = -(-members // int(str(data["batch"])))
    all_enqueued = all(
        r["recipients"] == members and r["batches"] == expected_batches == r["enqueued"] for r in results
    )
    ok = median["publish"] <= GOAL_S and all_enqueued

    def row(what: str, key: str) -> str:
        ratio_count = median[key] / median["count"]
        ratio_one = median[key] / median["enqueue_one"]
        values = ", ".join(f"{v:.4f}" for v in raw[key])
        return f"| {what} | {median[key] * 1000:.1f} ms | {ratio_count:.1f}× | {ratio_one:.1f}× | {values} |"

    lines = [
        f"## P7 announcement fan-out enqueue (`bench.announcements`) — {at} — {'PASS' if ok else 'FAIL'}",
        "",
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f}. "
        "Command: `.venv/bin/python -m bench.announcements`.",
        f"{members:,} active member accounts (seeded in {data['seed_s']} s, `INSERT … SELECT generate_series`), "
        f"batches of {data['batch']:,}, real SAQ queue on local Redis (no worker), scratch database; median of "
        f"{len(results)} rounds after a warm-up round.",
        "",
        "| what | median | × count(*) | × one enqueue | raw (s) |",
        "|---|---:|---:|---:|---|",
        row("bare `SELECT count(*)` of the audience (baseline)", "count"),
        row("one SAQ enqueue (baseline)", "enqueue_one"),
        row(f"**`publish()` to {members:,}: lock, audience + boundaries, audit, enqueue, commit**", "publish"),
        "",
        f"Jobs enqueued per publish: {', '.join(str(r['enqueued']) for r in results)} "
        f"(expected {expected_batches}, one per {data['batch']:,} members); recipients "
        f"{', '.join(str(r['recipients']) for r in results)}; jobs left queued in Redis {data['queued_in_redis']}. "
        f"Goal: ≤ {GOAL_S:.0f} s with every batch enqueued — {'met' if ok else 'NOT met'}. For information (not "
        f"part of P7): one delivery job run in-process wrote {data['one_batch_job_added']} feed items in "
        f"{float(str(data['one_batch_job_s'])) * 1000:.0f} ms.",
        "",
        "<details><summary>raw (JSON, from the script)</summary>",
        "",
        "```json",
        json.dumps(data),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument("--date", default=None, help="the date written in RESULTS.md (default: now, UTC)")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    data = asyncio.run(run(args.members, args.rounds))
    at = args.date or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text, ok = report(data, at=at)
    print(text)
    if not args.no_results:
        with RESULTS.open("a") as out:
            out.write("\n" + text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
