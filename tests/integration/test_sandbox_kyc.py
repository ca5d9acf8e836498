"""The offline sandbox identity-verification provider (embedded default) on PostgreSQL, and its hosted page.

It must behave like Plaid Identity Verification as our use cases see it: create is idempotent per user, retry makes
a new attempt, an ended attempt never changes, and every status change is announced by a webhook signed like
Plaid's (an ES256 JWT over the body's SHA-256) and handed to `deliver` only after the change is stored. The
signature is checked here independently of the adapter, with `cryptography` alone."""

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sandbox.kyc import SandboxIdentityVerifier
from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, ensure_sqlite_directory, session_factory
from entrypoints.http.app import CSRF_COOKIE, CSRF_HEADER
from entrypoints.http.problems import exception_handlers
from entrypoints.http.sandbox_kyc import SANDBOX_KYC_STATE_KEY, create_sandbox_kyc_router
from entrypoints.http.strict_body import validate_body_strictly
from ports.outbound.kyc import KycProviderError, VerificationFacts
from tests.fakes import FakeClock

SECRET = b"sandbox-kyc-test-secret-0123456789"
BASE_URL = "http://localhost:8000"
START = datetime(2031, 3, 1, 12, 0, 0, tzinfo=UTC)


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Deliveries:
    """A `deliver` callback that keeps what it was given (and can be told to fail)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.fail = False
        self.seen_status: list[str] = []
        self.verifier: SandboxIdentityVerifier | None = None

    async def __call__(self, body: bytes, headers: dict[str, str]) -> None:
        if self.fail:
            raise ConnectionError("webhook intake is down")
        if self.verifier is not None:  # what the job would read: the change must already be stored
            attempt_id = json.loads(body)["identity_verification_id"]
            self.seen_status.append((await self.verifier.get(attempt_id)).status)
        self.received.append((body, headers))

    def ids(self) -> list[str]:
        return [json.loads(body)["identity_verification_id"] for body, _ in self.received]


class Sandbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secret: bytes = SECRET) -> None:
        self.clock = FakeClock(START)
        self.deliveries = Deliveries()
        self.sessions = sessions
        self.secret = secret
        self.verifier = self.new_verifier()
        self.deliveries.verifier = self.verifier

    def new_verifier(self) -> SandboxIdentityVerifier:
        return SandboxIdentityVerifier(
            self.sessions,
            self.clock,
            production=False,
            deliver=self.deliveries,
            base_url=BASE_URL,
            signing_secret=self.secret,
        )


_users = iter(range(1_000_000))


def user() -> str:
    return f"person-{next(_users)}-{id(object())}"


@pytest.fixture
def sandbox(engine: AsyncEngine) -> Sandbox:
    return Sandbox(session_factory(engine))


async def verify_plaid_jwt(body: bytes, headers: dict[str, str], verifier: SandboxIdentityVerifier) -> dict[str, Any]:
    """Verify a delivered webhook as Plaid's docs describe, independently of the adapter; returns the claims."""
    token = headers["plaid-verification"]
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    assert header == {"alg": "ES256", "kid": header["kid"], "typ": "JWT"}
    jwk = await verifier.verification_key(header["kid"])
    assert jwk["alg"] == "ES256"
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    assert jwk["use"] == "sig"
    assert jwk["kid"] == header["kid"]
    assert jwk["expired_at"] is None
    assert isinstance(jwk["created_at"], int)
    public_key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"), int.from_bytes(b64url_decode(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    raw = b64url_decode(signature_b64)
    assert len(raw) == 64, "ES256 signatures are raw r||s"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(b64url_decode(claims_b64))
    assert set(claims) == {"iat", "request_body_sha256"}
    assert claims["request_body_sha256"] == hashlib.sha256(body).hexdigest()
    return claims


# ---- construction -----------------------------------------------------------------------------------------------


def test_the_sandbox_refuses_to_run_in_production(engine: AsyncEngine) -> None:
    async def deliver(body: bytes, headers: dict[str, str]) -> None: ...

    with pytest.raises(RuntimeError, match="the sandbox identity provider cannot run in production"):
        SandboxIdentityVerifier(
            session_factory(engine),
            FakeClock(START),
            production=True,
            deliver=deliver,
            base_url=BASE_URL,
            signing_secret=SECRET,
        )
    with pytest.raises(ValueError, match="secret"):
        SandboxIdentityVerifier(
            session_factory(engine),
            FakeClock(START),
            production=False,
            deliver=deliver,
            base_url=BASE_URL,
            signing_secret=b"",
        )


# ---- start --------------------------------------------------------------------------------------------------------


async def test_start_is_idempotent_per_user_and_retry_makes_a_new_attempt(sandbox: Sandbox) -> None:
    person = user()
    first = await sandbox.verifier.start(client_user_id=person, email="p@example.com", retry=False)
    assert re.fullmatch(r"idv_[A-Za-z0-9]{14}", first.attempt_id)
    assert first.status == "active"
    assert first.url == f"{BASE_URL}/sandbox/kyc/{first.attempt_id}"
    assert first.created_at == START

    sandbox.clock.advance(timedelta(minutes=3))
    again = await sandbox.verifier.start(client_user_id=person, email="p@example.com", retry=False)
    assert again == first, "create is idempotent per user while the attempt is in progress"
    other = await sandbox.verifier.start(client_user_id=user(), email=None, retry=False)
    assert other.attempt_id != first.attempt_id

    retried = await sandbox.verifier.start(client_user_id=person, email="p@example.com", retry=True)
    assert retried.attempt_id != first.attempt_id
    assert retried.status == "active"
    assert retried.created_at == START + timedelta(minutes=3)
    assert (await sandbox.verifier.start(client_user_id=person, email=None, retry=False)) == retried
    details = await sandbox.verifier.details(retried.attempt_id)
    assert details is not None
    assert details["previous_attempt_id"] == first.attempt_id
    assert [a["id"] for a in await sandbox.verifier.attempts(person)] == [first.attempt_id, retried.attempt_id]
    assert sandbox.deliveries.received == [], "creating an attempt changes no status: no webhook"

    facts = await sandbox.verifier.get(first.attempt_id)
    assert facts == VerificationFacts(
        attempt_id=first.attempt_id, client_user_id=person, status="active", status_at=START
    )


# ---- outcomes -----------------------------------------------------------------------------------------------------


async def complete(sandbox: Sandbox, outcome: str, person: str | None = None) -> VerificationFacts:
    session = await sandbox.verifier.start(client_user_id=person or user(), email=None, retry=True)
    sandbox.clock.advance(timedelta(minutes=5))
    facts = await sandbox.verifier.complete(session.attempt_id, outcome)
    assert facts == await sandbox.verifier.get(session.attempt_id)
    assert facts.status_at == sandbox.clock.now()
    return facts


async def test_each_outcome_gives_plaid_shaped_facts(sandbox: Sandbox) -> None:
    passed = await complete(sandbox, "pass")
    assert passed.status == "success"
    assert passed.failure_reasons == ()
    assert passed.country == "US"
    assert passed.date_of_birth == date(1990, 1, 15)
    assert passed.given_name
    assert passed.family_name
    assert passed.given_name.isalpha()
    assert passed.family_name.isalpha()
    assert passed.id_number == "123456789"
    assert "123456789" not in repr(passed)
    assert passed.family_name not in repr(passed)

    failed = await complete(sandbox, "fail")
    assert failed.status == "failed"
    assert failed.failure_reasons == ("documentary_verification",)

    review = await complete(sandbox, "review")
    assert review.status == "pending_review"
    assert review.failure_reasons == ()
    assert review.date_of_birth == date(1990, 1, 15)

    expired = await complete(sandbox, "expire")
    assert expired.status == "expired"
    assert expired.date_of_birth is None
    assert expired.id_number is None
    assert expired.country is None

    canceled = await complete(sandbox, "cancel")
    assert canceled.status == "canceled"
    assert canceled.failure_reasons == ()

    duplicate = await complete(sandbox, "duplicate")
    assert duplicate.status == "success"
    assert duplicate.id_number == "123456789"

    assert sandbox.deliveries.ids() == [
        passed.attempt_id,
        failed.attempt_id,
        review.attempt_id,
        expired.attempt_id,
        canceled.attempt_id,
        duplicate.attempt_id,
    ]
    assert sandbox.deliveries.seen_status == ["success", "failed", "pending_review", "expired", "canceled", "success"]


async def test_a_reviewer_decides_an_attempt_in_review_and_ended_attempts_never_change(sandbox: Sandbox) -> None:
    approved = await complete(sandbox, "review")
    sandbox.clock.advance(timedelta(hours=2))
    facts = await sandbox.verifier.complete(approved.attempt_id, "pass")
    assert facts.status == "success"
    assert facts.status_at == sandbox.clock.now()
    assert facts.family_name == approved.family_name

    rejected = await complete(sandbox, "review")
    facts = await sandbox.verifier.complete(rejected.attempt_id, "fail")
    assert facts.status == "failed"
    assert facts.failure_reasons == ("watchlist_screening",)
    with pytest.raises(KycProviderError):
        await sandbox.verifier.complete(rejected.attempt_id, "expire")

    for outcome in ("pass", "fail", "expire", "cancel"):
        ended = await complete(sandbox, outcome)
        delivered = len(sandbox.deliveries.received)
        for later in ("pass", "fail", "review", "duplicate", "expire", "cancel"):
            with pytest.raises(KycProviderError) as refused:
                await sandbox.verifier.complete(ended.attempt_id, later)
            assert refused.value.status == 400
        assert (await sandbox.verifier.get(ended.attempt_id)) == ended
        assert len(sandbox.deliveries.received) == delivered

    with pytest.raises(ValueError, match="unknown outcome"):
        await sandbox.verifier.complete(approved.attempt_id, "maybe")
    with pytest.raises(KycProviderError):
        await sandbox.verifier.get("idv_doesnotexist00")
    with pytest.raises(KycProviderError):
        await sandbox.verifier.complete("idv_doesnotexist00", "pass")


async def test_duplicate_gives_the_same_identity_to_different_people(sandbox: Sandbox) -> None:
    first = await complete(sandbox, "duplicate")
    second = await complete(sandbox, "duplicate")
    assert first.client_user_id != second.client_user_id
    same = ("given_name", "family_name", "date_of_birth", "id_number", "country")
    assert [getattr(first, f) for f in same] == [getattr(second, f) for f in same]

    # `pass` gives each person their own identity (else every member would look like a duplicate) ...
    one, two = await complete(sandbox, "pass"), await complete(sandbox, "pass")
    assert (one.given_name, one.family_name) != (two.given_name, two.family_name)
    assert (one.given_name, one.family_name) != (first.given_name, first.family_name)
    # ... and the same one on every attempt of that person
    again = await complete(sandbox, "pass", person=one.client_user_id)
    assert again.attempt_id != one.attempt_id
    assert [getattr(again, f) for f in same] == [getattr(one, f) for f in same]


# ---- webhooks -----------------------------------------------------------------------------------------------------


async def test_delivered_webhooks_are_plaid_shaped_and_signed(sandbox: Sandbox) -> None:
    facts = await complete(sandbox, "pass")
    [(body, headers)] = sandbox.deliveries.received
    assert json.loads(body) == {
        "webhook_type": "IDENTITY_VERIFICATION",
        "webhook_code": "STATUS_UPDATED",
        "identity_verification_id": facts.attempt_id,
        "environment": "sandbox",
    }
    assert list(json.loads(body)) == ["webhook_type", "webhook_code", "identity_verification_id", "environment"]
    claims = await verify_plaid_jwt(body, headers, sandbox.verifier)
    assert claims["iat"] == int(sandbox.clock.now().timestamp())

    # the signature covers the exact bytes: any other body fails the hash, an altered token fails the signature
    assert hashlib.sha256(body + b" ").hexdigest() != claims["request_body_sha256"]
    header_b64, _, signature_b64 = headers["plaid-verification"].split(".")
    forged_claims = dict(claims, iat=claims["iat"] + 600)
    forged_b64 = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        forged = f"{header_b64}.{forged_b64}.{signature_b64}"
        await verify_plaid_jwt(body, {"plaid-verification": forged}, sandbox.verifier)

    kid = json.loads(b64url_decode(header_b64))["kid"]
    assert kid == sandbox.verifier.kid
    with pytest.raises(LookupError):
        await sandbox.verifier.verification_key("not-" + kid)
    assert (await sandbox.verifier.verification_key(kid))["kid"] == kid


async def test_another_secret_gives_another_key(engine: AsyncEngine) -> None:
    one = Sandbox(session_factory(engine), secret=b"one-secret-0123456789")
    two = Sandbox(session_factory(engine), secret=b"two-secret-0123456789")
    assert one.verifier.kid != two.verifier.kid
    facts = await complete(one, "pass")
    body, headers = one.deliveries.received[0]
    with pytest.raises(LookupError):
        await verify_plaid_jwt(body, headers, two.verifier)
    assert facts.status == "success"


async def test_a_failed_delivery_is_sent_again(sandbox: Sandbox) -> None:
    sandbox.deliveries.fail = True
    facts = await complete(sandbox, "fail")
    assert sandbox.deliveries.received == []
    assert (await sandbox.verifier.get(facts.attempt_id)).status == "failed", "stored although not delivered"

    sandbox.deliveries.fail = False
    assert await sandbox.verifier.deliver_pending() == 1
    assert sandbox.deliveries.ids() == [facts.attempt_id]
    body, headers = sandbox.deliveries.received[0]
    await verify_plaid_jwt(body, headers, sandbox.verifier)
    assert await sandbox.verifier.deliver_pending() == 0
    assert len(sandbox.deliveries.received) == 1


# ---- persistence --------------------------------------------------------------------------------------------------


async def test_attempts_and_the_key_survive_a_restart(sandbox: Sandbox) -> None:
    person = user()
    session = await sandbox.verifier.start(client_user_id=person, email=None, retry=False)
    done = await complete(sandbox, "review")
    key = await sandbox.verifier.verification_key(sandbox.verifier.kid)

    restarted = sandbox.new_verifier()
    assert restarted.kid == sandbox.verifier.kid
    assert await restarted.verification_key(restarted.kid) == key
    assert (await restarted.start(client_user_id=person, email=None, retry=False)) == session
    assert await restarted.get(done.attempt_id) == done
    facts = await restarted.complete(done.attempt_id, "pass")
    assert facts.status == "success"
    body, headers = sandbox.deliveries.received[-1]
    await verify_plaid_jwt(body, headers, sandbox.verifier)  # signed by the new instance, verified with the old key

    async with sandbox.sessions() as db:
        kinds = (
            await db.scalars(
                select(models.SandboxPaymentObject.kind).where(models.SandboxPaymentObject.id == session.attempt_id)
            )
        ).all()
    assert kinds == ["identity_verification"]


async def test_a_verification_on_sqlite_survives_a_restart(tmp_path: Path) -> None:
    """The embedded default's database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'tenure.db'}"
    ensure_sqlite_directory(url)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(url)
    try:
        sandbox = Sandbox(session_factory(engine))
        person = user()
        session = await sandbox.verifier.start(client_user_id=person, email="p@example.com", retry=False)
        assert await sandbox.verifier.start(client_user_id=person, email=None, retry=False) == session
        restarted = sandbox.new_verifier()
        facts = await restarted.complete(session.attempt_id, "pass")
        assert facts.status == "success"
        assert await sandbox.verifier.get(session.attempt_id) == facts
        body, headers = sandbox.deliveries.received[0]
        await verify_plaid_jwt(body, headers, sandbox.verifier)
    finally:
        await engine.dispose()


# ---- pages --------------------------------------------------------------------------------------------------------


@pytest.fixture
async def pages_sandbox(pg_database: str) -> AsyncIterator[Sandbox]:
    """The test client runs the app in another event loop: no pooled connection may cross between the two."""
    engine = create_async_engine(pg_database, poolclass=NullPool)
    yield Sandbox(session_factory(engine))
    await engine.dispose()


@pytest.fixture
def pages_app(pages_sandbox: Sandbox) -> Litestar:
    """The router under the API's own CSRF, strict-body and problem-document configuration."""
    app = Litestar(
        route_handlers=[create_sandbox_kyc_router()],
        csrf_config=CSRFConfig(secret="s" * 32, cookie_name=CSRF_COOKIE, header_name=CSRF_HEADER),
        exception_handlers=exception_handlers,
        before_request=validate_body_strictly,
    )
    app.state[SANDBOX_KYC_STATE_KEY] = pages_sandbox.verifier
    return app


async def test_the_hosted_page_completes_a_verification(pages_app: Litestar, pages_sandbox: Sandbox) -> None:
    sandbox = pages_sandbox
    sandbox.deliveries.verifier = None  # the app's event loop reads; the callback only records
    session = await sandbox.verifier.start(client_user_id=user(), email=None, retry=False)
    assert session.url is not None
    path = session.url.removeprefix(BASE_URL)
    async with AsyncTestClient(pages_app, base_url="https://sandbox.test") as client:
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert '<html lang="en">' in page.text
        assert '<strong id="status">active</strong>' in page.text
        for outcome, label in [
            ("pass", "Pass"),
            ("fail", "Fail"),
            ("review", "Needs review"),
            ("duplicate", "Duplicate identity"),
            ("expire", "Expire"),
        ]:
            assert f'action="/sandbox/kyc/{session.attempt_id}/{outcome}"' in page.text
            assert f">{label}</button>" in page.text
        found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert found is not None, "the forms carry the CSRF token"
        form = {"_csrf_token": found.group(1)}

        forged = await client.post(f"{path}/pass", follow_redirects=False)
        assert forged.status_code == 403  # no token: refused like every other unsafe route
        assert sandbox.deliveries.received == []
        assert (await sandbox.verifier.get(session.attempt_id)).status == "active"

        reviewed = await client.post(f"{path}/review", data=form, follow_redirects=False)
        assert reviewed.status_code == 303
        assert reviewed.headers["location"] == path
        page = await client.get(path)
        assert '<strong id="status">pending_review</strong>' in page.text
        assert ">Approve</button>" in page.text
        assert ">Reject</button>" in page.text
        assert f'action="/sandbox/kyc/{session.attempt_id}/expire"' not in page.text

        rejected = await client.post(f"{path}/fail", data=form)  # follows the redirect
        assert rejected.status_code == 200
        assert '<strong id="status">failed</strong>' in rejected.text
        assert "watchlist_screening" in rejected.text
        assert "<form" not in rejected.text
        assert sandbox.deliveries.ids() == [session.attempt_id, session.attempt_id]
        for body, headers in sandbox.deliveries.received:
            await verify_plaid_jwt(body, headers, sandbox.verifier)

        again = await client.post(f"{path}/pass", data=form, follow_redirects=False)
        assert again.status_code == 409
        assert 'role="alert"' in again.text
        assert (await client.post(f"{path}/maybe", data=form)).status_code == 404
        assert (await client.get("/sandbox/kyc/idv_nothing0000000")).status_code == 404
        assert (await client.post("/sandbox/kyc/idv_nothing0000000/pass", data=form)).status_code == 404
    assert (await sandbox.verifier.get(session.attempt_id)).status == "failed"


async def test_the_page_is_absent_without_the_sandbox() -> None:
    app = Litestar(route_handlers=[create_sandbox_kyc_router()], exception_handlers=exception_handlers)
    async with AsyncTestClient(app, base_url="https://sandbox.test") as client:
        assert (await client.get("/sandbox/kyc/idv_anything000000")).status_code == 404
