"""The notification core's SQL repositories on PostgreSQL: a delivery is sent once however many attempts race
for it; feed and profile writes are idempotent and scoped to their account."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from adapters.sql import models
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from domain.checkout import PostalAddress
from domain.events import Channel
from ports.outbound.email import EmailMessage
from ports.outbound.notifications import DeliveryStatus
from ports.outbound.profiles import Profile
from ports.usecases.deps import Deps
from ports.usecases.notifications import deliver_notification
from tests.fakes import FakeTaskQueue

MakeUow = Callable[..., SqlUnitOfWork]


class SlowCountingEmail:
    """Records every send; slow enough that racing attempts overlap."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> str:
        await asyncio.sleep(0.05)
        self.sent.append(message)
        return f"msg-{len(self.sent)}"


async def new_account(make_uow: MakeUow) -> uuid.UUID:
    async with make_uow() as uow:
        account = await uow.accounts.add(
            email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=datetime.now(UTC)
        )
        await uow.commit()
    return account.id


async def new_event(make_uow: MakeUow, account_id: uuid.UUID, name: str = "membership.activated") -> str:
    async with make_uow() as uow:
        event_id = await uow.outbox.add(
            event_name=name,
            aggregate_type="membership",
            aggregate_id=str(uuid.uuid4()),
            payload={"accountId": str(account_id), "memberNumber": 7},
            occurred_at=datetime.now(UTC),
        )
        await uow.commit()
    return str(event_id)


async def test_ten_concurrent_attempts_deliver_once_per_channel(make_uow: MakeUow) -> None:
    account_id = await new_account(make_uow)
    event_id = await new_event(make_uow, account_id)
    email = SlowCountingEmail()
    deps = Deps(uow=make_uow, tasks=FakeTaskQueue(), clock=SystemClock(), email=email)

    for channel in (Channel.EMAIL, Channel.IN_APP, Channel.SMS):
        payload = {"eventId": event_id, "accountId": str(account_id), "channel": channel.value}
        results = await asyncio.gather(*(deliver_notification(deps, payload) for _ in range(10)))
        assert sorted(results).count("duplicate") == 9, (channel, results)

    assert len(email.sent) == 1
    assert email.sent[0].idempotency_key == f"{event_id}:{account_id}:email"
    async with make_uow() as uow:
        deliveries = {d.channel: d for d in await uow.notification_deliveries.for_event(event_id)}
        feed_rows = await uow.session.scalar(
            select(func.count()).select_from(models.Notification).where(models.Notification.event_id == event_id)
        )
    assert feed_rows == 1
    assert deliveries[Channel.EMAIL].status is DeliveryStatus.SENT
    assert deliveries[Channel.EMAIL].provider_message_id == "msg-1"
    assert deliveries[Channel.IN_APP].status is DeliveryStatus.SENT
    assert deliveries[Channel.SMS].status is DeliveryStatus.SKIPPED
    assert deliveries[Channel.SMS].detail == "skipped: no verified phone"
    assert all(d.attempts == 1 for d in deliveries.values())


async def test_a_failed_send_is_retried_and_an_expired_lease_can_be_taken_again(make_uow: MakeUow) -> None:
    account_id = await new_account(make_uow)
    event_id = await new_event(make_uow, account_id)

    class Broken:
        async def send(self, message: EmailMessage) -> str:
            raise ConnectionError("smtp down")

    payload = {"eventId": event_id, "accountId": str(account_id), "channel": "email"}
    failing = Deps(uow=make_uow, tasks=FakeTaskQueue(), clock=SystemClock(), email=Broken())
    try:
        await deliver_notification(failing, payload)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the failure must reach the job runner, which retries")
    async with make_uow() as uow:
        failed = await uow.notification_deliveries.get(event_id=event_id, account_id=account_id, channel=Channel.EMAIL)
    assert failed is not None
    assert failed.status is DeliveryStatus.FAILED
    assert "smtp down" in (failed.detail or "")

    email = SlowCountingEmail()
    assert (
        await deliver_notification(Deps(uow=make_uow, tasks=FakeTaskQueue(), clock=SystemClock(), email=email), payload)
        == "sent"
    )
    assert len(email.sent) == 1

    # A crashed attempt leaves a lease; once it runs out, another attempt may send.
    other = await new_event(make_uow, account_id)
    now = datetime.now(UTC)
    async with make_uow() as uow:
        log = uow.notification_deliveries
        await log.ensure(event_id=other, account_id=account_id, channel=Channel.EMAIL, event_name="x", at=now)
        args = {"event_id": other, "account_id": account_id, "channel": Channel.EMAIL}
        assert await log.lease(**args, at=now, until=now + timedelta(seconds=30))
        assert not await log.lease(**args, at=now + timedelta(seconds=10), until=now + timedelta(seconds=40))
        assert await log.lease(**args, at=now + timedelta(seconds=31), until=now + timedelta(seconds=61))
        await uow.commit()


async def test_profile_saves_converge_and_feed_items_are_one_per_event(make_uow: MakeUow) -> None:
    account_id = await new_account(make_uow)
    now = datetime.now(UTC)

    async def save(i: int) -> None:
        async with make_uow() as uow:
            await uow.profiles.save(Profile(account_id=account_id, legal_first_name=f"n{i}"), at=now)
            await uow.commit()

    await asyncio.gather(*(save(i) for i in range(10)))
    async with make_uow() as uow:
        address = PostalAddress(line1="1 Main", city="Town", region="NY", postal_code="10001", country="US")
        profile = await uow.profiles.get(account_id)
        assert profile is not None
        await uow.profiles.save(profile.__class__(account_id=account_id, address=address), at=now)
        await uow.commit()
        stored = await uow.profiles.get(account_id)
    assert stored is not None
    assert stored.address == address

    event_id = str(uuid.uuid4())

    async def add() -> bool:
        async with make_uow() as uow:
            added = await uow.notifications.add(
                account_id=account_id, event_id=event_id, event_name="kyc.verified", title="t", body="b", at=now
            )
            await uow.commit()
            return added

    assert sorted(await asyncio.gather(*(add() for _ in range(10)))) == [False] * 9 + [True]
    stranger = await new_account(make_uow)
    async with make_uow() as uow:
        item = (await uow.notifications.page(account_id, limit=5, after=None))[0]
        assert not await uow.notifications.mark_read(stranger, item.id, at=now)
        assert await uow.notifications.unread_count(account_id) == 1
        assert await uow.notifications.mark_read(account_id, item.id, at=now)
        await uow.commit()
