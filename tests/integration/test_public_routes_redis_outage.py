"""RELIABILITY 14 for the public queue routes: their cache and rate limit live in Redis; with Redis unreachable
they fail fast with a 503 problem and Retry-After (never a 500), through both the rate-limit middleware and the
response cache."""

from litestar import Litestar, Router, get
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.stores.redis import RedisStore
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from entrypoints.http.problems import exception_handlers
from tests.helpers import free_port


@get("/cached", cache=15, sync_to_thread=False)
def cached() -> dict[str, int]:
    return {"n": 1}


@get("/limited", sync_to_thread=False)
def limited() -> dict[str, int]:
    return {"n": 1}


def app_with_dead_redis() -> Litestar:
    redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1, socket_timeout=1)
    return Litestar(
        route_handlers=[
            cached,
            Router("/", route_handlers=[limited], middleware=[RateLimitConfig(rate_limit=("minute", 5)).middleware]),
        ],
        stores={"response_cache": RedisStore(redis), "rate_limit": RedisStore(redis)},
        exception_handlers=exception_handlers,
    )


async def test_the_cache_and_the_rate_limit_answer_503_when_redis_is_down() -> None:
    async with AsyncTestClient(app=app_with_dead_redis()) as client:
        for path in ("/cached", "/limited"):
            response = await client.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["retry-after"]
            assert response.json()["code"] == "service_unavailable"
