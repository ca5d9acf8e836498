"""A program past its first year, for payout tests: members who joined and verified their identity through the
fake Stripe and Plaid servers, staff with a second factor signed in over HTTP, and a reward fund seeded with the
history a real program would have (member payments before these tests' members joined)."""

import base64
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from domain.money import Money
from domain.sessions import Role
from domain.totp import time_step, totp_at
from entrypoints.settings import Settings
from ports.usecases import roles
from tests.e2e.billing_env import PASSWORD, BillingWorld, Member, billing_world
from tests.e2e.test_kyc_journey import IDENTITY, deliver, settled_status, start
from tests.helpers import fund_to

FUND_TARGET = 25_000_000
"""$250,000: two $100,000 rewards and $50,000 left over (DOMAIN.md §12)."""


def launched_long_ago(settings: Settings, today: date, export_dir: Path) -> Settings:
    """Launch 13 months before today (payouts are possible), ACH files written to ``export_dir``."""
    year, month = (today.year - 1, today.month - 1) if today.month > 1 else (today.year - 2, 12)
    return msgspec.structs.replace(
        settings,
        launch_date=date(year, month, 1),
        payout_export_dir=str(export_dir),
        staff_session_idle_minutes=1000 * 24 * 60,  # days pass on the test clock; staff sessions survive them
        staff_session_absolute_hours=1000 * 24,
    )


@asynccontextmanager
async def payout_world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    today = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory(prefix="tenure-ach-") as export_dir:
        async with billing_world(launched_long_ago(test_settings, today, Path(export_dir))) as world:
            yield world
            await world.ledger_is_consistent()


async def seed_fund_to(world: BillingWorld, target_cents: int = FUND_TARGET) -> Money:
    """Post the program's earlier member payments so the fund holds exactly ``target_cents``."""
    fund = await fund_to(world.container.deps, target_cents, world.clock.now())
    assert fund.cents == target_cents, f"the fund share is not 100%: {fund}"
    return fund


async def verify_identity(world: BillingWorld, member: Member, id_number: str) -> None:
    attempt = await start(member)
    world.plaid.complete(attempt, "success", user={**IDENTITY, "id_number": id_number})
    assert (await deliver(world, attempt)).status_code == 200
    await settled_status(world, member, "verified")


async def reconciled(world: BillingWorld) -> None:
    """A successful reconciliation within the hour is a precondition of a round (§7)."""
    await world.settle()  # every provider event applied first (a backlog blocks rounds, §7)
    await world.run("payments.reconcile")


@dataclass
class Staff:
    client: httpx.AsyncClient
    account_id: uuid.UUID
    email: str
    totp_secret: bytes

    async def step_up(self, clock_now: datetime) -> None:
        code = totp_at(self.totp_secret, time_step(clock_now))
        response = await self.client.post("/api/auth/step-up", json={"password": PASSWORD, "secondFactor": code})
        assert response.status_code == 200, response.text


async def staff_member(world: BillingWorld, client: httpx.AsyncClient, role: Role) -> Staff:
    """A staff account (as `tenure accounts create-admin` makes it, then given ``role``) with TOTP, signed in."""
    deps = world.container.deps
    email = f"staff-{uuid.uuid4().hex[:10]}@example.com"
    account = await roles.create_admin(deps, email=email, password=PASSWORD, actor="test")
    if role is not Role.ADMIN:
        await roles.set_role(deps, account_id=str(account.id), role=role, actor="test", reason="payout tests")
    signed = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    started = await client.post("/api/auth/totp/enrolment")
    assert started.status_code == 200, started.text
    secret_b32 = started.json()["secret"]
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    confirmed = await client.post(
        "/api/auth/totp/confirm", json={"code": totp_at(secret, time_step(world.clock.now()))}
    )
    assert confirmed.status_code == 200, confirmed.text
    return Staff(client=client, account_id=account.id, email=email, totp_secret=secret)


def refusal(response: httpx.Response, status: int, code: str, *problems: str) -> dict[str, Any]:
    """A problem document with this status and code, whose `problems` contain ``problems``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert set(problems) <= set(body.get("problems") or []), body
    return body


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def joined_members(world: BillingWorld, clients: list[httpx.AsyncClient]) -> list[Member]:
    """Members joining five seconds apart (their queue order is the order of ``clients``)."""
    members = []
    for client in clients:
        member = await world.member(client)
        await world.join(member)
        world.advance(timedelta(seconds=5))
        members.append(member)
    return members
