"""SMS through the real Twilio Messages adapter against a local fake: exactly one text per (event, member) for a
verified phone, even with the job replayed and run ten times at once; none without a verified phone; a refused
number is recorded, not retried; the text says what happened and nothing more."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from adapters.twilio.messages import TwilioSmsSender
from domain.events import Channel
from domain.preferences import EventGroup, Preferences
from ports.outbound.email import EmailMessage, EmailRejected
from ports.outbound.notifications import DeliveryStatus
from ports.outbound.profiles import Profile
from ports.outbound.sms import PhoneProblem, PhoneProviderError
from ports.usecases.deps import BillingConfig, Deps
from ports.usecases.notifications import DELIVER_TASK, SMS_LIMIT, deliver_notification, on_member_event
from tests.fakes import FakeTaskQueue
from tests.helpers import eventually
from tests.provider_fakes.twilio_messages_server import FakeTwilioMessages, run_fake_twilio_messages

MakeUow = Callable[[], SqlUnitOfWork]
NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioMessages]:
    async with run_fake_twilio_messages() as fake:
        yield fake


def deps_for(make_uow: MakeUow, fake: FakeTwilioMessages) -> Deps:
    sender = TwilioSmsSender(
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        messaging_service_sid=fake.messaging_service_sid,
        base_url=fake.base_url,
    )
    return Deps(
        uow=make_uow,
        tasks=FakeTaskQueue(),
        clock=SystemClock(),
        sms=sender,
        billing=BillingConfig(public_url="https://tenure.example"),
    )


async def member(make_uow: MakeUow, *, phone: str | None, verified: bool) -> uuid.UUID:
    async with make_uow() as uow:
        account = await uow.accounts.add(
            email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=NOW
        )
        await uow.profiles.save(
            Profile(account_id=account.id, phone=phone, phone_verified_at=NOW if verified else None), at=NOW
        )
        await uow.commit()
    return account.id


async def payment_failed(make_uow: MakeUow, account_id: uuid.UUID) -> str:
    async with make_uow() as uow:
        event_id = await uow.outbox.add(
            event_name="payment.failed",
            aggregate_type="membership",
            aggregate_id=str(uuid.uuid4()),
            payload={"accountId": str(account_id), "graceEndsAt": "2026-12-25T00:00:00+00:00"},
            occurred_at=NOW,
        )
        await uow.commit()
    return str(event_id)


async def test_one_text_for_a_verified_phone_however_often_the_job_runs(
    make_uow: MakeUow, twilio: FakeTwilioMessages
) -> None:
    deps = deps_for(make_uow, twilio)
    account_id = await member(make_uow, phone="+15551234567", verified=True)
    event_id = await payment_failed(make_uow, account_id)
    payload = {"eventId": event_id, "accountId": str(account_id), "channel": Channel.SMS.value}

    results = await asyncio.gather(*(deliver_notification(deps, payload) for _ in range(10)))
    assert sorted(results).count("duplicate") == 9
    assert await deliver_notification(deps, payload) == "duplicate", "a replayed job sends nothing"
    assert len(twilio.messages) == 1
    (text,) = twilio.messages
    assert text.to == "+15551234567"
    assert len(text.body) <= SMS_LIMIT
    assert text.body.startswith("Tenure: ")
    assert text.status_callback == "https://tenure.example/api/webhooks/twilio"
    async with make_uow() as uow:
        delivery = await uow.notification_deliveries.get(event_id=event_id, account_id=account_id, channel=Channel.SMS)
    assert delivery is not None
    assert (delivery.status, delivery.provider_message_id) == (DeliveryStatus.SENT, text.sid)


@pytest.mark.parametrize(("phone", "verified"), [(None, False), ("+15557654321", False)])
async def test_no_text_without_a_verified_phone(
    make_uow: MakeUow, twilio: FakeTwilioMessages, phone: str | None, verified: bool
) -> None:
    deps = deps_for(make_uow, twilio)
    account_id = await member(make_uow, phone=phone, verified=verified)
    event_id = await payment_failed(make_uow, account_id)
    payload = {"eventId": event_id, "accountId": str(account_id), "channel": Channel.SMS.value}
    assert await deliver_notification(deps, payload) == "skipped"
    assert twilio.messages == []


async def test_a_refused_number_is_recorded_and_an_outage_is_retried(
    make_uow: MakeUow, twilio: FakeTwilioMessages
) -> None:
    deps = deps_for(make_uow, twilio)
    account_id = await member(make_uow, phone="+15550000001", verified=True)
    refused = await payment_failed(make_uow, account_id)
    twilio.fail_next(21610)  # the member replied STOP
    payload = {"eventId": refused, "accountId": str(account_id), "channel": Channel.SMS.value}
    assert await deliver_notification(deps, payload) == "failed"

    down = await payment_failed(make_uow, account_id)
    twilio.fail_next(20500, status=503)
    payload = {"eventId": down, "accountId": str(account_id), "channel": Channel.SMS.value}
    with pytest.raises(PhoneProviderError) as outage:  # the job fails, so the task queue retries it
        await deliver_notification(deps, payload)
    assert outage.value.problem is PhoneProblem.UNAVAILABLE
    assert twilio.messages == []
    async with make_uow() as uow:
        delivery = await uow.notification_deliveries.get(event_id=down, account_id=account_id, channel=Channel.SMS)
    assert delivery is not None
    assert delivery.status is DeliveryStatus.FAILED  # recorded; the retry takes the lease again


@pytest.mark.parametrize("opted_in", [True, False])
async def test_a_payment_failure_texts_an_opted_in_member_once_and_opting_out_stops_sms_only(
    make_uow: MakeUow, twilio: FakeTwilioMessages, opted_in: bool
) -> None:
    emails = CountingEmail()
    deps = replace(deps_for(make_uow, twilio), email=emails)
    assert isinstance(deps.tasks, FakeTaskQueue)
    account_id = await member(make_uow, phone="+15550000002", verified=True)
    chosen = {EventGroup.MISSED_PAYMENTS: [Channel.SMS]} if opted_in else {}
    async with make_uow() as uow:
        await uow.notification_preferences.save(account_id, Preferences.from_choices(chosen), at=NOW)
        await uow.commit()
    event_id = await payment_failed(make_uow, account_id)
    async with make_uow() as uow:
        message = await uow.outbox.get(uuid.UUID(event_id))
    assert message is not None

    for _ in range(2):  # the event dispatched twice
        await on_member_event(deps, message)
    jobs = [payload for task, payload, _ in deps.tasks.enqueued if task == DELIVER_TASK]
    for payload in jobs + jobs:  # every delivery job run twice
        await deliver_notification(deps, payload)

    channels = {payload["channel"] for payload in jobs}
    assert channels == ({"email", "in_app", "sms"} if opted_in else {"email", "in_app"})
    assert len(twilio.messages) == (1 if opted_in else 0)
    assert emails.sent == 1, "email and in-app are untouched by the SMS choice"


class CountingEmail:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, message: EmailMessage) -> str:
        self.sent += 1
        return f"email-{self.sent}"


class BouncingEmail:
    async def send(self, message: EmailMessage) -> str:
        raise EmailRejected("SMTPRecipientsRefused (SMTP 550)")


@pytest.mark.parametrize(("event", "texted"), [("payment.failed", True), ("membership.activated", False)])
async def test_a_bounced_always_on_notice_goes_by_sms_once(
    make_uow: MakeUow, twilio: FakeTwilioMessages, event: str, texted: bool
) -> None:
    deps = replace(deps_for(make_uow, twilio), email=BouncingEmail())
    assert isinstance(deps.tasks, FakeTaskQueue)
    account_id = await member(make_uow, phone="+15550000003", verified=True)  # SMS not chosen: the defaults
    async with make_uow() as uow:
        event_id = str(
            await uow.outbox.add(
                event_name=event,
                aggregate_type="membership",
                aggregate_id=str(uuid.uuid4()),
                payload={"accountId": str(account_id), "graceEndsAt": "2026-12-25T00:00:00+00:00", "memberNumber": 7},
                occurred_at=NOW,
            )
        )
        await uow.commit()
        message = await uow.outbox.get(uuid.UUID(event_id))
    assert message is not None
    await on_member_event(deps, message)
    for _ in range(2):  # all jobs run, then all again (the fallback job too)
        for task, payload, _key in list(deps.tasks.enqueued):
            if task == DELIVER_TASK:
                await deliver_notification(deps, payload)
    async with make_uow() as uow:
        profile = await uow.profiles.get(account_id)
        email = await uow.notification_deliveries.get(event_id=event_id, account_id=account_id, channel=Channel.EMAIL)
    assert profile is not None
    assert profile.email_bounced, "the address is marked bounced: optional mail stops"
    assert email is not None
    assert email.detail == "rejected: the address bounced"
    assert len(twilio.messages) == (1 if texted else 0), "only always-on notices fall back to SMS"


async def test_an_unanswered_send_is_never_resent(make_uow: MakeUow, twilio: FakeTwilioMessages) -> None:
    slow = TwilioSmsSender(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        messaging_service_sid=twilio.messaging_service_sid,
        base_url=twilio.base_url,
        timeout_s=0.2,
    )
    deps = replace(deps_for(make_uow, twilio), sms=slow)
    account_id = await member(make_uow, phone="+15550000004", verified=True)
    event_id = await payment_failed(make_uow, account_id)
    payload = {"eventId": event_id, "accountId": str(account_id), "channel": Channel.SMS.value}
    twilio.delay_s = 0.5  # Twilio takes the message but answers too late
    assert await deliver_notification(deps, payload) == "skipped"
    twilio.delay_s = 0.0
    assert await deliver_notification(deps, payload) == "duplicate", "a replay or retry does not text again"
    await eventually(lambda: len(twilio.messages) == 1, timeout=5, what="Twilio to take the late message")
    await asyncio.sleep(0.3)
    assert len(twilio.messages) == 1, "Twilio got the message once: nobody resent it"
    async with make_uow() as uow:
        delivery = await uow.notification_deliveries.get(event_id=event_id, account_id=account_id, channel=Channel.SMS)
    assert delivery is not None
    assert delivery.detail == "unconfirmed: the provider did not answer; not resent"
