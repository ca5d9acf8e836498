"""Phone verification through the real Twilio Verify adapter against the local fake, with our caps in real
Redis: a code verifies the phone on my profile; wrong codes, caps (also under concurrent requests) and provider
refusals answer in words; nothing reaches the provider once a cap is hit."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from adapters.ratelimit.redis import RedisRateLimiter
from adapters.security.crypto import AesGcmSecretBox, SystemRandom, derive_key
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.twilio.verify import TwilioPhoneVerifier
from domain.sessions import Role
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.profiles import Profile
from ports.usecases.auth import THROTTLE_POLICIES, Principal
from ports.usecases.deps import AuthServices, Deps
from ports.usecases.errors import InvalidCode, InvalidInput, Refused, Throttled
from ports.usecases.phone import PHONE_POLICIES, confirm_phone, start_phone_verification
from tests import services
from tests.fakes import FakeClock, FakeTaskQueue
from tests.provider_fakes.twilio_verify_server import FakeTwilioVerify, run_fake_twilio_verify

MakeUow = Callable[[], SqlUnitOfWork]
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
_prefixes = itertools.count()


@dataclass
class World:
    deps: Deps
    fake: FakeTwilioVerify
    make_uow: MakeUow

    async def member(self, phone: str | None) -> Principal:
        async with self.make_uow() as uow:
            account = await uow.accounts.add(
                email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=NOW
            )
            await uow.profiles.save(Profile(account_id=account.id, phone=phone), at=NOW)
            await uow.commit()
        return Principal(
            account_id=account.id,
            email=account.email,
            role=Role.MEMBER,
            session_id=account.id,
            authenticated_at=NOW,
            second_factor=False,
        )


@pytest.fixture
async def world(make_uow: MakeUow, redis_namespace: str) -> AsyncIterator[World]:
    clock = FakeClock(NOW)
    redis = Redis.from_url(services.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    prefix = f"{redis_namespace}:phone{next(_prefixes)}"
    limiter = RedisRateLimiter(redis, prefix=prefix, policies={**THROTTLE_POLICIES, **PHONE_POLICIES}, clock=clock.now)
    auth = AuthServices(
        hasher=None,  # type: ignore[arg-type]  # phone verification uses only the limiter
        common_passwords=None,  # type: ignore[arg-type]
        box=AesGcmSecretBox(derive_key("k" * 32, "test")),
        random=SystemRandom(),
        limiter=limiter,
        code_key=b"",
    )
    try:
        async with run_fake_twilio_verify(clock=lambda: clock.now().timestamp()) as fake:
            verifier = TwilioPhoneVerifier(
                account_sid=fake.account_sid,
                auth_token=fake.auth_token,
                service_sid=fake.service_sid,
                base_url=fake.base_url,
            )
            deps = Deps(uow=make_uow, tasks=FakeTaskQueue(), clock=clock, auth=auth, phone=verifier)
            yield World(deps=deps, fake=fake, make_uow=make_uow)
    finally:
        await services.delete_redis_keys(f"{prefix}:*")
        await redis.aclose()


async def test_a_texted_code_verifies_the_phone_on_my_profile(world: World) -> None:
    me = await world.member("+15551230001")
    await start_phone_verification(world.deps, me, client="10.0.0.1")
    right = world.fake.code_for("+15551230001")
    with pytest.raises(InvalidCode):
        await confirm_phone(world.deps, me, "000000" if right != "000000" else "111111")
    state = await confirm_phone(world.deps, me, right)
    assert state.verified_at == NOW
    async with world.make_uow() as uow:
        profile = await uow.profiles.get(me.account_id)
    assert profile is not None
    assert profile.phone_verified_at == NOW
    with pytest.raises(Refused) as again:
        await start_phone_verification(world.deps, me, client="10.0.0.1")
    assert again.value.problems == ("phone_already_verified",)


async def test_without_a_phone_nothing_is_sent(world: World) -> None:
    me = await world.member(None)
    with pytest.raises(InvalidInput) as missing:
        await start_phone_verification(world.deps, me, client="10.0.0.1")
    assert missing.value.problems == ("phone_missing",)
    assert world.fake.sent == []


async def test_the_per_phone_cap_holds_under_concurrent_requests(world: World) -> None:
    me = await world.member("+15551230002")
    outcomes = await asyncio.gather(
        *(start_phone_verification(world.deps, me, client=f"10.0.1.{i}") for i in range(10)),
        return_exceptions=True,
    )
    allowed = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Throttled)]
    assert len(allowed) + len(refused) == 10, outcomes
    assert 1 <= len(allowed) <= PHONE_POLICIES["phone_send"].free_failures
    assert len(world.fake.sent) == len(allowed), "a capped request never reaches the provider"


async def test_the_per_address_cap_spans_phones(world: World) -> None:
    members = [await world.member(f"+1555123{1000 + i}") for i in range(25)]
    outcomes = await asyncio.gather(
        *(start_phone_verification(world.deps, m, client="192.0.2.7") for m in members), return_exceptions=True
    )
    allowed = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(allowed) <= PHONE_POLICIES["phone_send_address"].free_failures
    assert all(isinstance(o, Throttled) for o in outcomes if isinstance(o, BaseException))
    assert len(world.fake.sent) == len(allowed)


@pytest.mark.parametrize(
    ("code", "status", "problem"),
    [(60200, 400, "invalid_number"), (60410, 403, "fraud_blocked")],
)
async def test_provider_refusals_are_told_in_words(world: World, code: int, status: int, problem: str) -> None:
    me = await world.member("+15551230003")
    world.fake.fail_next(code, status)
    with pytest.raises(Refused) as refused:
        await start_phone_verification(world.deps, me, client="10.0.0.3")
    assert refused.value.problems == (problem,)
    assert "number" in (refused.value.detail or "")


async def test_a_provider_outage_is_retryable_and_verifies_nothing(world: World) -> None:
    me = await world.member("+15551230004")
    world.fake.fail_next(20500, 503)
    with pytest.raises(ComponentUnavailable):
        await start_phone_verification(world.deps, me, client="10.0.0.4")
    async with world.make_uow() as uow:
        profile = await uow.profiles.get(me.account_id)
    assert profile is not None
    assert profile.phone_verified_at is None


async def test_changing_numbers_does_not_reset_the_account_cap(world: World) -> None:
    me = await world.member("+15551239000")
    allowed = 0
    with pytest.raises(Throttled):
        for i in range(10):
            async with world.make_uow() as uow:
                await uow.profiles.save(Profile(account_id=me.account_id, phone=f"+1555123{9000 + i}"), at=NOW)
                await uow.commit()
            await start_phone_verification(world.deps, me, client=f"10.0.2.{i}")
            allowed += 1
    assert allowed == PHONE_POLICIES["phone_send_account"].free_failures
    assert len(world.fake.sent) == allowed
