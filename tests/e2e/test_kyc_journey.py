"""Issue 6 end to end on PostgreSQL + Redis through HTTP and the real worker, with the real Plaid adapters against
the local fake Plaid server (requests and responses checked against Plaid's OpenAPI document): start → signed
webhook → VERIFIED with date of birth and fingerprint; FAILED → retry → VERIFIED; the same identity for a second
person → NEEDS_REVIEW `duplicate_identity`; JWT negatives store nothing; a lost webhook is recovered."""

import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from domain.kyc import StaffDecision
from domain.sessions import Role
from entrypoints.settings import Settings
from ports.usecases import kyc
from ports.usecases.auth import Principal
from tests.e2e.billing_env import BillingWorld, Member, billing_world
from tests.helpers import eventually
from tests.provider_fakes.plaid_server import EXPIRED_KID

PROFILE_DOB = "1990-12-10"  # billing_env.ADULT_PROFILE
IDENTITY = {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": PROFILE_DOB, "id_number": "123456789"}
WEBHOOK = "/api/webhooks/plaid"


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world


async def start(member: Member) -> str:
    started = await member.client.post("/api/kyc/start")
    assert started.status_code == 200, started.text
    attempt: str = started.json()["attemptId"]
    return attempt


async def status(member: Member) -> dict[str, Any]:
    response = await member.client.get("/api/kyc")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliver(world: BillingWorld, attempt: str, **signing: Any) -> httpx.Response:
    body, headers = world.plaid.signed_webhook(attempt, **signing)
    async with world.http() as client:
        return await client.post(WEBHOOK, content=body, headers=headers)


async def settled_status(world: BillingWorld, member: Member, expected: str) -> dict[str, Any]:
    async def reached() -> bool:
        return (await status(member))["status"] == expected

    await eventually(reached, timeout=20, what=f"KYC status {expected}")
    return await status(member)


async def test_start_verify_with_dob_and_fingerprint_and_no_personal_data_kept(
    world: BillingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world.http() as client:
        me = await world.member(client)
        assert (await status(me))["status"] == "not_started"
        attempt = await start(me)
        assert await start(me) == attempt, "idempotent while one is in progress"
        pending = await status(me)
        assert pending["status"] == "pending"
        assert pending["verificationUrl"]

        world.plaid.complete(attempt, "success", user=IDENTITY)
        assert (await status(me))["status"] == "pending", "nothing is trusted before the provider's webhook"
        response = await deliver(world, attempt)
        assert response.status_code == 200, response.text
        verified = await settled_status(world, me, "verified")
        assert verified["validUntil"] is not None
        assert verified["mayRetry"] is False

    row = (await world.sql("SELECT * FROM kyc_records WHERE account_id = $1", me.account_id))[0]
    assert row["date_of_birth"] == date.fromisoformat(PROFILE_DOB)
    assert row["country"] == "US"
    assert len(row["fingerprint"]) == 64
    stored = " ".join(str(v) for v in row.values())
    assert "Lovelace" not in stored
    assert "123456789" not in stored
    assert "Lovelace" not in caplog.text
    assert "123456789" not in caplog.text
    assert PROFILE_DOB not in caplog.text
    audit = await world.value(
        "SELECT count(*) FROM audit_log WHERE entity_type = 'kyc' AND entity_id = $1", str(me.account_id)
    )
    assert audit >= 2  # started, verified


async def test_failed_then_retry_then_verified(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        first = await start(me)
        world.plaid.complete(first, "failed", user=IDENTITY)
        assert (await deliver(world, first)).status_code == 200
        failed = await settled_status(world, me, "failed")
        assert failed["reasons"] == ["documentary_verification"]
        assert failed["mayRetry"] is True

        second = await start(me)
        assert second != first
        world.plaid.complete(second, "success", user=IDENTITY)
        assert (await deliver(world, second)).status_code == 200
        await settled_status(world, me, "verified")
        # A late webhook about the first attempt changes nothing.
        assert (await deliver(world, first, code="STATUS_UPDATED", extra_claims={"x": 1})).status_code == 200
        await world.settle()
        assert (await status(me))["status"] == "verified"
        notices = await world.value(
            "SELECT count(*) FROM outbox WHERE event_name IN ('kyc.failed', 'kyc.verified') "
            "AND payload->>'accountId' = $1",
            str(me.account_id),
        )
        assert notices == 2


async def test_the_same_identity_for_a_second_person_needs_review(world: BillingWorld) -> None:
    async with world.http() as first_client, world.http() as second_client:
        first = await world.member(first_client)
        await world.join(first)  # a live membership holds the identity
        attempt = await start(first)
        world.plaid.complete(attempt, "success", user=IDENTITY)
        await deliver(world, attempt)
        await settled_status(world, first, "verified")

        second = await world.member(second_client)
        other = await start(second)
        world.plaid.complete(other, "success", user=IDENTITY)
        await deliver(world, other)
        review = await settled_status(world, second, "needs_review")
        assert review["reasons"] == ["duplicate_identity"]

        # Staff review: one reviewer suffices for someone outside the top 10; audited.
        staff = Principal(
            account_id=first.account_id,  # any staff id other than the member's own; role decides
            email="reviewer@example.com",
            role=Role.ADMIN,
            session_id=first.account_id,
            authenticated_at=world.clock.now(),
            second_factor=True,
        )
        queue = await kyc.review_queue(world.container.deps, staff, after=None, limit=10)
        assert [item.account_id for item in queue] == [second.account_id]
        result = await kyc.decide(
            world.container.deps, staff, second.account_id, decision=StaffDecision.REJECT, reason="same identity"
        )
        assert result.decided
        assert (await status(second))["status"] == "failed"


@pytest.mark.parametrize(
    "signing",
    [
        {"alg": "HS256"},
        {"alg": "none"},
        {"kid": "unknown"},
        {"tamper_body": True},
        {"iat_offset": -301},
        {"omit_kid": True},
        {"missing": True},
    ],
    ids=["hs256", "none", "unknown_kid", "body_hash", "old_iat", "no_kid", "missing_header"],
)
async def test_unverifiable_plaid_webhooks_are_refused_and_nothing_is_stored(
    world: BillingWorld, signing: dict[str, Any]
) -> None:
    async with world.http() as client:
        me = await world.member(client)
        attempt = await start(me)
        world.plaid.complete(attempt, "success", user=IDENTITY)
        options = dict(signing)
        if options.pop("iat_offset", None):
            options["iat"] = world.clock.now().timestamp() - 301
        missing = options.pop("missing", False)
        body, headers = world.plaid.signed_webhook(attempt, **options)
        if missing:
            headers = {k: v for k, v in headers.items() if k.lower() != "plaid-verification"}
        async with world.http() as hook:
            response = await hook.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert await world.value("SELECT count(*) FROM provider_inbox WHERE provider = 'plaid'") == 0
        assert (await status(me))["status"] == "pending"


async def test_an_expired_signing_key_is_refused(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        attempt = await start(me)
        world.plaid.complete(attempt, "success", user=IDENTITY)
        body, headers = world.plaid.signed_webhook(attempt, kid=EXPIRED_KID)  # a key Plaid marked expired
        async with world.http() as hook:
            assert (await hook.post(WEBHOOK, content=body, headers=headers)).status_code == 400
        assert await world.value("SELECT count(*) FROM provider_inbox WHERE provider = 'plaid'") == 0


async def test_a_lost_webhook_is_recovered_by_the_hourly_refetch(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        attempt = await start(me)
        world.plaid.complete(attempt, "success", user=IDENTITY)  # the webhook never arrives
        world.advance(timedelta(minutes=10))
        await world.run("kyc.refetch_pending")
        assert (await status(me))["status"] == "pending", "not before 15 minutes"
        world.advance(timedelta(minutes=6))
        counts = await world.run("kyc.refetch_pending")
        assert counts["refetched"] == 1
        assert (await status(me))["status"] == "verified"


def staff_principal(account_id: Any, world: BillingWorld) -> Principal:
    """A staff session as the admin routes establish it (role and second factor); the account must exist."""
    return Principal(
        account_id=account_id,
        email="staff@example.com",
        role=Role.ADMIN,
        session_id=account_id,
        authenticated_at=world.clock.now(),
        second_factor=True,
    )


async def test_near_the_front_two_staff_decide_and_a_later_provider_status_is_only_flagged(
    world: BillingWorld,
) -> None:
    async with world.http() as c1, world.http() as c2, world.http() as c3:
        me = await world.member(c1)
        await world.join(me)  # position 1: in the top 10
        first_staff, second_staff = await world.member(c2), await world.member(c3)
        attempt = await start(me)
        world.plaid.complete(attempt, "success", user={**IDENTITY, "date_of_birth": "1991-01-01"})
        await deliver(world, attempt)
        review = await settled_status(world, me, "needs_review")
        assert review["reasons"] == ["dob_mismatch"]

        deps = world.container.deps
        one = await kyc.decide(
            deps,
            staff_principal(first_staff.account_id, world),
            me.account_id,
            decision=StaffDecision.APPROVE,
            reason="documents checked",
        )
        assert (one.decided, one.votes, one.needed) == (False, 1, 2)
        again = await kyc.decide(
            deps,
            staff_principal(first_staff.account_id, world),
            me.account_id,
            decision=StaffDecision.APPROVE,
            reason="documents checked",
        )
        assert (again.decided, again.votes) == (False, 1), "one person voting twice is still one vote"
        two = await kyc.decide(
            deps,
            staff_principal(second_staff.account_id, world),
            me.account_id,
            decision=StaffDecision.APPROVE,
            reason="second look",
        )
        assert two.decided
        assert (await status(me))["status"] == "verified"

        world.advance(timedelta(minutes=5))
        world.plaid.complete(attempt, "failed", user=IDENTITY)
        await deliver(world, attempt)
        await world.settle()
        assert (await status(me))["status"] == "verified", "the staff decision stands"
        flagged = await world.value("SELECT flagged_at FROM kyc_records WHERE account_id = $1", me.account_id)
        assert flagged is not None
        assert (
            await world.value(
                "SELECT count(*) FROM audit_log WHERE entity_id = $1 "
                "AND action = 'provider_status_after_staff_decision'",
                str(me.account_id),
            )
            == 1
        )


async def test_a_reminder_seven_days_after_joining_once(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        world.advance(timedelta(days=6))
        assert await world.run("kyc.remind") == 0
        world.advance(timedelta(days=2))
        assert await world.run("kyc.remind") == 1
        assert await world.run("kyc.remind") == 0
        reminders = await world.value(
            "SELECT count(*) FROM outbox WHERE event_name = 'kyc.reminder' AND payload->>'accountId' = $1",
            str(me.account_id),
        )
        assert reminders == 1


async def test_the_attempt_limit_says_when_a_retry_is_allowed(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        for _ in range(3):
            attempt = await start(me)
            world.plaid.complete(attempt, "failed", user=IDENTITY)
            await deliver(world, attempt)
            await settled_status(world, me, "failed")
            world.advance(timedelta(minutes=1))
        refused = await me.client.post("/api/kyc/start")
        assert refused.status_code == 409
        assert refused.json()["problems"] == ["attempt_limit_reached"]
        state = await status(me)
        assert state["mayRetry"] is False
        assert state["retryAfter"] is not None


async def rule(member: Member, name: str) -> dict[str, Any]:
    response = await member.client.get("/api/business-rules/me")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(r for r in response.json()["rules"] if r["rule"] == name)
    return found


async def test_the_business_rules_show_the_kyc_reason_cleared_and_then_expired(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        await world.join(me)
        assert await rule(me, "identity_verified") == {
            "rule": "identity_verified",
            "ok": False,
            "reasons": ["kyc_not_verified"],
        }
        attempt = await start(me)
        world.plaid.complete(attempt, "success", user=IDENTITY)
        await deliver(world, attempt)
        await settled_status(world, me, "verified")
        assert (await rule(me, "identity_verified"))["ok"] is True
        assert (await rule(me, "minimum_age"))["ok"] is True
        mine = (await client.get("/api/business-rules/me")).json()
        assert mine["eligible"] is True, mine

        world.advance(timedelta(days=365 * 2 + 40))  # past kyc_valid_months (24)
        expired = await rule(me, "identity_verified")
        assert expired == {"rule": "identity_verified", "ok": False, "reasons": ["kyc_expired"]}
        public = (await client.get("/api/business-rules")).json()
        assert public["kycValidMonths"] == 24
        assert public["joiningFee"] == {"amountCents": 30_000, "currency": "USD"}


async def test_under_eighteen_by_the_verified_birth_date_is_not_eligible(world: BillingWorld) -> None:
    """The profile says 18+ (checkout needs it), the documents say 17: review, and even if staff approve the
    identity, the KYC birth date decides eligibility."""
    async with world.http() as c1, world.http() as c2, world.http() as c3:
        me = await world.member(c1)
        reviewers = (await world.member(c2), await world.member(c3))
        await world.join(me)
        seventeen = world.clock.now().date().replace(year=world.clock.now().year - 17).isoformat()
        attempt = await start(me)
        world.plaid.complete(attempt, "success", user={**IDENTITY, "date_of_birth": seventeen})
        await deliver(world, attempt)
        assert (await settled_status(world, me, "needs_review"))["reasons"] == ["dob_mismatch"]
        for reviewer in reviewers:  # position 1: two staff
            await kyc.decide(
                world.container.deps,
                staff_principal(reviewer.account_id, world),
                me.account_id,
                decision=StaffDecision.APPROVE,
                reason="identity is real",
            )
        assert (await status(me))["status"] == "verified"
        age = await rule(me, "minimum_age")
        assert age == {"rule": "minimum_age", "ok": False, "reasons": ["under_age"]}


async def test_a_member_reaches_only_their_own_verification(world: BillingWorld) -> None:
    async with world.http() as a_client, world.http() as b_client:
        a, b = await world.member(a_client), await world.member(b_client)
        a_attempt = await start(a)
        assert (await status(b))["status"] == "not_started", "B sees B's own verification, not A's"
        assert await start(b) != a_attempt
        assert (await b.client.get("/api/admin/kyc/reviews")).status_code == 403
        decision = await b.client.post(
            f"/api/admin/kyc/{a.account_id}/decision", json={"decision": "approve", "reason": "let me in"}
        )
        assert decision.status_code == 403
        assert (await status(a))["status"] == "pending"


async def test_duplicate_and_repeated_webhooks_end_in_the_same_state_once(world: BillingWorld) -> None:
    async with world.http() as client:
        me = await world.member(client)
        attempt = await start(me)
        world.plaid.complete(attempt, "success", user=IDENTITY)
        body, headers = world.plaid.signed_webhook(attempt)
        async with world.http() as hook:
            first = await hook.post(WEBHOOK, content=body, headers=headers)
            again = await hook.post(WEBHOOK, content=body, headers=headers)
        assert first.json()["duplicate"] is False
        assert again.json()["duplicate"] is True
        await settled_status(world, me, "verified")
        world.advance(timedelta(seconds=30))
        assert (await deliver(world, attempt)).status_code == 200  # Plaid re-sends: a new token, same facts
        await world.settle()
        assert (await status(me))["status"] == "verified"
        verified_notices = await world.value(
            "SELECT count(*) FROM outbox WHERE event_name = 'kyc.verified' AND payload->>'accountId' = $1",
            str(me.account_id),
        )
        assert verified_notices == 1
