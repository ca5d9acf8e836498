"""End-to-end fixtures: the real app over this run's PostgreSQL and Redis, reached through an
`https://` base URL so `Secure` cookies flow as they do in production."""

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.settings import Settings

BASE_URL = "https://tenure.test"


@pytest.fixture
def app(test_settings: Settings) -> Litestar:
    return create_app(test_settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        yield client
