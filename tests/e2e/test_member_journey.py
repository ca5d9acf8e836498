"""The account journey of issue 4, end to end through HTTP with a real worker: sign up, verify with the
emailed code, sign in, enrol TOTP, sign out, sign in with TOTP, fill in the profile, read the feed."""

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import pytest
from litestar import Litestar

from adapters.email.sandbox import SandboxEmailSender
from entrypoints.bootstrap import build_container
from entrypoints.settings import Settings
from ports.usecases.deps import Deps
from tests.e2e.conftest import open_client
from tests.e2e.test_auth import PASSWORD, code_for, new_email
from tests.e2e.test_profile_settings_notifications import ADULT, emit
from tests.e2e.test_second_factor_and_roles import code_at, enrol, sign_in
from tests.fakes import FakeClock
from tests.helpers import eventually

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
async def emitter(test_settings: Settings) -> AsyncIterator[Deps]:
    """Something else in the system (a membership change) committing a member event."""
    container = build_container(test_settings)
    await container.start()
    yield container.deps
    await container.stop()


async def test_the_member_account_journey(
    frozen_app: Litestar, clock: FakeClock, mailbox: SandboxEmailSender, emitter: Deps
) -> None:
    email = new_email()
    async with open_client(frozen_app) as client:
        assert (await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})).status_code == 202
        code = await code_for(mailbox, email)
        assert (await client.post("/api/auth/verify-email", json={"email": email, "code": code})).status_code == 204
        assert (await sign_in(client, email)).status_code == 200

        secret, _backup_codes = await enrol(client, clock)
        assert (await client.post("/api/auth/sign-out")).status_code == 204
        assert (await client.get("/api/auth/session")).status_code == 401

        assert (await sign_in(client, email)).json()["code"] == "second_factor_required"
        clock.advance(timedelta(seconds=30))
        signed_in = await sign_in(client, email, code_at(secret, clock))
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["secondFactor"] is True
        account_id = signed_in.json()["accountId"]

        profile = await client.patch("/api/profiles/me", json=ADULT)
        assert profile.status_code == 200, profile.text
        assert (await client.get("/api/profiles/me")).json()["legalFirstName"] == ADULT["legalFirstName"]

        await emit(emitter, "membership.activated", UUID(account_id), memberNumber=7)

        async def in_feed() -> bool:
            items = (await client.get("/api/notifications")).json()["items"]
            return [i["eventName"] for i in items] == ["membership.activated"]

        await eventually(in_feed, timeout=20, what="the activation notice in the feed")
        assert (await client.get("/api/notifications/unread-count")).json() == {"unread": 1}
