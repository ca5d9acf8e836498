"""Announcements over HTTP: staff with a second factor create, list, preview and publish; a member is refused
(403) and receives the published announcement in their own notification feed (the worker runs the batches)."""

import pytest
from litestar import Litestar

from adapters.email.sandbox import SandboxEmailSender
from entrypoints.bootstrap import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from ports.usecases import roles
from tests.e2e.conftest import open_client
from tests.e2e.test_auth import PASSWORD, new_email, signed_up_and_verified
from tests.e2e.test_second_factor_and_roles import enrol, sign_in
from tests.fakes import FakeClock
from tests.helpers import eventually

pytestmark = pytest.mark.usefixtures("worker")
URL = "/api/admin/announcements"


async def test_staff_publish_and_members_read_it_in_their_feed(
    frozen_app: Litestar, test_settings: Settings, clock: FakeClock, mailbox: SandboxEmailSender
) -> None:
    admin_email = new_email()
    cli = build_container(test_settings, clock=clock)
    await cli.start()
    try:
        await roles.create_admin(cli.deps, email=admin_email, password=PASSWORD, actor="test")
    finally:
        await cli.stop()
    staff_app = create_app(container=build_container(test_settings, clock=clock))  # one app per client
    async with open_client(frozen_app) as member, open_client(staff_app) as staff:
        member_email = await signed_up_and_verified(member, mailbox)
        assert (await sign_in(member, member_email)).status_code == 200
        draft = {"title": "Office closed", "body": "We are closed on Friday."}
        assert (await member.post(URL, json=draft)).status_code == 403
        assert (await member.get(URL)).status_code == 403

        assert (await sign_in(staff, admin_email)).status_code == 200
        await enrol(staff, clock)
        created = await staff.post(URL, json=draft)
        assert created.status_code == 201, created.text
        announcement_id = created.json()["id"]
        assert created.json()["status"] == "draft"
        assert (await member.post(f"{URL}/{announcement_id}/publish")).status_code == 403
        by_email = await staff.post(URL, json={**draft, "email": True})
        assert by_email.status_code == 201, by_email.text
        assert by_email.json()["email"] is True

        listed = (await staff.get(URL)).json()["items"]
        assert announcement_id in [a["id"] for a in listed]
        preview = await staff.get(f"{URL}/{announcement_id}/preview")
        assert preview.status_code == 200, preview.text
        assert preview.json()["title"] == "Office closed"
        assert preview.json()["recipients"] >= 1

        published = await staff.post(f"{URL}/{announcement_id}/publish")
        assert published.status_code == 200, published.text
        assert published.json()["announcement"]["status"] == "published"
        assert published.json()["batches"] >= 1
        again = await staff.post(f"{URL}/{announcement_id}/publish")
        assert again.status_code == 409, again.text

        async def delivered() -> bool:
            feed = (await member.get("/api/notifications")).json()
            return any(i["title"] == "Office closed" for i in feed["items"])

        await eventually(delivered, timeout=20, what="the announcement in the member's feed")
