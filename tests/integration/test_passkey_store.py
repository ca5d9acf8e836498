"""Passkeys and ceremony challenges on PostgreSQL under concurrency: a challenge is redeemed once however many
answers race for it, two assertions carrying the same counter value cannot both pass, a credential id belongs to
one account, and the hourly purge removes only long-expired challenges."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.security.webauthn import PyWebAuthnRelyingParty
from adapters.sql.engine import session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.challenges import ChallengeKind
from ports.outbound.errors import ConflictError
from ports.usecases.authenticators import (
    PasskeyAnswer,
    new_challenge,
    purge_challenges,
    redeem_challenge,
    verified_passkey,
)
from ports.usecases.deps import AuthServices, Deps
from ports.usecases.errors import CeremonyExpired, InvalidCredentials
from tests.fakes import FakeClock, FakeTaskQueue
from tests.webauthn_authenticator import SoftAuthenticator, b64url_encode, cose_public_key

pytestmark = pytest.mark.integration

ORIGIN = "https://tenure.example"
START = datetime(2026, 12, 7, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def deps(engine: AsyncEngine, clock: FakeClock) -> Deps:
    sessions = session_factory(engine)
    rp = PyWebAuthnRelyingParty(rp_id="tenure.example", rp_name="Tenure", origins=[ORIGIN])
    auth = AuthServices(
        hasher=None,  # type: ignore[arg-type]  # nothing here hashes, seals or throttles
        common_passwords=frozenset(),
        box=None,  # type: ignore[arg-type]
        random=None,  # type: ignore[arg-type]
        limiter=None,  # type: ignore[arg-type]
        code_key=b"k" * 32,
        relying_party=rp,
    )
    return Deps(uow=lambda: SqlUnitOfWork(sessions, clock=clock), tasks=FakeTaskQueue(), clock=clock, auth=auth)


async def challenge(deps: Deps, kind: ChallengeKind = ChallengeKind.PASSKEY_ASSERTION) -> tuple[uuid.UUID, bytes]:
    secret = uuid.uuid4().bytes + uuid.uuid4().bytes
    async with deps.uow() as uow:
        stored = await new_challenge(deps, uow, kind, secret=secret)
        await uow.commit()
    return stored.id, secret


async def test_a_challenge_is_redeemed_once_however_many_answers_race(deps: Deps) -> None:
    challenge_id, secret = await challenge(deps)

    async def redeem() -> bytes:
        async with deps.uow() as uow:
            _, found = await redeem_challenge(deps, uow, challenge_id, ChallengeKind.PASSKEY_ASSERTION)
            await asyncio.sleep(0.05)  # hold the lock a while: the others queue behind it
            await uow.commit()
            return found

    results = await asyncio.gather(*(redeem() for _ in range(8)), return_exceptions=True)
    assert [r for r in results if isinstance(r, bytes)] == [secret]
    assert sum(isinstance(r, CeremonyExpired) for r in results) == 7


async def test_two_assertions_with_one_counter_value_cannot_both_pass(deps: Deps, clock: FakeClock) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    async with deps.uow() as uow:
        account = await uow.accounts.add(
            email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=START
        )
        authenticator.create(
            {
                "rp": {"id": "tenure.example", "name": "Tenure"},
                "user": {"id": b64url_encode(account.id.bytes), "name": account.email},
                "challenge": b64url_encode(b"registration-not-under-test"),
            }
        )
        stored = authenticator.credentials[0]
        passkey = await uow.passkeys.add(
            account_id=account.id,
            credential_id=stored.credential_id,
            public_key=cose_public_key(stored.private_key),
            sign_count=0,
            name="Key",
            aaguid=str(uuid.UUID(int=0)),
            backed_up=False,
            now=START,
        )
        await uow.commit()

    answers = []
    for _ in range(2):
        challenge_id, secret = await challenge(deps)
        options = {"challenge": b64url_encode(secret), "rpId": "tenure.example"}
        answers.append(PasskeyAnswer(challenge_id=challenge_id, credential=authenticator.get(options, sign_count=1)))

    async def sign_in(answer: PasskeyAnswer) -> str:
        async with deps.uow() as uow:
            try:
                await verified_passkey(
                    deps, uow, answer, ChallengeKind.PASSKEY_ASSERTION, require_user_verification=True
                )
            except InvalidCredentials:
                await uow.commit()
                return "refused"
            await asyncio.sleep(0.05)
            await uow.commit()
            return "signed in"

    assert sorted(await asyncio.gather(*(sign_in(a) for a in answers))) == ["refused", "signed in"]
    async with deps.uow() as uow:
        after = await uow.passkeys.by_credential_id(passkey.credential_id)
    assert after is not None
    assert after.sign_count == 1


async def test_a_credential_id_belongs_to_one_account(deps: Deps) -> None:
    credential_id = uuid.uuid4().bytes
    async with deps.uow() as uow:
        first = await uow.accounts.add(
            email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=START
        )
        second = await uow.accounts.add(
            email=f"{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=START
        )
        fields = {"public_key": b"k", "sign_count": 0, "name": "Key", "aaguid": "0", "backed_up": False, "now": START}
        await uow.passkeys.add(account_id=first.id, credential_id=credential_id, **fields)  # type: ignore[arg-type]
        with pytest.raises(ConflictError):
            await uow.passkeys.add(account_id=second.id, credential_id=credential_id, **fields)  # type: ignore[arg-type]
        await uow.commit()
        owner = await uow.passkeys.by_credential_id(credential_id)
    assert owner is not None
    assert owner.account_id == first.id


async def test_the_purge_removes_only_challenges_expired_over_a_day_ago(deps: Deps, clock: FakeClock) -> None:
    old, _ = await challenge(deps)
    clock.advance(timedelta(days=1))
    recent, _ = await challenge(deps)
    clock.advance(timedelta(minutes=6))  # both expired now; only the first over a day ago
    assert await purge_challenges(deps, {}) >= 1
    async with deps.uow() as uow:
        assert await uow.challenges.get_for_update(old) is None
        assert await uow.challenges.get_for_update(recent) is not None
