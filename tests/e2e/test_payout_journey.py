"""Issue 8 end to end on PostgreSQL + Redis, through HTTP, the real worker and the fake Stripe/Plaid servers: a
program past launch + 12 months with a $250,000 fund opens one round with the first two eligible members (an
unverified #1 skipped with its reason), staff approve, the winners give details, finance sends the money through
the NACHA file rail and completes it; ledger, fund, statuses, notices and audit are as DOMAIN.md says; the 1099
export lists both; an ACH return is retried to completion with a balanced ledger."""

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.rails.nacha import read_entries
from domain.ledger import Account
from domain.sessions import Role
from entrypoints.settings import Settings
from ports.usecases import audit, rounds
from tests.e2e.billing_env import BillingWorld, Member, instant
from tests.e2e.payout_env import (
    joined_members,
    ok,
    payout_world,
    reconciled,
    seed_fund_to,
    staff_member,
    verify_identity,
)

BANK = {"holderName": "Ada Lovelace", "routingNumber": "011000015", "accountNumber": "000123456789"}
W9 = {
    "legalName": "Ada Lovelace",
    "tin": "219-09-9999",
    "tinType": "ssn",
    "address": {"line1": "1 Main St", "city": "Springfield", "region": "IL", "postalCode": "62701", "country": "US"},
    "certified": True,
}


async def balance(world: BillingWorld, account: Account) -> int:
    async with world.container.deps.uow() as uow:
        return (await uow.ledger.balance(account)).cents


async def status_of(member: Member) -> str:
    return str((await member.status())["status"])


async def events(world: BillingWorld, name: str) -> list[str]:
    """Account ids an event was recorded for, in order."""
    rows = await world.sql(
        "SELECT payload->>'accountId' AS account FROM outbox WHERE event_name = $1 ORDER BY occurred_at, id", name
    )
    return [r["account"] for r in rows]


async def test_a_round_from_selection_to_completion_with_a_returned_transfer_retried(
    test_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        payout_world(test_settings) as world,
        world.http() as ca,
        world.http() as cb,
        world.http() as cc,
        world.http() as cd,
        world.http() as s1,
        world.http() as s2,
        world.http() as s3,
    ):
        a, b, c, d = await joined_members(world, [ca, cb, cc, cd])
        for member, number in ((b, "111111111"), (c, "222222222"), (d, "333333333")):  # A never verifies
            await verify_identity(world, member, number)
        await seed_fund_to(world)
        await reconciled(world)
        admin = await staff_member(world, s1, Role.ADMIN)
        approver = await staff_member(world, s2, Role.FINANCE)
        payer = await staff_member(world, s3, Role.FINANCE)
        before = {m.email: (await m.client.get("/api/queue/me")).json()["position"] for m in (a, b, c, d)}
        assert list(before.values()) == [1, 2, 3, 4]

        # -- selection ------------------------------------------------------------------------------------
        opened = await ok(await admin.client.post("/api/payout/rounds/evaluate"))
        assert opened["outcome"] == "round_opened"
        assert len(opened["payoutIds"]) == 2
        day = opened["day"]
        again = await ok(await admin.client.post("/api/payout/rounds/evaluate"))
        assert again["outcome"] == "round_exists", "one round a day, whoever asks"
        assert await world.value("SELECT count(*) FROM payout_rounds") == 1

        assert [await status_of(m) for m in (a, b, c, d)] == ["active", "won", "won", "active"]
        assert await balance(world, Account.FUND) == 5_000_000  # $250,000 − 2 × $100,000
        assert await balance(world, Account.PAYOUTS_PAYABLE) == 20_000_000
        assert [(await m.client.get("/api/queue/me")).json()["position"] for m in (a, d)] == [1, 2]
        detail = await ok(await admin.client.get(f"/api/payout/rounds/{day}"))
        winners = {p["accountId"]: p for p in detail["payouts"]}
        assert set(winners) == {str(b.account_id), str(c.account_id)}
        assert all(p["status"] == "pending_approval" for p in winners.values())
        public = await ok(await ca.get(f"/api/queue/rounds/{day}"))
        assert public["winners"] == 2
        assert public["queueSize"] == 4
        assert len(public["root"]) == 64
        skipped = await ok(await ca.get(f"/api/queue/me/rounds/{day}"))
        assert skipped["entry"]["position"] == 1
        assert skipped["entry"]["eligible"] is False
        assert skipped["entry"]["reasons"] == ["kyc_not_verified"]
        assert sorted(await events(world, "payout.selected")) == sorted([str(b.account_id), str(c.account_id)])
        assert await world.value("SELECT count(*) FROM outbox WHERE event_name = 'round.opened'") == 1
        pauses = await world.value(
            "SELECT count(*) FROM outbox WHERE event_name = 'billing.collection_pause_requested'"
        )
        assert pauses == 2
        check = await rounds.verify_round(world.container.deps, instant(day + "T00:00:00Z").date())
        assert check.ok, check.problems

        pb = winners[str(b.account_id)]["id"]
        pc = winners[str(c.account_id)]["id"]

        # -- details before approval (C: bank account, no W-9) -------------------------------------------
        mine = await ok(await cc.get("/api/payout/me"))
        assert [p["id"] for p in mine] == [pc]
        assert mine[0]["missing"] == ["payment_details", "w9"]
        await ok(await cc.put(f"/api/payout/me/{pc}/bank-account", json={**BANK, "accountType": "savings"}))

        # -- approvals --------------------------------------------------------------------------------------
        for payout in (pb, pc):
            await ok(await admin.client.post(f"/api/payout/payouts/{payout}/approve"))
            approved = await ok(await approver.client.post(f"/api/payout/payouts/{payout}/approve"))
            assert approved["status"] == "approved"
        assert sorted(await events(world, "payout.approved")) == sorted([str(b.account_id), str(c.account_id)])

        # -- B's details after the first approval: step-up, approvals cleared, 72 h hold ------------------
        world.advance(timedelta(hours=1))
        refused = await cb.put(f"/api/payout/me/{pb}/bank-account", json={**BANK, "accountType": "checking"})
        assert refused.status_code == 403
        assert refused.json()["code"] == "step_up_required"
        await ok(await cb.post("/api/auth/step-up", json={"password": "correct horse battery staple 42"}))
        changed = await ok(await cb.put(f"/api/payout/me/{pb}/bank-account", json={**BANK, "accountType": "checking"}))
        assert (changed["status"], changed["approvals"]) == ("pending_approval", 0)
        assert changed["accountLast4"] == "6789"
        assert "000123456789" not in str(changed)
        await ok(await cb.put(f"/api/payout/me/{pb}/w9", json=W9))
        assert await events(world, "payout.details_changed") == [str(b.account_id)] * 2
        await ok(await admin.client.post(f"/api/payout/payouts/{pb}/approve"))
        await ok(await approver.client.post(f"/api/payout/payouts/{pb}/approve"))
        world.advance(timedelta(hours=73))

        # -- processing through the NACHA file rail ------------------------------------------------------
        for payout in (pb, pc):
            assert (await ok(await payer.client.post(f"/api/payout/payouts/{payout}/schedule")))["status"] == (
                "scheduled"
            )
        await payer.step_up(world.clock.now())
        sent = await ok(
            await payer.client.post("/api/payout/processing", json={"payoutIds": [pb, pc], "rail": "nacha"})
        )
        assert {s["payoutId"] for s in sent} == {pb, pc}
        files = sorted(Path(world.settings.payout_export_dir).glob("*.ach"))  # noqa: ASYNC240 (a test's tmp dir)
        assert len(files) == 1
        entries = {e.amount_cents: e for e in read_entries(files[0].read_text())}
        # B: certified W-9, retention not prepaid → $99,700; C: no W-9 → $75,700 (withholding $24,000).
        assert sorted(entries) == [7_570_000, 9_970_000]
        assert entries[9_970_000].account_number == "000123456789"
        assert entries[9_970_000].transaction_code == "22"  # checking credit
        assert entries[7_570_000].transaction_code == "32"  # savings credit
        assert await balance(world, Account.WITHHOLDING_PAYABLE) == 2_400_000
        assert await balance(world, Account.FUND) == 5_000_000 + 2 * 30_000  # retention paid from rewards

        refused = await approver.client.post(f"/api/payout/payouts/{pb}/complete")
        assert refused.status_code == 409, "an approver may not confirm the money left"
        for payout in (pb, pc):
            assert (await ok(await payer.client.post(f"/api/payout/payouts/{payout}/complete")))["status"] == (
                "completed"
            )
        assert [await status_of(m) for m in (b, c)] == ["paid", "paid"]
        assert await balance(world, Account.PAYOUTS_PAYABLE) == 0
        assert sorted(await events(world, "payout.completed")) == sorted([str(b.account_id), str(c.account_id)])

        # -- tax: 1099-MISC for both; withholding remitted --------------------------------------------------
        year = world.clock.now().year
        csv = await payer.client.get(f"/api/payout/tax/1099?year={year}")
        assert csv.status_code == 200, csv.text
        assert csv.headers["content-type"].startswith("text/csv")
        rows = [line.split(",") for line in csv.text.strip().splitlines()[1:]]
        by_account = {r[1]: r for r in rows}
        assert set(by_account) == {str(b.account_id), str(c.account_id)}
        assert by_account[str(b.account_id)][10:12] == ["100000.00", "0.00"]
        assert by_account[str(c.account_id)][10:12] == ["100000.00", "24000.00"]
        assert "219099999" not in csv.text
        assert "***-**-9999" in csv.text
        remitted = await ok(
            await payer.client.post(
                "/api/payout/tax/remittances",
                json={
                    "taxYear": year,
                    "amountCents": 2_400_000,
                    "reference": "EFTPS-1",
                    "remittedAt": world.clock.now().isoformat(),
                },
            ),
            201,
        )
        assert remitted["withholdingPayableAfter"]["amountCents"] == 0

        # -- an ACH return, retried to completion ----------------------------------------------------------
        returned = await ok(await payer.client.post(f"/api/payout/payouts/{pb}/return", json={"returnCode": "R03"}))
        assert returned["status"] == "returned"
        assert returned["approvals"] == 0, "a return usually means a bad destination: the retry is approved again"
        assert await status_of(b) == "won"
        assert await balance(world, Account.PAYOUTS_PAYABLE) == 9_970_000
        await ok(await admin.client.post(f"/api/payout/payouts/{pb}/approve"))
        await ok(await approver.client.post(f"/api/payout/payouts/{pb}/approve"))
        await payer.step_up(world.clock.now() + timedelta(seconds=30))
        await ok(await payer.client.post("/api/payout/processing", json={"payoutIds": [pb], "rail": "nacha"}))
        done = await ok(await payer.client.post(f"/api/payout/payouts/{pb}/complete"))
        assert done["status"] == "completed"
        assert [t["attempt"] for t in done["transfers"]] == [1, 2]
        assert await status_of(b) == "paid"
        assert await balance(world, Account.PAYOUTS_PAYABLE) == 0
        assert await balance(world, Account.FUND) == 5_060_000, "a retry never touches the fund again"
        csv_after = (await payer.client.get(f"/api/payout/tax/1099?year={year}")).text
        assert csv_after.count("100000.00") == 2, "a re-completed payout is reported once"

        # -- audit: every chain verifies; the payouts' chains tell their story ---------------------------
        verification = await audit.verify_audit_chains(world.container.deps)
        assert verification.ok, verification.breaks
        async with world.container.deps.uow() as uow:
            chain = await uow.audit.chain("payout", pb)
        assert [link.record.action for link in chain] == [
            "selected",
            "approved",
            "approved",
            "payment_details_changed",
            "tax_details_changed",
            "approved",
            "approved",
            "scheduled",
            "processing",
            "transfer_sent",
            "completed",
            "returned",
            "approved",
            "approved",
            "processing",
            "transfer_sent",
            "completed",
        ]
        for link in chain:
            assert "000123456789" not in str(link.record.after)
    # RELIABILITY 24: bank numbers and tax ids never reach a log line (nor an answer, checked above).
    for secret in ("000123456789", "219099999", "219-09-9999"):
        assert secret not in caplog.text
