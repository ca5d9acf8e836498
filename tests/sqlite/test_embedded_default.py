"""The embedded default (`make run`): SQLite file, in-process jobs, no PostgreSQL or Redis needed."""

import asyncio
import re
import sqlite3
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.member_numbers import next_member_number
from domain.routing import name_digest
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, load_settings
from tests.helpers import eventually


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'tenure.db'}"


@pytest.fixture
async def migrated(database_url: str) -> str:
    from adapters.sql.engine import ensure_sqlite_directory

    ensure_sqlite_directory(database_url)
    await asyncio.to_thread(migrations.upgrade, database_url)
    return database_url


@pytest.fixture
def settings(migrated: str) -> Settings:
    return msgspec.structs.replace(load_settings({}), database_url=migrated, log_level="WARNING")


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


def tables(path: str) -> set[str]:
    with sqlite3.connect(path.removeprefix("sqlite+aiosqlite:///")) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name NOT LIKE 'sqlite_%'"
        )
        return {r[0] for r in rows}


async def test_migrations_upgrade_and_downgrade_on_sqlite(migrated: str) -> None:
    created = tables(migrated)
    assert {"memberships", "ledger_postings", "outbox", "member_number_allocations"} <= created
    assert {"ledger_postings_no_update", "audit_log_no_delete"} <= created
    await asyncio.to_thread(migrations.downgrade, migrated, "base")
    assert tables(migrated) <= {"alembic_version"}
    await asyncio.to_thread(migrations.upgrade, migrated)
    assert tables(migrated) == created


async def test_the_app_is_ready_without_postgres_or_redis(app: Litestar) -> None:
    async with AsyncTestClient(app, base_url="https://tenure.test") as client:
        response = await client.get("/health/ready")
        assert response.status_code == 200, response.text
        assert all(c["ok"] for c in response.json()["components"])
        assert (await client.get("/schema")).status_code == 200


async def test_committed_events_are_dispatched_by_the_in_process_runner(app: Litestar) -> None:
    async with AsyncTestClient(app, base_url="https://tenure.test"):
        deps = app.state.container.deps
        async with deps.uow() as uow:
            uow.record(event_name="test.sqlite", aggregate_type="test", aggregate_id="a1", payload={})
            await uow.commit()

        async def dispatched() -> bool:
            async with deps.uow() as uow:
                at = await uow.session.scalar(
                    select(models.OutboxMessage.dispatched_at).where(models.OutboxMessage.aggregate_id == "a1")
                )
                return at is not None

        await eventually(dispatched, what="the in-process runner to dispatch the outbox")


async def test_member_numbers_and_append_only_ledger_on_sqlite(migrated: str) -> None:
    engine = create_engine(migrated)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            committed = await next_member_number(session)
            await session.commit()
        async with sessions() as session:
            rolled_back = await next_member_number(session)
            await session.rollback()
        async with sessions() as session:
            later = await next_member_number(session)
            await session.commit()
        assert rolled_back > committed
        assert later > committed, "a committed number is never handed out again"
    finally:
        await engine.dispose()

    with sqlite3.connect(migrated.removeprefix("sqlite+aiosqlite:///")) as conn:
        conn.execute(
            "INSERT INTO ledger_entries (id, reference, kind, occurred_at, recorded_at) "
            "VALUES (x'01', 'r1', 'test', '2026-01-01', '2026-01-01')"
        )
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE ledger_entries SET memo = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM ledger_entries")


async def signed_in_member(client: AsyncTestClient[Litestar], deps: Any) -> str:
    """Sign up, verify by the sandbox-mailed code (sent by the in-process runner) and sign in; returns the email."""
    email = f"member-{uuid.uuid4().hex[:10]}@example.com"
    await client.get("/api/auth/csrf")
    client.headers["x-csrftoken"] = client.cookies["__Host-csrftoken"]
    password = "correct horse battery staple 42"
    assert (await client.post("/api/auth/sign-up", json={"email": email, "password": password})).status_code == 202
    found: dict[str, str] = {}

    async def code_sent() -> bool:
        message = await deps.email.latest_for(email, "code.email_verification")
        if message is not None:
            found["text"] = message.text
        return message is not None

    await eventually(code_sent, timeout=30, what="the verification email")
    code = re.search(r"\b(\d{6})\b", found["text"])
    assert code is not None
    verified = await client.post("/api/auth/verify-email", json={"email": email, "code": code.group(1)})
    assert verified.status_code == 204
    assert (await client.post("/api/auth/sign-in", json={"email": email, "password": password})).status_code == 200
    return email


async def test_joining_through_the_sandbox_checkout_on_the_embedded_default(app: Litestar) -> None:
    """`make run`'s money path: checkout → the sandbox's hosted page → pay → its signed events go through the
    same inbox → in-process job → use case as Stripe's; the redirect lands on the same fulfilment."""
    deps = app.state.container.deps
    async with AsyncTestClient(app, base_url="https://tenure.test") as client:
        await signed_in_member(client, deps)
        profile = {
            "legalFirstName": "Ada",
            "legalLastName": "Lovelace",
            "dateOfBirth": "1990-12-10",
            "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        }
        assert (await client.patch("/api/profiles/me", json=profile)).status_code == 200

        refused = await client.post("/api/subscriptions/checkout", json={})
        assert refused.status_code == 409
        assert {"terms_not_accepted", "payment_authorization_missing"} <= set(refused.json()["problems"])

        started = await client.post(
            "/api/subscriptions/checkout",
            json={"acceptTermsVersion": "2026-11-01", "acceptPaymentAuthorization": True},
        )
        assert started.status_code == 200, started.text
        page_url = started.json()["checkoutUrl"].removeprefix("http://localhost:8000")
        again = await client.post("/api/subscriptions/checkout", json={})
        assert again.json()["checkoutUrl"] == started.json()["checkoutUrl"], "one session per membership"

        page = await client.get(page_url)
        assert page.status_code == 200
        assert "300.00 USD" in page.text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        paid = await client.post(f"{page_url}/pay", data={"_csrf_token": token.group(1)}, follow_redirects=False)
        assert paid.status_code == 303
        landing = paid.headers["location"].removeprefix("http://localhost:8000")
        assert landing.startswith("/checkout/complete?session_id=cs_"), "back to the web app's page"
        back = await client.get(f"/api/subscriptions{landing}")  # what that page asks the API
        assert back.status_code == 200, back.text
        assert back.json()["status"] == "active"
        assert back.json()["position"] == 1

        async def events_applied() -> bool:
            async with deps.uow() as uow:
                return await uow.inbox.unprocessed_count("stripe") == 0

        await eventually(events_applied, timeout=30, what="the sandbox's events to be processed in-process")
        async with deps.uow() as uow:
            assert await uow.inbox.unprocessed_count("stripe") == 0
            entries = await uow.session.scalar(select(func.count()).select_from(models.LedgerEntry))
        assert entries == 1, "the redirect and the events posted the joining payment once"
        history = (await client.get("/api/billing/payments")).json()["items"]
        assert [(p["purpose"], p["amount"]["amountCents"]) for p in history] == [("joining", 30_000)]


async def test_identity_verification_through_the_sandbox_on_the_embedded_default(app: Litestar) -> None:
    """`make run`'s KYC path: start → the sandbox's hosted page → pass → its ES256-signed webhook goes through the
    same Plaid verifier, inbox and in-process job → VERIFIED."""
    deps = app.state.container.deps
    async with AsyncTestClient(app, base_url="https://tenure.test") as client:
        await signed_in_member(client, deps)
        profile = {"dateOfBirth": "1988-04-02", "legalFirstName": "Grace", "legalLastName": "Hopper"}
        assert (await client.patch("/api/profiles/me", json=profile)).status_code == 200

        started = await client.post("/api/kyc/start")
        assert started.status_code == 200, started.text
        page_url = started.json()["verificationUrl"].removeprefix("http://localhost:8000")
        page = await client.get(page_url)
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        passed = await client.post(f"{page_url}/pass", data={"_csrf_token": token.group(1)}, follow_redirects=False)
        assert passed.status_code == 303

        async def verified() -> bool:
            return (await client.get("/api/kyc")).json()["status"] == "verified"

        await eventually(verified, timeout=30, what="the sandbox's webhook to verify the member in-process")
        account_id = uuid.UUID((await client.get("/api/auth/session")).json()["accountId"])
        async with deps.uow() as uow:
            stored = await uow.kyc.get(account_id)
        assert stored is not None
        assert stored.record.date_of_birth == date(1988, 4, 2)
        # The sandbox shows the name the member gave, so a winner's payee name can match the verified one (§8).
        assert stored.record.name_digest == name_digest(key=deps.identity_key, name="Grace Hopper")


async def test_the_staff_console_readings_work_on_sqlite(settings: Settings) -> None:
    """The dashboard's per-day SQL (`date()` of a stored instant), the metrics readings, member search and the
    members export on the embedded default."""
    from datetime import UTC, datetime

    from domain.ledger import payment_received, split_payment
    from domain.money import Money
    from domain.sessions import Role
    from entrypoints.bootstrap import build_container
    from ports.usecases import admin_members, exports
    from ports.usecases.auth import Principal
    from ports.usecases.operations import program_readings

    container = build_container(settings)
    deps = container.deps
    try:
        now = datetime.now(UTC)
        async with deps.uow() as uow:
            rules = deps.rules.in_force(now)
            entry = payment_received(
                invoice_id=str(uuid.uuid4()), split=split_payment(Money(cents=30_000), rules=rules), at=now
            )
            await uow.ledger.post(entry)
            await uow.commit()
        async with deps.uow() as uow:
            moved = await uow.operations.fund_movement_by_day(since=now.date())
            rounds = await uow.operations.recent_rounds(limit=5)
        found = await program_readings(deps)
        async with deps.uow() as uow:
            await uow.accounts.add(email="sqlite-member@example.com", password_hash=None, role="member", now=now)
            await uow.commit()
        staff = Principal(
            account_id=uuid.uuid4(),
            email="staff@example.com",
            role=Role.ADMIN,
            session_id=uuid.uuid4(),
            authenticated_at=now,
            second_factor=True,
        )
        page = await admin_members.search_members(
            deps, staff, text="sqlite-member", status="none", cursor=None, limit=5
        )
        exported = "".join([chunk async for chunk in exports.members_csv(deps, staff)])
    finally:
        await container.stop()
    assert [row.email for row in page.items] == ["sqlite-member@example.com"]
    assert "sqlite-member@example.com" in exported
    assert moved == [(now.date(), found.readings.fund_balance_cents)]
    assert found.readings.fund_balance_cents > 0
    assert rounds == []
