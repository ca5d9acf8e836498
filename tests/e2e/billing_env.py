"""An isolated billing world for end-to-end tests: its own migrated PostgreSQL database and Redis queue, the
real app (HTTP through ASGI), the real SAQ worker and the real `StripePaymentGateway` talking HTTP to a local
fake Stripe server — all on one controllable clock, so a test can let a month or a grace period pass."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec

from adapters.email.sandbox import SandboxEmailSender
from adapters.sql import migrations
from entrypoints.bootstrap import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests import services
from tests.e2e.test_auth import code_for
from tests.fakes import FakeClock
from tests.helpers import eventually
from tests.provider_fakes.plaid_server import FakePlaid, run_fake_plaid
from tests.provider_fakes.stripe_server import FakeStripe, run_fake_stripe

BASE_URL = "https://tenure.test"
PASSWORD = "correct horse battery staple 42"
ADULT_PROFILE = {
    "legalFirstName": "Ada",
    "legalLastName": "Lovelace",
    "dateOfBirth": "1990-12-10",
    "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
}
TERMS = {"acceptTermsVersion": "2026-11-01", "acceptPaymentAuthorization": True}
WEBHOOK = "/api/webhooks/stripe"


@dataclass
class Member:
    client: httpx.AsyncClient
    email: str
    account_id: uuid.UUID
    session_id: str = ""
    subscription_id: str = ""

    async def status(self) -> dict[str, Any]:
        response = await self.client.get("/api/subscriptions/me")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@dataclass
class BillingWorld:
    fake: FakeStripe
    clock: FakeClock
    container: Container
    settings: Settings
    app: Any
    plaid: FakePlaid
    delivered: set[str] = field(default_factory=set)
    _worker: tuple[Any, "asyncio.Task[None]"] | None = None

    async def start_worker(self) -> None:
        """The real SAQ worker of this world's queue (as `tenure worker` runs it)."""
        if self._worker is None:
            worker = self.container.saq_worker()
            self._worker = (worker, asyncio.create_task(worker.start()))

    async def stop_worker(self) -> None:
        """Stop it, as `kill` would leave things: queued jobs stay in Redis, nothing is processed meanwhile."""
        if self._worker is not None:
            worker, running = self._worker
            self._worker = None
            await worker.stop()
            await running

    @property
    def dsn(self) -> str:
        return self.settings.database_url.replace("postgresql+asyncpg://", "postgresql://")

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def value(self, query: str, *args: Any) -> Any:
        rows = await self.sql(query, *args)
        return rows[0][0] if rows else None

    @asynccontextmanager
    async def http(self) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            response = await client.get("/api/auth/csrf")
            assert response.status_code == 204
            client.headers["x-csrftoken"] = client.cookies["__Host-csrftoken"]
            yield client

    async def member(self, client: httpx.AsyncClient) -> Member:
        """Sign up, verify by the emailed code (sent by the worker), sign in, fill in the profile."""
        email = f"member-{uuid.uuid4().hex[:12]}@example.com"
        assert (await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})).status_code == 202
        code = await self.code_for(email)
        assert (await client.post("/api/auth/verify-email", json={"email": email, "code": code})).status_code == 204
        signed = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        assert (await client.patch("/api/profiles/me", json=ADULT_PROFILE)).status_code == 200
        return Member(client=client, email=email, account_id=uuid.UUID(signed.json()["accountId"]))

    async def code_for(self, email: str) -> str:
        mailbox = self.container.deps.email
        assert isinstance(mailbox, SandboxEmailSender)
        return await code_for(mailbox, email, timeout=20)

    async def join(self, member: Member, *, deliver: bool = True) -> dict[str, Any]:
        """Checkout, pay on the (fake) hosted page, deliver Stripe's events; returns the membership status."""
        started = await member.client.post("/api/subscriptions/checkout", json=TERMS)
        assert started.status_code == 200, started.text
        url = started.json()["checkoutUrl"]
        session = next(s for s in self.fake.all_objects("checkout.session") if s["url"] == url)
        member.session_id = session["id"]
        completed = self.fake.complete_checkout(session["id"], email=member.email)
        member.subscription_id = completed["subscription"]
        if deliver:
            await self.deliver_all()
        return await member.status()

    def new_events(self, *types: str) -> list[dict[str, Any]]:
        events = [e for e in self.fake.events() if e["id"] not in self.delivered]
        return [e for e in events if not types or e["type"] in types]

    async def deliver(self, event: dict[str, Any], client: httpx.AsyncClient | None = None) -> httpx.Response:
        body, headers = self.fake.signed_webhook(event, timestamp=self.fake.now())
        self.delivered.add(event["id"])
        async with self.http() if client is None else _same(client) as http:
            response = await http.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 200, response.text
        return response

    async def deliver_all(self) -> None:
        """Deliver every event the fake emitted since the last call, in Stripe's order, then wait for the
        worker to apply them and for the outbox (notices, provider commands) to drain."""
        async with self.http() as client:
            for event in self.new_events():
                await self.deliver(event, client)
        await self.settle()

    async def settle(self, timeout: float = 30) -> None:
        async def quiet() -> bool:
            inbox = await self.value("SELECT count(*) FROM provider_inbox WHERE processed_at IS NULL")
            outbox = await self.value("SELECT count(*) FROM outbox WHERE dispatched_at IS NULL")
            return int(inbox) == 0 and int(outbox) == 0

        await eventually(quiet, timeout=timeout, what="the inbox and outbox to drain")

    async def run(self, task: str) -> Any:
        """Run a scheduled job now (as cron would) through the task table, on the app's dependencies."""
        spec = self.container.table[task]
        return await spec.handler(self.container.deps, {})

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    async def ledger_is_consistent(self) -> None:
        """Entries balance, and the fund equals the sum of fund postings (DOMAIN.md §9)."""
        unbalanced = await self.value(
            "SELECT count(*) FROM (SELECT entry_id FROM ledger_postings GROUP BY entry_id, currency "
            "HAVING sum(amount_cents) <> 0) AS u"
        )
        assert unbalanced == 0
        assert await self.value("SELECT coalesce(sum(amount_cents), 0) FROM ledger_postings") == 0
        fund_postings = await self.value(
            "SELECT coalesce(-sum(amount_cents), 0) FROM ledger_postings WHERE account = 'fund'"
        )
        fund_balance = await self.value(
            "SELECT coalesce(-sum(debit_balance_cents), 0) FROM ledger_balances WHERE account = 'fund'"
        )
        assert fund_postings == fund_balance


@asynccontextmanager
async def _same(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    yield client


@asynccontextmanager
async def billing_world(test_settings: Settings, *, worker: bool = True) -> AsyncIterator[BillingWorld]:
    """`worker=False`: no SAQ worker (no job, outbox dispatch or cron runs behind the test's back)."""
    name = f"tenure_billing_{uuid.uuid4().hex[:10]}"
    await services.create_database(name)
    url = services.asyncpg_to_sqlalchemy(services.database_dsn(name))
    await asyncio.to_thread(migrations.upgrade, url)
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(now)
    queue = f"{test_settings.queue_name}-{name}"
    try:
        async with (
            run_fake_stripe(clock=lambda: clock.now().timestamp()) as fake,
            run_fake_plaid(clock=lambda: clock.now().timestamp()) as plaid,
        ):
            settings = msgspec.structs.replace(
                test_settings,
                database_url=url,
                queue_name=queue,
                stripe_secret_key=fake.api_key,
                stripe_webhook_secret=fake.webhook_secret,
                stripe_api_base=fake.base_url,
                stripe_dunning_terminal_action="past_due",
                session_idle_minutes=1000 * 24 * 60,  # months and years pass on this clock; sessions survive
                session_absolute_hours=1000 * 24,
                plaid_client_id=plaid.client_id,
                plaid_secret=plaid.secret,
                plaid_idv_template_id=plaid.template_id,
                plaid_api_base=plaid.base_url,
            )
            container = build_container(settings, clock=clock)
            app = create_app(container=container)
            await container.start()
            world = BillingWorld(fake=fake, clock=clock, container=container, settings=settings, app=app, plaid=plaid)
            if worker:
                await world.start_worker()
            try:
                yield world
            finally:
                await world.stop_worker()
                await container.stop()
    finally:
        await services.delete_redis_keys(f"saq:{queue}*")
        await services.drop_database(name)


def instant(value: str | None) -> datetime:
    """An API timestamp (ISO 8601, `Z` or offset) as an aware datetime."""
    assert value is not None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
