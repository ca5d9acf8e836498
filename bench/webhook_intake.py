"""P6 (shared/spec/PERFORMANCE.md): Stripe webhook intake throughput, replays, and no double-applied events.

    cd /work/main && .venv/bin/python -m bench.webhook_intake        # ≈ 2-3 minutes, loopback only

Needs PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379) as for `make test`, and
`wrk` (Debian: `apt-get install wrk`). What it does, all bounded in time:

1. Creates a fresh database `tenure_bench_<run>`, migrates it to head, and picks a private Redis namespace
   (`TENURE_QUEUE_NAME=tenure_bench_<run>`).
2. Starts `tenure serve` (uvicorn, one process) with the real PostgreSQL + Redis/SAQ configuration and
   production logging (JSON, INFO), and `bench/hello.py` (a bare Litestar hello-world route on the same uvicorn
   settings). No job worker runs: stored events stay in the inbox.
3. Three rounds, each: hello-world (wrk, fixed duration) → a burst of N (default 20,000) NEW pre-signed Stripe
   `invoice.paid` events, each sent once → the same N events again (replays, re-signed with a fresh timestamp as
   Stripe does on a retry). wrk: 1 thread, 64 connections, `bench/webhook_intake.lua`. Events are signed right
   before each burst (the signature tolerance is 300 s).
4. Consistency: inbox rows == distinct events sent (per burst and in all), no event stored twice, every
   response 2xx, no replay acknowledged as new, and no event acknowledged as new twice.
5. Prints a table (medians of the 3 rounds), appends it to `bench/RESULTS.md`, drops the database and deletes
   the Redis keys. Exit status 0 only if every goal is met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LUA = BENCH / "webhook_intake.lua"
RESULTS = BENCH / "RESULTS.md"
VENV_BIN = Path(sys.executable).parent

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

GOAL_NEW_PER_S = 2000.0
GOAL_RATIO = 0.12


# ---------------------------------------------------------------------------------------------- events


def _invoice_template() -> str:
    """A realistic `invoice.paid` event as a JSON string with placeholders, from Stripe's example objects."""
    from tests.provider_fakes.stripe_fixtures import template

    invoice = template("invoice")
    line = invoice["lines"]["data"][0]
    line.update(
        id="il_@@INV@@",
        invoice="in_@@INV@@",
        amount=2500,
        description="Monthly dues",
        subscription="sub_@@INV@@",
        period={"start": "@@START@@", "end": "@@END@@"},
    )
    line["parent"] = {
        "invoice_item_details": None,
        "subscription_item_details": {
            "invoice_item": None,
            "proration": False,
            "proration_details": {"credited_items": None},
            "subscription": "sub_@@INV@@",
            "subscription_item": "si_@@INV@@",
        },
        "type": "subscription_item_details",
    }
    line["subtotal"] = 2500
    invoice.update(
        id="in_@@INV@@",
        customer="cus_@@INV@@",
        customer_email="member-@@INV@@@example.com",
        customer_name="Member @@INV@@",
        amount_due=2500,
        amount_paid=2500,
        amount_remaining=0,
        amount_overpaid=0,
        attempt_count=1,
        attempted=True,
        auto_advance=False,
        billing_reason="subscription_cycle",
        created="@@START@@",
        due_date=None,
        effective_at="@@START@@",
        from_invoice=None,
        last_finalization_error=None,
        hosted_invoice_url="https://invoice.stripe.com/i/acct_1Pgc/test_@@INV@@",
        invoice_pdf="https://pay.stripe.com/invoice/acct_1Pgc/test_@@INV@@/pdf",
        number="BENCH-@@INV@@",
        period_start="@@START@@",
        period_end="@@END@@",
        status="paid",
        status_transitions={
            "finalized_at": "@@START@@",
            "marked_uncollectible_at": None,
            "paid_at": "@@START@@",
            "voided_at": None,
        },
        subtotal=2500,
        subtotal_excluding_tax=2500,
        total=2500,
        total_excluding_tax=2500,
        webhooks_delivered_at="@@START@@",
        shipping_cost=None,
        parent={
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": "sub_@@INV@@"},
            "type": "subscription_details",
        },
    )
    invoice["lines"]["url"] = "/v1/invoices/in_@@INV@@/lines"
    event = {
        "id": "evt_@@EVT@@",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": "@@START@@",
        "data": {"object": invoice},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "invoice.paid",
    }
    text = json.dumps(event, separators=(",", ":"))
    return text.replace('"@@START@@"', "@@START@@").replace('"@@END@@"', "@@END@@")


@dataclass
class Burst:
    """N distinct events (ids `evt_<tag><i>`), bodies fixed; signed again before each use."""

    tag: str
    bodies: list[bytes]
    sent: int = 0
    """How many of the events (the first ones) the new-events phase sent."""

    @property
    def ids(self) -> list[str]:
        return [f"evt_{self.tag}{i:07d}" for i in range(self.sent)]


def make_burst(tag: str, n: int) -> Burst:
    text = _invoice_template()
    now = int(time.time())
    bodies = []
    for i in range(n):
        key = f"{tag}{i:07d}"
        bodies.append(
            text.replace("@@EVT@@", key)
            .replace("@@INV@@", f"B{key}")
            .replace("@@START@@", str(now - 60))
            .replace("@@END@@", str(now - 60 + 2_592_000))
            .encode()
        )
    return Burst(tag=tag, bodies=bodies)


def write_signed(burst: Burst, secret: str, path: Path, first: int | None = None) -> int:
    """One line per event (the `first` ones): `t=…,v1=…<TAB>body`, signed now (the tolerance is 300 s)."""
    t = int(time.time())
    key = secret.encode()
    prefix = f"{t}.".encode()
    bodies = burst.bodies[:first]
    with path.open("wb") as out:
        for body in bodies:
            v1 = hmac.new(key, prefix + body, hashlib.sha256).hexdigest()
            out.write(f"t={t},v1={v1}\t".encode() + body + b"\n")
    return len(bodies)


# ---------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str


def start(name: str, argv: list[str], env: dict[str, str], log: Path, url: str, ready_path: str) -> Server:
    handle = log.open("wb")
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited at start-up ({proc.returncode}); see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + ready_path, timeout=2).status_code == 200:
                return Server(name=name, proc=proc, log=log, url=url)
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{name} not ready within 30 s; see {log}")


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@dataclass
class WrkResult:
    raw: dict[str, Any]

    @property
    def seconds(self) -> float:
        """A counted run: first request → COUNT-th answer or the time limit (wrk's own duration is always -d)."""
        if self.raw["stopped_us"]:
            return (self.raw["stopped_us"] - self.raw["started_us"]) / 1e6
        return self.raw["duration_us"] / 1e6

    @property
    def rps(self) -> float:
        count = self.raw["stopped_responses"] if self.raw["stopped_us"] else self.raw["responses"]
        return count / self.seconds

    @property
    def sent(self) -> int:
        """Events of the file that were sent (the first ones, each once, each answered before wrk stopped)."""
        return int(self.raw["events_issued"])

    @property
    def unanswered(self) -> int:
        return int(self.raw["events_issued"] - self.raw["event_responses"]) if self.raw["target"] else 0

    @property
    def p50_ms(self) -> float:
        return self.raw["latency_us"]["p50"] / 1000

    @property
    def p99_ms(self) -> float:
        return self.raw["latency_us"]["p99"] / 1000

    @property
    def socket_errors(self) -> int:
        return sum(v for k, v in self.raw["errors"].items() if k != "status")


def wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    events_file: Path | None = None,
    count: int = 0,
    limit_s: int = 0,
    database: str | None = None,
    profile: Path | None = None,
) -> WrkResult:
    """Run wrk with bench/webhook_intake.lua: for `seconds`, or (with `count`) until `count` responses, when
    the script prints BENCH_STOPPED and we end wrk with SIGINT (it then reports as usual); `limit_s` caps the
    sending time of a counted run."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url]
    if events_file is not None:
        argv += ["--", str(events_file), str(count), str(limit_s)]
    sessions_before = asyncio.run(pg_sessions(database)) if database else 0
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    spy = start_py_spy(profile) if profile else None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("BENCH_STOPPED"):
                proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            spy.wait(timeout=30)
    for line in lines:
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line.removeprefix("BENCH_JSON "))
            raw["target"] = count
            if database:
                time.sleep(0.6)  # statistics are flushed at most once a second
                raw["pg_sessions_opened"] = asyncio.run(pg_sessions(database)) - sessions_before
            return WrkResult(raw)
    stderr = proc.stderr.read() if proc.stderr else ""
    raise SystemExit(f"wrk failed ({proc.returncode}):\n{''.join(lines)}\n{stderr}")


PY_SPY_TARGET: dict[str, int] = {}  # {"pid": …} of the server being profiled


def start_py_spy(output: Path) -> subprocess.Popen[bytes]:
    """Sample the server while wrk runs (py-spy on PATH; collapsed stacks, summarised by `summarise_profile`)."""
    argv = ["py-spy", "record", "-p", str(PY_SPY_TARGET["pid"]), "-r", "250", "-f", "raw", "-o", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_profile(path: Path, top: int = 45) -> str:
    """Inclusive share of samples per function (file:line dropped), from py-spy's collapsed stacks."""
    total, inclusive = 0, Counter[str]()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}
        for frame in frames:
            inclusive[frame] += n
    rows = [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return f"{total} samples\n" + "\n".join(rows)


# ---------------------------------------------------------------------------------------------- database


async def create_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def pg_sessions(name: str) -> int:
    """Sessions ever opened to database `name` (pg_stat_database.sessions, PostgreSQL ≥ 14): the delta over a
    phase shows connection churn in the server's pool."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        return int(await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = $1", name) or 0)
    finally:
        await conn.close()


async def delete_redis_keys(namespace: str) -> int:
    redis = Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        for pattern in (f"saq:{namespace}*", f"{namespace}*"):
            async for key in redis.scan_iter(match=pattern, count=500):
                deleted += await redis.delete(key)
    finally:
        await redis.aclose()
    return deleted


async def count_redis_keys(namespace: str) -> int:
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = set()
        for pattern in (f"saq:{namespace}*", f"{namespace}*"):
            keys |= {k async for k in redis.scan_iter(match=pattern, count=500)}
        return len(keys)
    finally:
        await redis.aclose()


CONSISTENCY_SQL = """
SELECT count(*)                          AS rows,
       count(DISTINCT event_key)         AS distinct_keys,
       count(*) - count(DISTINCT event_key) AS duplicate_rows
FROM provider_inbox
WHERE provider = 'stripe'
"""


async def consistency(dsn: str, bursts: list[Burst], warmup: Burst) -> dict[str, Any]:
    """The consistency query: one inbox row per distinct event sent, none twice, none missing, none extra."""
    conn = await asyncpg.connect(dsn)
    try:
        totals = dict(await conn.fetchrow(CONSISTENCY_SQL))
        stored = {r["event_key"] for r in await conn.fetch("SELECT event_key FROM provider_inbox")}
        per_burst = []
        for burst in bursts:
            row = await conn.fetchrow(
                "SELECT count(*) AS rows, count(DISTINCT event_key) AS distinct_keys FROM provider_inbox "
                "WHERE provider = 'stripe' AND event_key LIKE $1",
                f"evt_{burst.tag}%",
            )
            per_burst.append({"tag": burst.tag, "size": len(burst.bodies), "sent": burst.sent, **dict(row)})
    finally:
        await conn.close()
    sent = set(warmup.ids)
    for burst in bursts:
        sent.update(burst.ids)
    return {
        **totals,
        "sent_distinct": len(sent),
        "missing": len(sent - stored),
        "unexpected": len(stored - sent),
        "per_burst": per_burst,
    }


# ---------------------------------------------------------------------------------------------- report


@dataclass
class Round:
    hello: WrkResult
    new: WrkResult
    replay: WrkResult


@dataclass
class Report:
    started: dt.datetime
    command: str
    events: int
    body_bytes: int
    connections: int
    rounds: list[Round] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    redis_keys: int = 0
    wall_s: float = 0.0
    source: str = ""
    load: str = ""
    profiles: dict[str, str] = field(default_factory=dict)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr).rps for r in self.rounds)

    def goals(self) -> list[tuple[str, str, bool]]:
        hello, new, replay = self.median("hello"), self.median("new"), self.median("replay")
        c = self.checks
        burst_ok = all(b["rows"] == b["sent"] == b["distinct_keys"] for b in c["per_burst"])
        first = c["per_burst"][0]
        return [
            (f"new events ≥ {GOAL_NEW_PER_S:,.0f}/s", f"{new:,.0f}/s", new >= GOAL_NEW_PER_S),
            (f"new events ≥ {GOAL_RATIO:.0%} of hello-world", f"{new / hello:.1%}", new / hello >= GOAL_RATIO),
            ("replays faster than new events", f"{replay:,.0f}/s vs {new:,.0f}/s", replay > new),
            (
                f"one {self.events:,}-event burst sent in full: inbox rows == events, each once",
                f"{first['sent']:,} of {first['size']:,} sent; {first['rows']:,} rows, "
                f"{first['distinct_keys']:,} distinct",
                first["sent"] == first["size"] == first["rows"] == first["distinct_keys"],
            ),
            (
                "every burst: inbox rows == events sent (rows/sent)",
                ", ".join(f"{b['rows']:,}/{b['sent']:,}" for b in c["per_burst"]),
                burst_ok,
            ),
            (
                "all: rows == distinct events sent, 0 duplicates, 0 missing, 0 unexpected",
                f"{c['rows']:,} rows, {c['sent_distinct']:,} sent, {c['duplicate_rows']} dup, "
                f"{c['missing']} missing, {c['unexpected']} unexpected",
                c["rows"] == c["sent_distinct"] == c["distinct_keys"]
                and c["duplicate_rows"] == c["missing"] == c["unexpected"] == 0,
            ),
            (
                "every event answered 2xx; no socket errors",
                f"{c['non2xx']} non-2xx, {c['socket_errors']} errors or unanswered",
                c["non2xx"] == 0 and c["socket_errors"] == 0,
            ),
            (
                "no replay acknowledged as new; no event acknowledged as new twice",
                f"{c['replay_new_acks']} in replays; {c['new_acks']:,} new acks ≤ {c['sent_distinct']:,}",
                c["replay_new_acks"] == 0 and c["new_acks"] <= c["sent_distinct"] and c["unclassified"] == 0,
            ),
        ]

    def table(self) -> str:
        rows = [
            "| round | hello-world req/s | new events/s | new ÷ hello | replays/s | replay ÷ new | "
            "new p50 / p99 ms | replay p50 / p99 ms | events sent | PG sessions opened (new / replay) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for i, r in enumerate(self.rounds, 1):
            rows.append(
                f"| {i} | {r.hello.rps:,.0f} | {r.new.rps:,.0f} | {r.new.rps / r.hello.rps:.1%} | "
                f"{r.replay.rps:,.0f} | {r.replay.rps / r.new.rps:.2f}× | "
                f"{r.new.p50_ms:.1f} / {r.new.p99_ms:.1f} | {r.replay.p50_ms:.1f} / {r.replay.p99_ms:.1f} | "
                f"{r.new.sent:,} | {r.new.raw.get('pg_sessions_opened', '?')} / "
                f"{r.replay.raw.get('pg_sessions_opened', '?')} |"
            )
        hello, new, replay = self.median("hello"), self.median("new"), self.median("replay")
        rows.append(
            f"| **median** | **{hello:,.0f}** | **{new:,.0f}** | **{new / hello:.1%}** | **{replay:,.0f}** | "
            f"**{replay / new:.2f}×** | | | | |"
        )
        return "\n".join(rows)

    def markdown(self) -> str:
        goals = self.goals()
        verdict = "PASS" if all(ok for *_, ok in goals) else "FAIL"
        lines = [
            f"## P6 webhook intake — {self.started:%Y-%m-%d %H:%M} UTC — {verdict}",
            "",
            f"- machine: {machine()}",
            f"- command: `{self.command}` (wall time {self.wall_s:.0f} s)",
            f"- source: {self.source}",
            f"- load average (1 min) before → after: {self.load} (other work on this 2-core box skews every number)",
            f"- load: wrk 1 thread, {self.connections} connections, loopback; {self.events:,} distinct pre-signed "
            f"`invoice.paid` events per burst ({self.body_bytes:,} B body); server `tenure serve` (uvicorn, 1 "
            "process, uvloop + httptools), PostgreSQL + Redis/SAQ, JSON logs at INFO; baseline `bench/hello.py` "
            "on the same uvicorn settings",
            "",
            self.table(),
            "",
            "| goal | measured | |",
            "|---|---|---|",
            *(f"| {goal} | {measured} | {'pass' if ok else '**FAIL**'} |" for goal, measured, ok in goals),
            "",
            f"Redis keys in the run's namespace after the run (informational; no worker ran): {self.redis_keys}.",
            "",
            *(
                line
                for name, summary in self.profiles.items()
                for line in (
                    f"<details><summary>py-spy {name}</summary>",
                    "",
                    "```",
                    summary,
                    "```",
                    "",
                    "</details>",
                    "",
                )
            ),
            "<details><summary>raw wrk numbers (JSON)</summary>",
            "",
            "```json",
            json.dumps([{k: v.raw for k, v in vars(r).items()} for r in self.rounds], indent=None),
            "```",
            "",
            "</details>",
            "",
        ]
        return "\n".join(lines)


RESULTS_HEADER = """# Benchmark results

Results of the benchmarks in `bench/` (see `bench/README.md` and `shared/spec/PERFORMANCE.md`). Each run
appends a section at the end: date, machine, command, raw numbers, ratio against the hello-world baseline
measured in the same run, and pass/fail against the goal. Analyses (profiles of a missed goal) are kept in
their own sections above the run log.

<!-- run log: sections below are appended by the bench scripts -->
"""


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def source_state() -> str:
    """The commit measured, and whether the work tree differed from it (read-only git commands)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "alembic"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = len(dirty.splitlines())
    return f"commit {head}" + (f" + {changed} uncommitted changes under src/ and alembic/" if changed else "")


def append_results(report: Report) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(RESULTS_HEADER + "\n")
    with RESULTS.open("a") as out:
        out.write(report.markdown() + "\n")


# ---------------------------------------------------------------------------------------------- main


def server_env(*, port: int, database_url: str, queue: str, webhook_secret: str, log_level: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env.update(
        PYTHONPATH=f"{ROOT / 'src'}:{ROOT}",
        TENURE_HOST="127.0.0.1",
        TENURE_PORT=str(port),
        TENURE_DATABASE_URL=database_url,
        TENURE_REDIS_URL=REDIS_URL,
        TENURE_QUEUE_BACKEND="saq",
        TENURE_QUEUE_NAME=queue,
        TENURE_SECRET_KEY=secrets.token_urlsafe(48),
        TENURE_STRIPE_WEBHOOK_SECRET=webhook_secret,
        TENURE_LOG_FORMAT="json",
        TENURE_LOG_LEVEL=log_level,
    )
    return env


@contextlib.contextmanager
def bench_database(name: str, keep: bool) -> Iterator[str]:
    asyncio.run(create_database(name))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        if not keep:
            asyncio.run(drop_database(name))


def run(args: argparse.Namespace) -> Report:
    started = time.monotonic()
    run_id = secrets.token_hex(4)
    name = f"tenure_bench_{run_id}"
    webhook_secret = "whsec_bench_" + secrets.token_hex(16)
    command = " ".join([".venv/bin/python -m bench.webhook_intake", *sys.argv[1:]])
    report = Report(
        started=dt.datetime.now(dt.UTC),
        command=command,
        events=args.events,
        body_bytes=0,
        connections=args.connections,
    )
    report.source = source_state()
    load_before = os.getloadavg()[0]
    out = Path(tempfile.mkdtemp(prefix=f"{name}_"))
    print(f"run {run_id}: database {name}, Redis namespace {name}, logs and event files in {out}")
    with bench_database(name, args.keep) as database_url:
        from adapters.sql.migrations import upgrade

        upgrade(database_url)
        print("migrated")
        port, hello_port = free_port(), free_port()
        env = server_env(
            port=port, database_url=database_url, queue=name, webhook_secret=webhook_secret, log_level=args.log_level
        )
        servers: list[Server] = []
        bursts: list[Burst] = []
        try:
            servers.append(
                start(
                    "tenure serve",
                    [str(VENV_BIN / "tenure"), "serve"],
                    env,
                    out / "tenure.log",
                    f"http://127.0.0.1:{port}",
                    "/health/ready",
                )
            )
            servers.append(
                start(
                    "hello-world",
                    [sys.executable, "-m", "bench.hello", "--port", str(hello_port)],
                    {k: v for k, v in env.items() if not k.startswith("TENURE_")},
                    out / "hello.log",
                    f"http://127.0.0.1:{hello_port}",
                    "/",
                )
            )
            tenure_url, hello_url = servers[0].url, servers[1].url

            if args.py_spy:
                PY_SPY_TARGET["pid"] = servers[0].proc.pid

            # warm-up: fills the connection pool and code paths; its events count in the consistency check
            warmup = make_burst(f"1W{run_id}", 2000)
            events_file = out / "events.tsv"
            write_signed(warmup, webhook_secret, events_file)
            w = wrk(tenure_url, connections=args.connections, seconds=60, events_file=events_file, count=2000)
            warmup.sent = w.sent
            socket_errors_warmup = w.unanswered
            wrk(hello_url, connections=args.connections, seconds=2)
            print(f"warm-up: {w.rps:,.0f} new events/s")
            non2xx, socket_errors = w.raw["non2xx"], w.socket_errors + socket_errors_warmup
            new_acks, replay_new_acks, unclassified = w.raw["new_acks"], 0, w.raw["unclassified"]

            for i in range(args.runs):
                burst = make_burst(f"1B{run_id}{i}", args.events)
                report.body_bytes = int(statistics.median(len(b) for b in burst.bodies))
                bursts.append(burst)
                hello = wrk(hello_url, connections=args.connections, seconds=args.hello_seconds)
                # the first burst is the 20k-burst check: sent in full (bounded by --burst-seconds); the others
                # are capped at --max-seconds of sending to bound the run
                limit = args.burst_seconds if i == 0 else args.max_seconds
                write_signed(burst, webhook_secret, events_file)
                profile = out / f"py-spy-new-{i + 1}.txt" if args.py_spy and i == 0 else None
                new = wrk(
                    tenure_url,
                    connections=args.connections,
                    seconds=limit + 30,
                    events_file=events_file,
                    count=args.events,
                    limit_s=limit,
                    database=name,
                    profile=profile,
                )
                burst.sent = new.sent
                # replays of exactly the events sent, signed again as Stripe does on a retry
                write_signed(burst, webhook_secret, events_file, first=burst.sent)
                replay_profile = out / f"py-spy-replay-{i + 1}.txt" if args.py_spy and i == 0 else None
                replay = wrk(
                    tenure_url,
                    connections=args.connections,
                    seconds=args.max_seconds + 30,
                    events_file=events_file,
                    count=burst.sent,
                    limit_s=args.max_seconds,
                    database=name,
                    profile=replay_profile,
                )
                for phase in (new, replay):
                    non2xx += phase.raw["non2xx"]
                    socket_errors += phase.socket_errors + phase.unanswered
                    unclassified += phase.raw["unclassified"]
                new_acks += new.raw["new_acks"] + replay.raw["new_acks"]
                replay_new_acks += replay.raw["new_acks"]
                report.rounds.append(Round(hello=hello, new=new, replay=replay))
                (out / f"wrk-round-{i + 1}.json").write_text(
                    json.dumps({"hello": hello.raw, "new": new.raw, "replay": replay.raw}, indent=1)
                )
                print(
                    f"round {i + 1}: hello {hello.rps:,.0f} req/s, new {new.rps:,.0f} events/s "
                    f"({new.rps / hello.rps:.1%}; {burst.sent:,} of {args.events:,} sent), "
                    f"replay {replay.rps:,.0f} events/s; PostgreSQL sessions opened: "
                    f"{new.raw['pg_sessions_opened']} / {replay.raw['pg_sessions_opened']}"
                    + (f"; first error: {new.raw['first_error'] or replay.raw['first_error']}" if non2xx else "")
                )
                for path in (profile, replay_profile):
                    if path is not None and path.exists():
                        summary = summarise_profile(path)
                        report.profiles[path.name] = summary
                        print(f"--- {path.name}: {summary}")
        finally:
            for server in reversed(servers):
                stop(server)
        # the servers have stopped (graceful: in-flight requests finished), so the inbox is final
        report.checks = asyncio.run(consistency(database_url.replace("+asyncpg", ""), bursts, warmup))
        report.checks.update(
            non2xx=non2xx,
            socket_errors=socket_errors,
            new_acks=new_acks,
            replay_new_acks=replay_new_acks,
            unclassified=unclassified,
        )
        report.redis_keys = asyncio.run(count_redis_keys(name))
        if not args.keep:
            asyncio.run(delete_redis_keys(name))
            shutil.rmtree(out, ignore_errors=True)
    report.wall_s = time.monotonic() - started
    report.load = f"{load_before:.2f} → {os.getloadavg()[0]:.2f}"
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description="P6: Stripe webhook intake vs hello-world", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000, help="distinct events per burst (the 20k burst)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--hello-seconds", type=int, default=5, help="duration of each hello-world run")
    parser.add_argument("--burst-seconds", type=int, default=90, help="upper bound for the first (full) burst")
    parser.add_argument("--max-seconds", type=int, default=25, help="upper bound for every other phase")
    parser.add_argument("--py-spy", action="store_true", help="profile round 1 with py-spy (must be on PATH)")
    parser.add_argument("--log-level", default="INFO", help="TENURE_LOG_LEVEL of the server (production: INFO)")
    parser.add_argument("--keep", action="store_true", help="keep the database, Redis keys and files")
    parser.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it (Debian: apt-get install wrk)")
    if args.py_spy and shutil.which("py-spy") is None:
        raise SystemExit("--py-spy: py-spy not found on PATH (pip install py-spy, outside the project venv)")

    report = run(args)
    print()
    print(report.table())
    print()
    goals = report.goals()
    for goal, measured, ok in goals:
        print(f"{'PASS' if ok else 'FAIL'}  {goal}: {measured}")
    print(f"wall time {report.wall_s:.0f} s")
    if not args.no_results:
        append_results(report)
        print(f"appended to {RESULTS.relative_to(ROOT)}")
    sys.exit(0 if all(ok for *_, ok in goals) else 1)


if __name__ == "__main__":
    main()
