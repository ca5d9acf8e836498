"""Data lifecycle (issue 11): a member's deletion request schedules the end of their membership at the period they
paid for; once nothing is in flight the daily job erases their personal data, while payments, tax and audit records
stay (DOMAIN.md §9)."""

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from entrypoints.settings import Settings
from ports.usecases.erasure import ERASE_TASK, placeholder_email
from tests.e2e.billing_env import PASSWORD, BillingWorld, billing_world


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world
        await world.ledger_is_consistent()


async def test_a_member_who_asks_is_erased_once_the_paid_period_ends(world: BillingWorld) -> None:
    async with world.http() as client, world.http() as later:
        member = await world.member(client)
        await world.join(member)

        asked = await client.post("/api/profiles/me/deletion-request")
        assert asked.status_code == 202, asked.text
        status = await member.status()
        assert status["status"] == "active", "the paid period runs to its end"
        ends = datetime.fromisoformat(status["cancelEffectiveAt"].replace("Z", "+00:00"))
        await world.settle()
        assert world.fake.get(member.subscription_id)["cancel_at_period_end"] is True, "nothing more is charged"

        assert await world.run(ERASE_TASK) == {"waiting_for_membership": 1}
        assert await world.value("SELECT count(*) FROM notifications WHERE account_id = $1", member.account_id) > 0
        await world.sql(  # a staff review vote whose free-text reason names the person
            "INSERT INTO kyc_staff_votes (id, account_id, attempt_id, staff_id, decision, reason, at) "
            "VALUES ($1, $2, 'idv_1', $2, 'reject', 'Ada Lovelace, born 1990, looks like her sister', now())",
            uuid.uuid4(),
            member.account_id,
        )
        seen = await world.value(
            "SELECT count(*) FROM security_events WHERE account_id = $1 AND user_agent IS NOT NULL", member.account_id
        )
        assert seen > 0, "their sign-ins recorded their browser"
        assert await world.value("SELECT email FROM accounts WHERE id = $1", member.account_id) == member.email

        world.clock._now = ends + timedelta(minutes=1)
        await world.run("billing.sweep")
        await world.settle()
        assert (
            await world.value("SELECT status FROM memberships WHERE account_id = $1", member.account_id) == "CANCELLED"
        )

        assert await world.run(ERASE_TASK) == {"erased": 1}
        assert await world.run(ERASE_TASK) == {}, "done once"
        account = await world.sql("SELECT email, status, password_hash FROM accounts WHERE id = $1", member.account_id)
        assert tuple(account[0]) == (placeholder_email(member.account_id), "erased", None)
        profile = await world.sql(
            "SELECT legal_first_name, legal_last_name, date_of_birth, address_line1, phone FROM profiles "
            "WHERE account_id = $1",
            member.account_id,
        )
        assert tuple(profile[0]) == (None, None, None, None, None)
        live = await world.value(
            "SELECT count(*) FROM auth_sessions WHERE account_id = $1 AND revoked_at IS NULL", member.account_id
        )
        assert live == 0
        traces = await world.sql(
            "SELECT count(*) FROM security_events WHERE account_id = $1 AND (ip IS NOT NULL OR user_agent IS NOT NULL)",
            member.account_id,
        )
        assert traces[0][0] == 0, "no address or browser of theirs is kept"
        assert await world.value("SELECT count(*) FROM notifications WHERE account_id = $1", member.account_id) == 0
        votes = await world.sql("SELECT decision, reason FROM kyc_staff_votes WHERE account_id = $1", member.account_id)
        assert [tuple(v) for v in votes] == [("reject", "(erased)")], "the vote stays, its words go"
        assert await world.value("SELECT count(*) FROM security_events WHERE account_id = $1", member.account_id) > 0
        assert (await client.get("/api/auth/session")).status_code == 401, "signed out everywhere"
        old = await later.post("/api/auth/sign-in", json={"email": member.email, "password": PASSWORD})
        assert old.status_code == 401, "the old address and password no longer lead anywhere"

        kept_payments = await world.value(
            "SELECT count(*) FROM payments p JOIN invoices i ON i.id = p.invoice_id "
            "JOIN memberships m ON m.id = i.membership_id WHERE m.account_id = $1",
            member.account_id,
        )
        assert kept_payments >= 1, "money records stay"
        actions = await world.value(
            "SELECT array_agg(action ORDER BY seq) FROM audit_log WHERE entity_type = 'account' AND entity_id = $1",
            str(member.account_id),
        )
        assert actions[-1] == "personal_data_erased"


async def test_a_member_without_a_membership_is_erased_at_the_next_run(world: BillingWorld) -> None:
    async with world.http() as client:
        member = await world.member(client)
        assert (await client.post("/api/profiles/me/deletion-request")).status_code == 202
        assert await world.run(ERASE_TASK) == {"erased": 1}
        assert await world.value("SELECT status FROM accounts WHERE id = $1", member.account_id) == "erased"
