"""RELIABILITY.md 14 with real services cut under a serving app (issue 11): PostgreSQL behind a loopback TCP proxy
the test cuts, and a private `redis-server` on a random port the test stops. Requests fail fast with a 503 problem
and Retry-After, nothing answers 500, and the same app recovers once the service is back, without a restart.
The machine's shared PostgreSQL and Redis are never touched."""

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import BASE_URL
from tests.helpers import eventually, free_port

PROBLEM = "application/problem+json"
FAST_S = 6.0
"""A request to a dead dependency must answer within this (the database connect timeout is 5 s)."""


class LoopbackProxy:
    """A TCP proxy on 127.0.0.1 in a thread (and event loop) of its own: the test client blocks the test's loop
    while the app serves a request, so a proxy in that loop could not forward it. `cut()` closes the listener and
    every open connection; `restore()` listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self.restore()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._close())

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._open.update({client_writer, upstream_writer})

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()
            self._open.discard(writer)

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


@pytest.fixture
def pg_proxy() -> Iterator[LoopbackProxy]:
    proxy = LoopbackProxy(5432)
    proxy.start()
    yield proxy
    proxy.stop()


class PrivateRedis:
    """A `redis-server` of the test's own on a random loopback port, stopped and started again by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed (installed by .ci/run)"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(create_app(settings), base_url=BASE_URL) as client:
        response = await client.get("/api/auth/csrf")
        client.headers["x-csrftoken"] = client.cookies["__Host-csrftoken"]
        assert response.status_code == 204
        yield client


async def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


def assert_unavailable(response: Any, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert int(response.headers["retry-after"]) >= 1
    assert elapsed < FAST_S, f"took {elapsed:.1f} s: a dead dependency must fail fast"


async def test_a_cut_database_answers_503_fast_and_recovers_without_a_restart(
    test_settings: Settings, pg_proxy: LoopbackProxy
) -> None:
    url = test_settings.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_proxy.port}")
    assert url != test_settings.database_url
    settings = msgspec.structs.replace(test_settings, database_url=url)
    sign_in = {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "not the password at all"}
    async with serving(settings) as client:
        assert (await client.post("/api/auth/sign-in", json=sign_in)).status_code == 401
        assert (await client.get("/health/ready")).status_code == 200

        pg_proxy.cut()
        for _ in range(3):  # pooled connections are dead, new ones are refused: every request answers 503
            response, elapsed = await timed(client.post("/api/auth/sign-in", json=sign_in))
            assert_unavailable(response, elapsed)
            assert response.json()["code"] == "service_unavailable"
        ready, elapsed = await timed(client.get("/health/ready"))
        assert ready.status_code == 503
        assert "database" in ready.json()["detail"]

        pg_proxy.restore()

        async def serving_again() -> bool:
            return (await client.post("/api/auth/sign-in", json=sign_in)).status_code == 401

        await eventually(serving_again, timeout=15, what="the app to use the database again")
        assert (await client.get("/health/ready")).status_code == 200


async def test_a_stopped_redis_answers_503_fast_and_recovers_without_a_restart(
    test_settings: Settings, private_redis: PrivateRedis
) -> None:
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    settings = msgspec.structs.replace(
        test_settings, redis_url=f"redis://127.0.0.1:{private_redis.port}/0", queue_name=queue
    )
    async with serving(settings) as client:
        assert (await client.get("/api/queue/stats")).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200

        private_redis.stop()
        response, elapsed = await timed(client.get("/api/queue/stats"))
        assert_unavailable(response, elapsed)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "queue" in ready.json()["detail"]
        throttled_route = await client.post(
            "/api/auth/sign-in", json={"email": "someone@example.com", "password": "x" * 12}
        )
        assert throttled_route.status_code == 503, "sign-in throttling lives in Redis: refuse, never skip it"

        private_redis.start()  # the same port

        async def serving_again() -> bool:
            return (await client.get("/api/queue/stats")).status_code == 200

        await eventually(serving_again, timeout=15, what="the app to use Redis again")
        assert (await client.get("/health/ready")).status_code == 200
