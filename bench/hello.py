"""The baseline for PERFORMANCE.md ratios: a bare Litestar hello-world route, served by uvicorn with the same
settings as `tenure serve` (src/entrypoints/cli/main.py) and one worker process.

    .venv/bin/python -m bench.hello --port 8099
"""

import argparse

import uvicorn
from litestar import Litestar, get


@get("/")
async def hello() -> str:
    return "Hello, world!"


app = Litestar(route_handlers=[hello], logging_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    # Same uvicorn.Config as `tenure serve` (loop/http "auto" = uvloop + httptools, one process).
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        timeout_graceful_shutdown=25,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
