"""P3's last clause (shared/spec/PERFORMANCE.md) for a real round: `ports.usecases.rounds.evaluate` on the seeded
1M queue, with its snapshot `INSERT … SELECT` and its streaming Merkle digest timed separately, against the bare
window query measured in the same run.

    .venv/bin/python -m bench.seed_queue --members 1000000     # once: database tenure_bench
    .venv/bin/python -m bench.round_eval                       # ≈ 3-5 min; --repeat 3 (median), --dsn

Each repetition is a fresh day (one round a day), 00:30 UTC on a fake clock, starting the day after the seed
(or after the last round already in the database, so the script can run again on the same database):

1. Preconditions, committed, without touching the queue order: the first `--verify` (5) ACTIVE members in queue
   order (`ORDER BY tenure_start, member_number`, no cancellation scheduled) get a VERIFIED KYC record (adult,
   US, a unique fingerprint, verified the day before); the fund is topped up to 2.5 × the reward with a payment
   (`payment_received` + `split_payment`, posted through the ledger), so a round has floor(2.5) = 2 winners; a
   successful reconciliation a minute old. The previous repetition's winners are WON: they left the queue, so
   the front is new each day.
2. The bare window query (`bench.queue_plans.WINDOW_SQL`, parallel workers off as there): server-side execution
   time (`EXPLAIN (ANALYZE, TIMING OFF)`) and the time to fetch its 1M rows to the client.
3. `evaluate(deps, triggered_by="cron")`, committed: wall time, and the database time of every statement it sends
   (SQLAlchemy cursor events, grouped by statement), so the rest is Python (and COMMIT).
4. The pieces alone, in a throwaway transaction that is rolled back (the same calls `evaluate` makes, on the queue
   as it is after the round): the eligibility walk (`_walk`), `SqlPayoutRepository.snapshot_queue` (the one
   `INSERT … SELECT`), and `_digest` (streaming the 1M entries back in position order, hashing the root and
   storing the root of every 1,024-entry chunk). Then `VACUUM ANALYZE round_entries, round_verdicts` (not timed)
   so the rolled-back rows do not weigh on the next repetition.

After the last repetition, `verify_round(deps, day)` once for the last round (time and verdict). Medians of the
repetitions and ratios against the server-side window query are printed with the raw numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from uuid_utils.compat import uuid7

from adapters.security.crypto import AesGcmSecretBox, SystemRandom, derive_key
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from bench.queue_plans import WINDOW_SQL
from bench.seed_queue import SEEDED_AT, asyncpg_dsn, database_url
from domain.kyc import KycStatus
from domain.ledger import Account, payment_received, split_payment
from domain.money import Money
from domain.rules import ProgramRules, RulesHistory
from ports.outbound.kyc_records import StoredKyc
from ports.usecases import rounds
from ports.usecases.deps import Deps, PayoutServices
from ports.usecases.payment_events import RECONCILE_KIND
from tests.fakes import FakeClock, FakeTaskQueue

EVALUATED_AT = clock_time(0, 30, tzinfo=UTC)
FUND_REWARDS_X2 = 5
"""The fund is topped up to FUND_REWARDS_X2 / 2 rewards (2.5): two winners a round."""

FRONT_SQL = """
SELECT account_id, member_number FROM memberships
WHERE status = 'ACTIVE' AND cancel_effective_at IS NULL
ORDER BY tenure_start, member_number LIMIT $1
"""


def log(message: str) -> None:
    print(message, flush=True)


class StatementTimer:
    """Database time per statement (cursor execute → result), grouped by the statement's text, while on."""

    def __init__(self) -> None:
        self.on = False
        self.totals: dict[str, list[float]] = defaultdict(list)
        self._started: list[float] = []

    def attach(self, sync_engine: Any) -> None:
        event.listen(sync_engine, "before_cursor_execute", self._before)
        event.listen(sync_engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started = self._started.pop()
        if self.on:
            self.totals[" ".join(statement.split())[:110]].append(time.perf_counter() - started)

    def take(self) -> dict[str, list[float]]:
        totals, self.totals = dict(self.totals), defaultdict(list)
        return totals


@dataclass
class Repetition:
    day: date
    front: list[int] = field(default_factory=list)
    prepare: float = 0.0
    window: float = 0.0
    window_fetch: float = 0.0
    evaluate: float = 0.0
    statements: dict[str, list[float]] = field(default_factory=dict)
    walk: float = 0.0
    walked: int = 0
    snapshot: float = 0.0
    snapshot_rows: int = 0
    digest: float = 0.0
    vacuum: float = 0.0
    winners: int = 0
    queue_size: int = 0


def rules_for(first_day: date) -> ProgramRules:
    # launched 13 months before the first round day: payouts are possible (min_months_before_payouts = 12)
    return ProgramRules(launch_date=first_day - timedelta(days=395))


def deps_at(sessions: Any, rules: ProgramRules, now: datetime) -> Deps:
    clock = FakeClock(now)
    return Deps(
        uow=lambda: SqlUnitOfWork(sessions, clock=clock),
        tasks=FakeTaskQueue(),
        clock=clock,
        rules=RulesHistory.of(rules),
        payouts=PayoutServices(box=AesGcmSecretBox(derive_key("b" * 32, "payout")), random=SystemRandom()),
        new_id=uuid7,
    )


async def prepare(deps: Deps, rules: ProgramRules, conn: asyncpg.Connection, *, verify: int) -> list[int]:
    """Verify the first ``verify`` ACTIVE members, top the fund up to 2.5 rewards, record a fresh reconciliation."""
    now = deps.clock.now()
    front = await conn.fetch(FRONT_SQL, verify)
    async with deps.uow() as uow:
        for row in front:
            stored = await uow.kyc.get_or_create(row["account_id"], at=now)
            fingerprint = hashlib.sha256(f"bench-round:{row['account_id']}".encode()).hexdigest()
            record = replace(
                stored.record,
                status=KycStatus.VERIFIED,
                verified_at=now - timedelta(days=1),
                status_at=now - timedelta(days=1),
                date_of_birth=date(1980, 1, 1),
                country="US",
                fingerprint=fingerprint,
            )
            await uow.kyc.save(StoredKyc(account_id=row["account_id"], record=record), at=now)
        target = Money(cents=rules.reward.cents * FUND_REWARDS_X2 // 2, currency=rules.reward.currency)
        fund = await uow.ledger.balance(Account.FUND, rules.reward.currency)
        if fund < target:
            top_up = Money(cents=target.cents - fund.cents, currency=target.currency)
            await uow.ledger.post(
                payment_received(
                    invoice_id=f"bench-round-{now.date().isoformat()}-{uuid7().hex}",
                    split=split_payment(top_up, rules),
                    at=now - timedelta(minutes=2),
                )
            )
        await uow.billing.record_reconciliation(
            kind=RECONCILE_KIND,
            started_at=now - timedelta(minutes=2),
            finished_at=now - timedelta(minutes=1),
            ok=True,
            drift_cents=0,
            detail={},
        )
        await uow.commit()
    return [int(row["member_number"]) for row in front]


async def window_query(conn: asyncpg.Connection) -> tuple[float, float, int]:
    """The bare window query: server-side execution (s), fetched to the client (s), rows."""
    plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {WINDOW_SQL}"))[0]
    started = time.perf_counter()
    rows = await conn.fetch(WINDOW_SQL)
    return float(plan["Execution Time"]) / 1000, time.perf_counter() - started, len(rows)


async def pieces(deps: Deps, rules: ProgramRules, rep: Repetition) -> None:
    """The walk, the snapshot INSERT … SELECT and the streaming digest alone, in one transaction, rolled back."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        fund = await uow.ledger.balance(Account.FUND, rules.reward.currency)
        wanted = max(1, fund // rules.reward)  # after the round the fund is 0.5 reward: walk as if for 2 winners
        wanted = max(wanted, FUND_REWARDS_X2 // 2)
        started = time.perf_counter()
        verdicts = await rounds._walk(uow, now=now, rules=rules, wanted=wanted)
        rep.walk, rep.walked = time.perf_counter() - started, len(verdicts)
        round_id = uuid7()
        started = time.perf_counter()
        rep.snapshot_rows = await uow.payouts.snapshot_queue(
            round_id, verdicts=verdicts, unchecked_reason=rounds.NOT_REACHED
        )
        rep.snapshot = time.perf_counter() - started
        started = time.perf_counter()
        await rounds._digest(uow, round_id)
        rep.digest = time.perf_counter() - started
        # no commit: leaving the unit of work rolls back


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


async def run(url: str, repeat: int, verify: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), command_timeout=900)
    engine = create_engine(url, pool_size=2)
    timer = StatementTimer()
    timer.attach(engine.sync_engine)
    sessions = session_factory(engine)
    reps: list[Repetition] = []
    try:
        await conn.execute("SET max_parallel_workers_per_gather = 0")  # as bench.queue_plans: comparable
        n = int(await conn.fetchval("SELECT size FROM queue_head WHERE id = 1"))
        last = await conn.fetchval("SELECT max(round_key) FROM payout_rounds")
        first_day = max(SEEDED_AT.date() + timedelta(days=1), (last + timedelta(days=1)) if last else date.min)
        rules = rules_for(first_day)
        load = loadavg()
        log(
            f"round evaluation at N = {n:,} queue members; {repeat} repetition(s) from {first_day}; "
            f"reward {rules.reward}, fund 2.5 × reward; load average {load}"
        )
        started = time.perf_counter()
        await conn.fetchval(f"SELECT count(*) FROM ({WINDOW_SQL}) AS w")  # warm the table and index
        log(f"warm-up window query {ms(time.perf_counter() - started)}")
        for i in range(repeat):
            day = first_day + timedelta(days=i)
            rep = Repetition(day=day)
            deps = deps_at(sessions, rules, datetime.combine(day, EVALUATED_AT))
            started = time.perf_counter()
            rep.front = await prepare(deps, rules, conn, verify=verify)
            rep.prepare = time.perf_counter() - started
            log(f"[{i + 1}/{repeat}] {day}: front verified (member numbers {rep.front}) in {ms(rep.prepare)}")
            rep.window, rep.window_fetch, rows = await window_query(conn)
            log(
                f"[{i + 1}/{repeat}] window query {ms(rep.window)} server-side, {ms(rep.window_fetch)} fetched "
                f"({rows:,} rows)"
            )
            timer.on = True
            started = time.perf_counter()
            result = await rounds.evaluate(deps, triggered_by=rounds.CRON_ACTOR)
            rep.evaluate = time.perf_counter() - started
            timer.on = False
            rep.statements = timer.take()
            if result.outcome != "round_opened":
                raise SystemExit(f"no round on {day}: {result.outcome} {result.blockers}")
            rep.winners = len(result.winners)
            rep.queue_size = int(await conn.fetchval("SELECT queue_size FROM payout_rounds WHERE round_key = $1", day))
            db = sum(sum(v) for v in rep.statements.values())
            log(
                f"[{i + 1}/{repeat}] evaluate: {result.outcome}, {rep.winners} winners, snapshot of "
                f"{rep.queue_size:,} in {ms(rep.evaluate)} ({ms(db)} in {sum(map(len, rep.statements.values()))} "
                "statements)"
            )
            await pieces(deps, rules, rep)
            log(
                f"[{i + 1}/{repeat}] alone (rolled back): walk {ms(rep.walk)} ({rep.walked} checked), "
                f"snapshot_queue {ms(rep.snapshot)} ({rep.snapshot_rows:,} rows), _digest {ms(rep.digest)}"
            )
            started = time.perf_counter()
            await conn.execute("VACUUM ANALYZE round_entries, round_verdicts")
            rep.vacuum = time.perf_counter() - started
            log(f"[{i + 1}/{repeat}] VACUUM ANALYZE round_entries, round_verdicts (not timed above) {ms(rep.vacuum)}")
            reps.append(rep)
        deps = deps_at(sessions, rules, datetime.combine(reps[-1].day, EVALUATED_AT) + timedelta(hours=1))
        started = time.perf_counter()
        check = await rounds.verify_round(deps, reps[-1].day)
        verify_s = time.perf_counter() - started
        log(
            f"verify_round({reps[-1].day}): {'ok' if check.ok else 'PROBLEMS ' + repr(check.problems)}, "
            f"{check.entries:,} entries, {ms(verify_s)}"
        )
        report(reps, verify_s, check.ok, n)
        log(f"load average after: {loadavg()}")
    finally:
        await conn.close()
        await engine.dispose()


def report(reps: list[Repetition], verify_s: float, verify_ok: bool, n: int) -> None:
    med = {
        name: statistics.median(getattr(r, name) for r in reps)
        for name in ("window", "window_fetch", "evaluate", "walk", "snapshot", "digest", "prepare")
    }
    w = med["window"]
    log("")
    log(f"Medians of {len(reps)} (N = {n:,}); ratios against the bare window query, server-side:")
    log(f"| {'what':<52} | {'median':>10} | {'× window':>8} | raw (s) |")
    log(f"|{'-' * 54}|{'-' * 12}|{'-' * 10}|---------|")
    rows = [
        ("bare window query, server-side (baseline)", "window"),
        ("bare window query, fetched to the client", "window_fetch"),
        ("evaluate() whole, committed", "evaluate"),
        ("  eligibility walk alone (_walk)", "walk"),
        ("  snapshot_queue alone (one INSERT … SELECT)", "snapshot"),
        ("  _digest alone (stream 1M entries, Merkle root)", "digest"),
    ]
    for label, name in rows:
        raw = ", ".join(f"{getattr(r, name):.3f}" for r in reps)
        log(f"| {label:<52} | {med[name]:>8.3f} s | {med[name] / w:>7.1f}× | {raw} |")
    log(
        f"| {'verify_round() of the last round (once)':<52} | {verify_s:>8.3f} s | {verify_s / w:>7.1f}× | "
        f"{'ok' if verify_ok else 'NOT OK'} |"
    )
    log("")
    log("Database time inside evaluate() by statement (median over repetitions of the per-statement total):")
    keys = {k for r in reps for k in r.statements}
    per = {k: statistics.median(sum(r.statements.get(k, [0.0])) for r in reps) for k in keys}
    calls = {k: statistics.median(len(r.statements.get(k, [])) for r in reps) for k in keys}
    for key in sorted(per, key=per.get, reverse=True)[:10]:  # type: ignore[arg-type]
        log(f"  {per[key] * 1000:>9.1f} ms  {calls[key]:>6.0f}×  {key}")
    db = statistics.median(sum(sum(v) for v in r.statements.values()) for r in reps)
    log(f"  all statements: {db:.3f} s of the {med['evaluate']:.3f} s median (the rest: Python, COMMIT, pool)")
    log("")
    log(
        "raw: "
        + json.dumps(
            [
                {
                    "day": r.day.isoformat(),
                    "front": r.front,
                    "prepare_s": round(r.prepare, 4),
                    "window_s": round(r.window, 4),
                    "window_fetch_s": round(r.window_fetch, 4),
                    "evaluate_s": round(r.evaluate, 4),
                    "evaluate_db_s": round(sum(sum(v) for v in r.statements.values()), 4),
                    "walk_s": round(r.walk, 4),
                    "walked": r.walked,
                    "snapshot_s": round(r.snapshot, 4),
                    "snapshot_rows": r.snapshot_rows,
                    "digest_s": round(r.digest, 4),
                    "vacuum_s": round(r.vacuum, 4),
                    "winners": r.winners,
                    "queue_size": r.queue_size,
                }
                for r in reps
            ]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="P3: a real round's evaluation at 1M members",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dsn", default=database_url("tenure_bench"), help="SQLAlchemy URL of the seeded database")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (one round each, a day apart)")
    parser.add_argument("--verify", type=int, default=5, help="front members given a verified KYC per repetition")
    args = parser.parse_args()
    asyncio.run(run(args.dsn, args.repeat, args.verify))


if __name__ == "__main__":
    main()
