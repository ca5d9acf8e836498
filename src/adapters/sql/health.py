"""Readiness probes for the database: reachable, and its schema at the migrations' head."""

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

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
