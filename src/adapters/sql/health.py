"""Readiness probes for the database: reachable, and its schema at the migrations' head."""

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ports.outbound.clock import Clock
from ports.outbound.errors import ComponentUnavailable


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc.__cause__ or exc
    return f"{type(orig).__name__}: {orig}".splitlines()[0][:200]


class DatabaseProbe:
    component = "database"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise ComponentUnavailable(self.component, _describe(exc)) from exc


class MigrationsProbe:
    """Fails while the database is behind (or ahead of) the code's migration head."""

    component = "migrations"

    def __init__(self, engine: AsyncEngine, head: str) -> None:
        self._engine = engine
        self._head = head

    async def check(self) -> None:
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        except (SQLAlchemyError, OSError) as exc:
            raise ComponentUnavailable(self.component, f"cannot read alembic_version ({_describe(exc)})") from exc
        if list(rows) != [self._head]:
            current = ", ".join(rows) or "empty"
            raise ComponentUnavailable(self.component, f"database at {current}, code expects {self._head}")


class ClockSkewProbe:
    """Fails when this process's clock and PostgreSQL's disagree by more than `max_skew`. Sessions, TOTP steps,
    challenges, webhook timestamps and grace periods all read this process's clock while the database stamps rows
    with its own; API and worker processes on several machines must agree (RELIABILITY.md 14, issue 11).
    The comparison allows for the round trip. SQLite runs in this process, on this clock: nothing to compare."""

    component = "clock"

    def __init__(self, engine: AsyncEngine, clock: Clock, *, max_skew: timedelta = timedelta(seconds=2)) -> None:
        self._engine = engine
        self._clock = clock
        self._max_skew = max_skew

    async def check(self) -> None:
        if self._engine.dialect.name != "postgresql":
            return
        try:
            async with self._engine.connect() as conn:
                before = self._clock.now()
                database_now = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
                after = self._clock.now()
        except (SQLAlchemyError, OSError) as exc:
            raise ComponentUnavailable(self.component, f"cannot read the database clock ({_describe(exc)})") from exc
        round_trip = after - before
        skew = database_now - (before + round_trip / 2)
        if abs(skew) > self._max_skew + round_trip / 2:
            raise ComponentUnavailable(
                self.component, f"this clock is {-skew.total_seconds():+.1f} s off the database's (NTP?)"
            )
