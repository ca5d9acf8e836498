"""Recovery paths of issue 5 (RELIABILITY 4, 9, 13): lost jobs, lost webhooks, provider outages, the money
reconciliation, the dunning start-up check and paused billing — each ends in the state a perfect run reaches."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from entrypoints.bootstrap import build_container
from entrypoints.settings import Settings
from tests import services
from tests.e2e.billing_env import BillingWorld, billing_world, instant


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world
        await world.ledger_is_consistent()


async def test_a_stored_event_whose_job_was_lost_is_applied_by_the_recovery_sweep(world: BillingWorld) -> None:
    """Kill the worker and flush Redis after the 2xx: the event is in the inbox, so the sweep still applies it."""
    async with world.http() as client:
        me = await world.member(client)
        await world.stop_worker()
        await world.join(me, deliver=False)
        async with world.http() as hook:
            for event in world.new_events():
                await world.deliver(event, hook)
        await services.delete_redis_keys(f"saq:{world.settings.queue_name}*")  # every queued job is gone
        assert (await me.status())["status"] == "pending"

        world.advance(timedelta(minutes=2))
        await world.run("payments.recover_inbox")
        assert (await me.status())["status"] == "active"
        assert await world.value("SELECT count(*) FROM provider_inbox WHERE processed_at IS NULL") == 0
        await world.start_worker()


async def test_a_two_day_webhook_outage_ends_in_the_state_of_no_outage(world: BillingWorld) -> None:
    async with world.http() as client, world.http() as other_client:
        me = await world.member(client)
        other = await world.member(other_client)
        await world.join(me, deliver=False)  # the webhook endpoint never hears of it
        world.advance(timedelta(days=2))
        assert (await me.status())["status"] == "pending"
        summary = await world.run("payments.reconcile")
        assert summary["missing"] > 0
        await world.settle()
        joined = await me.status()
        assert joined["status"] == "active"
        assert joined["memberNumber"] is not None

        await world.join(other)  # delivered normally: the reference for "no outage"
        for member in (me, other):
            sub = world.fake.get(member.subscription_id)
            world.clock._now = datetime.fromtimestamp(sub["items"]["data"][0]["current_period_end"], UTC)
            world.fake.advance_subscription(member.subscription_id, "failed")
        world.delivered.update(
            e["id"]
            for e in world.fake.events()
            if e["data"]["object"].get("customer") == world.fake.get(me.subscription_id)["customer"]
        )
        await world.deliver_all()  # only the other member's renewal events arrive
        world.advance(timedelta(hours=12))  # my renewal's events are now 2.5 days old, still undelivered
        assert (await me.status())["status"] == "active"
        await world.run("payments.reconcile")
        await world.settle()
        mine, theirs = await me.status(), await other.status()
        assert mine["status"] == theirs["status"] == "past_due"
        assert instant(mine["graceEndsAt"]) - instant(mine["tenureStart"]) == instant(theirs["graceEndsAt"]) - instant(
            theirs["tenureStart"]
        )
        assert await world.value("SELECT count(*) FROM reconciliation_runs WHERE kind = 'payments.events' AND ok") == 2

        # The webhooks arrive late after all: nothing changes.
        ledger_before = await world.value("SELECT count(*) FROM ledger_entries")
        world.delivered.clear()
        world.delivered.update(e["id"] for e in world.fake.events() if e["type"].startswith("checkout.session.expired"))
        await world.deliver_all()
        assert (await me.status()) == mine
        assert await world.value("SELECT count(*) FROM ledger_entries") == ledger_before


async def test_money_reconciliation_finds_no_drift_and_posts_fees_outside_the_fund(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        charge = world.fake.charge_of_invoice(world.fake.get(me.session_id)["invoice"])
        assert charge is not None
        world.fake.refund_charge(charge["id"], 5_000)
        await world.deliver_all()
        fund_before = await world.value("SELECT -debit_balance_cents FROM ledger_balances WHERE account = 'fund'")

        result = await world.run("payments.reconcile_money")
        assert result["drift_cents"] == 0, result
        assert result["provider_cents"] == 30_000 - 5_000
        assert result["fees_posted"] >= 1
        fees = await world.value("SELECT debit_balance_cents FROM ledger_balances WHERE account = 'processing_fees'")
        assert fees > 0
        fund_after = await world.value("SELECT -debit_balance_cents FROM ledger_balances WHERE account = 'fund'")
        assert fund_after == fund_before, "provider fees are the company's cost, never the fund's"
        again = await world.run("payments.reconcile_money")
        assert again["fees_posted"] == 0


async def test_a_provider_outage_answers_503_and_grants_nothing(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        world.fake.outage = True
        try:
            response = await client.post(
                "/api/subscriptions/checkout",
                json={"acceptTermsVersion": "2026-11-01", "acceptPaymentAuthorization": True},
            )
        finally:
            world.fake.outage = False
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert (await me.status())["status"] == "pending"
        assert (await me.status())["checkoutUrl"] is None
        recovered = await client.post("/api/subscriptions/checkout", json={})
        assert recovered.status_code == 200, recovered.text


async def test_paused_collection_voids_renewals_and_posts_nothing(world: BillingWorld) -> None:
    """WON pauses billing through the outbox (Stripe `pause_collection`): the voided renewal posts nothing and
    changes nothing."""
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        membership = (await me.status())["membershipId"]
        async with world.container.deps.uow() as uow:
            uow.record(
                event_name="billing.collection_pause_requested",
                aggregate_type="membership",
                aggregate_id=membership,
                payload={"membershipId": membership, "subscriptionId": me.subscription_id, "pause": True},
            )
            await uow.commit()
        await world.settle()
        assert world.fake.get(me.subscription_id)["pause_collection"]["behavior"] == "void"
        entries = await world.value("SELECT count(*) FROM ledger_entries")

        sub = world.fake.get(me.subscription_id)
        world.clock._now = datetime.fromtimestamp(sub["items"]["data"][0]["current_period_end"], UTC)
        voided = world.fake.advance_subscription(me.subscription_id, "paid")
        assert voided["status"] == "void"
        await world.deliver_all()
        world.advance(timedelta(days=3))
        await world.run("billing.sweep")
        assert (await me.status())["status"] == "active"
        assert await world.value("SELECT count(*) FROM ledger_entries") == entries
        assert await world.value("SELECT status FROM invoices WHERE provider_invoice_id = $1", voided["id"]) == "void"


async def test_start_up_refuses_provider_dunning_that_cancels_during_grace(test_settings: Settings) -> None:
    import msgspec

    unsafe = msgspec.structs.replace(
        test_settings,
        stripe_secret_key="sk_test_x",
        stripe_api_base="http://127.0.0.1:1",
        stripe_dunning_terminal_action="cancel",
        stripe_dunning_retry_days=14,
    )
    container = build_container(unsafe)
    with pytest.raises(RuntimeError, match="before our grace ends"):
        await container.start()
    await container.stop()

    safe = msgspec.structs.replace(unsafe, stripe_dunning_retry_days=32)
    container = build_container(safe)
    await container.start()
    await container.stop()
