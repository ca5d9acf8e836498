"""TwilioSmsSender against the local fake Messages API (served by uvicorn in the test's loop)."""

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.twilio.messages import TwilioSmsSender
from adapters.twilio.signatures import TwilioWebhookVerifier
from ports.outbound.sms import PhoneProblem, PhoneProviderError, SmsAccepted, SmsMessage, SmsSender
from ports.outbound.webhooks import VerifiedMessage
from tests.provider_fakes.twilio_messages_server import FakeTwilioMessages, run_fake_twilio_messages

TO = "+15551234567"
CALLBACK = "https://example.org/api/webhooks/twilio"
SECRET_TEXT = "Your code is 271828"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilioMessages]:
    async with run_fake_twilio_messages() as running:
        yield running


def sender_for(fake: FakeTwilioMessages, **overrides: object) -> TwilioSmsSender:
    options: dict[str, object] = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "from_number": fake.from_number,
        "base_url": fake.base_url,
    } | overrides
    return TwilioSmsSender(**options)  # type: ignore[arg-type]


async def test_a_message_is_sent(fake: FakeTwilioMessages) -> None:
    sender = sender_for(fake)
    port: SmsSender = sender
    try:
        accepted = await port.send(SmsMessage(to=TO, body=SECRET_TEXT, status_callback=CALLBACK))
    finally:
        await sender.close()
    assert isinstance(accepted, SmsAccepted)
    assert accepted.provider_id.startswith("SM")
    assert len(accepted.provider_id) == 34
    assert accepted.status == "queued"
    [message] = fake.messages
    assert (message.sid, message.to, message.body) == (accepted.provider_id, TO, SECRET_TEXT)
    assert (message.from_, message.messaging_service_sid, message.status_callback) == (fake.from_number, None, CALLBACK)


async def test_without_a_callback_none_is_sent(fake: FakeTwilioMessages) -> None:
    sender = sender_for(fake)
    await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert fake.messages[0].status_callback is None


async def test_through_a_messaging_service(fake: FakeTwilioMessages) -> None:
    sender = sender_for(fake, from_number=None, messaging_service_sid=fake.messaging_service_sid)
    accepted = await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert accepted.status == "accepted"
    assert (fake.messages[0].from_, fake.messages[0].messaging_service_sid) == (None, fake.messaging_service_sid)


async def test_a_shared_client_is_used_and_not_closed(fake: FakeTwilioMessages) -> None:
    async with httpx.AsyncClient() as client:
        sender = sender_for(fake, client=client)
        await sender.send(SmsMessage(to=TO, body="hi"))
        await sender.close()
        assert not client.is_closed


async def test_the_callback_the_fake_posts_verifies(fake: FakeTwilioMessages) -> None:
    sender = sender_for(fake)
    accepted = await sender.send(SmsMessage(to=TO, body="hi", status_callback=CALLBACK))
    await sender.close()
    received: list[httpx.Request] = []

    def sink(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(sink)) as client:
        answer = await fake.deliver_status(accepted.provider_id, "delivered", client=client)
    assert answer.status_code == 204
    [request] = received
    assert str(request.url) == CALLBACK
    verifier = TwilioWebhookVerifier(public_url=CALLBACK, auth_tokens=["old-token", fake.auth_token])
    message = await verifier.verify(request.content, dict(request.headers), now=datetime.now(UTC))
    assert message == VerifiedMessage(
        key=f"{accepted.provider_id}:delivered", type="sms.delivered", subject=accepted.provider_id
    )


@pytest.mark.parametrize(
    ("code", "status", "problem", "words"),
    [
        (21211, 400, PhoneProblem.INVALID_NUMBER, "cannot receive texts"),
        (21614, 400, PhoneProblem.INVALID_NUMBER, "cannot receive texts"),
        (21408, 400, PhoneProblem.INVALID_NUMBER, "cannot receive texts"),
        (21612, 400, PhoneProblem.INVALID_NUMBER, "cannot receive texts"),
        (21610, 400, PhoneProblem.INVALID_NUMBER, "opted out"),
        (30450, 400, PhoneProblem.FRAUD_BLOCKED, "fraud"),
        (20429, 429, PhoneProblem.RATE_LIMITED, "too many"),
        (20429, 400, PhoneProblem.RATE_LIMITED, "too many"),
        (20500, 500, PhoneProblem.UNAVAILABLE, "status 500"),
        (20503, 503, PhoneProblem.UNAVAILABLE, "status 503"),
        (21606, 400, PhoneProblem.UNAVAILABLE, "code 21606"),  # our From is wrong: configuration, not the member
    ],
)
async def test_twilio_errors_are_mapped(
    fake: FakeTwilioMessages, code: int, status: int, problem: PhoneProblem, words: str
) -> None:
    fake.fail_next(code, status)
    sender = sender_for(fake)
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert caught.value.problem is problem
    assert words in str(caught.value)
    assert fake.messages == []


async def test_rate_limits_carry_retry_after(fake: FakeTwilioMessages) -> None:
    fake.fail_next(20429, 429, retry_after=7)
    sender = sender_for(fake)
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert caught.value.problem is PhoneProblem.RATE_LIMITED
    assert caught.value.retry_after == timedelta(seconds=7)


async def test_the_fakes_own_validation_maps_too(fake: FakeTwilioMessages) -> None:
    sender = sender_for(fake)
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to="555-1234", body="hi"))
    assert caught.value.problem is PhoneProblem.INVALID_NUMBER
    await sender.close()
    assert fake.requests[-1].code == 21211


async def test_wrong_credentials_are_unavailable(fake: FakeTwilioMessages) -> None:
    sender = sender_for(fake, auth_token="wrong")
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert caught.value.problem is PhoneProblem.UNAVAILABLE
    assert fake.requests[-1].code == 20003


@pytest.mark.parametrize("status", [200, 201, 502])
async def test_garbage_is_unavailable(fake: FakeTwilioMessages, status: int) -> None:
    fake.garbage_next(status)
    sender = sender_for(fake)
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert caught.value.problem is PhoneProblem.UNAVAILABLE


async def test_an_unanswered_send_has_an_unknown_outcome(fake: FakeTwilioMessages) -> None:
    """The request reached Twilio, which may have accepted it: not 'unavailable', since a retry could text twice."""
    fake.delay_s = 0.5
    sender = sender_for(fake, timeout_s=0.05)
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert caught.value.problem is PhoneProblem.OUTCOME_UNKNOWN
    assert "ReadTimeout" in str(caught.value)


async def test_an_unreachable_host_is_unavailable() -> None:
    sender = TwilioSmsSender(
        account_sid="AC1", auth_token="t", from_number="+15005550006", base_url="http://127.0.0.1:9", timeout_s=2
    )
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to=TO, body="hi"))
    await sender.close()
    assert caught.value.problem is PhoneProblem.UNAVAILABLE


async def test_a_long_body_is_refused_before_sending(fake: FakeTwilioMessages) -> None:
    sender = sender_for(fake)
    await sender.send(SmsMessage(to=TO, body="x" * 1600))
    with pytest.raises(ValueError, match="1600"):
        await sender.send(SmsMessage(to=TO, body="x" * 1601))
    with pytest.raises(ValueError, match="body"):
        await sender.send(SmsMessage(to=TO, body=""))
    await sender.close()
    assert len(fake.requests) == 1


def test_construction_is_checked() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TwilioSmsSender(account_sid="AC1", auth_token="t")
    with pytest.raises(ValueError, match="exactly one"):
        TwilioSmsSender(account_sid="AC1", auth_token="t", from_number="+1500", messaging_service_sid="MG1")
    with pytest.raises(ValueError, match="required"):
        TwilioSmsSender(account_sid="AC1", auth_token="", from_number="+1500")


async def test_logs_carry_neither_the_body_nor_the_number(
    fake: FakeTwilioMessages, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = sender_for(fake)
    await sender.send(SmsMessage(to=TO, body=SECRET_TEXT))
    fake.fail_next(21610)
    with pytest.raises(PhoneProviderError) as caught:
        await sender.send(SmsMessage(to=TO, body=SECRET_TEXT))
    fake.fail_next(21606)
    with pytest.raises(PhoneProviderError):
        await sender.send(SmsMessage(to=TO, body=SECRET_TEXT))
    await sender.close()
    assert caplog.records
    text = caplog.text + str(caught.value) + repr(sender)
    assert SECRET_TEXT not in text
    assert TO not in text
    assert TO[2:] not in text
    assert fake.auth_token not in text
