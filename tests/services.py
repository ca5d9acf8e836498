"""The real services the integration and end-to-end layers run against, and the pre-flight check.

URLs come from the environment (defaults: the machine's local services). Each test run creates its own
PostgreSQL database and namespaces its Redis keys with a run id, and removes both at the end.
"""

import asyncio
import os
import secrets
import sys

import asyncpg
from redis.asyncio import Redis

PG_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = f"{os.getpid()}_{secrets.token_hex(4)}"

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no",
}


def asyncpg_to_sqlalchemy(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


def database_dsn(name: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{name}"


async def _check_postgres() -> str | None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {PG_ADMIN_DSN} is unreachable ({type(exc).__name__}: {exc})"
    return None


async def _check_redis() -> str | None:
    redis = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await redis.ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} is unreachable ({type(exc).__name__}: {exc})"
    finally:
        await redis.aclose()
    return None


def unreachable_services() -> list[str]:
    async def check() -> list[str | None]:
        return list(await asyncio.gather(_check_postgres(), _check_redis()))

    problems = [p for p in asyncio.run(check()) if p]
    return [
        f"{p}\n    start it with: {HOW_TO_START['PostgreSQL' if p.startswith('PostgreSQL') else 'Redis']}"
        for p in problems
    ]


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


async def delete_redis_keys(pattern: str) -> int:
    redis = Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        async for key in redis.scan_iter(match=pattern, count=500):
            deleted += await redis.delete(key)
    finally:
        await redis.aclose()
    return deleted


if __name__ == "__main__":
    # `python -m tests.services`: the pre-flight `make test` runs before anything else.
    problems = unreachable_services()
    if problems:
        print("make test needs real PostgreSQL and Redis; not running any test:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        sys.exit(3)
    print(f"services ok: PostgreSQL ({PG_ADMIN_DSN}), Redis ({REDIS_URL})")
