"""Payout refusals end to end (DOMAIN.md §6–§9) over HTTP, the real worker and the fake Stripe/Plaid servers: the
four-eyes rules of approvals, cancellations and the freeze switch, who may reach which payout, a change of bank
details after the first approval, where a cancelled winner goes back to, and the round's inclusion proofs.

Every refusal is checked three ways: the status code, the problem's `code` and `problems`, and that nothing
changed (the payout re-read through the staff route, the ledger or the membership)."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from domain.sessions import Role
from entrypoints.settings import Settings
from ports.usecases import payouts
from ports.usecases.auth import Principal
from ports.usecases.erasure import ERASE_TASK
from ports.usecases.errors import Refused
from tests.e2e.billing_env import PASSWORD, BillingWorld, Member, instant
from tests.e2e.payout_env import (
    FUND_TARGET,
    Staff,
    joined_members,
    ok,
    payout_world,
    reconciled,
    refusal,
    seed_fund_to,
    staff_member,
    verify_identity,
)

REWARD = 10_000_000
"""$100,000 (DOMAIN.md §12)."""
BANK = {"holderName": "Ada Lovelace", "routingNumber": "011000015", "accountNumber": "123456789"}
W9 = {
    "legalName": "Ada Lovelace",
    "tin": "123456789",
    "tinType": "ssn",
    "address": {"line1": "1 Main St", "city": "Springfield", "region": "IL", "postalCode": "62701", "country": "US"},
    "certified": True,
}


def bank(account_number: str = "123456789") -> dict[str, str]:
    return {**BANK, "accountNumber": account_number, "accountType": "checking"}


async def payout_of(staff: Staff, payout_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await ok(await staff.client.get(f"/api/payout/payouts/{payout_id}"))
    return body


async def evaluated(world: BillingWorld, admin: Staff) -> dict[str, Any]:
    """Fund seeded, reconciled, today's evaluation run by an admin: a round opened."""
    await seed_fund_to(world)
    await reconciled(world)
    result: dict[str, Any] = await ok(await admin.client.post("/api/payout/rounds/evaluate"))
    assert result["outcome"] == "round_opened", result
    return result


async def payout_by_member(admin: Staff, payout_ids: list[str], member: Member) -> str:
    for payout_id in payout_ids:
        if (await payout_of(admin, payout_id))["accountId"] == str(member.account_id):
            return payout_id
    raise AssertionError(f"{member.email} has no payout in {payout_ids}")


async def fund_cents(world: BillingWorld) -> int:
    """The fund as the ledger holds it (the public statistics are cached for a minute)."""
    return int(
        await world.value("SELECT coalesce(-sum(debit_balance_cents), 0) FROM ledger_balances WHERE account = 'fund'")
    )


async def events(world: BillingWorld, name: str, payout_id: str) -> int:
    return int(
        await world.value(
            "SELECT count(*) FROM outbox WHERE event_name = $1 AND payload->>'payoutId' = $2", name, payout_id
        )
    )


async def queue_place(member: Member) -> dict[str, Any]:
    body: dict[str, Any] = await ok(await member.client.get("/api/queue/me"))
    return body


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with payout_world(test_settings) as world:
        yield world


def as_staff(member: Member, now: Any) -> Principal:
    """The winner's own account acting as an admin with a second factor (as if made staff while a member)."""
    return Principal(
        account_id=member.account_id,
        email=member.email,
        role=Role.ADMIN,
        session_id=uuid.uuid4(),
        authenticated_at=now,
        second_factor=True,
    )


async def test_approvals_need_two_distinct_staff_one_of_them_finance_and_never_the_winner(
    world: BillingWorld,
) -> None:
    async with (
        world.http() as ca,
        world.http() as cb,
        world.http() as cs1,
        world.http() as cs2,
        world.http() as cf,
        world.http() as anonymous,
    ):
        a, b = await joined_members(world, [ca, cb])
        await verify_identity(world, a, "111111111")
        admin1 = await staff_member(world, cs1, Role.ADMIN)
        admin2 = await staff_member(world, cs2, Role.ADMIN)
        finance = await staff_member(world, cf, Role.FINANCE)

        # Members and anonymous callers never reach the staff routes (and nothing is evaluated).
        await seed_fund_to(world)
        await reconciled(world)
        refusal(await b.client.post("/api/payout/rounds/evaluate"), 403, "forbidden")
        refusal(await anonymous.post("/api/payout/rounds/evaluate"), 401, "not_authenticated")
        assert await ok(await admin1.client.get("/api/payout/evaluations")) == []
        assert await world.value("SELECT count(*) FROM payouts") == 0

        result = await evaluated(world, admin1)
        assert len(result["payoutIds"]) == 1
        payout_id = result["payoutIds"][0]
        refusal(await b.client.get("/api/payout/payouts"), 403, "forbidden")
        refusal(await anonymous.get("/api/payout/payouts"), 401, "not_authenticated")
        refusal(await a.client.post(f"/api/payout/payouts/{payout_id}/approve"), 403, "forbidden")
        refusal(await anonymous.post(f"/api/payout/payouts/{payout_id}/approve"), 401, "not_authenticated")
        untouched = await payout_of(admin1, payout_id)
        assert (untouched["status"], untouched["approvals"]) == ("pending_approval", 0)

        # The winner, even as staff, may not approve their own payout (and staff cannot hold memberships).
        with pytest.raises(Refused) as refused:
            await payouts.approve(world.container.deps, as_staff(a, world.clock.now()), uuid.UUID(payout_id))
        assert {"is_winner", "staff_holds_membership"} <= set(refused.value.problems)
        assert await payout_of(admin1, payout_id) == untouched

        # Each staff member approves once.
        first = await ok(await admin1.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        assert (first["status"], first["approvals"], first["financeApproved"]) == ("pending_approval", 1, False)
        refusal(
            await admin1.client.post(f"/api/payout/payouts/{payout_id}/approve"),
            409,
            "not_possible_now",
            "already_approved",
        )
        assert await payout_of(admin1, payout_id) == first

        # Two admins are two approvals, but not finance's: still pending.
        second = await ok(await admin2.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        assert (second["status"], second["approvals"], second["financeApproved"]) == ("pending_approval", 2, False)
        shown = await payout_of(admin1, payout_id)
        assert (shown["status"], shown["approvals"], shown["financeApproved"]) == ("pending_approval", 2, False)

        # Finance completes the set.
        third = await ok(await finance.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        assert (third["status"], third["financeApproved"]) == ("approved", True)
        assert (await payout_of(admin2, payout_id))["status"] == "approved"
        assert (
            await world.value(
                "SELECT count(*) FROM outbox WHERE event_name = 'payout.approved' AND payload->>'payoutId' = $1",
                payout_id,
            )
            == 1
        )


async def test_a_member_reaches_only_their_own_payout_and_round_entry(world: BillingWorld) -> None:
    async with world.http() as ca, world.http() as cb, world.http() as cn, world.http() as cs:
        a, b = await joined_members(world, [ca, cb])
        nobody = await world.member(cn)  # signed up, never joined: no entry in any round
        await verify_identity(world, a, "111111111")
        admin = await staff_member(world, cs, Role.ADMIN)
        result = await evaluated(world, admin)
        (payout_id,) = result["payoutIds"]
        round_key = result["day"]

        mine = await ok(await a.client.get(f"/api/payout/me/{payout_id}"))
        assert mine["id"] == payout_id
        assert mine["accountId"] is None  # staff-only fields stay empty for the member
        before = await payout_of(admin, payout_id)

        # B cannot see or touch A's payout: 404, exactly as for one that does not exist.
        refusal(await b.client.get(f"/api/payout/me/{payout_id}"), 404, "not_found")
        refusal(await b.client.put(f"/api/payout/me/{payout_id}/bank-account", json=bank()), 404, "not_found")
        refusal(await b.client.put(f"/api/payout/me/{payout_id}/w9", json=W9), 404, "not_found")
        refusal(await b.client.put(f"/api/payout/me/{payout_id}/cheque"), 404, "not_found")
        refusal(await b.client.get(f"/api/payout/me/{uuid.uuid4()}"), 404, "not_found")
        assert payout_id not in [p["id"] for p in await ok(await b.client.get("/api/payout/me"))]
        assert [p["id"] for p in await ok(await a.client.get("/api/payout/me"))] == [payout_id]
        after = await payout_of(admin, payout_id)
        assert after == before
        assert (after["method"], after["holderName"], after["w9OnFile"]) == (None, None, False)
        assert await world.value("SELECT count(*) FROM payout_details") == 0

        # The winner's inclusion proof checks out against the published root, and only unchanged.
        entry = await ok(await a.client.get(f"/api/queue/me/rounds/{round_key}"))
        assert (entry["entry"]["position"], entry["entry"]["eligible"]) == (1, True)
        body = {"entry": entry["entry"], "salt": entry["salt"], "proof": entry["proof"]}
        check = f"/api/queue/rounds/{round_key}/check"
        async with world.http() as anyone:
            assert await ok(await anyone.post(check, json=body)) == {"valid": True}
            moved = {**body, "entry": {**body["entry"], "position": 2}}
            assert await ok(await anyone.post(check, json=moved)) == {"valid": False}
            flipped = {**body, "entry": {**body["entry"], "eligible": False, "reasons": ["kyc_not_verified"]}}
            assert await ok(await anyone.post(check, json=flipped)) == {"valid": False}
            # An entry that contradicts itself (ineligible without a reason) is not an entry at all.
            inconsistent = {**body, "entry": {**body["entry"], "eligible": False}}
            refusal(await anyone.post(check, json=inconsistent), 422, "invalid_input", "entry_invalid")
            # B's own (ineligible) entry with B's salt and proof is valid; claiming eligibility is not.
            theirs = await ok(await b.client.get(f"/api/queue/me/rounds/{round_key}"))
            assert (theirs["entry"]["position"], theirs["entry"]["eligible"]) == (2, False)
            assert theirs["entry"]["reasons"] == ["kyc_not_verified"]
            their_body = {"entry": theirs["entry"], "salt": theirs["salt"], "proof": theirs["proof"]}
            assert await ok(await anyone.post(check, json=their_body)) == {"valid": True}
            claimed = {**their_body, "entry": {**theirs["entry"], "eligible": True, "reasons": []}}
            assert await ok(await anyone.post(check, json=claimed)) == {"valid": False}
            other_salt = theirs["salt"]
            assert other_salt != body["salt"]
            assert await ok(await anyone.post(check, json={**body, "salt": other_salt})) == {"valid": False}
        refusal(await nobody.client.get(f"/api/queue/me/rounds/{round_key}"), 404, "not_found")


async def test_cancellation_needs_two_staff_and_a_known_reason_and_restores_or_ends_the_membership(
    world: BillingWorld,
) -> None:
    async with world.http() as ca, world.http() as cb, world.http() as cc, world.http() as cs1, world.http() as cs2:
        a, b, c = await joined_members(world, [ca, cb, cc])
        await verify_identity(world, a, "111111111")
        await verify_identity(world, b, "222222222")
        admin1 = await staff_member(world, cs1, Role.ADMIN)
        admin2 = await staff_member(world, cs2, Role.ADMIN)
        places = [await queue_place(m) for m in (a, b, c)]
        assert [p["position"] for p in places] == [1, 2, 3]

        result = await evaluated(world, admin1)
        assert len(result["payoutIds"]) == 2
        await world.settle()
        pa = await payout_by_member(admin1, result["payoutIds"], a)
        pb = await payout_by_member(admin1, result["payoutIds"], b)
        await ok(await b.client.put(f"/api/payout/me/{pb}/bank-account", json=bank()))
        await ok(await b.client.put(f"/api/payout/me/{pb}/w9", json=W9))
        assert (await a.status())["status"] == "won"
        assert (await queue_place(a))["inQueue"] is False
        assert (await queue_place(c))["position"] == 1
        assert await fund_cents(world) == FUND_TARGET - 2 * REWARD

        # An unknown reason is refused outright; nothing is requested.
        refusal(
            await admin1.client.post(f"/api/payout/payouts/{pa}/cancel", json={"reason": "bored"}),
            422,
            "invalid_input",
            "reason_unknown",
        )
        shown = await payout_of(admin1, pa)
        assert (shown["status"], shown["pendingCancellation"]) == ("pending_approval", None)

        # One person cannot cancel alone: the same staff member confirming their own request is refused.
        requested = await ok(
            await admin1.client.post(f"/api/payout/payouts/{pa}/cancel", json={"reason": "not_disqualifying"})
        )
        assert requested["done"] is False
        assert requested["payout"]["pendingCancellation"]["reason"] == "not_disqualifying"
        refusal(
            await admin1.client.post(f"/api/payout/payouts/{pa}/cancel", json={"reason": "not_disqualifying"}),
            409,
            "not_possible_now",
            "same_staff_twice",
        )
        shown = await payout_of(admin1, pa)
        assert (shown["status"], shown["cancellationReason"]) == ("pending_approval", None)
        assert shown["pendingCancellation"]["requestedBy"] == str(admin1.account_id)
        assert (await a.status())["status"] == "won"
        assert await fund_cents(world) == FUND_TARGET - 2 * REWARD
        assert await events(world, "payout.cancelled", pa) == 0

        # A second staff member confirms: not disqualifying, so A is back at the old place.
        done = await ok(
            await admin2.client.post(f"/api/payout/payouts/{pa}/cancel", json={"reason": "not_disqualifying"})
        )
        assert done["done"] is True
        assert (done["payout"]["status"], done["payout"]["cancellationReason"]) == (
            "cancelled",
            "not_disqualifying",
        )
        await world.settle()
        assert (await a.status())["status"] == "active"
        back = await queue_place(a)
        assert (back["inQueue"], back["position"]) == (True, places[0]["position"])
        assert back["tenureStart"] == places[0]["tenureStart"]
        assert (await queue_place(c))["position"] == 2
        assert await fund_cents(world) == FUND_TARGET - REWARD
        assert await events(world, "payout.cancelled", pa) == 1

        # Fraud is disqualifying: B's membership ends, and B does not come back to the queue.
        await ok(await admin2.client.post(f"/api/payout/payouts/{pb}/cancel", json={"reason": "fraud"}))
        # A confirmation must give the same reason as the request.
        refusal(
            await admin1.client.post(f"/api/payout/payouts/{pb}/cancel", json={"reason": "not_disqualifying"}),
            409,
            "not_possible_now",
            "reason_differs",
        )
        shown = await payout_of(admin1, pb)
        assert (shown["status"], shown["pendingCancellation"]["reason"]) == ("pending_approval", "fraud")
        assert (await b.status())["status"] == "won"
        ended = await ok(await admin1.client.post(f"/api/payout/payouts/{pb}/cancel", json={"reason": "fraud"}))
        assert (ended["done"], ended["payout"]["status"]) == (True, "cancelled")
        await world.settle()
        assert (await b.status())["status"] == "cancelled"
        assert (await queue_place(b))["inQueue"] is False
        assert [(await queue_place(m))["position"] for m in (a, c)] == [1, 2]
        assert await fund_cents(world) == FUND_TARGET
        assert await events(world, "payout.cancelled", pb) == 1

        # B asks to be forgotten: no money moved for the cancelled payout, so its bank details and W-9 go too.
        assert (await b.client.post("/api/profiles/me/deletion-request")).status_code == 202
        assert (await world.run(ERASE_TASK)).get("erased") == 1
        for table in ("payout_details", "payout_tax_forms"):
            assert await world.value(f"SELECT count(*) FROM {table} WHERE payout_id = $1", uuid.UUID(pb)) == 0
        assert (await payout_of(admin1, pb))["status"] == "cancelled", "the payout itself stays"


async def test_bank_details_changed_after_approval_need_step_up_clear_approvals_and_hold(
    world: BillingWorld,
) -> None:
    async with world.http() as ca, world.http() as cs, world.http() as cf:
        (a,) = await joined_members(world, [ca])
        await verify_identity(world, a, "111111111")
        admin = await staff_member(world, cs, Role.ADMIN)
        finance = await staff_member(world, cf, Role.FINANCE)
        (payout_id,) = (await evaluated(world, admin))["payoutIds"]

        # Before any approval the winner gives details freely.
        first = await ok(await a.client.put(f"/api/payout/me/{payout_id}/bank-account", json=bank()))
        assert (first["status"], first["approvals"], first["holdUntil"]) == ("pending_approval", 0, None)
        await ok(await admin.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        approved = await ok(await finance.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        assert (approved["status"], approved["approvals"], approved["accountLast4"]) == ("approved", 2, "6789")

        # After the first approval, a change with a stale sign-in needs a step-up; nothing changes.
        world.advance(timedelta(minutes=11))
        refusal(await a.client.put(f"/api/payout/me/{payout_id}/w9", json=W9), 403, "step_up_required")
        refusal(await a.client.put(f"/api/payout/me/{payout_id}/cheque"), 403, "step_up_required")
        refusal(
            await a.client.put(f"/api/payout/me/{payout_id}/bank-account", json=bank("987654321")),
            403,
            "step_up_required",
        )
        assert await payout_of(admin, payout_id) == approved
        assert await events(world, "payout.details_changed", payout_id) == 0

        await ok(await a.client.post("/api/auth/step-up", json={"password": PASSWORD}))
        changed = await ok(await a.client.put(f"/api/payout/me/{payout_id}/bank-account", json=bank("987654321")))
        now = world.clock.now()
        assert (changed["status"], changed["approvals"], changed["accountLast4"]) == ("pending_approval", 0, "4321")
        assert abs(instant(changed["holdUntil"]) - (now + timedelta(hours=72))) <= timedelta(seconds=2)
        shown = await payout_of(admin, payout_id)
        assert (shown["status"], shown["approvals"], shown["financeApproved"]) == ("pending_approval", 0, False)
        assert shown["holdUntil"] == changed["holdUntil"]
        assert await events(world, "payout.details_changed", payout_id) == 1

        # Approved and scheduled again, it still may not be processed before the hold ends.
        await ok(await admin.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        assert (await ok(await finance.client.post(f"/api/payout/payouts/{payout_id}/approve")))["status"] == "approved"
        refusal(await admin.client.post(f"/api/payout/payouts/{payout_id}/schedule"), 403, "forbidden")
        scheduled = await ok(await finance.client.post(f"/api/payout/payouts/{payout_id}/schedule"))
        assert scheduled["status"] == "scheduled"
        # Processing needs finance with a fresh step-up.
        process = {"payoutIds": [payout_id], "rail": "nacha"}
        refusal(await finance.client.post("/api/payout/processing", json=process), 403, "step_up_required")
        await admin.step_up(world.clock.now())
        refusal(await admin.client.post("/api/payout/processing", json=process), 403, "forbidden")
        await finance.step_up(world.clock.now())
        body = refusal(
            await finance.client.post("/api/payout/processing", json={"payoutIds": [payout_id], "rail": "nacha"}),
            409,
            "not_possible_now",
            "details_change_hold",
        )
        assert body["problems"] == ["details_change_hold"]
        after = await payout_of(admin, payout_id)
        assert (after["status"], after["amounts"], after["transfers"]) == ("scheduled", None, [])


async def test_the_freeze_switch_needs_two_staff_and_stops_rounds_and_processing(world: BillingWorld) -> None:
    async with world.http() as ca, world.http() as cs1, world.http() as cs2, world.http() as cf:
        (a,) = await joined_members(world, [ca])
        await verify_identity(world, a, "111111111")
        admin1 = await staff_member(world, cs1, Role.ADMIN)
        admin2 = await staff_member(world, cs2, Role.ADMIN)
        finance = await staff_member(world, cf, Role.FINANCE)
        (payout_id,) = (await evaluated(world, admin1))["payoutIds"]
        await ok(await a.client.put(f"/api/payout/me/{payout_id}/bank-account", json=bank()))
        await ok(await admin1.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        await ok(await finance.client.post(f"/api/payout/payouts/{payout_id}/approve"))
        assert (await ok(await finance.client.post(f"/api/payout/payouts/{payout_id}/schedule")))[
            "status"
        ] == "scheduled"

        freeze = {"frozen": True, "reason": "incident"}
        requested = await ok(await admin1.client.post("/api/payout/freeze", json=freeze))
        assert (requested["frozen"], requested["pendingReason"]) == (False, "freeze:incident")
        assert requested["pendingRequestedBy"] == str(admin1.account_id)
        refusal(
            await admin1.client.post("/api/payout/freeze", json=freeze), 409, "not_possible_now", "same_staff_twice"
        )
        state = await ok(await admin2.client.get("/api/payout/freeze"))
        assert (state["frozen"], state["pendingReason"]) == (False, "freeze:incident")

        confirmed = await ok(await admin2.client.post("/api/payout/freeze", json=freeze))
        assert (confirmed["frozen"], confirmed["pendingReason"]) == (True, None)
        assert (await ok(await admin1.client.get("/api/payout/freeze")))["frozen"] is True

        # The next day's evaluation is blocked by the switch (the fund still holds a reward and more).
        world.advance(timedelta(days=1))
        await reconciled(world)
        evaluation = await ok(await admin1.client.post("/api/payout/rounds/evaluate"))
        assert (evaluation["outcome"], evaluation["blockers"], evaluation["payoutIds"]) == (
            "frozen",
            ["frozen"],
            [],
        )
        assert await world.value("SELECT count(*) FROM payouts") == 1

        # Processing is refused too, and the scheduled payout stays as it was.
        await finance.step_up(world.clock.now())
        refusal(
            await finance.client.post("/api/payout/processing", json={"payoutIds": [payout_id], "rail": "nacha"}),
            409,
            "not_possible_now",
            "payouts_frozen",
        )
        after = await payout_of(admin1, payout_id)
        assert (after["status"], after["amounts"], after["transfers"]) == ("scheduled", None, [])

        # Unfreezing is the same two-person action; then the same request goes through.
        unfreeze = {"frozen": False, "reason": "resolved"}
        assert (await ok(await admin1.client.post("/api/payout/freeze", json=unfreeze)))["frozen"] is True
        refusal(
            await admin1.client.post("/api/payout/freeze", json=unfreeze), 409, "not_possible_now", "same_staff_twice"
        )
        assert (await ok(await finance.client.post("/api/payout/freeze", json=unfreeze)))["frozen"] is False
        sent = await ok(
            await finance.client.post("/api/payout/processing", json={"payoutIds": [payout_id], "rail": "nacha"})
        )
        assert [s["payoutId"] for s in sent] == [payout_id]
        assert (await payout_of(admin1, payout_id))["status"] == "processing"
