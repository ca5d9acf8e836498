"""Per-address throttling of code checks and password-reset requests, through the use cases on the real
PostgreSQL database and Redis rate limiter. Each test uses its own client address."""

import random
from collections.abc import AsyncIterator

import pytest

from entrypoints.bootstrap import build_container
from entrypoints.settings import Settings
from ports.usecases import auth, credentials
from ports.usecases.auth import Client
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidCode, Throttled


@pytest.fixture
async def deps(test_settings: Settings) -> AsyncIterator[Deps]:
    container = build_container(test_settings)
    await container.start()
    yield container.deps
    await container.stop()


@pytest.fixture
def client() -> Client:
    return Client(ip=f"198.51.100.{random.randint(1, 254)}:{random.randint(1, 10**9)}", user_agent="test")


async def test_the_21st_reset_request_from_one_address_is_throttled(deps: Deps, client: Client) -> None:
    for n in range(20):
        await credentials.request_password_reset(deps, email=f"someone{n}@example.com", client=client)
    with pytest.raises(Throttled) as excinfo:
        await credentials.request_password_reset(deps, email="one.more@example.com", client=client)
    assert excinfo.value.retry_after.total_seconds() >= 1
    other = Client(ip=f"{client.ip}-other")
    await credentials.request_password_reset(deps, email="someone0@example.com", client=other)


async def test_code_guessing_across_many_accounts_from_one_address_is_throttled(deps: Deps, client: Client) -> None:
    for n in range(100):
        with pytest.raises(InvalidCode):
            await auth.verify_email(deps, email=f"guess{n}@example.com", code="123456", client=client)
    with pytest.raises(Throttled):
        await auth.verify_email(deps, email="guess100@example.com", code="123456", client=client)
