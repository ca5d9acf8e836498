"""RELIABILITY 5–7 and DOMAIN §3/§5 end to end (PostgreSQL + Redis, the real app, worker and Stripe adapter
against the fake Stripe server): exactly-once effects under duplicate and concurrent delivery plus the checkout
redirect, stale events that must not revive anything, no 200-and-drop for unknown subjects, stray joining
payments refunded through the outbox, cancel/undo, refunds and disputes."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.preferences import DEFAULT_PREFERENCES, deliveries_for
from entrypoints.settings import Settings
from tests.e2e.billing_env import BillingWorld, Member, billing_world
from tests.helpers import eventually

DAY = timedelta(days=1)
GRACE = 30 * DAY


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world
        await world.ledger_is_consistent()


def ts(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


async def renew(world: BillingWorld, member: Member, outcome: str = "paid") -> dict[str, Any]:
    """Let the clock reach the next period, have the fake bill it, deliver the events."""
    period_end = world.fake.get(member.subscription_id)["items"]["data"][0]["current_period_end"]
    world.clock._now = at(period_end)
    invoice = world.fake.advance_subscription(member.subscription_id, outcome)
    await world.deliver_all()
    return invoice


def event_about(world: BillingWorld, event_type: str, object_id: str) -> dict[str, Any]:
    matching = [e for e in world.fake.events(event_type) if e["data"]["object"]["id"] == object_id]
    assert len(matching) == 1, (event_type, object_id, matching)
    return matching[0]


async def membership_id(member: Member) -> str:
    status = await member.status()
    assert status["membershipId"], status
    return str(status["membershipId"])


async def ledger_count(world: BillingWorld, reference: str) -> int:
    return int(await world.value("SELECT count(*) FROM ledger_entries WHERE reference = $1", reference))


async def outbox_count(world: BillingWorld, member: Member, event_name: str) -> int:
    return int(
        await world.value(
            "SELECT count(*) FROM outbox WHERE event_name = $1 AND payload->>'accountId' = $2",
            event_name,
            str(member.account_id),
        )
    )


def stray_checkout(world: BillingWorld, member: Member, membership: str) -> dict[str, Any]:
    """A second joining checkout created directly at the provider (a second tab), naming `membership`."""
    lines = world.fake._session_lines[member.session_id]
    customer = world.fake.get(member.subscription_id)["customer"]
    metadata = {"membership_id": membership}
    return world.fake.create_checkout_session(
        {
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": line["price"], "quantity": line["quantity"]} for line in lines],
            "success_url": "https://tenure.test/api/subscriptions/checkout/complete?session_id={CHECKOUT_SESSION_ID}",
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        }
    )


# -- a. the same event ten times at once, plus the other event and the redirect ---------------------------------


async def _exactly_once_counts(world: BillingWorld, member: Member, membership: str, invoice_id: str) -> dict[str, Any]:
    return {
        "invoices": await world.value("SELECT count(*) FROM invoices WHERE provider_invoice_id = $1", invoice_id),
        "payments": await world.value(
            "SELECT count(*) FROM payments p JOIN invoices i ON i.id = p.invoice_id WHERE i.provider_invoice_id = $1",
            invoice_id,
        ),
        "ledger": await ledger_count(world, f"invoice:{invoice_id}:paid"),
        "all_ledger": await world.value("SELECT count(*) FROM ledger_entries"),
        "activations": await world.value(
            "SELECT count(*) FROM audit_log WHERE entity_type = 'membership' AND entity_id = $1 "
            "AND action = 'activate'",
            membership,
        ),
        "status_changes": await world.value(
            "SELECT count(*) FROM audit_log WHERE entity_type = 'membership' AND entity_id = $1 "
            "AND after ? 'status' AND before ? 'status'",
            membership,
        ),
        "activated_outbox": await outbox_count(world, member, "membership.activated"),
        "all_outbox": await world.value(
            "SELECT count(*) FROM outbox WHERE payload->>'accountId' = $1", str(member.account_id)
        ),
        "feed": await world.value(
            "SELECT count(*) FROM notifications WHERE account_id = $1 AND event_name = 'membership.activated'",
            member.account_id,
        ),
        "deliveries": sorted(
            (row["channel"], row["n"])
            for row in await world.sql(
                "SELECT channel, count(*) AS n FROM notification_deliveries "
                "WHERE account_id = $1 AND event_name = 'membership.activated' GROUP BY channel",
                member.account_id,
            )
        ),
    }


async def test_ten_concurrent_deliveries_and_the_redirect_pay_once(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me, deliver=False)
        membership = await membership_id(me)
        session = world.fake.get(me.session_id)
        invoice_id = session["invoice"]
        paid = event_about(world, "invoice.paid", invoice_id)
        completed = event_about(world, "checkout.session.completed", me.session_id)

        results = await asyncio.gather(
            *(world.deliver(paid) for _ in range(10)),
            world.deliver(completed),
            client.get("/api/subscriptions/checkout/complete", params={"session_id": me.session_id}),
        )
        redirect = results[-1]
        assert redirect.status_code == 200, redirect.text
        assert redirect.json()["status"] == "active"
        assert redirect.json()["memberNumber"] is not None
        await world.settle()

        channels = sorted(
            c.value
            for c in deliveries_for(
                "membership.activated", preferences=DEFAULT_PREFERENCES, email_bounced=False, phone_verified=False
            )
        )
        assert channels, "membership.activated must reach the member on some channel"

        async def delivered() -> bool:
            rows = await world.sql(
                "SELECT status FROM notification_deliveries WHERE account_id = $1 AND event_name = $2",
                me.account_id,
                "membership.activated",
            )
            return len(rows) >= len(channels) and all(r["status"] not in {"pending", "sending"} for r in rows)

        await eventually(delivered, timeout=20, what="the activation notice to be delivered")
        await asyncio.sleep(0.5)  # let any duplicate delivery job that is still running finish
        counts = await _exactly_once_counts(world, me, membership, invoice_id)
        assert counts["invoices"] == 1
        assert counts["payments"] == 1
        assert counts["ledger"] == 1
        assert counts["activations"] == 1
        assert counts["status_changes"] == 1  # pending → active, and nothing else
        assert counts["activated_outbox"] == 1
        assert counts["feed"] == ("in_app" in channels)
        assert counts["deliveries"] == [(c, 1) for c in channels]
        status = await me.status()
        assert status["status"] == "active"
        assert status["tenureStart"] is not None
        assert ts(status["tenureStart"]) == at(world.fake.get(invoice_id)["status_transitions"]["paid_at"])

        # Every event again (the ten-fold one, the session, and all the others never sent yet): nothing moves.
        async with world.http() as other:
            for event in world.fake.events():
                await world.deliver(event, other)
        await world.settle()
        again = await client.get("/api/subscriptions/checkout/complete", params={"session_id": me.session_id})
        assert again.status_code == 200
        assert again.json()["memberNumber"] == status["memberNumber"]
        await world.settle()
        await asyncio.sleep(0.5)
        assert await _exactly_once_counts(world, me, membership, invoice_id) == counts
        assert await world.value("SELECT count(*) FROM provider_inbox WHERE processed_at IS NULL") == 0


# -- b. a stale `updated` after `deleted` ------------------------------------------------------------------------


async def test_stale_subscription_updated_does_not_revive_a_cancelled_membership(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        assert (await world.join(me))["status"] == "active"
        cancel = await client.post("/api/subscriptions/me/cancel")
        assert cancel.status_code == 200, cancel.text
        await world.settle()
        assert world.fake.get(me.subscription_id)["cancel_at_period_end"] is True

        period_end = world.fake.get(me.subscription_id)["items"]["data"][0]["current_period_end"]
        world.clock._now = at(period_end)
        ended = world.fake.advance_subscription(me.subscription_id)
        assert ended["object"] == "subscription"
        assert ended["status"] == "canceled"
        await world.deliver_all()
        await world.run("billing.sweep")
        await world.settle()
        cancelled = await me.status()
        assert cancelled["status"] == "cancelled", cancelled
        assert cancelled["position"] is None

        stale = world.fake.send_stale_subscription_updated(me.subscription_id)
        assert stale["type"] == "customer.subscription.updated"
        assert stale["data"]["object"]["status"] != "canceled"
        await world.deliver(stale)
        await world.settle()
        world.advance(timedelta(hours=1))
        await world.run("billing.sweep")
        await world.settle()
        after = await me.status()
        assert after["status"] == "cancelled", after
        assert after["position"] is None
        assert after["memberNumber"] == cancelled["memberNumber"]
        assert world.fake.get(me.subscription_id)["status"] == "canceled"
        membership = str(cancelled["membershipId"])
        actions = [
            row["action"]
            for row in await world.sql(
                "SELECT action FROM audit_log WHERE entity_type = 'membership' AND entity_id = $1 ORDER BY seq",
                membership,
            )
        ]
        assert actions.count("cancel") == 1
        assert not {"reinstate", "activate"} & set(actions[actions.index("cancel") :])


# -- c. no 200-and-drop ------------------------------------------------------------------------------------------


async def test_event_about_an_unknown_membership_is_kept_and_retried(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)  # a real member, so the fake has prices and a customer
        unknown = str(uuid.uuid4())
        session = stray_checkout(world, me, unknown)
        completed = world.fake.complete_checkout(session["id"], email=me.email)
        invoice_id = completed["invoice"]
        paid = event_about(world, "invoice.paid", invoice_id)

        response = await world.deliver(paid)
        assert 200 <= response.status_code < 300
        assert response.json()["duplicate"] is False

        async def failed_once() -> bool:
            rows = await world.sql(
                "SELECT attempts, last_error, processed_at FROM provider_inbox WHERE event_key = $1", paid["id"]
            )
            return bool(rows) and rows[0]["attempts"] > 0

        await eventually(failed_once, timeout=20, what="the unknown event to be attempted")
        row = (
            await world.sql(
                "SELECT attempts, last_error, processed_at FROM provider_inbox WHERE event_key = $1", paid["id"]
            )
        )[0]
        assert row["processed_at"] is None
        assert row["last_error"] is not None
        assert "UnknownSubject" in row["last_error"], row["last_error"]
        assert completed["subscription"] in row["last_error"]
        assert await ledger_count(world, f"invoice:{invoice_id}:paid") == 0
        assert await world.value("SELECT count(*) FROM invoices WHERE provider_invoice_id = $1", invoice_id) == 0

        # A later redelivery is acknowledged as a duplicate and still not dropped.
        again = await world.deliver(paid)
        assert again.json()["duplicate"] is True
        assert (await world.value("SELECT processed_at FROM provider_inbox WHERE event_key = $1", paid["id"])) is None


# -- d. a joining payment for a membership that is not pending ---------------------------------------------------


async def test_second_joining_payment_is_refunded_and_its_subscription_cancelled(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        first = await world.join(me)
        assert first["status"] == "active"
        membership = str(first["membershipId"])

        session = stray_checkout(world, me, membership)
        completed = world.fake.complete_checkout(session["id"], email=me.email)
        stray_invoice, stray_subscription = completed["invoice"], completed["subscription"]
        await world.deliver_all()  # fulfilment records it and asks for a refund and a cancellation
        await world.deliver_all()  # the provider's charge.refunded / subscription.deleted come back

        after = await me.status()
        assert after["status"] == "active"
        assert after["memberNumber"] == first["memberNumber"]
        assert after["tenureStart"] == first["tenureStart"]
        charge = world.fake.charge_of_invoice(stray_invoice)
        assert charge is not None
        assert charge["amount_refunded"] == charge["amount"] > 0
        assert world.fake.get(stray_subscription)["status"] == "canceled"
        assert world.fake.get(me.subscription_id)["status"] == "active"
        assert world.fake.get(me.subscription_id)["cancel_at_period_end"] is False

        refunds = world.fake.refunds_of(charge["id"])
        assert len(refunds) == 1
        assert await world.value("SELECT count(*) FROM refunds") == 1
        assert await world.value("SELECT provider_refund_id FROM refunds") == refunds[0]["id"]
        assert await ledger_count(world, f"invoice:{stray_invoice}:paid") == 1
        assert await ledger_count(world, f"refund:{refunds[0]['id']}") == 1
        assert (await me.status())["status"] == "active"
        assert await outbox_count(world, me, "membership.cancelled") == 0
        assert await outbox_count(world, me, "membership.activated") == 1


# -- e. cancel → undo → cancel -----------------------------------------------------------------------------------


async def test_cancel_undo_cancel_follows_at_the_provider_and_notifies(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)

        cancel = await client.post("/api/subscriptions/me/cancel")
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["cancelEffectiveAt"] is not None
        assert cancel.json()["canUndo"] is True
        await world.settle()
        assert world.fake.get(me.subscription_id)["cancel_at_period_end"] is True

        undo = await client.post("/api/subscriptions/me/undo-cancel")
        assert undo.status_code == 200, undo.text
        assert undo.json()["cancelEffectiveAt"] is None
        assert undo.json()["status"] == "active"
        await world.settle()
        assert world.fake.get(me.subscription_id)["cancel_at_period_end"] is False

        again = await client.post("/api/subscriptions/me/cancel")
        assert again.status_code == 200, again.text
        assert again.json()["cancelEffectiveAt"] is not None
        await world.settle()
        subscription = world.fake.get(me.subscription_id)
        assert subscription["cancel_at_period_end"] is True
        assert ts(again.json()["cancelEffectiveAt"]) == at(subscription["items"]["data"][0]["current_period_end"])
        await world.deliver_all()  # the provider's subscription.updated events change nothing
        assert (await me.status())["status"] == "active"

        assert await outbox_count(world, me, "membership.cancel_scheduled") == 2
        assert await outbox_count(world, me, "membership.cancel_undone") == 1

        async def notices() -> bool:
            rows = await world.sql(
                "SELECT event_name, count(*) AS n FROM notifications WHERE account_id = $1 GROUP BY event_name",
                me.account_id,
            )
            found = {row["event_name"]: row["n"] for row in rows}
            return found.get("membership.cancel_scheduled") == 2 and found.get("membership.cancel_undone") == 1

        await eventually(notices, timeout=20, what="the cancel and undo notices in the member's feed")


# -- f. refunds --------------------------------------------------------------------------------------------------


async def test_full_refund_of_dues_makes_the_period_unpaid_from_the_refund_time(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        joined = await world.join(me)
        invoice = await renew(world, me, "paid")
        assert (await me.status())["status"] == "active"
        charge = world.fake.charge_of_invoice(invoice["id"])
        assert charge is not None

        world.advance(2 * DAY)
        refund = world.fake.refund_charge(charge["id"])
        await world.deliver_all()
        status = await me.status()
        assert status["status"] == "past_due", status
        assert ts(status["graceEndsAt"]) == at(refund["created"]) + GRACE
        assert status["tenureStart"] == joined["tenureStart"]
        assert status["position"] == joined["position"]
        assert await ledger_count(world, f"refund:{refund['id']}") == 1
        assert await world.value("SELECT count(*) FROM refunds") == 1


async def test_partial_refund_of_dues_only_moves_the_ledger(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        invoice = await renew(world, me, "paid")
        charge = world.fake.charge_of_invoice(invoice["id"])
        assert charge is not None
        before = await me.status()

        world.advance(DAY)
        refund = world.fake.refund_charge(charge["id"], amount=charge["amount"] // 2)
        await world.deliver_all()
        after = await me.status()
        assert after["status"] == "active"
        assert after["graceEndsAt"] is None
        assert {k: after[k] for k in ("memberNumber", "tenureStart", "position")} == {
            k: before[k] for k in ("memberNumber", "tenureStart", "position")
        }
        assert await ledger_count(world, f"refund:{refund['id']}") == 1
        assert await world.value("SELECT status FROM invoices WHERE provider_invoice_id = $1", invoice["id"]) == "paid"
        assert await world.value("SELECT refunded_cents FROM payments WHERE provider_charge_id = $1", charge["id"]) == (
            charge["amount"] // 2
        )


async def test_full_refund_of_the_joining_payment_cancels(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        joining_invoice = world.fake.get(me.session_id)["invoice"]
        charge = world.fake.charge_of_invoice(joining_invoice)
        assert charge is not None

        world.advance(DAY)
        refund = world.fake.refund_charge(charge["id"])
        await world.deliver_all()  # charge.refunded → cancelled, and the cancellation is asked for
        await world.deliver_all()  # customer.subscription.deleted comes back
        status = await me.status()
        assert status["status"] == "cancelled", status
        assert status["endReason"] == "joining_payment_reversed"
        assert status["position"] is None
        assert world.fake.get(me.subscription_id)["status"] == "canceled"
        assert await ledger_count(world, f"refund:{refund['id']}") == 1
        assert await outbox_count(world, me, "membership.cancelled") == 1


# -- g. disputes -------------------------------------------------------------------------------------------------


async def test_dispute_on_dues_opened_then_lost_is_like_a_full_refund(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        joined = await world.join(me)
        invoice = await renew(world, me, "paid")
        charge = world.fake.charge_of_invoice(invoice["id"])
        assert charge is not None

        world.advance(DAY)
        dispute = world.fake.create_dispute(charge["id"])
        await world.deliver_all()
        assert await ledger_count(world, f"dispute:{dispute['id']}:opened") == 1
        assert (await me.status())["status"] == "active"
        assert await world.value("SELECT status FROM disputes WHERE provider_dispute_id = $1", dispute["id"]) == "open"

        world.advance(5 * DAY)
        lost_at = world.clock.now()
        world.fake.close_dispute(dispute["id"], won=False)
        await world.deliver_all()
        status = await me.status()
        assert status["status"] == "past_due", status
        assert ts(status["graceEndsAt"]) == lost_at + GRACE
        assert status["tenureStart"] == joined["tenureStart"]
        assert await ledger_count(world, f"dispute:{dispute['id']}:opened") == 1
        assert await ledger_count(world, f"dispute:{dispute['id']}:lost") == 1
        assert await world.value("SELECT status FROM disputes WHERE provider_dispute_id = $1", dispute["id"]) == "lost"


async def test_a_failed_cancel_retried_after_undo_does_not_cancel_at_the_provider(world: BillingWorld) -> None:
    """The provider follows what the membership wants now, whatever order the outbox retries run in: a
    "cancel" message retried after the member undid the cancellation leaves the subscription running."""
    from ports.usecases.billing_commands import on_cancel_at_period_end_requested

    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        await world.stop_worker()  # the outbox runs only when this test says so
        assert (await client.post("/api/subscriptions/me/cancel")).status_code == 200
        cancel_id = await world.value(
            "SELECT id FROM outbox WHERE event_name = 'billing.cancel_at_period_end_requested' "
            "AND payload->>'membershipId' = $1",
            (await me.status())["membershipId"],
        )
        world.fake.outage = True
        await world.run("outbox.dispatch")  # the "cancel at period end" call fails and stays pending
        world.fake.outage = False
        assert (await client.post("/api/subscriptions/me/undo-cancel")).status_code == 200
        await world.run("outbox.dispatch")
        assert world.fake.get(me.subscription_id)["cancel_at_period_end"] is False

        async with world.container.deps.uow() as uow:
            late_retry = await uow.outbox.get(cancel_id)
        assert late_retry is not None
        await on_cancel_at_period_end_requested(world.container.deps, late_retry)  # as a late dispatcher would
        assert world.fake.get(me.subscription_id)["cancel_at_period_end"] is False
        assert (await me.status())["cancelEffectiveAt"] is None
        await world.start_worker()
