"""Root test configuration: layer markers by folder, Hypothesis profiles, and the real-service fixtures.

Layers: tests/unit (no I/O), tests/integration and tests/e2e (real PostgreSQL and Redis), tests/sqlite
(the embedded default). If a run includes a layer that needs services and they are unreachable, the run
stops at once saying which service and how to start it; it never silently skips.
"""

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from tests import services

if TYPE_CHECKING:
    from entrypoints.settings import Settings

# "ci" is bounded so `make test` stays within its time budget on a 2-core box; "thorough" is for
# hunting (HYPOTHESIS_PROFILE=thorough). Deadlines are off: timing belongs in bench/, not in tests.
settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TESTS = Path(__file__).parent
LAYERS = {"unit": "unit", "integration": "integration", "e2e": "e2e", "sqlite": "sqlite"}
NEEDS_SERVICES = {"integration", "e2e"}
_fresh = itertools.count()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    layers = set()
    for item in items:
        layer = LAYERS.get(item.path.relative_to(TESTS).parts[0])
        if layer:
            item.add_marker(getattr(pytest.mark, layer))
            layers.add(layer)
    if layers & NEEDS_SERVICES and not config.option.collectonly:
        problems = services.unreachable_services()
        if problems:
            pytest.exit("real services are required:\n  " + "\n  ".join(problems), returncode=3)


@pytest.fixture(scope="session")
def run_id() -> str:
    return services.RUN_ID


@pytest.fixture(scope="session")
async def pg_database(run_id: str) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for this run (SQLAlchemy URL); dropped at the end."""
    from adapters.sql import migrations

    name = f"tenure_test_{run_id}"
    await services.create_database(name)
    url = services.asyncpg_to_sqlalchemy(services.database_dsn(name))
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        yield url
    finally:
        await services.drop_database(name)


@pytest.fixture(scope="session")
async def redis_namespace(run_id: str) -> AsyncIterator[str]:
    """A Redis key namespace (used as the SAQ queue name) private to this run; its keys are removed after."""
    namespace = f"tenure-test-{run_id}"
    yield namespace
    await services.delete_redis_keys(f"saq:{namespace}*")
    await services.delete_redis_keys(f"{namespace}*")


@pytest.fixture(scope="session")
def test_settings(pg_database: str, redis_namespace: str) -> "Settings":
    """Settings of the `test` profile pointing at this run's database and Redis namespace."""
    from entrypoints.settings import load_settings

    return load_settings(
        {
            "TENURE_ENV": "test",
            "TENURE_DATABASE_URL": pg_database,
            "TENURE_REDIS_URL": services.REDIS_URL,
            "TENURE_QUEUE_NAME": redis_namespace,
        }
    )


@pytest.fixture(scope="session")
async def engine(pg_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_database, pool_size=10)
    yield engine
    await engine.dispose()


@pytest.fixture
def make_uow(engine: AsyncEngine) -> Callable[..., SqlUnitOfWork]:
    sessions = session_factory(engine)

    def make(on_events_committed: Callable[[], Awaitable[None]] | None = None) -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, clock=SystemClock(), on_events_committed=on_events_committed)

    return make


@pytest.fixture
async def fresh_database(run_id: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database (no migrations applied), dropped after the test."""
    name = f"tenure_fresh_{run_id}_{next(_fresh)}"
    await services.create_database(name)
    try:
        yield services.asyncpg_to_sqlalchemy(services.database_dsn(name))
    finally:
        await services.drop_database(name)
