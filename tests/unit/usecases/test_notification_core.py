"""The notification core's pure parts: templates with a safe fallback, the handler table, the delivery task."""

from datetime import timedelta

from domain.events import EVENT_TYPES, MemberEvent
from ports.usecases.notification_templates import GENERIC, TEMPLATES, render
from ports.usecases.notifications import (
    DELIVER_TASK,
    MEMBER_EVENT_NAMES,
    STAFF_EVENT_NAMES,
    delivery_key,
    on_member_event,
    on_staff_event,
)
from ports.usecases.tasks import EVENT_HANDLERS, TASKS


def test_every_member_event_has_a_template_and_a_handler() -> None:
    members = {name for name, cls in EVENT_TYPES.items() if issubclass(cls, MemberEvent)}
    assert set(MEMBER_EVENT_NAMES) == members
    assert members <= TEMPLATES.keys()
    for name in members:
        assert on_member_event in EVENT_HANDLERS[name]
    assert on_member_event not in EVENT_HANDLERS["round.opened"], "staff notices have no member recipient"


def test_every_staff_alert_has_a_template_and_goes_to_staff() -> None:
    staff = {name for name, cls in EVENT_TYPES.items() if not issubclass(cls, MemberEvent)}
    assert set(STAFF_EVENT_NAMES) == staff == {"round.opened", "round.not_opened", "payout.unclaimed_due"}
    assert staff <= TEMPLATES.keys()
    for name in staff:
        assert EVENT_HANDLERS[name] == (on_staff_event,)


def test_the_delivery_task_is_explicit() -> None:
    spec = TASKS[DELIVER_TASK]
    assert spec.max_attempts >= 3
    assert spec.timeout == timedelta(seconds=30)
    assert spec.backoff(2) > spec.backoff(1)
    assert delivery_key({"eventId": "e1", "accountId": "a1", "channel": "in_app"}) == "e1:a1:in_app"


def test_templates_fill_placeholders_from_the_payload() -> None:
    rendered = render("membership.activated", {"accountId": "x", "memberNumber": 42})
    assert rendered.template == "notify.membership.activated"
    assert "42" in rendered.text
    assert rendered.subject == TEMPLATES["membership.activated"][0]


def test_missing_values_unknown_events_and_odd_payloads_get_the_generic_text() -> None:
    for name, payload in (
        ("membership.activated", {}),
        ("membership.activated", {"memberNumber": {"nested": 1}}),
        ("membership.activated", {"memberNumber": True}),
        ("no.such.event", {"memberNumber": 1}),
    ):
        rendered = render(name, payload)
        assert rendered.template == "notify.generic"
        assert rendered.subject == GENERIC[0]
        assert "{" not in rendered.text
