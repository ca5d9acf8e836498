"""Issue 5, end to end on PostgreSQL + Redis through HTTP, the real worker and the real Stripe adapter against the
fake Stripe server: join → active with tenure_start = paid-at and a member number → renewal → failure →
PAST_DUE with a grace end → cure (same place); a default that moves the members behind up by one; late truth."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.billing import next_due_after
from entrypoints.settings import Settings
from tests.e2e.billing_env import BillingWorld, Member, billing_world, instant

DAY = timedelta(days=1)


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world
        await world.ledger_is_consistent()


async def renew(world: BillingWorld, member: Member, outcome: str = "paid") -> dict:
    """Let the clock reach the next period and have the fake bill it."""
    sub = world.fake.get(member.subscription_id)
    period_end = sub["items"]["data"][0]["current_period_end"]
    world.clock._now = datetime.fromtimestamp(period_end, UTC)
    invoice = world.fake.advance_subscription(member.subscription_id, outcome)
    await world.deliver_all()
    return invoice


async def test_join_renew_fail_cure_keeps_tenure_and_place(world: BillingWorld) -> None:
    async with world.http() as first_client, world.http() as client:
        first = await world.member(first_client)
        await world.join(first)
        me = await world.member(client)

        before = world.clock.now()
        status = await world.join(me)
        assert status["status"] == "active", status
        session = world.fake.get(me.session_id)
        assert session["amount_total"] == 30_000  # the first invoice totals exactly the joining fee
        invoice = world.fake.get(session["invoice"])
        assert instant(status["tenureStart"]) == datetime.fromtimestamp(invoice["status_transitions"]["paid_at"], UTC)
        assert instant(status["tenureStart"]) >= before.replace(microsecond=0)
        assert status["memberNumber"] is not None
        assert (status["position"], status["queueSize"]) == (2, 2)

        # The checkout redirect converges on the same fulfilment: nothing new.
        redirect = await client.get("/api/subscriptions/checkout/complete", params={"session_id": me.session_id})
        assert redirect.status_code == 200
        assert redirect.json()["memberNumber"] == status["memberNumber"]
        assert (
            await world.value(
                "SELECT count(*) FROM ledger_entries WHERE reference = $1", f"invoice:{invoice['id']}:paid"
            )
            == 1
        )

        notices = await world.value(
            "SELECT count(*) FROM notifications WHERE account_id = $1 AND event_name = 'membership.activated'",
            me.account_id,
        )
        assert notices == 1

        await renew(world, me, "paid")
        assert (await me.status())["status"] == "active"
        history = (await client.get("/api/billing/payments")).json()
        assert [p["purpose"] for p in history["items"]] == ["dues", "joining"]
        assert history["items"][0]["amount"] == {"amountCents": 2_500, "currency": "USD"}

        failed = await renew(world, me, "failed")
        past_due = await me.status()
        assert past_due["status"] == "past_due"
        assert (
            instant(past_due["graceEndsAt"])
            == datetime.fromtimestamp(failed["status_transitions"]["finalized_at"], UTC) + 30 * DAY
        )
        assert past_due["position"] == 2  # keeps its place during grace
        pay_now = await client.post("/api/subscriptions/me/pay-now")
        assert pay_now.status_code == 200
        assert pay_now.json()["url"]

        world.advance(3 * DAY)
        world.fake.pay_invoice(failed["id"])
        await world.deliver_all()
        cured = await me.status()
        assert cured["status"] == "active"
        assert cured["tenureStart"] == status["tenureStart"]
        assert cured["position"] == 2
        names = {
            row[0]
            for row in await world.sql(
                "SELECT event_name FROM outbox WHERE payload->>'accountId' = $1", str(me.account_id)
            )
        }
        assert {"membership.activated", "payment.failed", "membership.cured"} <= names


async def test_default_moves_everyone_behind_up_by_one(world: BillingWorld) -> None:
    async with world.http() as a_client, world.http() as b_client, world.http() as c_client:
        a, b, c = (await world.member(a_client), await world.member(b_client), await world.member(c_client))
        for member in (a, b, c):
            await world.join(member)
            world.advance(timedelta(seconds=5))
        assert [(await m.status())["position"] for m in (a, b, c)] == [1, 2, 3]

        # B's next renewal fails; A and C stay paid.
        period_end = world.fake.get(b.subscription_id)["items"]["data"][0]["current_period_end"]
        world.clock._now = datetime.fromtimestamp(period_end, UTC)
        world.fake.advance_subscription(a.subscription_id, "paid")
        world.fake.advance_subscription(b.subscription_id, "failed")
        world.fake.advance_subscription(c.subscription_id, "paid")
        await world.deliver_all()
        grace_end = instant((await b.status())["graceEndsAt"])

        world.clock._now = grace_end
        await world.run("billing.sweep")
        assert (await b.status())["status"] == "past_due"

        world.advance(timedelta(hours=1))
        await world.run("billing.sweep")
        await world.settle()
        defaulted = await b.status()
        assert defaulted["status"] == "defaulted"
        assert defaulted["position"] is None
        assert [(await m.status())["position"] for m in (a, c)] == [1, 2]
        assert world.fake.get(b.subscription_id)["status"] == "canceled"  # cancelled at once, through the outbox


async def _past_due_member(world: BillingWorld, client_member: Member) -> tuple[dict, datetime]:
    await world.join(client_member)
    failed = await renew(world, client_member, "failed")
    return failed, instant((await client_member.status())["graceEndsAt"])


async def test_late_truth_reinstates_when_paid_before_grace_ended(world: BillingWorld) -> None:
    """DOMAIN.md §12: grace ends at T; paid-at T − 1 h, learnt at T + 2 h after the sweep defaulted → reinstated,
    same position."""
    async with world.http() as first_client, world.http() as client:
        await world.join(await world.member(first_client))
        me = await world.member(client)
        invoice, grace_end = await _past_due_member(world, me)
        position = (await me.status())["position"]

        world.clock._now = grace_end + timedelta(hours=2)
        await world.run("billing.sweep")
        await world.settle()
        assert (await me.status())["status"] == "defaulted"

        world.fake.pay_invoice(invoice["id"], paid_at=int((grace_end - timedelta(hours=1)).timestamp()))
        await world.deliver_all()
        back = await me.status()
        assert back["status"] == "active"
        assert back["position"] == position
        audit = await world.value(
            "SELECT count(*) FROM audit_log WHERE entity_type = 'membership' AND action = 'reinstate'"
        )
        assert audit == 1

        # The default had cancelled the subscription: billing restarts on the same card at the next due date.
        await world.deliver_all()
        old = world.fake.get(me.subscription_id)
        assert old["status"] == "canceled"
        restarted = [
            s
            for s in world.fake.all_objects("subscription")
            if s["customer"] == old["customer"] and s["id"] != old["id"]
        ]
        assert len(restarted) == 1
        new = restarted[0]
        assert new["status"] == "active"
        assert new["metadata"]["membership_id"] == back["membershipId"]
        anchor = datetime.fromtimestamp(new["items"]["data"][0]["current_period_end"], UTC)
        assert anchor == next_due_after(instant(back["tenureStart"]), world.clock.now())  # the original schedule
        me.subscription_id = new["id"]
        renewal = await renew(world, me, "paid")
        assert renewal["amount_paid"] == 2_500
        after = await me.status()
        assert after["status"] == "active"
        assert after["position"] == position


async def test_late_payment_after_grace_stays_defaulted_and_is_refunded(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        invoice, grace_end = await _past_due_member(world, me)
        world.clock._now = grace_end + timedelta(hours=2)
        await world.run("billing.sweep")
        await world.settle()

        world.fake.pay_invoice(invoice["id"], paid_at=int((grace_end + timedelta(hours=1)).timestamp()))
        await world.deliver_all()
        assert (await me.status())["status"] == "defaulted"
        charge = world.fake.charge_of_invoice(invoice["id"])
        assert charge is not None
        assert charge["amount_refunded"] == charge["amount"]
        await world.deliver_all()  # charge.refunded comes back: recorded once, the ledger reverses the split
        assert await world.value("SELECT count(*) FROM refunds") == 1


async def test_retention_prepayment_once_per_membership(world: BillingWorld) -> None:
    """§7: the optional, non-refundable prepayment of `retention_months × monthly_dues` through a hosted checkout."""
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        started = await client.post("/api/subscriptions/me/retention")
        assert started.status_code == 200, started.text
        session = next(s for s in world.fake.all_objects("checkout.session") if s["url"] == started.json()["url"])
        assert session["mode"] == "payment"
        assert session["amount_total"] == 12 * 2_500
        world.fake.complete_checkout(session["id"], email=me.email)
        await world.deliver_all()

        status = await me.status()
        assert status["retentionPrepaid"] is True
        assert status["status"] == "active"
        purposes = [p["purpose"] for p in (await client.get("/api/billing/payments")).json()["items"]]
        assert purposes == ["retention", "joining"]
        assert (
            await world.value(
                "SELECT count(*) FROM ledger_entries WHERE reference = $1", f"invoice:{session['id']}:paid"
            )
            == 1
        )

        again = await client.post("/api/subscriptions/me/retention")
        assert again.status_code == 409
        assert again.json()["problems"] == ["already_prepaid"]


async def test_the_retention_redirect_lands_on_my_status_and_another_members_session_is_not_found(
    world: BillingWorld,
) -> None:
    async with world.http() as client, world.http() as other_client:
        me = await world.member(client)
        other = await world.member(other_client)
        await world.join(me)
        url = (await client.post("/api/subscriptions/me/retention")).json()["url"]
        session = next(s for s in world.fake.all_objects("checkout.session") if s["url"] == url)
        world.fake.complete_checkout(session["id"], email=me.email)
        back = await client.get("/api/subscriptions/checkout/complete", params={"session_id": session["id"]})
        assert back.status_code == 200, back.text
        assert back.json()["retentionPrepaid"] is True
        stolen = await other.client.get("/api/subscriptions/checkout/complete", params={"session_id": session["id"]})
        assert stolen.status_code == 404
        unknown = await client.get("/api/subscriptions/checkout/complete", params={"session_id": "cs_test_nope"})
        assert unknown.status_code == 404
        await world.deliver_all()
