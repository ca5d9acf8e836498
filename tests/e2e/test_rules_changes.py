"""Program rules changes (issue 11, §2), end to end on PostgreSQL + Redis through HTTP and the real worker: one
staff member proposes, a second approves; members are told at once (business rules page and their feed); every
process learns the version from the database; it applies from its effective time, to new checkouts only."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from domain.sessions import Role
from entrypoints.bootstrap import build_container
from entrypoints.settings import Settings
from tests.e2e.billing_env import TERMS, BillingWorld, billing_world, instant
from tests.e2e.payout_env import ok, refusal, staff_member
from tests.helpers import eventually

URL = "/api/admin/rules"


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world


async def test_a_rules_change_needs_two_staff_is_announced_and_applies_from_its_time(world: BillingWorld) -> None:
    async with world.http() as a, world.http() as s1, world.http() as s2, world.http() as late:
        member = await world.member(a)
        await world.join(member)
        first = await staff_member(world, s1, Role.ADMIN)
        second = await staff_member(world, s2, Role.FINANCE)
        effective = (world.clock.now() + timedelta(days=31)).replace(microsecond=0)
        proposal = {
            "changes": {"joiningFee": 35_000, "minTenureMonths": 3},
            "effectiveAt": effective.isoformat(),
            "reason": "board decision 2026-12, minutes item 4",
        }

        refusal(await member.client.post(f"{URL}/changes", json=proposal), 403, "forbidden")
        bad = await first.client.post(
            f"{URL}/changes", json={**proposal, "changes": {"monthlyDues": 3_000, "approvalsRequired": 1}}
        )
        body = refusal(bad, 422, "invalid_input", "monthly_dues cannot be changed here")
        too_soon = {**proposal, "effectiveAt": (world.clock.now() + timedelta(days=2)).isoformat()}
        refusal(await first.client.post(f"{URL}/changes", json=too_soon), 422, "invalid_input")
        assert "approvals_required must be >= 2 (two-person approval)" in body["problems"]
        assert await world.value("SELECT count(*) FROM program_rules_changes") == 0  # bad input changed nothing

        opened = await ok(await first.client.post(f"{URL}/changes", json=proposal), 201)
        assert opened["status"] == "proposed"
        assert {d["field"]: (d["before"], d["after"]) for d in opened["differences"]} == {
            "joining_fee": (30_000, 35_000),
            "min_tenure_months": (0, 3),
        }
        refusal(await second.client.post(f"{URL}/changes", json=proposal), 409, "not_possible_now", "change_open")
        approve = f"{URL}/changes/{opened['id']}/approve"
        refusal(await first.client.post(approve), 409, "not_possible_now", "same_staff_twice")
        public = (await member.client.get("/api/business-rules")).json()
        assert public["upcoming"] == []  # a proposal is nobody's rule yet

        approved = await ok(await second.client.post(approve))
        assert approved["version"] == 2
        assert instant(approved["effectiveAt"]) == effective
        refusal(await second.client.post(approve), 409, "not_possible_now", "not_open")

        public = (await member.client.get("/api/business-rules")).json()
        assert (public["version"], public["joiningFee"]["amountCents"]) == (1, 30_000)  # not in force yet
        assert public["upcoming"] == [
            {
                "version": 2,
                "effectiveAt": public["upcoming"][0]["effectiveAt"],
                "changes": [
                    {"field": "joining_fee", "before": 30_000, "after": 35_000},
                    {"field": "min_tenure_months", "before": 0, "after": 3},
                ],
            }
        ]
        assert instant(public["upcoming"][0]["effectiveAt"]) == effective

        async def told() -> bool:
            items = (await member.client.get("/api/notifications")).json()["items"]
            return any("joining fee: $300.00 → $350.00" in (i.get("body") or "") for i in items)

        await eventually(told, timeout=30, what="the rules change in the member's feed")

        # Another process (an API instance or worker started earlier) learns the version from the database.
        other = build_container(world.settings, clock=world.clock)
        await other.start()
        try:
            assert other.deps.rules.latest.version == 2
            assert other.deps.rules.in_force(effective).joining_fee.cents == 35_000
        finally:
            await other.stop()

        world.clock._now = effective + timedelta(seconds=1)  # from its effective time: new checkouts pay the new fee
        public = (await member.client.get("/api/business-rules")).json()
        assert (public["version"], public["joiningFee"]["amountCents"], public["upcoming"]) == (2, 35_000, [])
        newcomer = await world.member(late)
        started = await ok(await newcomer.client.post("/api/subscriptions/checkout", json=TERMS))
        session = next(s for s in world.fake.all_objects("checkout.session") if s["url"] == started["checkoutUrl"])
        assert session["amount_total"] == 35_000
        history = await world.sql(
            "SELECT action FROM audit_log WHERE entity_type = 'rules' AND entity_id = 'program' ORDER BY seq"
        )
        assert [r["action"] for r in history] == ["rules_change_proposed", "rules_change_approved"]


async def test_an_open_proposal_can_be_rejected_and_then_another_proposed(world: BillingWorld) -> None:
    async with world.http() as s1, world.http() as s2:
        first = await staff_member(world, s1, Role.ADMIN)
        second = await staff_member(world, s2, Role.ADMIN)
        proposal = {
            "changes": {"graceDays": 35},
            "effectiveAt": (world.clock.now() + timedelta(days=40)).isoformat(),
            "reason": "fewer defaults over holidays",
        }
        opened = await ok(await first.client.post(f"{URL}/changes", json=proposal), 201)
        reject = f"{URL}/changes/{opened['id']}/reject"
        assert (await second.client.post(reject, json={"reason": "x"})).status_code == 400
        assert (await second.client.post(reject, json={"reason": "not before the audit"})).status_code == 204
        refusal(await first.client.post(f"{URL}/changes/{opened['id']}/approve"), 409, "not_possible_now", "not_open")
        again = await ok(await first.client.post(f"{URL}/changes", json=proposal), 201)
        overview = await ok(await second.client.get(URL))
        assert [(c["id"], c["status"]) for c in overview["changes"]] == [
            (again["id"], "proposed"),
            (opened["id"], "rejected"),
        ]
        assert (overview["inForce"]["version"], overview["latest"]["version"], overview["noticeDays"]) == (1, 1, 30)
