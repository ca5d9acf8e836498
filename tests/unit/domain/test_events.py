"""Domain events: the §11 catalogue, channel decisions, delivery keys, reminder timing."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.events import (
    EVENT_TYPES,
    EVERY_CHANNEL_EVENTS,
    MANDATORY_EVENTS,
    Channel,
    ChannelRule,
    DeliveryKey,
    DomainEvent,
    MembershipActivated,
    NotificationSchedule,
    NotificationSettings,
    PaymentFailed,
    RoundOpened,
    channels_for,
    dues_upcoming_at,
    past_due_reminder_times,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)

SPEC_EVENTS = {
    "membership.activated",
    "payment.failed",
    "membership.past_due_reminder",
    "membership.cured",
    "membership.defaulted",
    "membership.cancel_scheduled",
    "membership.cancel_undone",
    "membership.cancelled",
    "membership.rejoined",
    "dues.upcoming",
    "kyc.verified",
    "kyc.failed",
    "kyc.needs_review",
    "kyc.reminder",
    "eligibility.blocked_near_payout",
    "round.opened",
    "payout.selected",
    "payout.approved",
    "payout.cancelled",
    "payout.info_required",
    "payout.processing",
    "payout.completed",
    "payout.failed",
    "payout.returned",
    "membership.ended",
}

settings_st = st.builds(
    NotificationSettings,
    email=st.booleans(),
    sms=st.booleans(),
    in_app=st.booleans(),
    phone_verified=st.booleans(),
    email_bounced=st.booleans(),
)


def test_every_event_of_domain_11_has_a_type() -> None:
    assert set(EVENT_TYPES) >= SPEC_EVENTS
    # Additions: the details-change notice §8 requires on every channel, and the staff alerts §7 and §8 imply
    # (no round although payouts were possible; a payout at its unclaimed deadline).
    assert set(EVENT_TYPES) - SPEC_EVENTS == {"payout.details_changed", "round.not_opened", "payout.unclaimed_due"}


def test_event_names_are_stable_class_constants_and_events_are_frozen() -> None:
    event = PaymentFailed(
        event_id="ev1",
        occurred_at=T0,
        person_id="p1",
        membership_id="m1",
        invoice_id="in_1",
        grace_ends_at=T0 + timedelta(days=30),
    )
    assert event.name == "payment.failed"
    assert "name" not in {f.name for f in dataclasses.fields(event)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.invoice_id = "in_2"  # type: ignore[misc]
    for name, cls in EVENT_TYPES.items():
        assert issubclass(cls, DomainEvent)
        assert cls.name == name


def test_staff_event_has_no_member() -> None:
    event = RoundOpened(event_id="ev", occurred_at=T0, round_key=date(2025, 3, 1), winner_count=2)
    assert not hasattr(event, "person_id")


@pytest.mark.parametrize(
    "name",
    sorted(
        {
            "payment.failed",
            "membership.past_due_reminder",
            "membership.defaulted",
            *(n for n in SPEC_EVENTS if n.startswith("payout.")),
        }
    ),
)
def test_mandatory_notices_ignore_opt_outs(name: str) -> None:
    opted_out = NotificationSettings(email=False, sms=False, in_app=False, phone_verified=True)
    decision = channels_for(name, opted_out)
    assert decision.rule is ChannelRule.MANDATORY
    assert decision.channels == (Channel.EMAIL, Channel.IN_APP)


def test_mandatory_notices_add_sms_when_email_bounces_and_phone_is_verified() -> None:
    bounced = NotificationSettings(email=True, sms=False, phone_verified=True, email_bounced=True)
    assert channels_for("payment.failed", bounced).channels == (Channel.EMAIL, Channel.SMS, Channel.IN_APP)
    unverified = dataclasses.replace(bounced, phone_verified=False)
    assert channels_for("payment.failed", unverified).channels == (Channel.EMAIL, Channel.IN_APP)


def test_other_events_follow_preferences() -> None:
    only_sms = NotificationSettings(email=False, sms=True, in_app=False, phone_verified=True)
    assert channels_for("membership.activated", only_sms) == channels_for("kyc.reminder", only_sms)
    assert channels_for("membership.activated", only_sms).channels == (Channel.SMS,)
    assert channels_for("membership.activated", only_sms).rule is ChannelRule.PREFERENCES
    nothing = NotificationSettings(email=False, sms=False, in_app=False)
    assert channels_for("dues.upcoming", nothing).channels == ()


def test_bounced_address_gets_no_optional_mail() -> None:
    bounced = NotificationSettings(email=True, in_app=True, email_bounced=True)
    assert channels_for("dues.upcoming", bounced).channels == (Channel.IN_APP,)


def test_details_change_goes_to_every_reachable_channel() -> None:
    opted_out = NotificationSettings(email=False, sms=False, in_app=False, phone_verified=True)
    decision = channels_for("payout.details_changed", opted_out)
    assert decision.rule is ChannelRule.EVERY_CHANNEL
    assert decision.channels == (Channel.EMAIL, Channel.SMS, Channel.IN_APP)


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event"):
        channels_for("membership.teleported", NotificationSettings())


@given(st.sampled_from(sorted(EVENT_TYPES)), settings_st)
def test_channel_rules_hold_for_every_event_and_setting(name: str, settings: NotificationSettings) -> None:
    channels = set(channels_for(name, settings).channels)
    if Channel.SMS in channels:
        assert settings.phone_verified
    if name in MANDATORY_EVENTS | EVERY_CHANNEL_EVENTS:
        assert {Channel.EMAIL, Channel.IN_APP} <= channels
        if settings.email_bounced and settings.phone_verified:
            assert Channel.SMS in channels
    else:
        assert (Channel.EMAIL in channels) == (settings.email and not settings.email_bounced)
        assert (Channel.IN_APP in channels) == settings.in_app
        assert (Channel.SMS in channels) == (settings.sms and settings.phone_verified)


def test_delivery_key_is_per_event_recipient_and_channel() -> None:
    key = DeliveryKey(event_id="ev1", recipient_id="p1", channel=Channel.SMS)
    assert key.text == "ev1:p1:sms"
    assert key == DeliveryKey(event_id="ev1", recipient_id="p1", channel=Channel.SMS)
    assert key.text != DeliveryKey(event_id="ev1", recipient_id="p1", channel=Channel.EMAIL).text
    assert key.text != DeliveryKey(event_id="ev2", recipient_id="p1", channel=Channel.SMS).text


@pytest.mark.parametrize(
    ("event_name", "settings"),
    [
        ("membership.activated", NotificationSettings(sms=True, phone_verified=True)),  # email, sms, in-app
        ("membership.activated", NotificationSettings()),  # email, in-app
        ("payment.failed", NotificationSettings(email=False, in_app=False)),  # mandatory: email, in-app
    ],
)
def test_same_provider_event_eleven_times_is_one_delivery_per_channel(
    event_name: str, settings: NotificationSettings
) -> None:
    """§12: one provider event delivered 10 times concurrently plus the checkout redirect -> one notification per
    channel. Each delivery (own webhook id, own receipt time) rebuilds the domain event; its id is the business
    identity of the change (the provider invoice), so every delivery yields the same keys."""
    keys: list[DeliveryKey] = []
    for delivery in range(11):  # webhook evt_0..evt_9, then the redirect: none of their ids enter the key
        event = MembershipActivated(
            event_id=f"{event_name}.in_1MqV",
            occurred_at=T0 + timedelta(seconds=delivery),
            person_id="p1",
            membership_id="m1",
            member_number=41,
            tenure_start=T0,
        )
        decision = channels_for(event_name, settings)
        keys.extend(
            DeliveryKey(event_id=event.event_id, recipient_id=event.person_id, channel=channel)
            for channel in decision.channels
        )
    channels = channels_for(event_name, settings).channels
    assert len(keys) == 11 * len(channels)
    assert len(set(keys)) == len(channels)
    assert len({key.text for key in keys}) == len(channels)
    assert {key.channel for key in keys} == set(channels)


def test_delivery_key_refuses_ambiguous_parts() -> None:
    with pytest.raises(ValueError, match="may not contain"):
        DeliveryKey(event_id="ev:1", recipient_id="p1", channel=Channel.SMS)
    with pytest.raises(ValueError, match="required"):
        DeliveryKey(event_id="", recipient_id="p1", channel=Channel.SMS)


def test_past_due_reminders_fire_168h_and_48h_before_grace_ends() -> None:
    start = T0
    ends = T0 + timedelta(days=30)
    times = past_due_reminder_times(grace_start=start, grace_ends_at=ends, schedule=NotificationSchedule())
    assert times == ((168, ends - timedelta(hours=168)), (48, ends - timedelta(hours=48)))


def test_reminders_before_grace_started_are_skipped() -> None:
    ends = T0 + timedelta(days=5)
    times = past_due_reminder_times(grace_start=T0, grace_ends_at=ends, schedule=NotificationSchedule())
    assert times == ((48, ends - timedelta(hours=48)),)


def test_dues_upcoming_three_days_before() -> None:
    assert dues_upcoming_at(T0, NotificationSchedule()) == T0 - timedelta(days=3)


def test_activation_event_carries_its_tenure() -> None:
    event = MembershipActivated(
        event_id="e", occurred_at=T0, person_id="p", membership_id="m", member_number=41, tenure_start=T0
    )
    assert (event.member_number, event.tenure_start) == (41, T0)
