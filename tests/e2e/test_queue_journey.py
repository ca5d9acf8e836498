"""Issue 7 end to end on PostgreSQL + Redis through HTTP, the real worker and the fake Stripe/Plaid servers: my
place with its window, tenure, at-risk flag and history with causes; anonymised public pages and statistics;
the dashboard in one call; the staff dry run; and the near-payout notice to a blocked member."""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.calendar import tenure_between
from domain.ledger import Account
from domain.money import Money
from domain.rules import ProgramRules
from entrypoints.http.queue import PUBLIC_RATE
from entrypoints.settings import Settings
from ports.usecases import eligibility
from ports.usecases.rules_book import RulesBook
from tests.e2e.billing_env import BillingWorld, Member, billing_world, instant
from tests.e2e.test_kyc_journey import IDENTITY, deliver, settled_status, staff_principal, start

DAY = timedelta(days=1)


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world
        await world.ledger_is_consistent()


async def me(member: Member) -> dict[str, Any]:
    response = await member.client.get("/api/queue/me")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def three_members(world: BillingWorld, clients: list[Any]) -> list[Member]:
    members = []
    for client in clients:
        member = await world.member(client)
        await world.join(member)
        world.advance(timedelta(seconds=5))
        members.append(member)
    return members


async def default(world: BillingWorld, member: Member) -> None:
    """The member's renewal fails and grace runs out: the sweep defaults it."""
    period_end = world.fake.get(member.subscription_id)["items"]["data"][0]["current_period_end"]
    world.clock._now = datetime.fromtimestamp(period_end, UTC)
    world.fake.advance_subscription(member.subscription_id, "failed")
    await world.deliver_all()
    world.clock._now = instant((await member.status())["graceEndsAt"]) + timedelta(hours=1)
    await world.run("billing.sweep")
    await world.settle()


async def test_my_place_window_tenure_risk_and_history_with_causes(world: BillingWorld) -> None:
    async with world.http() as ca, world.http() as cb, world.http() as cc:
        a, b, c = await three_members(world, [ca, cb, cc])
        world.advance(40 * DAY)

        mine = await me(c)
        assert (mine["inQueue"], mine["position"], mine["size"]) == (True, 3, 3)
        expected = tenure_between(instant(mine["tenureStart"]), world.clock.now())
        assert expected.months == 1
        assert mine["tenure"] == {"months": expected.months, "days": expected.days}
        assert mine["atRisk"] is False
        assert [(n["position"], n["me"]) for n in mine["window"]] == [(1, False), (2, False), (3, True)]
        assert set(mine["window"][0]) == {"position", "tenureMonth", "me"}  # nothing else about neighbours
        assert [h["cause"] for h in mine["history"]["items"]] == ["joined"]

        await default(world, a)
        assert (await a.status())["status"] == "defaulted"
        mine = await me(c)
        assert (mine["position"], mine["size"]) == (2, 2)
        newest = mine["history"]["items"][0]
        assert (newest["oldPosition"], newest["newPosition"], newest["cause"]) == (3, 2, "member_ahead_left")
        assert newest["text"] == "a member ahead of you left"

        gone = await me(a)
        assert (gone["inQueue"], gone["position"], gone["status"]) == (False, None, "defaulted")
        own = gone["history"]["items"][0]
        assert (own["oldPosition"], own["newPosition"], own["cause"], own["leftBecause"]) == (
            1,
            None,
            "left_queue",
            "defaulted",
        )

        # B's own renewal now fails: B is at risk but keeps its place during grace.
        period_end = world.fake.get(b.subscription_id)["items"]["data"][0]["current_period_end"]
        world.clock._now = max(world.clock.now(), datetime.fromtimestamp(period_end, UTC))
        world.fake.advance_subscription(b.subscription_id, "failed")
        await world.deliver_all()
        risky = await me(b)
        assert (risky["position"], risky["atRisk"], risky["atRiskReasons"]) == (1, True, ["past_due"])

        paged = await c.client.get("/api/queue/me/history", params={"limit": 1})
        assert paged.status_code == 200
        first = paged.json()
        assert [i["cause"] for i in first["items"]] == ["member_ahead_left"]
        rest = await c.client.get("/api/queue/me/history", params={"limit": 5, "cursor": first["nextCursor"]})
        assert [(i["cause"], i["newPosition"]) for i in rest.json()["items"]] == [("joined", 3)]
        bad = await c.client.get("/api/queue/me/history", params={"cursor": "x.y"})
        assert bad.status_code == 422


async def test_public_pages_and_statistics_reveal_nothing_about_members(world: BillingWorld) -> None:
    async with world.http() as ca, world.http() as cb, world.http() as cc, world.http() as anonymous:
        await three_members(world, [ca, cb, cc])
        page = await anonymous.get("/api/queue", params={"limit": 2})
        assert page.status_code == 200, page.text
        body = page.json()
        assert [r["position"] for r in body["items"]] == [1, 2]
        assert all(set(r) == {"position", "tenureMonth"} for r in body["items"])
        assert body["size"] == 3
        numbers = {str(n) for (n,) in await world.sql("SELECT member_number FROM memberships")}
        assert not any(n in body["nextCursor"] for n in numbers if len(n) > 1)
        rest = (await anonymous.get("/api/queue", params={"limit": 2, "cursor": body["nextCursor"]})).json()
        assert [r["position"] for r in rest["items"]] == [3]
        assert rest["nextCursor"] is None
        jump = (await anonymous.get("/api/queue", params={"fromPosition": 2, "limit": 5})).json()
        assert [r["position"] for r in jump["items"]] == [2, 3]

        forged = await anonymous.get("/api/queue", params={"cursor": "00" * 40})
        assert forged.status_code == 422
        assert forged.headers["content-type"].startswith("application/problem+json")
        assert (await anonymous.get("/api/queue", params={"limit": 0})).status_code == 400

        stats = await anonymous.get("/api/queue/stats")
        assert stats.status_code == 200
        figures = stats.json()
        async with world.container.deps.uow() as uow:
            fund = await uow.ledger.balance(Account.FUND)
        assert figures["size"] == 3
        assert figures["fund"] == {"amountCents": fund.cents, "currency": "USD"}
        assert figures["fundInflowLast90Days"]["amountCents"] == fund.cents  # every payment is recent
        assert figures["winnersSoFar"] == 0


async def test_the_dashboard_answers_the_home_page_in_one_call(world: BillingWorld) -> None:
    async with world.http() as client, world.http() as anonymous:
        member = await world.member(client)
        await world.join(member)
        home = await client.get("/api/dashboard")
        assert home.status_code == 200, home.text
        body = home.json()
        assert body["membership"]["status"] == "active"
        assert (body["queue"]["position"], body["queue"]["size"]) == (1, 1)
        assert body["nextCharge"]["amount"] == {"amountCents": 2_500, "currency": "USD"}
        assert body["kyc"]["status"] == "not_started"
        assert body["eligibility"]["eligible"] is False
        assert any(n["eventName"] == "membership.activated" for n in body["notifications"])
        assert body["unreadNotifications"] >= 1
        assert (await anonymous.get("/api/dashboard")).status_code == 401
        assert (await anonymous.get("/api/eligibility")).status_code == 401
        assert (await client.get("/api/eligibility")).status_code == 403


async def test_dry_run_selects_the_first_eligible_and_blocked_members_are_told_once(world: BillingWorld) -> None:
    async with world.http() as ca, world.http() as cb, world.http() as cc:
        a, b, c = await three_members(world, [ca, cb, cc])
        for member, number in ((b, "111111111"), (c, "222222222")):  # A never verifies
            attempt = await start(member)
            world.plaid.complete(attempt, "success", user={**IDENTITY, "id_number": number})
            assert (await deliver(world, attempt)).status_code == 200
            await settled_status(world, member, "verified")

        staff = staff_principal(a.account_id, world)
        status = await eligibility.program_status(world.container.deps, staff)
        assert status.payouts_possible is False  # the fund is far below the threshold
        assert "fund_below_threshold" in status.blockers
        assert [e.position for e in status.would_select] == [2]  # A (position 1) is not a candidate
        assert status.eligible_found == 1

        # Nothing is told while the fund is more than a month's inflow short of the threshold.
        assert await eligibility.tell_blocked_near_payout(world.container.deps, {}) == 0
        async with world.container.deps.uow() as uow:
            fund = await uow.ledger.balance(Account.FUND)
        today = world.clock.now().date()
        reward = Money(cents=fund.cents, currency="USD")
        # The fund is there, but payouts are allowed only in a year: nobody is told yet.
        too_early = ProgramRules(reward=reward, launch_date=today)
        deps = replace(world.container.deps, rules=RulesBook.of(too_early))
        assert await eligibility.tell_blocked_near_payout(deps, {}) == 0
        near = ProgramRules(reward=reward, launch_date=today.replace(year=today.year - 1))
        deps = replace(world.container.deps, rules=RulesBook.of(near))
        assert await eligibility.tell_blocked_near_payout(deps, {}) == 1
        assert await eligibility.tell_blocked_near_payout(deps, {}) == 0  # once per blocking reason
        await world.settle()
        told = await world.sql(
            "SELECT payload FROM outbox WHERE event_name = 'eligibility.blocked_near_payout'",
        )
        assert len(told) == 1
        assert '"kyc_not_verified"' in told[0]["payload"]
        body = await world.value(
            "SELECT body FROM notifications WHERE account_id = $1 AND event_name = 'eligibility.blocked_near_payout'",
            a.account_id,
        )
        assert body is not None
        assert "your identity is not verified" in body


async def test_public_routes_are_cached_and_rate_limited_per_address(world: BillingWorld) -> None:
    async with world.http() as client, world.http() as anonymous:
        member = await world.member(client)
        await world.join(member)
        first = (await anonymous.get("/api/queue/stats")).json()
        other = await world.member(client)
        await world.join(other)
        # Within the cache time the statistics are served as they were (N is still 1).
        assert (await anonymous.get("/api/queue/stats")).json()["size"] == first["size"] == 1
        answers = [(await anonymous.get("/api/queue", params={"limit": 1})).status_code for _ in range(PUBLIC_RATE[1])]
        assert answers.count(429) >= 1
        limited = await anonymous.get("/api/queue")
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert limited.json()["code"] == "rate_limited"
        # Signed-in routes are not behind the public limit.
        assert (await client.get("/api/queue/me")).status_code == 200
