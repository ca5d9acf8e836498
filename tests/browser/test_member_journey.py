"""A person's whole journey in the browser on the sandbox providers: sign up, confirm the email, fill in the
profile, join and pay on the sandbox checkout, see their place in line, verify their identity on the sandbox
page, add a passkey and sign in with it."""

import random
import re
import string
import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import Service, accessibility_problems, screenshot

PASSWORD = "correct horse battery staple 42"


def sign_up(page: Page, service: Service) -> str:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/")
    page.get_by_role("link", name="Become a member").first.click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.get_by_label("Code").fill(service.emailed_code(email))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Your dashboard")).to_be_visible()
    return email


def test_a_person_joins_pays_and_sees_their_place(page: Page, service: Service) -> None:
    join_and_verify(page, service, screenshots=True)
    page.get_by_role("link", name="Payments").click()
    expect(page.get_by_role("cell", name="$300.00")).to_be_visible()
    assert accessibility_problems(page) == []

    page.get_by_role("link", name="Settings").click()
    sms_news = page.get_by_role("checkbox", name="Queue by sms")
    expect(sms_news).to_be_visible()
    was = sms_news.is_checked()
    sms_news.click()
    expect(page.get_by_role("checkbox", name="Queue by sms")).to_be_checked(checked=not was)
    assert accessibility_problems(page) == []


def test_pages_read_well_on_a_phone_and_to_a_screen_reader(page: Page, service: Service) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    for path, heading in (("/", "Tenure"), ("/sign-up", "Become a member"), ("/sign-in", "Sign in")):
        page.goto(path)
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{path} scrolls sideways"
        assert accessibility_problems(page) == [], path
    page.goto("/sign-in")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("password or second factor is not right")


def join_and_verify(page: Page, service: Service, *, screenshots: bool = False) -> str:
    """Sign up, fill in the profile, join and pay on the sandbox checkout, pass the sandbox identity check.
    Returns the legal last name (each member is a different person: the same name and birth date would be one
    identity, §10)."""
    last_name = "Lovelace" + "".join(random.choices(string.ascii_lowercase, k=6))
    sign_up(page, service)
    expect(page.get_by_text("You are not a member yet.")).to_be_visible()

    page.get_by_role("link", name="Profile").click()
    page.get_by_label("Legal first name").fill("Ada")
    page.get_by_label("Legal last name").fill(last_name)
    page.get_by_label("Date of birth").fill("1990-12-10")
    page.get_by_label("Street address").fill("1 Main St")
    page.get_by_label("City").fill("Springfield")
    page.get_by_label("State").fill("IL")
    page.get_by_label("ZIP code").fill("62701")
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", name="Join Tenure")).to_be_visible()
    pay = page.get_by_role("button", name="Continue to payment")
    expect(pay).to_be_disabled()  # the terms first
    page.get_by_label(re.compile("I accept the membership terms")).check()
    pay.click()
    page.wait_for_url(re.compile(r"/sandbox/checkout/"))
    page.get_by_role("button", name=re.compile("^Pay")).click()

    expect(page.get_by_role("heading", name="Welcome to Tenure")).to_be_visible()
    page.get_by_role("button", name="Go to your dashboard").click()
    place = page.get_by_role("region", name="Your place in line")
    expect(place).to_be_visible()
    expect(place.get_by_text(re.compile(r"#\d+\s*of \d+"))).to_be_visible()
    expect(page.get_by_role("region", name="Membership").get_by_text("Active", exact=True)).to_be_visible()

    page.get_by_role("button", name="Verify my identity").click()
    page.wait_for_url(re.compile(r"/sandbox/kyc/"))
    page.get_by_role("button", name=re.compile("pass", re.IGNORECASE)).first.click()
    page.goto("/dashboard")
    expect(page.get_by_text("Verified", exact=True)).to_be_visible()
    if screenshots:
        screenshot(page, "member-dashboard")
        assert accessibility_problems(page) == []
    return last_name


def test_a_member_adds_a_passkey_and_signs_in_with_it(page: Page, service: Service) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    sign_up(page, service)
    page.get_by_role("link", name="Security").click()
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text(re.compile("added"))).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.goto("/notifications")  # signed out: sent to sign in, then back to the page asked for
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
