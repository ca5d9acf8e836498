"""Staff in the browser: two staff members enrol their second factor, evaluate today's payout round and approve
the winner's payout (one admin, one finance), as DOMAIN.md §7–8 require."""

import base64
import re
import time
from datetime import UTC, datetime

from playwright.sync_api import Browser, Page, expect

from domain.totp import time_step, totp_at
from tests.browser.conftest import STEP_UP_MINUTES, Service, accessibility_problems, screenshot
from tests.browser.test_member_journey import PASSWORD, join_and_verify

REWARD_CENTS = 10_000_000


def staff_signs_in(page: Page, service: Service, email: str, role: str) -> str:
    """An account made by `tenure accounts create-admin` (then given ``role``) signs in and enrols TOTP; returns
    one of its backup codes."""
    service.cli("accounts", "create-admin", "--email", email, "--password-stdin", stdin=PASSWORD + "\n")
    if role != "admin":
        service.cli("accounts", "set-role", email, role, "--reason", "browser test")
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Security").click()
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret_b32 = page.get_by_test_id("totp-secret").inner_text().strip()
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    page.get_by_label("Code from the app").fill(totp_at(secret, time_step(datetime.now(UTC))))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text("keep these backup codes", exact=False)).to_be_visible()
    return page.locator(".codes code").first.inner_text().strip()


def the_winner_gives_details_and_checks_their_entry(page: Page, last_name: str) -> None:
    """Cheque to the verified address (an ACH holder name must match the identity check's name) and a W-9; then
    their entry in the round's published snapshot, checked against its root."""
    page.goto("/payouts")
    expect(page.get_by_text("Still needed")).to_be_visible()
    page.get_by_role("button", name="Send me a cheque instead").click()
    expect(page.get_by_text("Cheque to your verified address")).to_be_visible()
    w9 = page.get_by_role("heading", name="W-9 (taxpayer identification)").locator("..")
    w9.get_by_label("Legal name").fill(f"Ada {last_name}")
    w9.get_by_label("SSN or EIN").fill("123456789")
    w9.get_by_label("Street address").fill("1 Main St")
    w9.get_by_label("City").fill("Springfield")
    w9.get_by_label("State").fill("IL")
    w9.get_by_label("ZIP code").fill("62701")
    w9.get_by_label(re.compile("Under penalties of perjury")).check()
    w9.get_by_role("button", name="Save W-9").click()
    expect(page.get_by_text(re.compile(r"On file \(.*6789\)"))).to_be_visible()
    expect(page.get_by_text("Still needed")).to_have_count(0)

    page.get_by_role("link", name="Check my entry in this round").click()
    page.get_by_role("button", name="Check my entry against the root").click()
    expect(page.get_by_text("Your entry is in the published snapshot.")).to_be_visible()


def test_two_staff_evaluate_a_round_and_approve_the_payout(browser: Browser, service: Service) -> None:
    member = browser.new_context(base_url=service.url)
    admin = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    finance = browser.new_context(base_url=service.url)
    try:
        winner = member.new_page()
        last_name = join_and_verify(winner, service)
        signed_in_at = time.monotonic()  # an upper bound: the winner signed in before this
        assert int(service.python("tests.browser.seed_fund", str(REWARD_CENTS)).strip()) >= REWARD_CENTS
        service.cli("jobs", "run", "payments.reconcile")  # a reconciliation within the hour (§7)

        boss = admin.new_page()
        backup_code = staff_signs_in(boss, service, "admin@example.com", "admin")
        # Signing in again asks for the second factor after the password (a backup code here).
        boss.get_by_role("button", name="Sign out").click()
        boss.goto("/sign-in")
        boss.get_by_label("Email").fill("admin@example.com")
        boss.get_by_label("Password").fill(PASSWORD)
        boss.get_by_role("button", name="Sign in", exact=True).click()
        boss.get_by_label("Authenticator or backup code").fill(backup_code)
        boss.get_by_role("button", name="Sign in", exact=True).click()
        expect(boss.get_by_role("heading", name="Program dashboard")).to_be_visible()
        expect(boss.get_by_text("Yes: every precondition holds.")).to_be_visible()
        assert accessibility_problems(boss) == []

        boss.get_by_role("link", name="Payouts", exact=True).click()
        boss.get_by_role("button", name="Evaluate today's round now").click()
        row = boss.get_by_role("row").filter(has_text="Pending approval")
        expect(row).to_have_count(1)

        the_winner_gives_details_and_checks_their_entry(winner, last_name)

        row.get_by_role("button", name=re.compile("^Approve")).click()
        expect(row.get_by_role("cell", name="1", exact=True)).to_be_visible()  # one approval of the two

        money = finance.new_page()
        staff_signs_in(money, service, "finance@example.com", "finance")
        money.goto("/staff/payouts")
        money.get_by_role("row").filter(has_text="Pending approval").get_by_role(
            "button", name=re.compile("^Approve")
        ).click()
        approved = money.get_by_role("row").filter(has_text="Approved")
        expect(approved).to_have_count(1)
        expect(approved.get_by_text("(finance ✓)")).to_be_visible()

        boss.reload()
        expect(boss.get_by_role("row").filter(has_text="Approved")).to_have_count(1)
        screenshot(boss, "staff-payout-round")
        assert accessibility_problems(boss) == []
        boss.get_by_role("link", name="Details").click()
        expect(boss.get_by_text("On file", exact=True)).to_be_visible()
        boss.get_by_role("button", name="Approve").click()  # a third approval: refused, with the reason shown
        expect(boss.get_by_role("alert")).to_be_visible()

        # After an approval, changing tax details needs a recent sign-in: the app asks for the password, then
        # saves; the approvals are cleared and a hold starts (§8).
        time.sleep(max(0.0, signed_in_at + STEP_UP_MINUTES * 60 + 2 - time.monotonic()))
        winner.goto("/payouts")
        w9 = winner.get_by_role("heading", name="W-9 (taxpayer identification)").locator("..")
        w9.get_by_label("Legal name").fill(f"Ada {last_name}")
        w9.get_by_label("SSN or EIN").fill("123454321")
        w9.get_by_label("Street address").fill("1 Main St")
        w9.get_by_label("City").fill("Springfield")
        w9.get_by_label("State").fill("IL")
        w9.get_by_label("ZIP code").fill("62701")
        w9.get_by_label(re.compile("Under penalties of perjury")).check()
        w9.get_by_role("button", name="Save W-9").click()
        prompt = winner.get_by_role("dialog", name="Confirm it is you")
        expect(prompt).to_be_visible()
        prompt.get_by_label("Password").fill(PASSWORD)
        prompt.get_by_role("button", name="Confirm").click()
        expect(winner.get_by_text(re.compile(r"On file \(.*4321\)"))).to_be_visible()
        expect(winner.get_by_text("On hold until")).to_be_visible()
    finally:
        for ctx in (member, admin, finance):
            ctx.close()
