"""End-to-end fixtures: the real app over this run's PostgreSQL and Redis, reached through an
`https://` base URL so `Secure` cookies flow as they do in production."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.bootstrap import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import FakeClock

if TYPE_CHECKING:
    from adapters.email.sandbox import SandboxEmailSender

BASE_URL = "https://tenure.test"


@pytest.fixture
def app(test_settings: Settings) -> Litestar:
    return create_app(test_settings)


CSRF_COOKIE = "__Host-csrftoken"
CSRF_HEADER = "x-csrftoken"


async def prime_csrf(client: AsyncTestClient[Litestar]) -> str:
    """Do what the SPA does: fetch the CSRF cookie once, then echo it in a header on unsafe requests."""
    response = await client.get("/api/auth/csrf")
    assert response.status_code == 204, response.text
    token = client.cookies[CSRF_COOKIE]
    client.headers[CSRF_HEADER] = token
    return token


@asynccontextmanager
async def open_client(app: Litestar, *, csrf: bool = True) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        if csrf:
            await prime_csrf(client)
        yield client


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with open_client(app) as client:
        yield client


@pytest.fixture(scope="session")
async def worker(test_settings: Settings) -> AsyncIterator[None]:
    """A real SAQ worker on this run's Redis queue with its own container (engine, Redis clients), as the
    separate `tenure worker` process has in production. The test client runs the app in another loop."""
    container = build_container(test_settings)
    await container.start()
    saq_worker = container.saq_worker()
    running = asyncio.create_task(saq_worker.start())
    yield
    await saq_worker.stop()
    await running
    await container.stop()


@pytest.fixture
def mailbox(test_settings: Settings) -> "SandboxEmailSender":
    """The sandbox email outbox, read the way a developer would (codes arrive here in dev and tests)."""
    from adapters.email.sandbox import SandboxEmailSender
    from adapters.sql.engine import create_engine, session_factory
    from adapters.system.clock import SystemClock

    return SandboxEmailSender(
        session_factory(create_engine(test_settings.database_url)), SystemClock(), production=False
    )


@pytest.fixture
def clock() -> FakeClock:
    now = datetime.now(UTC).replace(microsecond=0)
    return FakeClock(now - timedelta(seconds=now.second % 30))  # exactly on a TOTP step boundary


@pytest.fixture
def container(test_settings: Settings, clock: FakeClock) -> Container:
    return build_container(test_settings, clock=clock)


@pytest.fixture
def frozen_app(container: Container) -> Litestar:
    return create_app(container=container)
