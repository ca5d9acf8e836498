"""Profile, settings and the notification core through HTTP over real PostgreSQL and Redis, with a real SAQ
worker dispatching the outbox and delivering notifications into the sandbox mailbox and the in-app feed."""

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.email.sandbox import SandboxEmailSender
from entrypoints.bootstrap import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from ports.usecases.deps import Deps
from ports.usecases.notifications import DELIVER_TASK, deliver_notification, on_member_event
from tests.e2e.conftest import open_client
from tests.helpers import eventually

PASSWORD = "correct horse battery staple 42"
PREFIXES = ("/api/profiles", "/api/settings", "/api/notifications")
ADULT = {
    "legalFirstName": "Ada",
    "legalLastName": "Lovelace",
    "dateOfBirth": "1990-12-10",
    "address": {"line1": "1 Main St", "line2": "Apt 2", "city": "Springfield", "state": "il", "zip": "62701"},
    "phone": "+12175550100",
    "timeZone": "America/Chicago",
}

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
async def deps(test_settings: Settings) -> AsyncIterator[Deps]:
    """The production composition (SAQ queue on this run's Redis), as a job or a script would use it."""
    container = build_container(test_settings)
    await container.start()
    yield container.deps
    await container.stop()


async def sql(settings: Settings, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def sign_up_and_in(client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender) -> tuple[str, uuid.UUID]:
    """A verified member signed in on `client`; returns their email and account id."""
    email = f"member-{uuid.uuid4().hex[:12]}@example.com"
    assert (await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})).status_code == 202
    found: dict[str, str] = {}

    async def arrived() -> bool:
        message = await mailbox.latest_for(email, "code.email_verification")
        if message is not None:
            found["text"] = message.text
        return message is not None

    await eventually(arrived, timeout=15, what=f"the verification email to {email}")
    match = re.search(r"\b(\d{6})\b", found["text"])
    assert match
    verified = await client.post("/api/auth/verify-email", json={"email": email, "code": match.group(1)})
    assert verified.status_code == 204
    signed = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    return email, uuid.UUID(signed.json()["accountId"])


async def emit(deps: Deps, event_name: str, account_id: uuid.UUID, **payload: Any) -> uuid.UUID:
    """Commit a member event to the outbox, as a state change would (the commit wakes the dispatcher)."""
    async with deps.uow() as uow:
        uow.record(
            event_name=event_name,
            aggregate_type="membership",
            aggregate_id=str(uuid.uuid4()),
            payload={"accountId": str(account_id), **payload},
        )
        await uow.commit()
    rows = await sql_outbox_id(deps, account_id, event_name)
    return rows[-1]


async def sql_outbox_id(deps: Deps, account_id: uuid.UUID, event_name: str) -> list[uuid.UUID]:
    from sqlalchemy import select

    from adapters.sql import models
    from adapters.sql.unit_of_work import SqlUnitOfWork

    async with deps.uow() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        ids = await uow.session.scalars(
            select(models.OutboxMessage.id)
            .where(
                models.OutboxMessage.event_name == event_name,
                models.OutboxMessage.payload["accountId"].as_string() == str(account_id),
            )
            .order_by(models.OutboxMessage.id)
        )
        return list(ids)


async def feed_items(client: AsyncTestClient[Litestar], **params: Any) -> dict[str, Any]:
    response = await client.get("/api/notifications", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


# Profile -------------------------------------------------------------------------------------------------------


async def test_profile_read_update_and_validation(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    email, _ = await sign_up_and_in(client, mailbox)
    empty = (await client.get("/api/profiles/me")).json()
    assert empty["email"] == email
    assert empty["legalFirstName"] is None
    assert empty["address"] is None

    updated = await client.patch("/api/profiles/me", json=ADULT)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["legalFirstName"] == "Ada"
    assert body["dateOfBirth"] == "1990-12-10"
    assert body["address"] == {
        "line1": "1 Main St",
        "line2": "Apt 2",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "country": "US",
    }
    assert body["phone"] == "+12175550100"
    assert body["phoneVerified"] is False
    assert body["timeZone"] == "America/Chicago"
    assert (await client.get("/api/profiles/me")).json() == body

    partial = await client.patch("/api/profiles/me", json={"legalLastName": "  King  "})
    assert partial.json()["legalLastName"] == "King"
    assert partial.json()["legalFirstName"] == "Ada", "absent fields stay as they are"
    before = (await client.get("/api/profiles/me")).json()

    today = datetime.now(UTC).date()
    seventeen = date(today.year - 17, today.month, min(today.day, 28)).isoformat()
    refused = {
        "under_age": {"dateOfBirth": seventeen},
        "state_not_us": {"address": {**ADULT["address"], "state": "ON"}},
        "zip_invalid": {"address": {**ADULT["address"], "zip": "K1A 0B1"}},
        "phone_invalid": {"phone": "217-555-0100"},
        "time_zone_invalid": {"timeZone": "Mars/Olympus_Mons"},
        "date_of_birth_invalid": {"dateOfBirth": (today + timedelta(days=2)).isoformat()},
        "first_name_invalid": {"legalFirstName": "\u0001\u0002"},
    }
    for problem, patch in refused.items():
        response = await client.patch("/api/profiles/me", json=patch)
        assert response.status_code == 422, (problem, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem in response.json()["problems"], (problem, response.json())

    for smuggled in ({"role": "admin"}, {"legalFirstName": "Eve", "status": "WON"}, {"tenureStart": "2020-01-01"}):
        response = await client.patch("/api/profiles/me", json=smuggled)
        assert response.status_code == 400, (smuggled, response.text)
        assert response.json()["code"] == "validation_failed"
    for wrong_type in ({"dateOfBirth": 19901210}, {"address": "1 Main St"}, {"phone": ["+1"]}):
        assert (await client.patch("/api/profiles/me", json=wrong_type)).status_code == 400
    nul = await client.patch("/api/profiles/me", json={"legalFirstName": "Ada\u0000"})
    assert nul.status_code == 400, "NUL never reaches the database (a 500 there)"
    assert nul.json()["detail"] == "NUL characters are not allowed"
    assert (await client.get("/api/profiles/me")).json() == before, "refused updates change nothing"
    assert (await client.get("/api/auth/session")).json()["role"] == "member"

    cleared = await client.patch("/api/profiles/me", json={"address": None, "phone": None})
    assert cleared.json()["address"] is None
    assert cleared.json()["phone"] is None


async def test_changing_the_phone_clears_its_verification(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender, test_settings: Settings
) -> None:
    _, account_id = await sign_up_and_in(client, mailbox)
    assert (await client.patch("/api/profiles/me", json={"phone": "+12175550100"})).status_code == 200
    await sql(test_settings, "UPDATE profiles SET phone_verified_at = now() WHERE account_id = $1", account_id)
    assert (await client.get("/api/profiles/me")).json()["phoneVerified"] is True
    same = await client.patch("/api/profiles/me", json={"phone": "+12175550100"})
    assert same.json()["phoneVerified"] is True, "the same number stays verified"
    changed = await client.patch("/api/profiles/me", json={"phone": "+12175550199"})
    assert changed.json()["phoneVerified"] is False


async def test_export_holds_my_data_and_nobody_elses(
    test_settings: Settings, mailbox: SandboxEmailSender, deps: Deps
) -> None:
    async with open_client(create_app(test_settings)) as alice, open_client(create_app(test_settings)) as bob:
        alice_email, alice_id = await sign_up_and_in(alice, mailbox)
        bob_email, bob_id = await sign_up_and_in(bob, mailbox)
        assert (await alice.patch("/api/profiles/me", json=ADULT)).status_code == 200
        bob_profile = {**ADULT, "legalFirstName": "Robert", "legalLastName": "Tables", "phone": "+12175550177"}
        assert (await bob.patch("/api/profiles/me", json=bob_profile)).status_code == 200
        async with deps.uow() as uow:
            for account in (alice_id, bob_id):
                await uow.notifications.add(
                    account_id=account,
                    event_id=str(uuid.uuid4()),
                    event_name="kyc.verified",
                    title=f"for {account}",
                    body="b",
                    at=datetime.now(UTC),
                )
            await uow.commit()

        response = await alice.get("/api/profiles/me/export")
        assert response.status_code == 200, response.text
        export = response.json()
        text = json.dumps(export)
        assert export["account"]["email"] == alice_email
        assert export["account"]["id"] == str(alice_id)
        assert export["profile"]["legalLastName"] == "Lovelace"
        assert len(export["sessions"]) == 1
        assert len(export["notificationPreferences"]) == 24
        assert [n["title"] for n in export["notifications"]] == [f"for {alice_id}"]
        assert {"email_verified", "sign_in_succeeded"} <= {e["kind"] for e in export["securityEvents"]}
        for foreign in (bob_email, str(bob_id), "Robert", "Tables", "+12175550177"):
            assert foreign not in text, foreign
        for secret in ("$argon2", "passwordHash", "tokenHash", "totpSecret", PASSWORD):
            assert secret not in text, secret


async def test_deletion_request_is_recorded_once(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    await sign_up_and_in(client, mailbox)
    first = await client.post("/api/profiles/me/deletion-request")
    assert first.status_code == 202, first.text
    again = await client.post("/api/profiles/me/deletion-request")
    assert again.json()["requestedAt"] == first.json()["requestedAt"]
    assert (await client.get("/api/profiles/me")).json()["deletionRequestedAt"] is not None


# Settings ------------------------------------------------------------------------------------------------------


async def test_notification_preferences_with_locked_pairs(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    await sign_up_and_in(client, mailbox)
    items = (await client.get("/api/settings/notifications")).json()["items"]
    assert len(items) == 8 * 3
    by_pair = {(i["group"], i["channel"]): i for i in items}
    assert by_pair[("membership", "email")] == {
        "group": "membership",
        "channel": "email",
        "enabled": True,
        "locked": False,
    }
    assert by_pair[("membership", "sms")]["enabled"] is False
    assert by_pair[("missed_payments", "email")]["locked"] is True
    assert by_pair[("payouts", "in_app")]["locked"] is True

    changed = await client.put(
        "/api/settings/notifications",
        json={
            "changes": [
                {"group": "membership", "channel": "email", "enabled": False},
                {"group": "kyc", "channel": "sms", "enabled": True},
            ]
        },
    )
    assert changed.status_code == 200, changed.text
    after = {
        (i["group"], i["channel"]): i["enabled"]
        for i in (await client.get("/api/settings/notifications")).json()["items"]
    }
    assert after[("membership", "email")] is False
    assert after[("kyc", "sms")] is True

    refused = await client.put(
        "/api/settings/notifications",
        json={
            "changes": [
                {"group": "membership", "channel": "email", "enabled": True},
                {"group": "missed_payments", "channel": "email", "enabled": False},
            ]
        },
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "preference_locked"
    assert refused.json()["problems"] == ["missed_payments/email"]
    unchanged = {
        (i["group"], i["channel"]): i["enabled"]
        for i in (await client.get("/api/settings/notifications")).json()["items"]
    }
    assert unchanged == after, "a refused request applies none of its switches"

    for bad in (
        {"changes": [{"group": "nope", "channel": "email", "enabled": False}]},
        {"changes": [{"group": "kyc", "channel": "pigeon", "enabled": False}]},
        {"changes": [{"group": "kyc", "channel": "email", "enabled": "no"}]},
        {"changes": []},
        {"changes": [{"group": "kyc", "channel": "email", "enabled": False, "locked": False}]},
    ):
        assert (await client.put("/api/settings/notifications", json=bad)).status_code == 400, bad


async def test_security_settings(client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender) -> None:
    await sign_up_and_in(client, mailbox)
    security = (await client.get("/api/settings/security")).json()
    assert security["secondFactorEnabled"] is False
    assert security["liveSessions"] == 1
    assert security["lastSignInAt"] is not None


# Notification core and the feed -----------------------------------------------------------------------------


async def mailbox_count(settings: Settings, email: str, template: str) -> int:
    rows = await sql(
        settings, "SELECT count(*) FROM sandbox_mailbox WHERE to_address = $1 AND template = $2", email, template
    )
    return int(rows[0][0])


async def test_one_event_delivered_twice_sends_one_email_and_one_feed_item(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender, deps: Deps, test_settings: Settings
) -> None:
    email, account_id = await sign_up_and_in(client, mailbox)
    event_id = await emit(deps, "membership.activated", account_id, memberNumber=1042)

    async def delivered() -> bool:
        rows = await sql(
            test_settings,
            "SELECT count(*) FROM notification_deliveries WHERE event_id = $1 AND status = 'sent'",
            str(event_id),
        )
        return int(rows[0][0]) == 2

    await eventually(delivered, timeout=20, what="email and in-app deliveries")

    # The same event again: through the outbox handler (new jobs) and straight into the delivery job.
    async with deps.uow() as uow:
        message = await uow.outbox.get(event_id)
    assert message is not None
    await on_member_event(deps, message)
    for channel in ("email", "in_app"):
        payload = {"eventId": str(event_id), "accountId": str(account_id), "channel": channel}
        assert await deliver_notification(deps, payload) == "duplicate"
        await deps.tasks.enqueue(DELIVER_TASK, payload, key=f"{event_id}:{account_id}:{channel}:again")

    await asyncio.sleep(2)  # the worker runs the repeated jobs; each must find its delivery already done
    assert await mailbox_count(test_settings, email, "notify.membership.activated") == 1
    message_sent = await mailbox.latest_for(email, "notify.membership.activated")
    assert message_sent is not None
    assert "1042" in message_sent.text
    feed = await feed_items(client)
    assert [i["eventName"] for i in feed["items"]] == ["membership.activated"]
    assert feed["items"][0]["read"] is False
    assert (await client.get("/api/notifications/unread-count")).json() == {"unread": 1}


async def test_preferences_steer_delivery_and_mandatory_notices_ignore_them(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender, deps: Deps, test_settings: Settings
) -> None:
    email, account_id = await sign_up_and_in(client, mailbox)
    off = {"changes": [{"group": "kyc", "channel": "email", "enabled": False}]}
    assert (await client.put("/api/settings/notifications", json=off)).status_code == 200
    optional = await emit(deps, "kyc.verified", account_id)
    mandatory = await emit(deps, "payment.failed", account_id, graceEndsAt="2026-12-31T00:00:00Z")

    async def done() -> bool:
        rows = await sql(
            test_settings,
            "SELECT count(*) FROM notification_deliveries WHERE event_id = ANY($1::text[]) AND status = 'sent'",
            [str(optional), str(mandatory)],
        )
        return int(rows[0][0]) == 3  # kyc: in-app only; payment failure: email and in-app

    await eventually(done, timeout=20, what="three deliveries")
    assert await mailbox_count(test_settings, email, "notify.kyc.verified") == 0
    assert await mailbox_count(test_settings, email, "notify.payment.failed") == 1
    names = sorted(i["eventName"] for i in (await feed_items(client))["items"])
    assert names == ["kyc.verified", "payment.failed"]


async def add_feed_items(deps: Deps, account_id: uuid.UUID, count: int) -> list[str]:
    start = datetime.now(UTC) - timedelta(hours=1)
    async with deps.uow() as uow:
        for i in range(count):
            await uow.notifications.add(
                account_id=account_id,
                event_id=str(uuid.uuid4()),
                event_name="kyc.reminder",
                title=f"item {i}",
                body="body",
                at=start + timedelta(seconds=i // 2),  # pairs share a timestamp: the id breaks the tie
            )
        await uow.commit()
    return [f"item {i}" for i in range(count)]


async def test_feed_paging_mark_read_and_unread_count(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender, deps: Deps
) -> None:
    _, account_id = await sign_up_and_in(client, mailbox)
    await add_feed_items(deps, account_id, 5)

    seen: list[dict[str, Any]] = []
    page = await feed_items(client, limit=2)
    pages = 1
    seen.extend(page["items"])
    while page["nextCursor"]:
        page = await feed_items(client, limit=2, cursor=page["nextCursor"])
        seen.extend(page["items"])
        pages += 1
    assert pages == 3
    assert len({i["id"] for i in seen}) == 5
    keys = [(i["createdAt"], i["id"]) for i in seen]
    assert keys == sorted(keys, reverse=True), "newest first"
    assert (await feed_items(client))["nextCursor"] is None, "default limit 20 holds all five"

    assert (await client.get("/api/notifications/unread-count")).json() == {"unread": 5}
    first = seen[0]["id"]
    assert (await client.post(f"/api/notifications/{first}/read")).status_code == 204
    assert (await client.post(f"/api/notifications/{first}/read")).status_code == 204, "reading twice is fine"
    assert (await client.get("/api/notifications/unread-count")).json() == {"unread": 4}
    assert (await client.post(f"/api/notifications/{uuid.uuid4()}/read")).status_code == 404
    assert (await client.post("/api/notifications/read-all")).json() == {"updated": 4}
    assert (await client.get("/api/notifications/unread-count")).json() == {"unread": 0}

    for params in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}):
        response = await client.get("/api/notifications", params=params)
        assert response.status_code == 400, (params, response.text)
    for cursor in ("garbage", "Zm9vfGJhcg", "!!"):
        response = await client.get("/api/notifications", params={"cursor": cursor})
        assert response.status_code in {400, 422}, (cursor, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


# Authorization matrix -------------------------------------------------------------------------------------------


def member_routes(app: Litestar) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if route.path.startswith(PREFIXES) and method not in {"HEAD", "OPTIONS"}
    )


SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/profiles/me"): {"legalFirstName": "Mallory"},
    ("PUT", "/api/settings/notifications"): {"changes": [{"group": "kyc", "channel": "email", "enabled": False}]},
}


def concrete(path: str, ident: str) -> str:
    return re.sub(r"\{[^}:]+:uuid\}", ident, path)


async def test_authorization_matrix(test_settings: Settings, mailbox: SandboxEmailSender, deps: Deps) -> None:
    app = create_app(test_settings)
    routes = member_routes(app)
    assert len(routes) >= 10, routes
    async with open_client(app) as anonymous:
        for method, path in routes:
            response = await anonymous.request(
                method, concrete(path, str(uuid.uuid4())), json=SAMPLE_BODIES.get((method, path))
            )
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "not_authenticated"

    async with open_client(create_app(test_settings)) as alice, open_client(create_app(test_settings)) as bob:
        _, alice_id = await sign_up_and_in(alice, mailbox)
        await sign_up_and_in(bob, mailbox)
        await add_feed_items(deps, alice_id, 2)
        alice_ids = [i["id"] for i in (await feed_items(alice))["items"]]
        with_ids = [(m, p) for m, p in routes if "{" in p]
        assert with_ids, "the feed has routes with ids"
        for method, path in with_ids:
            for ident in alice_ids:
                response = await bob.request(method, concrete(path, ident), json=SAMPLE_BODIES.get((method, path)))
                assert response.status_code == 404, (method, path, response.text)
        assert (await bob.post("/api/notifications/read-all")).json() == {"updated": 0}
        assert (await bob.get("/api/notifications")).json()["items"] == []
        assert (await alice.get("/api/notifications/unread-count")).json() == {"unread": 2}, "Bob changed nothing"
