"""TOTP with backup codes, step-up, password change and reset, and staff routes behind a second factor.

The app runs with a clock the test controls, so TOTP codes are computed at exact step boundaries."""

import base64
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.email.sandbox import SandboxEmailSender
from domain.totp import time_step, totp_at
from entrypoints.bootstrap import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from ports.usecases import roles
from tests.e2e.conftest import open_client
from tests.e2e.test_auth import PASSWORD, SESSION_COOKIE, code_for, new_email, signed_up_and_verified
from tests.fakes import FakeClock

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
async def member(
    frozen_app: Litestar, mailbox: SandboxEmailSender
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], str]]:
    async with open_client(frozen_app) as client:
        email = await signed_up_and_verified(client, mailbox)
        assert (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})).status_code == 200
        yield client, email


def code_at(secret_b32: str, clock: FakeClock, offset_steps: int = 0) -> str:
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return totp_at(secret, time_step(clock.now()) + offset_steps)


async def enrol(client: AsyncTestClient[Litestar], clock: FakeClock) -> tuple[str, list[str]]:
    started = await client.post("/api/auth/totp/enrolment")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["provisioningUri"].startswith("otpauth://totp/Tenure:")
    assert body["qrSvgDataUri"].startswith("data:image/svg+xml")
    confirmed = await client.post("/api/auth/totp/confirm", json={"code": code_at(body["secret"], clock)})
    assert confirmed.status_code == 200, confirmed.text
    return body["secret"], confirmed.json()["backupCodes"]


async def sign_in(client: AsyncTestClient[Litestar], email: str, second_factor: str | None = None) -> Any:
    payload: dict[str, Any] = {"email": email, "password": PASSWORD}
    if second_factor is not None:
        payload["secondFactor"] = second_factor
    return await client.post("/api/auth/sign-in", json=payload)


async def test_totp_codes_work_once_and_backup_codes_work_once(
    member: tuple[AsyncTestClient[Litestar], str], clock: FakeClock
) -> None:
    client, email = member
    before = client.cookies[SESSION_COOKIE]
    secret, backup_codes = await enrol(client, clock)
    assert len(backup_codes) == 10
    assert len(set(backup_codes)) == 10
    assert client.cookies[SESSION_COOKIE] != before, "enabling 2FA rotates the session"
    assert (await client.get("/api/auth/session")).json()["secondFactor"] is True

    needs = await sign_in(client, email)
    assert needs.status_code == 401
    assert needs.json()["code"] == "second_factor_required"

    used_at_confirm = code_at(secret, clock)
    assert (await sign_in(client, email, used_at_confirm)).status_code == 401, "a code is accepted once"

    clock.advance(timedelta(seconds=30))
    fresh = code_at(secret, clock)
    assert (await sign_in(client, email, fresh)).status_code == 200
    again = await sign_in(client, email, fresh)
    assert again.status_code == 401
    assert again.json()["code"] == "invalid_credentials"

    clock.advance(timedelta(seconds=30))
    assert (await sign_in(client, email, code_at(secret, clock, offset_steps=3))).status_code == 401

    assert (await sign_in(client, email, backup_codes[0])).status_code == 200
    assert (await sign_in(client, email, backup_codes[0])).status_code == 401, "a backup code works once"
    assert (await sign_in(client, email, backup_codes[1].upper())).status_code == 200


async def test_sensitive_changes_need_a_recent_authentication(
    member: tuple[AsyncTestClient[Litestar], str], clock: FakeClock
) -> None:
    client, email = member
    clock.advance(timedelta(minutes=11))
    stale = await client.post("/api/auth/totp/enrolment")
    assert stale.status_code == 403
    assert stale.json()["code"] == "step_up_required"
    bad = await client.post("/api/auth/step-up", json={"password": "not it at all 9"})
    assert bad.status_code == 401
    before = client.cookies[SESSION_COOKIE]
    stepped = await client.post("/api/auth/step-up", json={"password": PASSWORD})
    assert stepped.status_code == 200, stepped.text
    assert client.cookies[SESSION_COOKIE] != before, "step-up rotates the session token"
    client.cookies.set(SESSION_COOKIE, before, domain="tenure.test")
    assert (await client.get("/api/auth/session")).status_code == 401, "the pre-step-up token is dead"
    assert (await client.post("/api/auth/step-up", json={"password": PASSWORD})).status_code == 401
    assert (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})).status_code == 200
    assert (await client.post("/api/auth/totp/enrolment")).status_code == 200


async def test_password_change_rotates_the_session_and_ends_the_others(
    frozen_app: Litestar, test_settings: Settings, container: Container, mailbox: SandboxEmailSender
) -> None:
    other_app = create_app(container=build_container(test_settings, clock=container.deps.clock))
    async with open_client(frozen_app) as laptop, open_client(other_app) as phone:
        email = await signed_up_and_verified(laptop, mailbox)
        for client in (laptop, phone):
            assert (await sign_in(client, email)).status_code == 200
        old_cookie = laptop.cookies[SESSION_COOKIE]

        wrong = await laptop.post(
            "/api/auth/password/change", json={"currentPassword": "nope nope nope 1", "newPassword": "a new pass 2024!"}
        )
        assert wrong.status_code == 401
        changed = await laptop.post(
            "/api/auth/password/change", json={"currentPassword": PASSWORD, "newPassword": "a brand new passphrase 7"}
        )
        assert changed.status_code == 200, changed.text
        assert laptop.cookies[SESSION_COOKIE] != old_cookie
        assert (await laptop.get("/api/auth/session")).status_code == 200
        assert (await phone.get("/api/auth/session")).status_code == 401, "other sessions end"

        laptop.cookies.set(SESSION_COOKIE, old_cookie, domain="tenure.test")
        assert (await laptop.get("/api/auth/session")).status_code == 401, "the rotated-out cookie is dead"
        assert (await sign_in(phone, email)).status_code == 401
        relogin = await phone.post("/api/auth/sign-in", json={"email": email, "password": "a brand new passphrase 7"})
        assert relogin.status_code == 200


async def test_password_reset_by_emailed_code(frozen_app: Litestar, mailbox: SandboxEmailSender) -> None:
    async with open_client(frozen_app) as client:
        email = await signed_up_and_verified(client, mailbox)
        assert (await sign_in(client, email)).status_code == 200
        answers = [
            await client.post("/api/auth/password/reset/request", json={"email": e}) for e in (email, new_email())
        ]
        assert [a.status_code for a in answers] == [202, 202]
        assert answers[0].json() == answers[1].json()

        code = await code_for(mailbox, email, template="code.password_reset")
        weak = await client.post(
            "/api/auth/password/reset/confirm", json={"email": email, "code": code, "newPassword": "password"}
        )
        assert weak.status_code == 422, "a weak password is refused before the code is spent"
        done = await client.post(
            "/api/auth/password/reset/confirm",
            json={"email": email, "code": code, "newPassword": "reset to something long 5"},
        )
        assert done.status_code == 204
        assert (await client.get("/api/auth/session")).status_code == 401, "a reset ends every session"
        assert (await sign_in(client, email)).status_code == 401
        ok = await client.post("/api/auth/sign-in", json={"email": email, "password": "reset to something long 5"})
        assert ok.status_code == 200


async def test_staff_routes_need_staff_with_a_second_factor(
    frozen_app: Litestar, test_settings: Settings, clock: FakeClock, mailbox: SandboxEmailSender
) -> None:
    admin_email = new_email()
    cli = build_container(test_settings, clock=clock)  # as `tenure accounts create-admin` does
    await cli.start()
    try:
        admin = await roles.create_admin(cli.deps, email=admin_email, password=PASSWORD, actor="test")
    finally:
        await cli.stop()
    other_app = create_app(container=build_container(test_settings, clock=clock))
    async with open_client(frozen_app) as staff, open_client(other_app) as anonymous:
        member_email = await signed_up_and_verified(staff, mailbox)
        assert (await sign_in(staff, member_email)).status_code == 200
        member_id = (await staff.get("/api/auth/session")).json()["accountId"]
        audit_url = f"/api/admin/accounts/{member_id}/audit"

        assert (await anonymous.get(audit_url)).status_code == 401
        as_member = await staff.get(audit_url)
        assert as_member.status_code == 403
        assert as_member.json()["code"] == "forbidden"

        assert (await sign_in(staff, admin_email)).status_code == 200
        without_2fa = await staff.get(audit_url)
        assert without_2fa.status_code == 403, "staff without a second factor are refused"
        assert without_2fa.json()["detail"] == "second_factor_required"

        await enrol(staff, clock)
        with_2fa = await staff.get(audit_url)
        assert with_2fa.status_code == 200, with_2fa.text
        assert with_2fa.json() == {"items": [], "chainValid": True}

        granted = await staff.put(f"/api/admin/accounts/{member_id}/role", json={"role": "finance", "reason": "hired"})
        assert granted.status_code == 200, granted.text
        history = (await staff.get(audit_url)).json()
        assert history["chainValid"] is True
        assert [(e["before"], e["after"], e["reason"]) for e in history["items"]] == [
            ({"role": "member"}, {"role": "finance"}, "hired")
        ]
        admin_history = (await staff.get(f"/api/admin/accounts/{admin.id}/audit")).json()["items"]
        assert admin_history[0]["after"] == {"role": "admin"}


async def test_sessions_expire_when_idle_and_at_their_absolute_limit(
    frozen_app: Litestar, clock: FakeClock, mailbox: SandboxEmailSender
) -> None:
    async with open_client(frozen_app) as client:
        email = await signed_up_and_verified(client, mailbox)
        assert (await sign_in(client, email)).status_code == 200
        clock.advance(timedelta(minutes=29))
        assert (await client.get("/api/auth/session")).status_code == 200, "activity keeps a session alive"
        clock.advance(timedelta(minutes=31))
        assert (await client.get("/api/auth/session")).status_code == 401, "30 minutes idle ends it"

        assert (await sign_in(client, email)).status_code == 200
        for _ in range(12 * 3):  # active every 20 minutes for 12 hours
            clock.advance(timedelta(minutes=20))
            if (await client.get("/api/auth/session")).status_code != 200:
                break
        assert (await client.get("/api/auth/session")).status_code == 401, "12 hours is the absolute limit"


async def test_totp_secrets_never_reach_the_logs(
    member: tuple[AsyncTestClient[Litestar], str], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, email = member
    secret, backup_codes = await enrol(client, clock)
    clock.advance(timedelta(seconds=30))
    assert (await sign_in(client, email, code_at(secret, clock))).status_code == 200
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert logged
    for secret_text in (secret, *backup_codes, code_at(secret, clock)):
        assert secret_text not in logged
