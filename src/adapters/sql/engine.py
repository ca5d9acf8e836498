"""Engine construction: the same code path for PostgreSQL (asyncpg) and the embedded SQLite default."""

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the in-process runner writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10, connect_timeout_s: float = 5.0, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, echo=echo, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,  # error messages and logs never carry values (emails, codes, personal data)
        pool_size=pool_size,
        max_overflow=0,  # a fixed pool: overflow connections were opened and closed under every burst
        # No pre-ping (a round trip per transaction on the hottest paths): a connection that died with a database
        # restart fails its one request with a retryable 503, is invalidated, and the pool reconnects.
        pool_recycle=1800,
        pool_timeout=connect_timeout_s,
        connect_args={"timeout": connect_timeout_s, "command_timeout": 30},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def ensure_sqlite_directory(url: str) -> None:
    """The embedded default keeps its database under `var/`; create the folder on first use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def dialect_insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, for `on_conflict_do_nothing` / `on_conflict_do_update` on both databases."""
    assert session.bind is not None
    return sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert
