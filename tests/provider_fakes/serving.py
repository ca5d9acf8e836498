"""Serving a fake provider's ASGI app on 127.0.0.1 (an ephemeral port) inside the test's own event loop."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def run_app(app: Any, *, name: str, startup_timeout: float = 10.0) -> AsyncIterator[str]:
    """Yield the base URL while `app` serves; stop it when the block ends. `name` appears in start-up errors."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        loop="none",  # serve in the caller's running loop
        lifespan="off",
        log_config=None,  # leave the test process's logging configuration alone
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error
            raise RuntimeError(f"the fake {name} server stopped during start-up")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the fake {name} server did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
