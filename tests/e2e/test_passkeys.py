"""Passkeys end to end (issue 10, RELIABILITY.md 20): registration, passwordless sign-in, a passkey as the second
factor and for step-up, staff using one instead of TOTP; and the refusals: a replayed assertion, a wrong origin, a
signature-counter regression, an expired or reused challenge, someone else's passkey.

A software authenticator (`tests.webauthn_authenticator`) plays the browser at the SPA's origin, the default
`http://localhost:8000` whose host is the RP id."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from adapters.email.sandbox import SandboxEmailSender
from adapters.sql import models
from adapters.sql.engine import create_engine, session_factory
from entrypoints.bootstrap import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from ports.usecases import roles
from tests.e2e.conftest import open_client
from tests.e2e.test_auth import PASSWORD, SESSION_COOKIE, new_email, signed_up_and_verified
from tests.e2e.test_second_factor_and_roles import enrol, sign_in
from tests.fakes import FakeClock
from tests.webauthn_authenticator import SoftAuthenticator, b64url_decode

pytestmark = pytest.mark.usefixtures("worker")

ORIGIN = "http://localhost:8000"


@pytest.fixture
async def member(
    frozen_app: Litestar, mailbox: SandboxEmailSender
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], str]]:
    async with open_client(frozen_app) as client:
        email = await signed_up_and_verified(client, mailbox)
        assert (await sign_in(client, email)).status_code == 200
        yield client, email


@pytest.fixture
def other_app(test_settings: Settings, clock: FakeClock) -> Litestar:
    """Another browser: a second test client needs its own app and container (each runs in its own loop)."""
    return create_app(container=build_container(test_settings, clock=clock))


@pytest.fixture
def third_app(test_settings: Settings, clock: FakeClock) -> Litestar:
    return create_app(container=build_container(test_settings, clock=clock))


async def register(client: AsyncTestClient[Litestar], authenticator: SoftAuthenticator, name: str = "Laptop") -> Any:
    started = await client.post("/api/auth/passkeys/registration/options")
    assert started.status_code == 200, started.text
    ceremony = started.json()
    credential = authenticator.create(ceremony["publicKey"])
    created = await client.post(
        "/api/auth/passkeys", json={"challengeId": ceremony["challengeId"], "credential": credential, "name": name}
    )
    assert created.status_code == 201, created.text
    return created.json()


async def passkey_step_up(client: AsyncTestClient[Litestar], authenticator: SoftAuthenticator) -> None:
    """Prove the passkey again in this session (adding another second factor needs a session that proved one)."""
    ceremony = (await client.post("/api/auth/passkeys/step-up/options")).json()
    stepped = await client.post(
        "/api/auth/passkeys/step-up",
        json={"challengeId": ceremony["challengeId"], "credential": authenticator.get(ceremony["publicKey"])},
    )
    assert stepped.status_code == 200, stepped.text


async def assertion(
    client: AsyncTestClient[Litestar], authenticator: SoftAuthenticator, **overrides: Any
) -> dict[str, Any]:
    """A fresh sign-in challenge answered by `authenticator` (overrides go to `SoftAuthenticator.get`)."""
    started = await client.post("/api/auth/passkeys/sign-in/options")
    assert started.status_code == 200, started.text
    ceremony = started.json()
    return {
        "challengeId": ceremony["challengeId"],
        "credential": authenticator.get(ceremony["publicKey"], **overrides),
    }


async def test_register_rename_and_sign_in_with_a_passkey_alone(
    other_app: Litestar, member: tuple[AsyncTestClient[Litestar], str]
) -> None:
    client, email = member
    authenticator = SoftAuthenticator(origin=ORIGIN)
    account_id = (await client.get("/api/auth/session")).json()["accountId"]

    started = await client.post("/api/auth/passkeys/registration/options")
    options = started.json()["publicKey"]
    assert options["rp"] == {"id": "localhost", "name": "Tenure"}
    assert b64url_decode(options["user"]["id"]).hex() == account_id.replace("-", ""), "the handle is no email"
    assert options["user"]["name"] == email
    assert options["authenticatorSelection"]["residentKey"] == "required"

    created = await register(client, authenticator, name=" Work\nlaptop ")
    assert created["name"] == "Worklaptop", "control characters are removed, the label trimmed"
    listed = (await client.get("/api/auth/passkeys")).json()["items"]
    assert [p["id"] for p in listed] == [created["id"]]
    assert listed[0]["lastUsedAt"] is None
    renamed = await client.patch(f"/api/auth/passkeys/{created['id']}", json={"name": "Phone"})
    assert renamed.status_code == 204
    assert [p["name"] for p in (await client.get("/api/auth/passkeys")).json()["items"]] == ["Phone"]

    refused = await client.post("/api/auth/passkeys/registration/options")
    assert refused.json()["code"] == "step_up_required", "a password session cannot add a second passkey"
    await passkey_step_up(client, authenticator)
    second = (await client.post("/api/auth/passkeys/registration/options")).json()["publicKey"]
    excluded = [b64url_decode(c["id"]) for c in second["excludeCredentials"]]
    assert excluded == [authenticator.credentials[0].credential_id], "a registered device cannot register again"

    async with open_client(other_app) as browser:
        signed_in = await browser.post("/api/auth/passkeys/sign-in", json=await assertion(browser, authenticator))
        assert signed_in.status_code == 200, signed_in.text
        session = signed_in.json()
        assert session["email"] == email
        assert session["secondFactor"] is True, "a user-verified passkey is two factors"
        assert browser.cookies.get(SESSION_COOKIE)
        assert (await browser.get("/api/auth/session")).json()["accountId"] == account_id
    used = (await client.get("/api/auth/passkeys")).json()["items"][0]
    assert used["lastUsedAt"] is not None


async def test_a_replayed_assertion_is_refused(
    other_app: Litestar, third_app: Litestar, member: tuple[AsyncTestClient[Litestar], str]
) -> None:
    client, _ = member
    authenticator = SoftAuthenticator(origin=ORIGIN)
    await register(client, authenticator)
    async with open_client(other_app) as browser, open_client(third_app) as attacker:
        answer = await assertion(browser, authenticator)
        assert (await browser.post("/api/auth/passkeys/sign-in", json=answer)).status_code == 200

        replayed = await attacker.post("/api/auth/passkeys/sign-in", json=answer)
        assert replayed.status_code == 400, replayed.text
        assert replayed.json()["code"] == "ceremony_expired", "the challenge was used"

        fresh = (await attacker.post("/api/auth/passkeys/sign-in/options")).json()
        moved = await attacker.post(
            "/api/auth/passkeys/sign-in",
            json={"challengeId": fresh["challengeId"], "credential": answer["credential"]},
        )
        assert moved.status_code == 401, "an old answer signs another challenge"
        assert moved.json()["code"] == "invalid_credentials"
        assert not attacker.cookies.get(SESSION_COOKIE)


async def test_a_wrong_origin_or_rp_id_is_refused(
    other_app: Litestar, member: tuple[AsyncTestClient[Litestar], str]
) -> None:
    client, _ = member
    authenticator = SoftAuthenticator(origin=ORIGIN)

    phished = await client.post("/api/auth/passkeys/registration/options")
    refused = await client.post(
        "/api/auth/passkeys",
        json={
            "challengeId": phished.json()["challengeId"],
            "credential": authenticator.create(phished.json()["publicKey"], origin="https://tenure.example.evil"),
        },
    )
    assert refused.status_code == 422, refused.text
    assert (await client.get("/api/auth/passkeys")).json()["items"] == []

    first = SoftAuthenticator(origin=ORIGIN)
    await register(client, first)
    await passkey_step_up(client, first)
    authenticator = SoftAuthenticator(origin=ORIGIN)
    await register(client, authenticator, name="second")
    async with open_client(other_app) as browser:
        for overrides in ({"origin": "https://tenure.example.evil"}, {"rp_id": "evil.example"}):
            response = await browser.post(
                "/api/auth/passkeys/sign-in", json=await assertion(browser, authenticator, **overrides)
            )
            assert response.status_code == 401, (overrides, response.text)
            assert response.json()["code"] == "invalid_credentials"
        assert (
            await browser.post("/api/auth/passkeys/sign-in", json=await assertion(browser, authenticator))
        ).status_code == 200, "the same passkey at the right origin still works"


async def test_a_signature_counter_that_goes_back_is_refused(
    other_app: Litestar, member: tuple[AsyncTestClient[Litestar], str], test_settings: Settings
) -> None:
    client, _ = member
    account_id = (await client.get("/api/auth/session")).json()["accountId"]
    authenticator = SoftAuthenticator(origin=ORIGIN, counter_step=1)
    created = await register(client, authenticator)
    async with open_client(other_app) as browser:
        for _ in range(3):
            answer = await assertion(browser, authenticator)
            assert (await browser.post("/api/auth/passkeys/sign-in", json=answer)).status_code == 200
        for cloned_count in (3, 1, 0):
            cloned = await browser.post(
                "/api/auth/passkeys/sign-in", json=await assertion(browser, authenticator, sign_count=cloned_count)
            )
            assert cloned.status_code == 401, (cloned_count, cloned.text)

    engine = create_engine(test_settings.database_url)
    async with session_factory(engine)() as session:
        stored = await session.scalar(
            select(models.PasskeyCredential.sign_count).where(models.PasskeyCredential.id == UUID(created["id"]))
        )
        refusals = list(
            await session.scalars(
                select(models.SecurityEvent.detail).where(
                    models.SecurityEvent.kind == "passkey_refused",
                    models.SecurityEvent.account_id == UUID(account_id),
                )
            )
        )
    await engine.dispose()
    assert stored == 3, "the counter is persisted and never moved back"
    assert len(refusals) == 3
    assert all("sign count" in (r or "").lower() for r in refusals), refusals


async def test_challenges_expire_and_are_single_use(
    other_app: Litestar, member: tuple[AsyncTestClient[Litestar], str], clock: FakeClock
) -> None:
    client, _ = member
    authenticator = SoftAuthenticator(origin=ORIGIN)
    started = (await client.post("/api/auth/passkeys/registration/options")).json()
    credential = authenticator.create(started["publicKey"])
    clock.advance(timedelta(minutes=5, seconds=1))
    late = await client.post(
        "/api/auth/passkeys", json={"challengeId": started["challengeId"], "credential": credential}
    )
    assert late.status_code == 400, late.text
    assert late.json()["code"] == "ceremony_expired"

    authenticator = SoftAuthenticator(origin=ORIGIN)
    await client.post("/api/auth/step-up", json={"password": PASSWORD})
    await register(client, authenticator)
    async with open_client(other_app) as browser:
        answer = await assertion(browser, authenticator)
        clock.advance(timedelta(minutes=5))
        expired = await browser.post("/api/auth/passkeys/sign-in", json=answer)
        assert expired.status_code == 400
        assert expired.json()["code"] == "ceremony_expired"


async def test_a_passkey_is_a_second_factor_after_the_password(
    other_app: Litestar,
    third_app: Litestar,
    member: tuple[AsyncTestClient[Litestar], str],
    clock: FakeClock,
    mailbox: SandboxEmailSender,
) -> None:
    client, email = member
    authenticator = SoftAuthenticator(origin=ORIGIN, user_verified=False)  # a security key without a PIN
    await enrol(client, clock)  # TOTP first: its confirmation opens a second-factor session, which may add a passkey
    await register(client, authenticator)
    async with open_client(other_app) as browser, open_client(third_app) as other:
        assert (await sign_in(browser, email)).json()["code"] == "second_factor_required"
        with_passkey = await browser.post(
            "/api/auth/sign-in",
            json={"email": email, "password": PASSWORD, "passkey": await assertion(browser, authenticator)},
        )
        assert with_passkey.status_code == 200, with_passkey.text
        assert with_passkey.json()["secondFactor"] is True

        alone = await browser.post("/api/auth/passkeys/sign-in", json=await assertion(browser, authenticator))
        assert alone.status_code == 401, "without user verification a passkey is one factor: not enough alone"

        other_email = await signed_up_and_verified(other, mailbox)
        assert (await sign_in(other, other_email)).status_code == 200
        borrowed = await other.post(
            "/api/auth/sign-in",
            json={"email": other_email, "password": PASSWORD, "passkey": await assertion(other, authenticator)},
        )
        assert borrowed.status_code == 401, "someone else's passkey is no second factor of mine"


async def test_step_up_with_a_passkey(member: tuple[AsyncTestClient[Litestar], str], clock: FakeClock) -> None:
    client, _ = member
    authenticator = SoftAuthenticator(origin=ORIGIN)
    await register(client, authenticator)
    clock.advance(timedelta(minutes=11))
    stale = await client.post("/api/auth/passkeys/registration/options")
    assert stale.status_code == 403
    assert stale.json()["code"] == "step_up_required"

    old_cookie = client.cookies.get(SESSION_COOKIE)
    ceremony = (await client.post("/api/auth/passkeys/step-up/options")).json()
    allowed = ceremony["publicKey"]["allowCredentials"]
    assert [b64url_decode(c["id"]) for c in allowed] == [authenticator.credentials[0].credential_id]
    stepped = await client.post(
        "/api/auth/passkeys/step-up",
        json={"challengeId": ceremony["challengeId"], "credential": authenticator.get(ceremony["publicKey"])},
    )
    assert stepped.status_code == 200, stepped.text
    assert client.cookies.get(SESSION_COOKIE) != old_cookie, "step-up rotates the session"
    assert (await client.post("/api/auth/passkeys/registration/options")).status_code == 200


async def test_staff_may_use_a_passkey_instead_of_totp(
    frozen_app: Litestar, other_app: Litestar, test_settings: Settings, clock: FakeClock, mailbox: SandboxEmailSender
) -> None:
    admin_email = new_email()
    cli = build_container(test_settings, clock=clock)
    await cli.start()
    try:
        await roles.create_admin(cli.deps, email=admin_email, password=PASSWORD, actor="test")
    finally:
        await cli.stop()
    authenticator = SoftAuthenticator(origin=ORIGIN)
    async with open_client(frozen_app) as staff, open_client(other_app) as member_client:
        member_email = await signed_up_and_verified(member_client, mailbox)
        assert (await sign_in(member_client, member_email)).status_code == 200
        member_id = (await member_client.get("/api/auth/session")).json()["accountId"]
        audit_url = f"/api/admin/accounts/{member_id}/audit"

        assert (await sign_in(staff, admin_email)).status_code == 200
        assert (await staff.get(audit_url)).json()["detail"] == "second_factor_required"
        created = await register(staff, authenticator)

        signed_in = await staff.post("/api/auth/passkeys/sign-in", json=await assertion(staff, authenticator))
        assert signed_in.status_code == 200, signed_in.text
        reached = await staff.get(audit_url)
        assert reached.status_code == 200, reached.text

        last = await staff.delete(f"/api/auth/passkeys/{created['id']}")
        assert last.status_code == 403, "a staff account keeps its only second factor"
        assert "second factor" in last.json()["detail"]
        assert len((await staff.get("/api/auth/passkeys")).json()["items"]) == 1

        stepped = await staff.post("/api/auth/step-up", json={"password": PASSWORD})
        assert stepped.json()["secondFactor"] is True, "a password step-up never drops the passkey's proof"
        assert (await staff.get(audit_url)).status_code == 200

        # The password alone (a thief's sign-in) must not mint a second factor of its own.
        assert (await sign_in(staff, admin_email)).json()["secondFactor"] is False
        for path in ("/api/auth/passkeys/registration/options", "/api/auth/totp/enrolment"):
            refused = await staff.post(path)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["code"] == "step_up_required"
        assert (await staff.get(audit_url)).status_code == 403


async def test_nobody_can_touch_another_members_passkeys_or_remove_their_last_way_in(
    other_app: Litestar, member: tuple[AsyncTestClient[Litestar], str], mailbox: SandboxEmailSender
) -> None:
    client, _ = member
    created = await register(client, SoftAuthenticator(origin=ORIGIN))
    async with open_client(other_app) as other:
        assert (await other.get("/api/auth/passkeys")).status_code == 401
        other_email = await signed_up_and_verified(other, mailbox)
        assert (await sign_in(other, other_email)).status_code == 200
        assert (await other.get("/api/auth/passkeys")).json()["items"] == []
        url = f"/api/auth/passkeys/{created['id']}"
        assert (await other.patch(url, json={"name": "mine now"})).status_code == 404
        assert (await other.delete(url)).status_code == 404
    assert [p["name"] for p in (await client.get("/api/auth/passkeys")).json()["items"]] == ["Laptop"]
    assert (await client.delete(f"/api/auth/passkeys/{created['id']}")).status_code == 204, "the password remains"
    assert (await client.get("/api/auth/passkeys")).json()["items"] == []
