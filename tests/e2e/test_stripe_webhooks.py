"""Stripe webhook intake (RELIABILITY 1 and 4): only provably-Stripe events are stored, each once, and the
2xx comes after the commit. Signatures are computed here independently of the code under test."""

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar

from entrypoints.bootstrap import stripe_webhook_secret
from entrypoints.settings import Settings
from tests.e2e.conftest import open_client

URL = "/api/webhooks/stripe"


def event_body(event_id: str | None = None, **extra: Any) -> bytes:
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {"object": {"id": f"in_{uuid.uuid4().hex[:24]}", "object": "invoice"}},
        **extra,
    }
    return json.dumps(event, separators=(",", ":")).encode()


def sign(body: bytes, secret: str, *, at: int | None = None, extra_v1: tuple[str, ...] = ()) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    parts = [f"t={t}", *(f"v1={s}" for s in extra_v1), f"v1={v1}"]
    return {"stripe-signature": ",".join(parts), "content-type": "application/json"}


async def stored(settings: Settings, body: bytes) -> int:
    key = json.loads(body)["id"]
    conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM provider_inbox WHERE provider = 'stripe' AND event_key = $1", key)
        )
    finally:
        await conn.close()


async def test_a_signed_event_is_stored_once_and_acknowledged(app: Litestar, test_settings: Settings) -> None:
    secret = stripe_webhook_secret(test_settings)
    body = event_body()
    async with open_client(app, csrf=False) as client:  # signature-authenticated: no CSRF token needed
        first = await client.post(URL, content=body, headers=sign(body, secret))
        assert first.status_code == 200, first.text
        assert first.json() == {"received": True, "duplicate": False}
        again = await client.post(URL, content=body, headers=sign(body, secret))
        assert again.json() == {"received": True, "duplicate": True}
    assert await stored(test_settings, body) == 1


async def test_any_one_of_several_v1_signatures_may_match(app: Litestar, test_settings: Settings) -> None:
    body = event_body()
    headers = sign(body, stripe_webhook_secret(test_settings), extra_v1=("deadbeef" * 8, "00"))
    async with open_client(app, csrf=False) as client:
        assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    assert await stored(test_settings, body) == 1


def _reserialised(body: bytes) -> bytes:
    return json.dumps(json.loads(body), indent=2).encode()


@pytest.mark.parametrize(
    "case",
    ["wrong_secret", "stale", "future", "reserialised", "missing_header", "garbled_header", "no_v1", "not_an_event"],
)
async def test_unverifiable_messages_get_400_and_nothing_is_stored(
    app: Litestar, test_settings: Settings, case: str
) -> None:
    secret = stripe_webhook_secret(test_settings)
    body = event_body()
    now = int(time.time())
    headers = {
        "wrong_secret": lambda: sign(body, "whsec_not_ours"),
        # 30 s past the 300 s tolerance: the app starts between `now` and the request, and `now` is truncated
        # to the second, so 301 s could land inside the window on a slow machine (the bound itself is unit-tested).
        "stale": lambda: sign(body, secret, at=now - 330),
        "future": lambda: sign(body, secret, at=now + 330),
        "reserialised": lambda: sign(body, secret),
        "missing_header": lambda: {"content-type": "application/json"},
        "garbled_header": lambda: {"stripe-signature": "t=yesterday,v1=zz", "content-type": "application/json"},
        "no_v1": lambda: {"stripe-signature": f"t={now}", "content-type": "application/json"},
        "not_an_event": lambda: sign(b'{"hello":"world"}', secret),
    }[case]()
    sent = _reserialised(body) if case == "reserialised" else (b'{"hello":"world"}' if case == "not_an_event" else body)
    async with open_client(app, csrf=False) as client:
        response = await client.post(URL, content=sent, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_signature"
    assert await stored(test_settings, body) == 0


async def test_the_same_event_delivered_ten_times_at_once_is_stored_once(
    test_settings: Settings, app: Litestar
) -> None:
    body = event_body()
    headers = sign(body, stripe_webhook_secret(test_settings))
    async with open_client(app, csrf=False) as client:
        responses = await asyncio.gather(*(client.post(URL, content=body, headers=headers) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert sum(not r.json()["duplicate"] for r in responses) == 1
    assert await stored(test_settings, body) == 1
