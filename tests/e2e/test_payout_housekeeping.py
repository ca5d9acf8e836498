"""The daily payout jobs end to end: reminders for missing details (each once), the unclaimed deadline alerting
staff (who then cancel two-person, disqualifying), and a paid winner's membership ending after the retention
months with its subscription cancelled."""

import json
from datetime import timedelta
from typing import Any

from domain.ledger import Account
from domain.sessions import Role
from entrypoints.settings import Settings
from tests.e2e.billing_env import BillingWorld, Member
from tests.e2e.payout_env import (
    Staff,
    joined_members,
    ok,
    payout_world,
    reconciled,
    seed_fund_to,
    staff_member,
    verify_identity,
)
from tests.helpers import eventually

DAY = timedelta(days=1)
BANK = {
    "holderName": "Ada Lovelace",
    "routingNumber": "011000015",
    "accountNumber": "987654321",
    "accountType": "checking",
}


async def one_winner(world: BillingWorld, member: Member, admin: Staff) -> str:
    await verify_identity(world, member, "444444444")
    await seed_fund_to(world, 10_000_000)  # exactly one reward
    await reconciled(world)
    opened = await ok(await admin.client.post("/api/payout/rounds/evaluate"))
    assert opened["outcome"] == "round_opened"
    (payout_id,) = opened["payoutIds"]
    return str(payout_id)


async def sent_by_wire(
    world: BillingWorld, member: Member, admin: Staff, approver: Staff, payer: Staff, reference: str
) -> str:
    """One winner whose details are on file, approved by ``admin`` and ``approver``, scheduled and sent by wire
    by ``payer``: the payout id."""
    payout_id = await one_winner(world, member, admin)
    await ok(await member.client.put(f"/api/payout/me/{payout_id}/bank-account", json=BANK))
    await ok(await admin.client.post(f"/api/payout/payouts/{payout_id}/approve"))
    await ok(await approver.client.post(f"/api/payout/payouts/{payout_id}/approve"))
    await ok(await payer.client.post(f"/api/payout/payouts/{payout_id}/schedule"))
    sent = await ok(
        await payer.client.post(
            "/api/payout/processing", json={"payoutIds": [payout_id], "rail": "manual", "reference": reference}
        )
    )
    assert sent[0]["reference"] == reference
    return payout_id


async def count(world: BillingWorld, event: str) -> int:
    return int(await world.value("SELECT count(*) FROM outbox WHERE event_name = $1", event))


async def test_reminders_once_each_then_the_unclaimed_deadline_and_a_two_person_cancellation(
    test_settings: Settings,
) -> None:
    async with (
        payout_world(test_settings) as world,
        world.http() as cm,
        world.http() as s1,
        world.http() as s2,
    ):
        (member,) = await joined_members(world, [cm])
        admin = await staff_member(world, s1, Role.ADMIN)
        other = await staff_member(world, s2, Role.FINANCE)
        payout_id = await one_winner(world, member, admin)
        moved = await cm.patch(
            "/api/profiles/me",
            json={"address": {"line1": "9 Elsewhere Rd", "city": "Reno", "state": "NV", "zip": "89501"}},
        )
        assert moved.status_code == 409, "a cheque's name and address stay put while a payout is open"
        assert moved.json()["problems"] == ["payout_open"]

        assert await world.run("payout.remind") == 0, "nothing is due on the day of selection"
        world.advance(7 * DAY)
        assert await world.run("payout.remind") == 1
        assert await world.run("payout.remind") == 0, "each reminder goes out once"
        payload = (await world.sql("SELECT payload FROM outbox WHERE event_name = 'payout.info_required'"))[0]
        body: dict[str, Any] = json.loads(payload["payload"])
        assert body["missing"] == ["payment_details", "w9"]
        assert body["accountId"] == str(member.account_id)

        refused = await admin.client.post(f"/api/payout/payouts/{payout_id}/cancel", json={"reason": "unclaimed"})
        assert refused.status_code == 409
        assert refused.json()["problems"] == ["not_unclaimed_yet"]

        world.advance(173 * DAY)  # 180 days after selection: the 30/90/150-day reminders and the deadline
        # The three missed reminders go out as one notice (each marked sent), plus the staff alert.
        assert await world.run("payout.remind") == 2
        assert await count(world, "payout.info_required") == 2
        assert await count(world, "payout.unclaimed_due") == 1
        assert await world.run("payout.remind") == 0

        async def staff_told() -> bool:
            feed = (await admin.client.get("/api/notifications")).json()
            return any("deadline" in item["title"] for item in feed["items"])

        await eventually(staff_told, timeout=20, what="the unclaimed alert in the staff feed")

        fund_before = await world.value(
            "SELECT -coalesce(sum(debit_balance_cents), 0) FROM ledger_balances WHERE account = 'fund'"
        )
        requested = await ok(
            await admin.client.post(f"/api/payout/payouts/{payout_id}/cancel", json={"reason": "unclaimed"})
        )
        assert requested["done"] is False
        assert requested["payout"]["pendingCancellation"]["reason"] == "unclaimed"
        done = await ok(
            await other.client.post(f"/api/payout/payouts/{payout_id}/cancel", json={"reason": "unclaimed"})
        )
        assert done["done"] is True
        assert done["payout"]["status"] == "cancelled"
        assert (await member.status())["status"] == "cancelled", "unclaimed is disqualifying"
        async with world.container.deps.uow() as uow:
            fund_after = (await uow.ledger.balance(Account.FUND)).cents
        assert fund_after == fund_before + 10_000_000, "the reward returns to the fund"
        assert await count(world, "billing.cancel_subscription_requested") == 1
        assert await count(world, "payout.cancelled") == 1


async def test_a_paid_winner_ends_after_the_retention_months_and_the_return_window(test_settings: Settings) -> None:
    async with (
        payout_world(test_settings) as world,
        world.http() as cm,
        world.http() as s1,
        world.http() as s2,
        world.http() as s3,
    ):
        (member,) = await joined_members(world, [cm])
        admin = await staff_member(world, s1, Role.ADMIN)
        approver = await staff_member(world, s2, Role.FINANCE)
        payer = await staff_member(world, s3, Role.FINANCE)
        payout_id = await sent_by_wire(world, member, admin, approver, payer, "WIRE-77")
        await ok(await payer.client.post(f"/api/payout/payouts/{payout_id}/complete"))
        assert (await member.status())["status"] == "paid"

        world.advance(90 * DAY)
        assert await world.run("payout.end_winners") == 0, "the retention months are not over"
        world.advance(300 * DAY)  # past selection + 12 months
        assert await world.run("payout.end_winners") == 1
        assert (await member.status())["status"] == "ended"
        assert await world.run("payout.end_winners") == 0
        assert await count(world, "membership.ended") == 1
        assert await count(world, "billing.cancel_subscription_requested") == 1


async def test_a_frozen_withholding_is_corrected_by_two_finance_staff_after_a_failure(test_settings: Settings) -> None:
    async with (
        payout_world(test_settings) as world,
        world.http() as cm,
        world.http() as s1,
        world.http() as s2,
        world.http() as s3,
    ):
        (member,) = await joined_members(world, [cm])
        admin = await staff_member(world, s1, Role.ADMIN)
        first = await staff_member(world, s2, Role.FINANCE)
        second = await staff_member(world, s3, Role.FINANCE)
        payout_id = await sent_by_wire(world, member, admin, first, second, "WIRE-1")
        frozen = (await ok(await admin.client.get(f"/api/payout/payouts/{payout_id}")))["amounts"]
        assert frozen["withholding"]["amountCents"] == 2_400_000, "no W-9 at the first processing"

        url = f"/api/payout/payouts/{payout_id}/withholding-correction"
        early = await first.client.post(url, json={"w9Certified": True})
        assert early.status_code == 409, "not while the money is in flight"
        assert early.json()["problems"] == ["wrong_status"]
        failed = await ok(
            await second.client.post(f"/api/payout/payouts/{payout_id}/fail", json={"failure": "bank refused"})
        )
        assert failed["approvals"] == 0, "a retry sends money again: it is approved again"

        asked = await ok(await first.client.post(url, json={"w9Certified": True}))
        assert asked["done"] is False
        alone = await first.client.post(url, json={"w9Certified": True})
        assert alone.status_code == 409
        assert "same_staff_twice" in alone.json()["problems"]
        not_finance = await admin.client.post(url, json={"w9Certified": True})
        assert not_finance.status_code == 403
        done = await ok(await second.client.post(url, json={"w9Certified": True}))
        assert done["done"] is True
        assert done["payout"]["amounts"]["withholding"]["amountCents"] == 0
        assert done["payout"]["amounts"]["net"]["amountCents"] == 9_970_000
        async with world.container.deps.uow() as uow:
            assert (await uow.ledger.balance(Account.WITHHOLDING_PAYABLE)).cents == 0
            assert (await uow.ledger.balance(Account.PAYOUTS_PAYABLE)).cents == 9_970_000

        await ok(await admin.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        await ok(await first.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        retry = {"payoutIds": [payout_id], "rail": "manual", "reference": "WIRE-2"}
        await ok(await second.client.post("/api/payout/processing", json=retry))
        await ok(await second.client.post(f"/api/payout/payouts/{payout_id}/complete"))
        async with world.container.deps.uow() as uow:
            assert (await uow.ledger.balance(Account.PAYOUTS_PAYABLE)).cents == 0
