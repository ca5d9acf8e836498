"""RELIABILITY.md 12 for the API process (issue 11): SIGTERM while sign-ups are being served. The real
`tenure serve` stops accepting, finishes what it accepted within the grace period, and exits; every sign-up
that was answered 202 exists, and no request got a server error or a cut connection."""

import asyncio
import os
import signal
import sys
import uuid

import asyncpg
import httpx
import pytest

from entrypoints.settings import Settings, env_name
from tests.helpers import free_port

SIGN_UPS = 16


async def test_sigterm_while_serving_finishes_the_accepted_requests(test_settings: Settings) -> None:
    port = free_port()
    queue = f"shutdown-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env.update(
        {
            env_name("env"): "test",
            env_name("database_url"): test_settings.database_url,
            env_name("redis_url"): str(test_settings.redis_url),
            env_name("queue_name"): queue,
            env_name("shutdown_grace_s"): "20",
            env_name("log_level"): "WARNING",
        }
    )
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "entrypoints.cli.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(150):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("tenure serve did not start")
            primed = await client.get("/api/auth/csrf")
            token = primed.cookies["__Host-csrftoken"]  # Secure: sent by hand over this loopback http
            headers = {"cookie": f"__Host-csrftoken={token}", "x-csrftoken": token}
            emails = [f"shutdown-{uuid.uuid4().hex[:10]}@example.com" for _ in range(SIGN_UPS)]

            async def sign_up(email: str) -> int:
                body = {"email": email, "password": "correct horse battery staple 42"}
                response = await client.post("/api/auth/sign-up", json=body, headers=headers)
                return response.status_code

            requests = [asyncio.create_task(sign_up(email)) for email in emails]
            done, _ = await asyncio.wait(requests, return_when=asyncio.FIRST_COMPLETED)  # the server is busy now
            server.send_signal(signal.SIGTERM)
            statuses = await asyncio.gather(*requests)
        # uvicorn re-raises the signal it handled once shutdown is complete, so the exit says "SIGTERM".
        assert await asyncio.wait_for(server.wait(), timeout=40) in {0, -signal.SIGTERM}
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()

    assert done
    assert statuses == [202] * SIGN_UPS, "every request the server had accepted was answered"
    conn = await asyncpg.connect(test_settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        stored = await conn.fetchval("SELECT count(*) FROM accounts WHERE email = ANY($1::text[])", emails)
    finally:
        await conn.close()
    assert stored == SIGN_UPS, "every answered sign-up was committed"
