"""Attacks the account core must withstand, over real PostgreSQL and Redis. Each test reproduces a finding
of the security review of issue 4 (concurrent code guessing, second-factor bypasses, TOTP replay on a hash
upgrade, unthrottled guessing, pre-registration, NUL bytes, content types, stale staff authentication)."""

import asyncio
from datetime import timedelta

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.email.sandbox import SandboxEmailSender
from domain.one_time_codes import CodePurpose
from entrypoints.bootstrap import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.http.auth import client_address
from entrypoints.http.security_headers import security_headers
from entrypoints.settings import Settings
from ports.usecases import auth, credentials, roles
from ports.usecases.auth import token_hash
from ports.usecases.errors import InvalidCode
from tests.e2e.conftest import open_client
from tests.e2e.test_auth import PASSWORD, code_for, new_email, signed_up_and_verified
from tests.e2e.test_second_factor_and_roles import code_at, enrol, sign_in
from tests.fakes import FakeClock

pytestmark = pytest.mark.usefixtures("worker")


async def test_concurrent_guesses_cannot_exceed_three_tries_per_code(
    container: Container, client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    email = await signed_up_and_verified(client, mailbox)
    await container.start()
    try:
        deps = container.deps
        await credentials.request_password_reset(deps, email=email)
        code = await code_for(mailbox, email, template="code.password_reset")
        wrong = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 10)]

        async def guess(candidate: str) -> bool:
            try:
                await auth.check_emailed_code(deps, email=email, code=candidate, purpose=CodePurpose.PASSWORD_RESET)
            except InvalidCode:
                return False
            return True

        assert await asyncio.gather(*(guess(c) for c in wrong)) == [False] * 9
        assert not await guess(code), "after 3 wrong tries the code is dead, however many came at once"
    finally:
        await container.stop()


async def test_password_change_and_new_backup_codes_need_the_second_factor(
    frozen_app: Litestar, clock: FakeClock, mailbox: SandboxEmailSender
) -> None:
    async with open_client(frozen_app) as client:
        email = await signed_up_and_verified(client, mailbox)
        assert (await sign_in(client, email)).status_code == 200
        secret, backup_codes = await enrol(client, clock)

        change = {"currentPassword": PASSWORD, "newPassword": "another long passphrase 9"}
        without = await client.post("/api/auth/password/change", json=change)
        assert without.status_code == 401
        assert without.json()["code"] == "second_factor_required"
        assert (await client.post("/api/auth/backup-codes", json={})).status_code == 400
        bad = await client.post("/api/auth/backup-codes", json={"code": "000000"})
        assert bad.status_code == 400
        assert bad.json()["code"] == "invalid_code"

        clock.advance(timedelta(seconds=30))
        fresh = await client.post("/api/auth/backup-codes", json={"code": code_at(secret, clock)})
        assert fresh.status_code == 200
        assert set(fresh.json()["backupCodes"]).isdisjoint(backup_codes)
        assert (await sign_in(client, email, backup_codes[0])).status_code == 401, "old backup codes are dead"


async def test_staff_routes_follow_the_session_not_the_account(
    test_settings: Settings, clock: FakeClock, container: Container, frozen_app: Litestar
) -> None:
    """A session established without the second factor never reaches staff routes, even when the account
    has TOTP enabled (a sign-in that raced the enrolment)."""
    admin_email = new_email()
    cli = build_container(test_settings, clock=clock)
    await cli.start()
    try:
        admin = await roles.create_admin(cli.deps, email=admin_email, password=PASSWORD, actor="test")
    finally:
        await cli.stop()
    async with open_client(frozen_app) as staff:
        assert (await sign_in(staff, admin_email)).status_code == 200
        await enrol(staff, clock)
        audit = f"/api/admin/accounts/{admin.id}/audit"
        assert (await staff.get(audit)).status_code == 200

    racer = build_container(test_settings, clock=clock)
    await racer.start()
    try:
        async with racer.deps.uow() as uow:
            account = await uow.accounts.get(admin.id)
            assert account is not None
            assert account.totp_enabled_at is not None
            await uow.sessions.add(
                account_id=admin.id,
                token_hash=token_hash("password-only-token"),
                now=clock.now(),
                user_agent=None,
                ip=None,
            )
            await uow.commit()
    finally:
        await racer.stop()
    other = create_app(container=build_container(test_settings, clock=clock))
    async with open_client(other) as client:
        client.cookies.set("__Host-tenure_session", "password-only-token", domain="tenure.test")
        assert (await client.get("/api/auth/session")).json()["secondFactor"] is False
        refused = await client.get(audit)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "second_factor_required"


async def test_a_totp_code_cannot_be_replayed_when_the_password_hash_is_upgraded(
    test_settings: Settings, clock: FakeClock, mailbox: SandboxEmailSender
) -> None:
    costly = msgspec.structs.replace(test_settings, argon2_time_cost=3)
    old_app = create_app(container=build_container(costly, clock=clock))
    async with open_client(old_app) as client:
        email = await signed_up_and_verified(client, mailbox)
        assert (await sign_in(client, email)).status_code == 200
        secret, _ = await enrol(client, clock)
    clock.advance(timedelta(seconds=30))
    code = code_at(secret, clock)
    new_app = create_app(container=build_container(test_settings, clock=clock))  # cheaper: hashes are upgraded
    async with open_client(new_app) as client:
        assert (await sign_in(client, email, code)).status_code == 200
        assert (await sign_in(client, email, code)).status_code == 401, "the same code again is refused"


async def test_disabling_totp_is_throttled_against_guessing(
    frozen_app: Litestar, clock: FakeClock, mailbox: SandboxEmailSender
) -> None:
    async with open_client(frozen_app) as client:
        email = await signed_up_and_verified(client, mailbox)
        assert (await sign_in(client, email)).status_code == 200
        await enrol(client, clock)
        answers = [
            (await client.post("/api/auth/totp/disable", json={"code": f"{n:06d}"})).status_code for n in range(11)
        ]
        assert answers[:10] == [400] * 10
        assert answers[10] == 429


async def test_a_pre_registered_address_gets_the_password_of_whoever_signs_up_last(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    email = new_email()
    attacker, victim = "attacker chose this 1", "victim chose this 2"
    assert (await client.post("/api/auth/sign-up", json={"email": email, "password": attacker})).status_code == 202
    first_code = await code_for(mailbox, email)
    assert (await client.post("/api/auth/sign-up", json={"email": email, "password": victim})).status_code == 202
    code = await code_for(mailbox, email)
    assert code == first_code, "within the resend cool-down the same code stands"
    assert (await client.post("/api/auth/verify-email", json={"email": email, "code": code})).status_code == 204
    assert (await client.post("/api/auth/sign-in", json={"email": email, "password": attacker})).status_code == 401
    assert (await client.post("/api/auth/sign-in", json={"email": email, "password": victim})).status_code == 200


@pytest.mark.parametrize("email", ["a\u0000b@example.com", "nul\u0000@example.com"])
async def test_nul_bytes_in_emails_are_a_400_never_a_500(client: AsyncTestClient[Litestar], email: str) -> None:
    for path, body in (
        ("/api/auth/sign-up", {"email": email, "password": PASSWORD}),
        ("/api/auth/sign-in", {"email": email, "password": PASSWORD}),
        ("/api/auth/password/reset/request", {"email": email}),
        ("/api/auth/verify-email/resend", {"email": email}),
        ("/api/auth/verify-email", {"email": email, "code": "123456"}),
    ):
        response = await client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)


async def test_json_routes_refuse_other_content_types(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post(
        "/api/auth/sign-in", content=b'{"email":"a@b.co","password":"x"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_role_changes_need_a_recent_authentication(
    test_settings: Settings, clock: FakeClock, frozen_app: Litestar
) -> None:
    admin_email = new_email()
    cli = build_container(test_settings, clock=clock)
    await cli.start()
    try:
        await roles.create_admin(cli.deps, email=admin_email, password=PASSWORD, actor="test")
    finally:
        await cli.stop()
    async with open_client(frozen_app) as staff:
        assert (await sign_in(staff, admin_email)).status_code == 200
        await enrol(staff, clock)
        target = (await staff.get("/api/auth/session")).json()["accountId"]
        clock.advance(timedelta(minutes=11))
        stale = await staff.put(f"/api/admin/accounts/{target}/role", json={"role": "finance", "reason": "test"})
        assert stale.status_code == 403
        assert stale.json()["code"] == "step_up_required"


def test_throttling_counts_ipv6_clients_by_their_64_prefix() -> None:
    assert client_address("2001:db8:1:2:aaaa::1") == client_address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:3::1") != client_address("2001:db8:1:2::1")
    assert client_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_address("192.0.2.7") == "192.0.2.7"
    assert client_address(None) is None


async def test_hsts_is_always_sent_in_production() -> None:
    message = {"type": "http.response.start", "status": 200, "headers": []}
    await security_headers(always_hsts=True)(message, {"type": "http", "scheme": "http", "path": "/health"})
    assert (b"strict-transport-security", b"max-age=63072000; includeSubDomains") in message["headers"]
    plain = {"type": "http.response.start", "status": 200, "headers": []}
    await security_headers(always_hsts=False)(plain, {"type": "http", "scheme": "http", "path": "/health"})
    assert all(name != b"strict-transport-security" for name, _ in plain["headers"])
