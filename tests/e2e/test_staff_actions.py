"""Staff actions that move money or end a membership (issue 11), end to end on PostgreSQL + Redis through HTTP,
the real worker and the real Stripe adapter against the fake Stripe server:

- a finance refund with the explicit period choice: "stays paid" keeps a fully refunded month paid (no grace),
  "becomes unpaid" applies §5 (grace from the refund); one refund per payment at a time; bad input changes nothing;
- termination for cause: two different staff, the same reason from the closed list; the member leaves the queue,
  the subscription is cancelled, the member is told and cannot rejoin; only the asker withdraws a request.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.sessions import Role
from entrypoints.settings import Settings
from tests.e2e.billing_env import BillingWorld, Member, billing_world, instant
from tests.e2e.payout_env import Staff, ok, refusal, staff_member, verify_identity
from tests.helpers import eventually


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world
        await world.ledger_is_consistent()


async def renew(world: BillingWorld, member: Member) -> None:
    sub = world.fake.get(member.subscription_id)
    world.clock._now = datetime.fromtimestamp(sub["items"]["data"][0]["current_period_end"], UTC)
    world.fake.advance_subscription(member.subscription_id, "paid")
    await world.deliver_all()


async def payments(staff: Staff, member: Member) -> list[dict[str, Any]]:
    page = await ok(await staff.client.get(f"/api/admin/members/{member.account_id}/payments"))
    items: list[dict[str, Any]] = page["items"]
    return items


async def chain(world: BillingWorld, membership_id: str) -> list[str]:
    rows = await world.sql(
        "SELECT action FROM audit_log WHERE entity_type = 'membership' AND entity_id = $1 ORDER BY seq", membership_id
    )
    return [r["action"] for r in rows]


async def refunded_at_provider(world: BillingWorld, invoice_id: str) -> list[dict[str, Any]]:
    charge = world.fake.charge_of_invoice(invoice_id)
    assert charge is not None
    return world.fake.refunds_of(charge["id"])


async def test_a_refund_keeps_the_period_paid_or_makes_it_unpaid_as_finance_chose(world: BillingWorld) -> None:
    async with world.http() as a, world.http() as b, world.http() as f, world.http() as s:
        kept, unpaid = await world.member(a), await world.member(b)
        await world.join(kept)
        await world.join(unpaid)
        await renew(world, kept)
        await renew(world, unpaid)
        finance = await staff_member(world, f, Role.FINANCE)
        admin = await staff_member(world, s, Role.ADMIN)

        dues, joining = await payments(finance, kept)
        assert (dues["purpose"], joining["purpose"]) == ("dues", "joining")
        refund_dues = f"/api/admin/members/{kept.account_id}/payments/{dues['id']}/refund"
        goodwill = {"period": "stays_paid", "reason": "double charge complaint, ticket 42"}

        refusal(await admin.client.post(refund_dues, json=goodwill), 403, "forbidden")  # finance only
        refusal(await kept.client.post(refund_dues, json=goodwill), 403, "forbidden")  # members never
        for bad in (
            {"period": "maybe", "reason": "why not"},
            {"period": "stays_paid", "reason": "x"},
            {"period": "stays_paid", "reason": "fine", "amountCents": 0},
            {"period": "stays_paid", "reason": "fine", "amountCents": "25"},
            {"period": "stays_paid", "reason": "fine", "extra": True},
        ):
            assert (await finance.client.post(refund_dues, json=bad)).status_code == 400, bad
        other_member = f"/api/admin/members/{unpaid.account_id}/payments/{dues['id']}/refund"
        refusal(await finance.client.post(other_member, json=goodwill), 404, "not_found")
        unknown = f"/api/admin/members/{kept.account_id}/payments/{uuid.uuid4()}/refund"
        refusal(await finance.client.post(unknown, json=goodwill), 404, "not_found")

        world.advance(timedelta(minutes=11))
        refusal(await finance.client.post(refund_dues, json=goodwill), 403, "step_up_required")  # money: step-up
        await finance.step_up(world.clock.now())
        refusal(
            await finance.client.post(refund_dues, json={**goodwill, "amountCents": 2_501}),
            409,
            "not_possible_now",
            "amount_too_large",
        )
        refusal(
            await finance.client.post(refund_dues, json={**goodwill, "amountCents": 500, "period": "becomes_unpaid"}),
            409,
            "not_possible_now",
            "partial_refund_cannot_unpay",
        )
        refund_joining = f"/api/admin/members/{kept.account_id}/payments/{joining['id']}/refund"
        refusal(
            await finance.client.post(refund_joining, json=goodwill),
            409,
            "not_possible_now",
            "full_joining_refund_cancels",
        )
        assert await world.value("SELECT count(*) FROM outbox WHERE event_name = 'billing.refund_requested'") == 0

        accepted = await ok(await finance.client.post(refund_dues, json=goodwill), 202)
        assert (accepted["amount"]["amountCents"], accepted["period"], accepted["completesRefund"]) == (
            2_500,
            "stays_paid",
            True,
        )
        # Until the provider's refund comes back, a second refund of the payment is refused (no double refund).
        refusal(await finance.client.post(refund_dues, json=goodwill), 409, "not_possible_now", "refund_in_flight")
        await world.settle()  # the outbox asked the provider once, with the choice attached
        sent = await refunded_at_provider(world, dues["invoice"])
        assert [(r["amount"], r["metadata"].get("tenure_period")) for r in sent] == [(2_500, "stays_paid")]
        await world.deliver_all()

        status = await kept.status()
        assert (status["status"], status["graceEndsAt"]) == ("active", None)  # the refunded month stays paid
        dues_after, _ = await payments(finance, kept)
        assert dues_after["refunded"]["amountCents"] == 2_500
        membership = status["membershipId"]
        assert (await chain(world, membership))[-2:] == ["refund_requested", "refund_kept_period_paid"]
        refusal(
            await finance.client.post(refund_dues, json=goodwill), 409, "not_possible_now", "nothing_left_to_refund"
        )

        # The same full refund with "becomes unpaid": §5, the period is unpaid from the refund and grace starts.
        other_dues, _ = await payments(finance, unpaid)
        refund_other = f"/api/admin/members/{unpaid.account_id}/payments/{other_dues['id']}/refund"
        await ok(
            await finance.client.post(refund_other, json={"period": "becomes_unpaid", "reason": "card was stolen"}), 202
        )
        await world.settle()
        refunded_at = world.clock.now()
        await world.deliver_all()
        status = await unpaid.status()
        assert status["status"] == "past_due"
        assert instant(status["graceEndsAt"]) - refunded_at <= timedelta(days=30, seconds=5)
        assert instant(status["graceEndsAt"]) - refunded_at >= timedelta(days=30, seconds=-5)
        assert await world.value("SELECT count(*) FROM refunds") == 2


async def terminate(
    staff: Staff, member: Member, reason: str, words: str = "chargeback ring, case 7"
) -> httpx.Response:
    return await staff.client.post(
        f"/api/admin/members/{member.account_id}/termination", json={"reason": reason, "explanation": words}
    )


async def test_two_staff_terminate_a_membership_for_cause(world: BillingWorld) -> None:
    async with (
        world.http() as a,
        world.http() as b,
        world.http() as s1,
        world.http() as s2,
    ):
        cheat, behind = await world.member(a), await world.member(b)
        await world.join(cheat)
        world.advance(timedelta(seconds=5))
        await world.join(behind)
        first = await staff_member(world, s1, Role.ADMIN)
        second = await staff_member(world, s2, Role.FINANCE)
        assert (await behind.status())["position"] == 2

        refusal(await terminate(first, cheat, "bored"), 400, "validation_failed")
        refusal(
            await cheat.client.post(
                f"/api/admin/members/{cheat.account_id}/termination",
                json={"reason": "fraud", "explanation": "I terminate myself"},
            ),
            403,
            "forbidden",
        )
        asked = await ok(await terminate(first, cheat, "fraud"))
        assert asked["status"] == "requested"
        assert asked["pending"]["requestedBy"] == str(first.account_id)
        assert (await cheat.status())["status"] == "active"  # one person decides nothing
        refusal(await terminate(first, cheat, "fraud"), 409, "not_possible_now", "same_staff_twice")
        refusal(await terminate(second, cheat, "terms_violation"), 409, "not_possible_now", "reason_differs")
        opened = await ok(await second.client.get(f"/api/admin/members/{cheat.account_id}/termination"))
        assert opened["reason"] == "fraud"

        done = await ok(await terminate(second, cheat, "fraud", "confirmed with the bank's fraud team"))
        assert done["status"] == "terminated"
        assert done["pending"] is None
        assert (done["membership"]["status"], done["membership"]["endReason"]) == ("cancelled", "terminated:fraud")
        await world.settle()

        status = await cheat.status()
        assert (status["status"], status["canJoin"], status["position"]) == ("cancelled", False, None)
        assert (await behind.status())["position"] == 1  # everyone behind moved up by one
        assert world.fake.get(cheat.subscription_id)["status"] == "canceled"
        rejoin = await cheat.client.post(
            "/api/subscriptions/rejoin", json={"acceptTermsVersion": "2026-11-01", "acceptPaymentAuthorization": True}
        )
        refusal(rejoin, 409, "not_possible_now", "terminated_for_cause")

        async def told() -> bool:
            items = (await cheat.client.get("/api/notifications")).json()["items"]
            return "membership.cancelled" in [i["eventName"] for i in items]

        await eventually(told, timeout=20, what="the member's cancellation notice")
        actions = await chain(world, status["membershipId"])
        assert actions[-3:] == ["termination_requested", "terminate", "termination_confirmed"]
        notes = await ok(await first.client.get(f"/api/admin/members/{cheat.account_id}/notes"))
        bodies = [n["body"] for n in notes["items"]]
        assert any("confirmed with the bank's fraud team" in body for body in bodies)
        assert any("chargeback ring, case 7" in body for body in bodies)
        refusal(await terminate(first, cheat, "fraud"), 409, "not_possible_now", "no_live_membership")

        # Withdrawing: only the asker may; then nothing is open.
        await ok(await terminate(first, behind, "duplicate_account"))
        url = f"/api/admin/members/{behind.account_id}/termination"
        refusal(await second.client.delete(url), 409, "not_possible_now", "not_requester")
        assert (await first.client.delete(url)).status_code == 204
        refusal(await second.client.get(url), 404, "not_found")
        assert (await behind.status())["status"] == "active"


async def test_two_concurrent_refunds_of_one_payment_send_one(world: BillingWorld) -> None:
    async with world.http() as a, world.http() as f1, world.http() as f2:
        member = await world.member(a)
        await world.join(member)
        await renew(world, member)
        one, two = await staff_member(world, f1, Role.FINANCE), await staff_member(world, f2, Role.FINANCE)
        dues, _ = await payments(one, member)
        url = f"/api/admin/members/{member.account_id}/payments/{dues['id']}/refund"
        body = {"period": "stays_paid", "reason": "goodwill, outage on the 3rd", "amountCents": 1_000}
        answers = await asyncio.gather(one.client.post(url, json=body), two.client.post(url, json=body))
        assert sorted(r.status_code for r in answers) == [202, 409], [r.text for r in answers]
        await world.settle()
        assert len(await refunded_at_provider(world, dues["invoice"])) == 1
        await world.deliver_all()
        assert (await payments(one, member))[0]["refunded"]["amountCents"] == 1_000

        # A request the provider never answers can be withdrawn by finance, and then another one asked for.
        await world.stop_worker()  # nothing dispatches the next request
        await ok(await one.client.post(url, json=body), 202)
        refusal(await two.client.post(url, json=body), 409, "not_possible_now", "refund_in_flight")
        assert (await two.client.delete(url)).status_code == 204
        refusal(await two.client.delete(url), 404, "not_found")
        await ok(await two.client.post(url, json=body), 202)
        notes = await ok(await one.client.get(f"/api/admin/members/{member.account_id}/notes"))
        assert sum("goodwill, outage on the 3rd" in n["body"] for n in notes["items"]) == 3, "the words are notes"
        audit = await world.value(
            "SELECT count(*) FROM audit_log WHERE reason LIKE '%outage%' AND entity_type = 'membership'"
        )
        assert audit == 0, "staff words stay out of the audit chain"


async def test_a_person_terminated_for_cause_is_not_eligible_under_a_new_account(world: BillingWorld) -> None:
    async with world.http() as a, world.http() as b, world.http() as s1, world.http() as s2:
        cheat = await world.member(a)
        await world.join(cheat)
        await verify_identity(world, cheat, "333333333")
        first, second = await staff_member(world, s1, Role.ADMIN), await staff_member(world, s2, Role.ADMIN)
        await ok(await terminate(first, cheat, "fraud"))
        await ok(await terminate(second, cheat, "fraud"))
        await world.settle()

        again = await world.member(b)  # the same person, a new email address
        await world.join(again)
        await verify_identity(world, again, "333333333")
        mine = await ok(await again.client.get("/api/business-rules/me"))
        assert mine["eligible"] is False
        rule = next(r for r in mine["rules"] if r["rule"] == "one_win_per_person")
        assert (rule["ok"], rule["reasons"]) == (False, ["identity_terminated"])
