"""Accounts and sessions through HTTP over real PostgreSQL and Redis, with a real SAQ worker sending the
verification emails into the sandbox mailbox."""

import logging
import re
import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.email.sandbox import SandboxEmailSender
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import open_client
from tests.helpers import eventually

PASSWORD = "correct horse battery staple 42"
SESSION_COOKIE = "__Host-tenure_session"

pytestmark = pytest.mark.usefixtures("worker")


def new_email() -> str:
    return f"member-{uuid.uuid4().hex[:12]}@example.com"


async def code_for(
    mailbox: SandboxEmailSender, email: str, template: str = "code.email_verification", *, timeout: float = 15
) -> str:
    found: dict[str, str] = {}

    async def arrived() -> bool:
        message = await mailbox.latest_for(email, template)
        if message is not None:
            found["text"] = message.text
        return message is not None

    await eventually(arrived, timeout=timeout, what=f"the {template} email to {email}")
    match = re.search(r"\b(\d{6})\b", found["text"])
    assert match, found["text"]
    return match.group(1)


async def signed_up_and_verified(client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender) -> str:
    email = new_email()
    assert (await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})).status_code == 202
    code = await code_for(mailbox, email)
    assert (await client.post("/api/auth/verify-email", json={"email": email, "code": code})).status_code == 204
    return email


def comparable(response: Any) -> tuple[int, dict[str, Any]]:
    body = response.json()
    body.pop("requestId", None)
    return response.status_code, body


async def test_sign_up_verify_sign_in_session_sign_out(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    email = new_email()
    response = await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202

    early = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert early.status_code == 403
    assert early.json()["code"] == "email_not_verified"

    code = await code_for(mailbox, email)
    wrong = "000000" if code != "000000" else "111111"
    bad = await client.post("/api/auth/verify-email", json={"email": email, "code": wrong})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_code"
    assert (await client.post("/api/auth/verify-email", json={"email": email, "code": code})).status_code == 204
    reused = await client.post("/api/auth/verify-email", json={"email": email, "code": code})
    assert reused.status_code == 400, "a code works once"

    signed_in = await client.post("/api/auth/sign-in", json={"email": email.upper(), "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["email"] == email
    assert signed_in.json()["role"] == "member"
    set_cookie = signed_in.headers["set-cookie"]
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert attribute.lower() in set_cookie.lower(), set_cookie
    assert "domain=" not in set_cookie.lower()

    session = await client.get("/api/auth/session")
    assert session.status_code == 200
    assert session.json()["email"] == email
    token = client.cookies[SESSION_COOKIE]

    assert (await client.post("/api/auth/sign-out")).status_code == 204
    assert (await client.get("/api/auth/session")).status_code == 401
    client.cookies.set(SESSION_COOKIE, token, domain="tenure.test")
    replayed = await client.get("/api/auth/session")
    assert replayed.status_code == 401, "a signed-out session cookie is dead server-side"
    assert replayed.json()["code"] == "not_authenticated"


async def test_unknown_and_known_emails_get_identical_answers(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    known = await signed_up_and_verified(client, mailbox)
    unknown = new_email()

    sign_ups = [
        await client.post("/api/auth/sign-up", json={"email": e, "password": PASSWORD}) for e in (known, unknown)
    ]
    assert comparable(sign_ups[0]) == comparable(sign_ups[1])

    resends = [await client.post("/api/auth/verify-email/resend", json={"email": e}) for e in (known, unknown)]
    assert comparable(resends[0]) == comparable(resends[1])

    sign_ins = [
        await client.post("/api/auth/sign-in", json={"email": e, "password": "wrong password 123"})
        for e in (known, unknown)
    ]
    assert sign_ins[0].status_code == sign_ins[1].status_code == 401
    assert {k: v for k, v in comparable(sign_ins[0])[1].items() if k != "instance"} == {
        k: v for k, v in comparable(sign_ins[1])[1].items() if k != "instance"
    }


async def test_a_weak_password_is_refused_with_every_reason(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/api/auth/sign-up", json={"email": new_email(), "password": "password"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert "common" in response.json()["problems"]
    short = await client.post("/api/auth/sign-up", json={"email": new_email(), "password": "a1!"})
    assert "too_short" in short.json()["problems"]


async def test_signing_in_replaces_the_previous_session_cookie(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    email = await signed_up_and_verified(client, mailbox)
    assert (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})).status_code == 200
    first = client.cookies[SESSION_COOKIE]
    assert (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})).status_code == 200
    second = client.cookies[SESSION_COOKIE]
    assert first != second

    client.cookies.set(SESSION_COOKIE, first, domain="tenure.test")
    assert (await client.get("/api/auth/session")).status_code == 401, "the pre-sign-in cookie must be dead"
    client.cookies.set(SESSION_COOKIE, second, domain="tenure.test")
    assert (await client.get("/api/auth/session")).status_code == 200


async def test_list_and_revoke_my_sessions_only(test_settings: Settings, mailbox: SandboxEmailSender) -> None:
    apps = [create_app(test_settings) for _ in range(3)]  # one per browser: each test client has its own loop
    async with open_client(apps[0]) as alice_laptop, open_client(apps[1]) as alice_phone, open_client(apps[2]) as bob:
        alice = await signed_up_and_verified(alice_laptop, mailbox)
        bob_email = await signed_up_and_verified(bob, mailbox)
        for client, email in ((alice_laptop, alice), (alice_phone, alice), (bob, bob_email)):
            signed = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})
            assert signed.status_code == 200

        listed = (await alice_laptop.get("/api/auth/sessions")).json()["items"]
        assert len(listed) == 2
        assert sum(item["current"] for item in listed) == 1

        bob_session = (await bob.get("/api/auth/session")).json()["sessionId"]
        foreign = await alice_laptop.delete(f"/api/auth/sessions/{bob_session}")
        assert foreign.status_code == 404, "someone else's session is simply not found"
        assert (await bob.get("/api/auth/session")).status_code == 200

        revoked = await alice_laptop.post("/api/auth/sessions/revoke-others")
        assert revoked.json() == {"revoked": 1}
        assert (await alice_phone.get("/api/auth/session")).status_code == 401
        assert (await alice_laptop.get("/api/auth/session")).status_code == 200


async def test_the_eleventh_rapid_failed_sign_in_is_throttled(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    email = await signed_up_and_verified(client, mailbox)
    for attempt in range(10):
        response = await client.post("/api/auth/sign-in", json={"email": email, "password": f"wrong-{attempt}-pass"})
        assert response.status_code == 401, (attempt, response.text)
    eleventh = await client.post("/api/auth/sign-in", json={"email": email, "password": "wrong-10-pass"})
    assert eleventh.status_code == 429
    assert eleventh.json()["code"] == "throttled"
    assert int(eleventh.headers["retry-after"]) >= 1
    locked = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 429, "while locked even the right password waits"


async def test_every_unsafe_route_refuses_a_cross_site_request_without_the_csrf_token(app: Litestar) -> None:
    unsafe = sorted(
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method in {"POST", "PUT", "PATCH", "DELETE"} and not route.path.startswith("/api/webhooks")
    )
    assert len(unsafe) >= 6
    async with open_client(app, csrf=False) as client:
        for method, path in unsafe:
            concrete = re.sub(r"\{[^}:]+:uuid\}", str(uuid.uuid4()), path)
            concrete = re.sub(r"\{[^}:]+:date\}", "2026-01-01", concrete)
            response = await client.request(
                method, concrete, json={}, headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
            )
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["code"] == "forbidden"


async def test_passwords_are_stored_as_argon2id_with_at_least_the_required_cost(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender, test_settings: Settings
) -> None:
    email = await signed_up_and_verified(client, mailbox)
    conn = await asyncpg.connect(test_settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        stored = await conn.fetchval("SELECT password_hash FROM accounts WHERE email = $1", email)
        kinds = await conn.fetch(
            "SELECT kind FROM security_events e JOIN accounts a ON a.id = e.account_id WHERE a.email = $1", email
        )
    finally:
        await conn.close()
    match = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert match, stored
    memory_kib, time_cost, _ = map(int, match.groups())
    assert memory_kib >= 19 * 1024
    assert time_cost >= 2
    assert PASSWORD not in stored
    assert "email_verified" in {k["kind"] for k in kinds}


async def test_logs_never_contain_passwords_codes_or_session_tokens(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = await signed_up_and_verified(client, mailbox)
    code = await code_for(mailbox, email)
    await client.post("/api/auth/sign-in", json={"email": email, "password": "not the password 1"})
    assert (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})).status_code == 200
    token = client.cookies[SESSION_COOKIE]
    await client.get("/api/auth/session")

    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert logged, "expected some log records to inspect"
    for secret in (PASSWORD, "not the password 1", code, token):
        assert secret not in logged
