"""Twilio status callbacks through HTTP: a signed callback is stored once (sid + status) and moves the SMS
delivery to its final word; a bad signature is refused and stores nothing (RELIABILITY 3)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import msgspec
import pytest

from domain.events import Channel
from entrypoints.bootstrap import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from ports.outbound.notifications import DeliveryStatus
from ports.outbound.profiles import Profile
from ports.usecases import sms_status
from ports.usecases.notifications import deliver_notification
from tests.provider_fakes.twilio_messages_server import FakeTwilioMessages, run_fake_twilio_messages

PUBLIC = "https://tenure.test"
NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioMessages]:
    async with run_fake_twilio_messages() as fake:
        yield fake


@pytest.fixture
async def container(test_settings: Settings, twilio: FakeTwilioMessages) -> AsyncIterator[Container]:
    settings = msgspec.structs.replace(
        test_settings,
        public_url=PUBLIC,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_messaging_service_sid=twilio.messaging_service_sid,
        twilio_api_base=twilio.base_url,
    )
    container = build_container(settings)
    await container.start()
    try:
        yield container
    finally:
        await container.stop()


async def texted(container: Container, twilio: FakeTwilioMessages) -> tuple[str, uuid.UUID, str]:
    """A member with a verified phone texted about a failed payment: (event id, account id, message sid)."""
    deps = container.deps
    async with deps.uow() as uow:
        account = await uow.accounts.add(
            email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=NOW
        )
        await uow.profiles.save(Profile(account_id=account.id, phone="+15559870001", phone_verified_at=NOW), at=NOW)
        event_id = str(
            await uow.outbox.add(
                event_name="payment.failed",
                aggregate_type="membership",
                aggregate_id=str(uuid.uuid4()),
                payload={"accountId": str(account.id), "graceEndsAt": "2026-12-25T00:00:00+00:00"},
                occurred_at=NOW,
            )
        )
        await uow.commit()
    payload = {"eventId": event_id, "accountId": str(account.id), "channel": Channel.SMS.value}
    assert await deliver_notification(deps, payload) == "sent"
    return event_id, account.id, twilio.messages[-1].sid


async def test_a_signed_callback_is_stored_once_and_moves_the_delivery(
    container: Container, twilio: FakeTwilioMessages
) -> None:
    event_id, account_id, sid = await texted(container, twilio)
    url, body, headers = twilio.status_callback(sid, "undelivered", error_code=30005)
    assert url == f"{PUBLIC}/api/webhooks/twilio"
    transport = httpx.ASGITransport(app=create_app(container=container))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        first = await client.post("/api/webhooks/twilio", content=body, headers=headers)
        again = await client.post("/api/webhooks/twilio", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    async with container.deps.uow() as uow:
        stored = await uow.inbox.by_key(sms_status.PROVIDER, f"{sid}:undelivered")
    assert stored is not None
    # Apply it (a worker of this test run may get there first: either way it is applied exactly once).
    outcome = await sms_status.process_status(container.deps, {"messageId": str(stored.id)})
    assert outcome in {"undelivered", "nothing to move", "already processed"}
    async with container.deps.uow() as uow:
        delivery = await uow.notification_deliveries.get(event_id=event_id, account_id=account_id, channel=Channel.SMS)
    assert delivery is not None
    assert delivery.status is DeliveryStatus.UNDELIVERED
    assert delivery.detail == "carrier: undelivered (error 30005)"


@pytest.mark.parametrize("tamper", ["token", "status", "missing"])
async def test_a_callback_with_a_bad_signature_is_refused_and_stores_nothing(
    container: Container, twilio: FakeTwilioMessages, tamper: str
) -> None:
    _, _, sid = await texted(container, twilio)
    _, body, headers = twilio.status_callback(
        sid, "delivered", auth_token="not-the-token" if tamper == "token" else None
    )
    if tamper == "status":
        body = body.replace(b"delivered", b"undelivered")
    if tamper == "missing":
        headers.pop("X-Twilio-Signature")
    transport = httpx.ASGITransport(app=create_app(container=container))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        refused = await client.post("/api/webhooks/twilio", content=body, headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    async with container.deps.uow() as uow:
        for status in ("delivered", "undelivered"):
            assert await uow.inbox.by_key(sms_status.PROVIDER, f"{sid}:{status}") is None
