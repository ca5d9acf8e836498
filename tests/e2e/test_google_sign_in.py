"""Google sign-in end to end (issue 10, RELIABILITY.md 21) against a local fake OpenID provider with its own
signing keys: the real `HttpOpenIdProvider`, the app's routes, and the browser's cookies.

A browser here is a test client (its cookie jar holds the flow's binding cookie and the session) plus plain httpx
standing in for the provider's pages: it follows the authorization URL to the fake, which answers with the
redirect back to our callback."""

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from adapters.email.sandbox import SandboxEmailSender
from adapters.sql import models
from adapters.sql.engine import create_engine, session_factory
from entrypoints.bootstrap import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import open_client
from tests.e2e.test_auth import SESSION_COOKIE, signed_up_and_verified
from tests.e2e.test_second_factor_and_roles import code_at, enrol, sign_in
from tests.fakes import FakeClock
from tests.provider_fakes.oidc_server import FakeOidcProvider, FakeOidcUser, run_fake_oidc_provider

pytestmark = pytest.mark.usefixtures("worker")

PUBLIC = "https://tenure.test"
CALLBACK_PREFIX = f"{PUBLIC}/api/auth/oidc/google/callback"


@pytest.fixture
def google() -> Iterator[FakeOidcProvider]:
    """The fake provider in a thread of its own: the test client calls the app from this loop's thread and waits
    for it, so a fake served in this loop could not answer the app's calls."""
    ready, stop = threading.Event(), threading.Event()
    served: dict[str, Any] = {}

    async def serve() -> None:
        try:
            async with run_fake_oidc_provider() as fake:
                served["fake"] = fake
                ready.set()
                await asyncio.to_thread(stop.wait)
        except BaseException as exc:
            served["error"] = exc
            ready.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="fake-google", daemon=True)
    thread.start()
    assert ready.wait(15), "the fake provider did not start"
    if "error" in served:
        raise served["error"]
    yield served["fake"]
    stop.set()
    thread.join(15)


@pytest.fixture
def google_settings(test_settings: Settings, google: FakeOidcProvider) -> Settings:
    return msgspec.structs.replace(
        test_settings,
        public_url=PUBLIC,
        google_client_id=google.client_id,
        google_client_secret=google.client_secret,
        google_issuer=google.base_url,
    )


def browser_app(settings: Settings) -> Litestar:
    """Each browser gets its own app and container: a test client runs the app in its own event loop."""
    return create_app(container=build_container(settings))


def new_person() -> FakeOidcUser:
    return FakeOidcUser(subject=str(uuid.uuid4().int)[:21], email=f"g-{uuid.uuid4().hex[:12]}@example.com")


async def to_provider(client: AsyncTestClient[Litestar]) -> str:
    """Start the flow and pass the provider's (skipped) consent screen: the callback URL the provider redirects to."""
    started = await client.post("/api/auth/oidc/google/start")
    assert started.status_code == 200, started.text
    url = started.json()["authorizationUrl"]
    async with httpx.AsyncClient(follow_redirects=False) as provider_pages:
        answer = await provider_pages.get(url)
    assert answer.status_code == 302, answer.text
    callback = answer.headers["location"]
    assert callback.startswith(CALLBACK_PREFIX), callback
    return callback


async def back_from_provider(client: AsyncTestClient[Litestar], callback: str) -> dict[str, list[str]]:
    """Follow the provider's redirect into our callback; the query of where we then send the browser."""
    parts = urlsplit(callback)
    response = await client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert response.status_code == 303, response.text
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == PUBLIC
    return {"path": [target.path], **parse_qs(target.query)}


async def google_sign_in(client: AsyncTestClient[Litestar]) -> dict[str, list[str]]:
    return await back_from_provider(client, await to_provider(client))


async def count(settings: Settings, model: Any, *where: Any) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    finally:
        await engine.dispose()


async def test_sign_in_with_google_creates_a_member_and_signs_them_in_again(
    google_settings: Settings, google: FakeOidcProvider
) -> None:
    person = google.user = new_person()
    async with open_client(browser_app(google_settings)) as browser:
        outcome = await google_sign_in(browser)
        assert outcome == {"path": ["/sign-in/callback"], "result": ["signed_in"]}
        session = (await browser.get("/api/auth/session")).json()
        assert session["email"] == person.email
        assert session["role"] == "member"
        assert session["secondFactor"] is False
        linked = (await browser.get("/api/auth/identities")).json()["items"]
        assert [(i["provider"], i["email"]) for i in linked] == [("google", person.email)]
        token_calls = [r for r in google.requests if r["endpoint"] == "token"]
        assert token_calls[-1]["params"]["code_verifier"] == "<redacted>", "the PKCE verifier was sent"
        authorize = next(r for r in google.requests if r["endpoint"] == "authorize")
        assert authorize["params"]["code_challenge_method"] == "S256"

    async with open_client(browser_app(google_settings)) as other_day:
        assert (await google_sign_in(other_day))["result"] == ["signed_in"]
        assert (await other_day.get("/api/auth/session")).json()["accountId"] == session["accountId"]
        no_password = await sign_in(other_day, person.email)
        assert no_password.status_code == 401, "a Google-only account has no password to guess"
    assert await count(google_settings, models.Account, models.Account.email == person.email) == 1


async def test_the_state_is_bound_to_the_browser_that_started_and_used_once(
    google_settings: Settings, google: FakeOidcProvider
) -> None:
    google.user = new_person()
    async with (
        open_client(browser_app(google_settings)) as victim,
        open_client(browser_app(google_settings)) as attacker,
    ):
        callback = await to_provider(victim)

        pushed = await back_from_provider(attacker, callback)
        assert pushed["error"] == ["expired"], "another browser's callback (login CSRF) finds no flow"
        assert not attacker.cookies.get(SESSION_COOKIE)

        parts = urlsplit(callback)
        query = parse_qs(parts.query)
        head, _, secret = query["state"][0].partition(".")
        forged = f"{parts.path}?code={query['code'][0]}&state={head}.{'x' * len(secret)}"
        tampered = await victim.get(forged, follow_redirects=False)
        assert parse_qs(urlsplit(tampered.headers["location"]).query)["error"] == ["expired"]

    async with open_client(browser_app(google_settings)) as victim:
        callback = await to_provider(victim)
        assert (await back_from_provider(victim, callback))["result"] == ["signed_in"]
        replayed = await back_from_provider(victim, callback)
        assert replayed["error"] == ["expired"], "a callback is used once"


@pytest.mark.parametrize(
    ("knob", "value", "reason"),
    [
        ("nonce_override", "a-nonce-from-another-sign-in", "token_invalid"),
        ("audience_override", "someone-elses-client-id", "token_invalid"),
        ("issuer_override", "https://accounts.example.evil", "token_invalid"),
        ("issued_at_offset_s", -3600, "token_invalid"),
        ("sign_with_foreign_key", True, "provider_refused"),
    ],
)
async def test_a_bad_id_token_signs_nobody_in(
    google_settings: Settings, google: FakeOidcProvider, knob: str, value: Any, reason: str
) -> None:
    person = google.user = new_person()
    setattr(google, knob, value)
    async with open_client(browser_app(google_settings)) as browser:
        outcome = await google_sign_in(browser)
        assert outcome == {"path": ["/sign-in/callback"], "error": [reason]}
        assert not browser.cookies.get(SESSION_COOKIE)
        assert (await browser.get("/api/auth/session")).status_code == 401
    assert await count(google_settings, models.Account, models.Account.email == person.email) == 0
    assert await count(google_settings, models.LinkedIdentity, models.LinkedIdentity.subject == person.subject) == 0


async def test_a_cancelled_consent_or_an_unverified_google_email_signs_nobody_in(
    google_settings: Settings, google: FakeOidcProvider
) -> None:
    google.user = None
    async with open_client(browser_app(google_settings)) as browser:
        assert (await google_sign_in(browser))["error"] == ["cancelled"]
    person = google.user = FakeOidcUser(
        subject="1099", email=f"u-{uuid.uuid4().hex[:8]}@example.com", email_verified=False
    )
    async with open_client(browser_app(google_settings)) as browser:
        assert (await google_sign_in(browser))["error"] == ["email_unverified"]
    assert await count(google_settings, models.Account, models.Account.email == person.email) == 0


async def test_an_existing_email_account_is_never_linked_silently(
    google_settings: Settings, google: FakeOidcProvider, mailbox: SandboxEmailSender
) -> None:
    async with open_client(browser_app(google_settings)) as owner:
        email = await signed_up_and_verified(owner, mailbox)
        assert (await sign_in(owner, email)).status_code == 200
        account_id = (await owner.get("/api/auth/session")).json()["accountId"]

        google.user = FakeOidcUser(subject=str(uuid.uuid4().int)[:21], email=email)
        async with open_client(browser_app(google_settings)) as stranger:
            refused = await google_sign_in(stranger)
            assert refused["error"] == ["account_exists"]
            assert not stranger.cookies.get(SESSION_COOKIE)
        assert (await owner.get("/api/auth/identities")).json()["items"] == []

        linked = await google_sign_in(owner)  # signed in (recently): this links
        assert linked == {"path": ["/settings/security"], "linked": ["google"]}
        assert [i["provider"] for i in (await owner.get("/api/auth/identities")).json()["items"]] == ["google"]

    async with open_client(browser_app(google_settings)) as later:
        assert (await google_sign_in(later))["result"] == ["signed_in"]
        assert (await later.get("/api/auth/session")).json()["accountId"] == account_id


async def test_one_google_account_links_to_one_of_ours(
    google_settings: Settings, google: FakeOidcProvider, mailbox: SandboxEmailSender
) -> None:
    google.user = new_person()
    async with open_client(browser_app(google_settings)) as first:
        assert (await google_sign_in(first))["result"] == ["signed_in"]
    async with open_client(browser_app(google_settings)) as second:
        email = await signed_up_and_verified(second, mailbox)
        assert (await sign_in(second, email)).status_code == 200
        refused = await google_sign_in(second)
        assert refused["error"] == ["linked_elsewhere"]
        assert (await second.get("/api/auth/identities")).json()["items"] == []


async def test_unlinking_needs_another_way_in(
    google_settings: Settings, google: FakeOidcProvider, mailbox: SandboxEmailSender
) -> None:
    google.user = new_person()
    async with open_client(browser_app(google_settings)) as google_only:
        assert (await google_sign_in(google_only))["result"] == ["signed_in"]
        identity = (await google_only.get("/api/auth/identities")).json()["items"][0]
        last = await google_only.delete(f"/api/auth/identities/{identity['id']}")
        assert last.status_code == 403, last.text
        assert "another way to sign in" in last.json()["detail"]

    google.user = new_person()
    async with open_client(browser_app(google_settings)) as member, open_client(browser_app(google_settings)) as other:
        email = await signed_up_and_verified(member, mailbox)
        assert (await sign_in(member, email)).status_code == 200
        assert (await google_sign_in(member))["linked"] == ["google"]
        identity = (await member.get("/api/auth/identities")).json()["items"][0]

        other_email = await signed_up_and_verified(other, mailbox)
        assert (await sign_in(other, other_email)).status_code == 200
        assert (await other.delete(f"/api/auth/identities/{identity['id']}")).status_code == 404

        assert (await member.delete(f"/api/auth/identities/{identity['id']}")).status_code == 204
        assert (await member.get("/api/auth/identities")).json()["items"] == []


async def test_google_into_an_account_with_totp_still_asks_for_the_code(
    google_settings: Settings, google: FakeOidcProvider, mailbox: SandboxEmailSender
) -> None:
    clock = FakeClock(datetime.now(UTC))
    async with open_client(browser_app(google_settings)) as owner:
        email = await signed_up_and_verified(owner, mailbox)
        assert (await sign_in(owner, email)).status_code == 200
        google.user = FakeOidcUser(subject=str(uuid.uuid4().int)[:21], email=email)
        assert (await google_sign_in(owner))["linked"] == ["google"]
        secret, _ = await enrol(owner, clock)

    async with open_client(browser_app(google_settings)) as browser:
        pending = await google_sign_in(browser)
        assert pending["result"] == ["second_factor"]
        assert not browser.cookies.get(SESSION_COOKIE), "no session before the code"
        body: dict[str, Any] = {"pendingId": pending["pending"][0], "code": "000000"}
        wrong = await browser.post("/api/auth/oidc/second-factor", json=body)
        assert wrong.status_code == 400
        assert wrong.json()["code"] == "invalid_code"

        async with open_client(browser_app(google_settings)) as elsewhere:
            stolen = await elsewhere.post(
                "/api/auth/oidc/second-factor", json={**body, "code": code_at(secret, FakeClock(datetime.now(UTC)))}
            )
            assert stolen.status_code == 400, "the pending sign-in belongs to the browser that started it"
            assert stolen.json()["code"] == "ceremony_expired"

        next_step = code_at(secret, FakeClock(datetime.now(UTC)), offset_steps=1)  # enrolment used this step's
        done = await browser.post("/api/auth/oidc/second-factor", json={**body, "code": next_step})
        assert done.status_code == 200, done.text
        assert done.json()["email"] == email
        assert done.json()["secondFactor"] is True


async def test_google_sign_in_is_not_offered_unless_configured(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/api/auth/oidc/google/start")
    assert response.status_code == 404
    assert response.json()["code"] == "not_offered"
    callback = await client.get("/api/auth/oidc/google/callback?state=x&code=y", follow_redirects=False)
    assert callback.status_code == 404
    assert (await client.post("/api/auth/oidc/facebook/start")).status_code == 404
