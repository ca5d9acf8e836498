"""P1 and P5 (shared/spec/PERFORMANCE.md): GET /api/queue/me and GET /api/dashboard under load vs hello-world.

    .venv/bin/python -m bench.seed_queue --members 1000000     # once (≈ 75 s): database tenure_bench + tokens
    .venv/bin/python -m bench.queue_load                       # ≈ 2 min, loopback only

Starts `tenure serve` (uvicorn, one process; PostgreSQL `tenure_bench`, Redis/SAQ, JSON logs at INFO — the
production-like configuration of bench/webhook_intake.py) and `bench/hello.py` beside it. Refreshes the seeded
sessions (so none is idle-expired), checks one request per route answers 200, warms up, then 3 rounds of:
hello-world → /api/queue/me → /api/dashboard (if the route exists), each `wrk -t1 -c64 -d<seconds>s` with
`bench/queue_load.lua` picking a random member session cookie per request (10,000 sessions of queue members
spread over every rank). Prints medians of the 3 rounds, ratios to hello-world and p99, and the goals.
`--py-spy` records the server during round 1 of each route (py-spy on PATH, e.g. /tmp/pyspy/bin).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import httpx

from bench.seed_queue import DEFAULT_TOKENS, database_url, refresh_sessions
from bench.webhook_intake import (
    PG_ADMIN_DSN,
    PY_SPY_TARGET,
    free_port,
    server_env,
    start,
    start_py_spy,
    stop,
    summarise_profile,
)

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "queue_load.lua"
GOALS = {"/api/queue/me": (0.30, 20.0), "/api/dashboard": (0.20, 30.0)}


def wrk(url: str, path: str, tokens: Path | None, *, connections: int, seconds: int, profile: Path | None = None):
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url]
    argv += ["--", path, str(tokens) if tokens else "-"]
    spy = start_py_spy(profile) if profile else None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line.removeprefix("BENCH_JSON "))
            raw["rps"] = raw["requests"] / (raw["duration_us"] / 1e6)
            return raw
    raise SystemExit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")


async def set_parallel(database: str, *, off: bool) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        if off:
            await conn.execute(f'ALTER DATABASE "{database}" SET max_parallel_workers_per_gather = 0')
        else:
            await conn.execute(f'ALTER DATABASE "{database}" RESET max_parallel_workers_per_gather')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="P1/P5: queue and dashboard reads vs hello-world",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--database", default="tenure_bench", help="seeded by bench.seed_queue")
    parser.add_argument("--tokens", type=Path, default=DEFAULT_TOKENS)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--py-spy", action="store_true", help="profile round 1 of each route (py-spy on PATH)")
    parser.add_argument(
        "--no-parallel",
        action="store_true",
        help="ALTER DATABASE … SET max_parallel_workers_per_gather = 0 for the run (reset after): a stand-in for the "
        "fix of the mid-rank misestimate in the position lookup (see RESULTS.md), not a production setting",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install wrk)")
    if not args.tokens.exists():
        raise SystemExit(f"{args.tokens} missing: run .venv/bin/python -m bench.seed_queue first")
    url = database_url(args.database)
    out = Path(tempfile.mkdtemp(prefix="tenure_queue_load_"))
    refreshed = asyncio.run(refresh_sessions(url))
    asyncio.run(set_parallel(args.database, off=args.no_parallel))
    print(f"{refreshed:,} sessions refreshed; logs in {out}; load average {os.getloadavg()[0]:.2f}")
    port, hello_port = free_port(), free_port()
    env = server_env(
        port=port,
        database_url=url,
        queue=f"tenure_bench_{secrets.token_hex(4)}",
        webhook_secret="whsec_bench_" + secrets.token_hex(16),
        log_level=args.log_level,
    )
    servers = []
    results: dict[str, list[dict]] = {}
    profiles: dict[str, str] = {}
    try:
        servers.append(
            start(
                "tenure serve",
                [str(Path(sys.executable).parent / "tenure"), "serve"],
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
        PY_SPY_TARGET["pid"] = servers[0].proc.pid
        tenure, hello = servers[0].url, servers[1].url
        token = args.tokens.read_text().split()[0]
        routes = []
        for path in GOALS:
            answer = httpx.get(tenure + path, cookies={"__Host-tenure_session": token}, timeout=10)
            if answer.status_code == 404:
                print(f"{path}: 404, not benchmarked")
                continue
            if answer.status_code != 200:
                raise SystemExit(f"{path}: {answer.status_code} {answer.text[:500]}")
            routes.append(path)
            print(f"{path}: 200, {len(answer.content)} bytes")
        for path in routes:  # warm-up: pool, caches, code paths
            wrk(tenure, path, args.tokens, connections=args.connections, seconds=3)
        wrk(hello, "/", None, connections=args.connections, seconds=2)
        for i in range(args.runs):
            line = []
            h = wrk(hello, "/", None, connections=args.connections, seconds=args.seconds)
            results.setdefault("hello", []).append(h)
            line.append(f"hello {h['rps']:,.0f}/s p99 {h['p99_us'] / 1000:.1f} ms")
            for path in routes:
                profile = out / f"py-spy-{path.strip('/').replace('/', '-')}.txt" if args.py_spy and i == 0 else None
                r = wrk(tenure, path, args.tokens, connections=args.connections, seconds=args.seconds, profile=profile)
                results.setdefault(path, []).append(r)
                line.append(
                    f"{path} {r['rps']:,.0f}/s ({r['rps'] / h['rps']:.1%}) p99 {r['p99_us'] / 1000:.1f} ms"
                    + (f" non-2xx {r['non2xx']}" if r["non2xx"] else "")
                )
                if profile is not None and profile.exists():
                    profiles[path] = summarise_profile(profile)
            print(f"round {i + 1}: " + "; ".join(line))
    finally:
        for server in reversed(servers):
            stop(server)
        asyncio.run(set_parallel(args.database, off=False))
    hello_rps = statistics.median(r["rps"] for r in results["hello"])
    print(f"\nmedians of {args.runs} (wrk -t1 -c{args.connections} -d{args.seconds}s):")
    print(f"  {'route':<16} {'req/s':>8} {'÷ hello':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8}")
    print(
        f"  {'hello-world':<16} {hello_rps:>8,.0f} {'':>8} "
        f"{statistics.median(r['p50_us'] for r in results['hello']) / 1000:>7.1f} "
        f"{statistics.median(r['p99_us'] for r in results['hello']) / 1000:>7.1f}"
    )
    ok = True
    for path in routes:
        rps = statistics.median(r["rps"] for r in results[path])
        p50 = statistics.median(r["p50_us"] for r in results[path]) / 1000
        p99 = statistics.median(r["p99_us"] for r in results[path]) / 1000
        non2xx = sum(r["non2xx"] for r in results[path])
        ratios = [r["rps"] / h["rps"] for r, h in zip(results[path], results["hello"], strict=True)]
        print(
            f"  {path:<16} {rps:>8,.0f} {rps / hello_rps:>8.1%} {p50:>7.1f} {p99:>7.1f} {non2xx:>8}"
            f"   (per-round ratios {', '.join(f'{x:.1%}' for x in ratios)})"
        )
        ratio_goal, p99_goal = GOALS[path]
        met = rps / hello_rps >= ratio_goal and p99 <= p99_goal and non2xx == 0
        ok &= met
        print(f"  {'PASS' if met else 'FAIL'}  {path}: ≥ {ratio_goal:.0%} of hello-world and p99 ≤ {p99_goal:.0f} ms")
    for path, summary in profiles.items():
        print(f"\n--- py-spy, {path}: {summary}")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nraw wrk results: {out / 'results.json'}; load average {os.getloadavg()[0]:.2f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
