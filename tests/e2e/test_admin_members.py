"""The staff console's member pages (issue 11): search by email, name, member number and status with keyset
pages; a member's detail with their home page as they see it; "view as member"; who may call them (members 403,
anonymous 401, staff without a second factor 403); every staff request in the staff access log; and nobody
changing their own role."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from adapters.sql import models
from domain.rules import ProgramRules
from domain.sessions import Role
from entrypoints.settings import Settings
from ports.usecases import exports
from ports.usecases.erasure import ERASE_TASK
from tests.e2e.billing_env import PASSWORD, BillingWorld, billing_world
from tests.e2e.payout_env import staff_member


@pytest.fixture
async def world(test_settings: Settings) -> AsyncIterator[BillingWorld]:
    async with billing_world(test_settings) as world:
        yield world


async def staff_log(world: BillingWorld, staff_id: object) -> list[str]:
    async with world.container.deps.uow() as uow:  # type: ignore[attr-defined]
        rows = await uow.session.scalars(
            select(models.SecurityEvent.detail)
            .where(models.SecurityEvent.kind == "staff_access", models.SecurityEvent.account_id == staff_id)
            .order_by(models.SecurityEvent.id)
        )
        return [r or "" for r in rows]


async def test_staff_find_members_and_see_why_they_are_where_they_are(world: BillingWorld) -> None:
    async with world.http() as a, world.http() as b, world.http() as c, world.http() as console:
        joined = await world.member(a)
        await world.join(joined)
        second = await world.member(b)
        never_joined = await world.member(c)
        staff = await staff_member(world, console, Role.ADMIN)

        by_email = (await console.get("/api/admin/members", params={"q": joined.email[:14]})).json()
        assert [m["accountId"] for m in by_email["items"]] == [str(joined.account_id)]
        row = by_email["items"][0]
        assert (row["firstName"], row["lastName"], row["membershipStatus"]) == ("Ada", "Lovelace", "active")
        number = row["memberNumber"]
        assert isinstance(number, int)

        by_number = (await console.get("/api/admin/members", params={"q": str(number)})).json()
        assert [m["accountId"] for m in by_number["items"]] == [str(joined.account_id)]
        by_name = (await console.get("/api/admin/members", params={"q": "ada LOVELACE", "limit": 100})).json()
        assert {str(m.account_id) for m in (joined, second, never_joined)} <= {m["accountId"] for m in by_name["items"]}
        active = (await console.get("/api/admin/members", params={"status": "ACTIVE", "limit": 100})).json()
        assert str(joined.account_id) in {m["accountId"] for m in active["items"]}
        assert str(never_joined.account_id) not in {m["accountId"] for m in active["items"]}
        none = (await console.get("/api/admin/members", params={"status": "none", "limit": 100})).json()
        assert str(never_joined.account_id) in {m["accountId"] for m in none["items"]}
        assert all(m["membershipStatus"] is None for m in none["items"])

        seen: list[str] = []
        cursor = None
        while True:  # one at a time: keyset pages cover everyone exactly once, in creation order
            params = {"q": "ada lovelace", "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await console.get("/api/admin/members", params=params)).json()
            seen += [m["accountId"] for m in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == sorted(set(seen)) == sorted(m["accountId"] for m in by_name["items"])

        for odd in ("²", "9" * 40, "%_\\"):  # not a member number; wildcards are literal
            answered = await console.get("/api/admin/members", params={"q": odd})
            assert answered.status_code == 200, (odd, answered.text)
            assert answered.json()["items"] == []
        assert (await console.get("/api/admin/members", params={"q": "a\x00b"})).status_code == 400
        assert (await console.get("/api/admin/audit", params={"actor": "\x00"})).status_code == 400
        bad = await console.get("/api/admin/members", params={"status": "sleeping"})
        assert bad.status_code == 422
        assert (await console.get("/api/admin/members", params={"limit": 0})).status_code == 400

        detail = await console.get(f"/api/admin/members/{joined.account_id}")
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["account"]["email"] == joined.email
        assert body["account"]["hasPassword"] is True
        assert body["profile"]["lastName"] == "Lovelace"
        home = body["home"]
        assert home["membership"]["status"] == "active"
        assert home["queue"]["position"] >= 1
        assert home["eligibility"]["eligible"] is False
        blocked = {rule["rule"]: rule["reasons"] for rule in home["eligibility"]["rules"] if not rule["ok"]}
        assert blocked["identity_verified"], "each failing rule comes with its reasons"
        assert body["auditChainValid"] is True
        assert any(e["kind"] == "sign_in_succeeded" for e in body["securityEvents"])

        as_member = await console.get(f"/api/admin/members/{joined.account_id}/view")
        own = await a.get("/api/dashboard")
        assert as_member.json()["membership"] == own.json()["membership"]
        assert as_member.json()["queue"]["position"] == own.json()["queue"]["position"]

        assert (await console.get(f"/api/admin/members/{staff.account_id}")).status_code == 404, "staff are no members"
        log = await staff_log(world, staff.account_id)
        assert f"GET /api/admin/members/{joined.account_id}/view" in log
        assert any(line.startswith("GET /api/admin/members?") and "status=none" in line for line in log)
        assert not any(joined.email[:14] in line for line in log), "what staff typed to find someone is not kept"
        assert any("q=redacted-14" in line for line in log)


async def test_members_and_strangers_never_reach_the_console(world: BillingWorld) -> None:
    async with world.http() as member_client, world.http() as anonymous, world.http() as console:
        member = await world.member(member_client)
        for path in ("/api/admin/members", f"/api/admin/members/{member.account_id}"):
            assert (await anonymous.get(path)).status_code == 401
            refused = await member_client.get(path)
            assert refused.status_code == 403
            assert refused.json()["detail"] == "not_staff"

        email = "staff-without-2fa@example.com"
        from ports.usecases import roles

        await roles.create_admin(world.container.deps, email=email, password=PASSWORD, actor="test")
        assert (await console.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})).status_code == 200
        no_2fa = await console.get("/api/admin/members")
        assert no_2fa.status_code == 403
        assert no_2fa.json()["detail"] == "second_factor_required"


async def test_nobody_changes_their_own_role(world: BillingWorld) -> None:
    async with world.http() as console, world.http() as other_console:
        admin = await staff_member(world, console, Role.ADMIN)
        other = await staff_member(world, other_console, Role.ADMIN)
        own = await console.put(
            f"/api/admin/accounts/{admin.account_id}/role", json={"role": "member", "reason": "stepping down"}
        )
        assert own.status_code == 403, own.text
        assert "own role" in own.json()["detail"]
        demoted = await console.put(
            f"/api/admin/accounts/{other.account_id}/role", json={"role": "finance", "reason": "moved to finance"}
        )
        assert demoted.status_code == 200, demoted.text
        assert (await other_console.get("/api/auth/session")).status_code == 401, "the changed account is signed out"


async def test_exports_stream_csv_to_the_right_staff(world: BillingWorld) -> None:
    async with world.http() as a, world.http() as admin_console, world.http() as finance_console:
        joined = await world.member(a)
        await world.join(joined)
        await staff_member(world, admin_console, Role.ADMIN)
        await staff_member(world, finance_console, Role.FINANCE)

        members = await admin_console.get("/api/admin/exports/members.csv")
        assert members.status_code == 200, members.text
        assert members.headers["content-type"].startswith("text/csv")
        assert members.headers["content-disposition"] == 'attachment; filename="tenure-members.csv"'
        lines = members.text.splitlines()
        assert lines[0] == ",".join(exports.MEMBER_COLUMNS)
        row = next(line.split(",") for line in lines[1:] if joined.email in line)
        assert row[0] == str(joined.account_id)
        assert row[2:4] == ["Ada", "Lovelace"]
        assert row[5] == "active"

        assert (await admin_console.get("/api/admin/exports/payments.csv")).status_code == 403, "finance only"
        assert (await a.get("/api/admin/exports/members.csv")).status_code == 403

        payments = await finance_console.get("/api/admin/exports/payments.csv")
        assert payments.status_code == 200, payments.text
        mine = [line.split(",") for line in payments.text.splitlines()[1:] if str(joined.account_id) in line]
        fee = ProgramRules().joining_fee
        assert [(r[4], r[6], r[9]) for r in mine] == [("joining", str(fee.cents), fee.currency)]
        payouts = await finance_console.get("/api/admin/exports/payouts.csv")
        assert payouts.text.splitlines() == [",".join(exports.PAYOUT_COLUMNS)]


async def test_support_actions_need_a_reason_and_land_in_the_audit_log(world: BillingWorld) -> None:
    async with world.http() as member_client, world.http() as other_browser, world.http() as console:
        member = await world.member(member_client)
        assert (
            await other_browser.post("/api/auth/sign-in", json={"email": member.email, "password": PASSWORD})
        ).status_code == 200
        staff = await staff_member(world, console, Role.ADMIN)
        url = f"/api/admin/members/{member.account_id}"

        assert (await console.post(f"{url}/sessions/end", json={"reason": ""})).status_code == 400
        ended = await console.post(f"{url}/sessions/end", json={"reason": "lost phone, member called"})
        assert ended.status_code == 200, ended.text
        assert ended.json() == {"ended": 2}
        assert (await member_client.get("/api/auth/session")).status_code == 401
        assert (await other_browser.get("/api/auth/session")).status_code == 401

        verified = await console.post(f"{url}/resend-verification", json={"reason": "member asked"})
        assert verified.status_code == 409, "the address is verified already"
        assert (
            await console.post(f"/api/admin/members/{staff.account_id}/sessions/end", json={"reason": "x" * 5})
        ).status_code == 404

        log = (await console.get("/api/admin/audit", params={"entityId": str(member.account_id)})).json()
        assert [(e["action"], e["actor"], e["reason"]) for e in log["items"]] == [
            ("sessions_ended", f"account:{staff.account_id}", "lost phone, member called")
        ]
        assert log["items"][0]["after"] == {"sessions": 2}
        by_actor = (await console.get("/api/admin/audit", params={"actor": f"account:{staff.account_id}"})).json()
        assert {e["entityId"] for e in by_actor["items"]} == {str(member.account_id)}

        first = (await console.get("/api/admin/audit", params={"limit": 1})).json()
        assert len(first["items"]) == 1
        assert first["nextCursor"]
        second = (await console.get("/api/admin/audit", params={"limit": 1, "cursor": first["nextCursor"]})).json()
        assert second["items"] != first["items"], "keyset pages move on"
        assert (await member_client.get("/api/admin/audit")).status_code == 401


async def test_the_staff_dashboard_counts_members_money_and_alerts(world: BillingWorld) -> None:
    async with world.http() as a, world.http() as console:
        await staff_member(world, console, Role.FINANCE)
        before = (await console.get("/api/admin/dashboard")).json()
        joined = await world.member(a)
        await world.join(joined)
        after = await console.get("/api/admin/dashboard")
        assert after.status_code == 200, after.text
        body = after.json()
        assert body["membersByStatus"].get("active", 0) == before["membersByStatus"].get("active", 0) + 1
        this_month = world.clock.now().strftime("%Y-%m")
        inflow = {m["month"]: m["cents"] for m in body["inflowByMonth"]}
        assert list(inflow)[-1] == this_month
        assert len(inflow) == 12
        gained = body["fundCents"] - before["fundCents"]
        assert gained > 0, "the joining payment put the fund's share in"
        assert inflow[this_month] - {m["month"]: m["cents"] for m in before["inflowByMonth"]}[this_month] == gained
        assert body["fundByMonth"][-1] == {"month": this_month, "cents": body["fundCents"]}
        assert body["thresholdCents"] == 10_000_000
        assert body["alerts"] == [], "no launch date: nothing is overdue"
        assert (await a.get("/api/admin/dashboard")).status_code == 403


async def test_notes_stay_out_of_the_audit_log_and_go_with_an_erasure(world: BillingWorld) -> None:
    async with world.http() as member_client, world.http() as console:
        member = await world.member(member_client)
        staff = await staff_member(world, console, Role.ADMIN)
        url = f"/api/admin/members/{member.account_id}/notes"
        assert (await console.post(url, json={"body": ""})).status_code == 400
        added = await console.post(url, json={"body": "Called about a failed card; will retry Friday."})
        assert added.status_code == 201, added.text
        note = added.json()
        assert note["authorId"] == str(staff.account_id)
        assert [n["id"] for n in (await console.get(url)).json()["items"]] == [note["id"]]
        assert (await member_client.get(url)).status_code == 403

        log = (await console.get("/api/admin/audit", params={"entityId": str(member.account_id)})).json()["items"]
        assert [(e["action"], e["after"]) for e in log] == [("note_added", {"note": note["id"]})]
        assert "failed card" not in str(log), "the note's text is personal data: never in the audit log"

        assert (await member_client.post("/api/profiles/me/deletion-request")).status_code == 202
        assert await world.run(ERASE_TASK) == {"erased": 1}
        assert (await console.get(url)).json()["items"] == []
