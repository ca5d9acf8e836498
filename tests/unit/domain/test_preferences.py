"""Notification preferences: a complete, homogeneous grouping of events, §11 defaults, locked switches, deliveries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput, PreferenceLocked
from domain.events import (
    EVENT_TYPES,
    EVERY_CHANNEL_EVENTS,
    MANDATORY_EVENTS,
    Channel,
    ChannelRule,
    NotificationSettings,
    channels_for,
)
from domain.preferences import (
    DEFAULT_PREFERENCES,
    EventGroup,
    Preferences,
    deliveries_for,
    delivery_decision,
    events_in,
    group_of,
    locked,
    mandatory_channels,
)

EMAIL, SMS, IN_APP = Channel.EMAIL, Channel.SMS, Channel.IN_APP
event_names = st.sampled_from(sorted(EVENT_TYPES))
groups = st.sampled_from(EventGroup)
channels = st.sampled_from(Channel)
# The always-on groups, written out from §11 so a regrouping that changes them is noticed.
LOCKED = {
    (EventGroup.MISSED_PAYMENTS, EMAIL),
    (EventGroup.MISSED_PAYMENTS, IN_APP),
    (EventGroup.PAYOUTS, EMAIL),
    (EventGroup.PAYOUTS, IN_APP),
    (EventGroup.ACCOUNT_SECURITY, EMAIL),
    (EventGroup.ACCOUNT_SECURITY, IN_APP),
    (EventGroup.ACCOUNT_SECURITY, SMS),
}


class TestGrouping:
    def test_every_event_in_exactly_one_group(self) -> None:
        listed = [name for group in EventGroup for name in events_in(group)]
        assert sorted(listed) == sorted(EVENT_TYPES)
        assert len(listed) == len(set(listed))

    @given(event_names)
    def test_group_of_agrees_with_events_in(self, name: str) -> None:
        assert name in events_in(group_of(name))

    def test_no_empty_group(self) -> None:
        assert all(events_in(group) for group in EventGroup)

    @pytest.mark.parametrize(
        ("name", "group"),
        [
            ("payment.failed", EventGroup.MISSED_PAYMENTS),
            ("membership.past_due_reminder", EventGroup.MISSED_PAYMENTS),
            ("membership.defaulted", EventGroup.MISSED_PAYMENTS),
            ("dues.upcoming", EventGroup.BILLING),
            ("membership.cured", EventGroup.BILLING),
            ("membership.activated", EventGroup.MEMBERSHIP),
            ("kyc.reminder", EventGroup.KYC),
            ("eligibility.blocked_near_payout", EventGroup.QUEUE),
            ("payout.completed", EventGroup.PAYOUTS),
            ("payout.details_changed", EventGroup.ACCOUNT_SECURITY),
            ("round.opened", EventGroup.STAFF),
        ],
    )
    def test_examples(self, name: str, group: EventGroup) -> None:
        assert group_of(name) is group

    def test_unknown_event(self) -> None:
        with pytest.raises(InvalidInput):
            group_of("membership.teleported")

    @pytest.mark.parametrize("group", list(EventGroup))
    def test_groups_are_homogeneous(self, group: EventGroup) -> None:
        # Every event of a group is equally mandatory, so one switch per group means what it shows.
        kinds = {(name in MANDATORY_EVENTS, name in EVERY_CHANNEL_EVENTS) for name in events_in(group)}
        assert len(kinds) == 1


class TestLocked:
    def test_locked_pairs(self) -> None:
        assert {(g, c) for g in EventGroup for c in Channel if locked(g, c)} == LOCKED

    def test_mandatory_channels(self) -> None:
        assert mandatory_channels(EventGroup.MISSED_PAYMENTS) == {EMAIL, IN_APP}
        assert mandatory_channels(EventGroup.ACCOUNT_SECURITY) == {EMAIL, SMS, IN_APP}
        assert mandatory_channels(EventGroup.KYC) == frozenset()

    @given(groups, channels, st.booleans(), st.booleans())
    def test_locked_channels_reach_the_member_whatever_the_choices(
        self, group: EventGroup, channel: Channel, email_bounced: bool, phone_verified: bool
    ) -> None:
        choice_off = Preferences.from_choices(dict.fromkeys(EventGroup, ()))
        for name in events_in(group):
            sent = deliveries_for(
                name, preferences=choice_off, email_bounced=email_bounced, phone_verified=phone_verified
            )
            reachable = (channel is not SMS or phone_verified) and (channel is not EMAIL or not email_bounced)
            if locked(group, channel) and reachable:
                assert channel in sent
            if not locked(group, channel) and channel is not SMS:
                assert channel not in sent


class TestPreferencesValue:
    def test_defaults(self) -> None:
        for group in EventGroup:
            expected = {EMAIL, IN_APP} | ({SMS} if (group, SMS) in LOCKED else set())
            assert DEFAULT_PREFERENCES.channels(group) == expected

    def test_with_choice_returns_a_new_value(self) -> None:
        on = DEFAULT_PREFERENCES.with_choice(EventGroup.KYC, SMS, True)
        assert on.enabled(EventGroup.KYC, SMS)
        assert not DEFAULT_PREFERENCES.enabled(EventGroup.KYC, SMS)
        off = on.with_choice(EventGroup.KYC, EMAIL, False)
        assert off.channels(EventGroup.KYC) == {SMS, IN_APP}
        assert off.with_choice(EventGroup.KYC, EMAIL, True).with_choice(EventGroup.KYC, SMS, False) == (
            DEFAULT_PREFERENCES
        )

    def test_locked_switch_cannot_be_turned_off(self) -> None:
        with pytest.raises(PreferenceLocked) as caught:
            DEFAULT_PREFERENCES.with_choice(EventGroup.PAYOUTS, EMAIL, False)
        assert (caught.value.group, caught.value.channel) == ("payouts", "email")
        assert DEFAULT_PREFERENCES.with_choice(EventGroup.PAYOUTS, EMAIL, True) == DEFAULT_PREFERENCES
        assert DEFAULT_PREFERENCES.with_choice(EventGroup.PAYOUTS, SMS, True).enabled(EventGroup.PAYOUTS, SMS)

    def test_constructor_refuses_missing_locked_pairs_and_foreign_values(self) -> None:
        with pytest.raises(InvalidInput):
            Preferences(opted_in=frozenset())
        with pytest.raises(InvalidInput):
            Preferences(opted_in=DEFAULT_PREFERENCES.opted_in | {("lottery", "email")})  # type: ignore[arg-type]

    def test_from_choices_fills_missing_groups_with_defaults_and_adds_locked(self) -> None:
        prefs = Preferences.from_choices({EventGroup.KYC: [SMS], EventGroup.PAYOUTS: []})
        assert prefs.channels(EventGroup.KYC) == {SMS}
        assert prefs.channels(EventGroup.PAYOUTS) == {EMAIL, IN_APP}
        assert prefs.channels(EventGroup.MEMBERSHIP) == {EMAIL, IN_APP}

    def test_from_stored_strings(self) -> None:
        prefs = Preferences.from_choices({"kyc": ["sms"]})  # type: ignore[dict-item, list-item]
        assert prefs.channels(EventGroup.KYC) == {SMS}
        with pytest.raises(ValueError, match="carrier_pigeon"):
            Preferences.from_choices({"kyc": ["carrier_pigeon"]})  # type: ignore[dict-item, list-item]

    @given(st.lists(st.tuples(groups, channels, st.booleans()), max_size=30))
    def test_round_trip_through_choices(self, changes: list[tuple[EventGroup, Channel, bool]]) -> None:
        prefs = DEFAULT_PREFERENCES
        for group, channel, on in changes:
            if on or not locked(group, channel):
                prefs = prefs.with_choice(group, channel, on)
        assert Preferences.from_choices(prefs.as_choices()) == prefs
        assert set(prefs.as_choices()) == set(EventGroup)


class TestDeliveries:
    def test_defaults_for_an_ordinary_event(self) -> None:
        assert deliveries_for(
            "kyc.verified", preferences=DEFAULT_PREFERENCES, email_bounced=False, phone_verified=True
        ) == (EMAIL, IN_APP)

    def test_opted_out_ordinary_event_sends_nothing(self) -> None:
        prefs = DEFAULT_PREFERENCES.with_choice(EventGroup.KYC, EMAIL, False).with_choice(EventGroup.KYC, IN_APP, False)
        assert deliveries_for("kyc.verified", preferences=prefs, email_bounced=False, phone_verified=True) == ()
        # Other groups keep their own choices.
        assert deliveries_for("dues.upcoming", preferences=prefs, email_bounced=False, phone_verified=True) == (
            EMAIL,
            IN_APP,
        )

    def test_missed_payment_falls_back_to_sms_when_email_bounces(self) -> None:
        decision = delivery_decision(
            "payment.failed", preferences=DEFAULT_PREFERENCES, email_bounced=True, phone_verified=True
        )
        assert decision.channels == (EMAIL, SMS, IN_APP)
        assert decision.rule is ChannelRule.MANDATORY

    def test_sms_needs_a_verified_phone(self) -> None:
        prefs = DEFAULT_PREFERENCES.with_choice(EventGroup.MEMBERSHIP, SMS, True)
        assert SMS in deliveries_for(
            "membership.activated", preferences=prefs, email_bounced=False, phone_verified=True
        )
        assert SMS not in deliveries_for(
            "membership.activated", preferences=prefs, email_bounced=False, phone_verified=False
        )

    @given(
        name=event_names,
        changes=st.lists(st.tuples(groups, channels, st.booleans()), max_size=20),
        email_bounced=st.booleans(),
        phone_verified=st.booleans(),
    )
    def test_same_as_events_channels_for_with_the_group_choices(
        self,
        name: str,
        changes: list[tuple[EventGroup, Channel, bool]],
        email_bounced: bool,
        phone_verified: bool,
    ) -> None:
        prefs = DEFAULT_PREFERENCES
        for group, channel, on in changes:
            if on or not locked(group, channel):
                prefs = prefs.with_choice(group, channel, on)
        chosen = prefs.as_choices()[group_of(name)]
        expected = channels_for(
            name,
            NotificationSettings(
                email=EMAIL in chosen,
                sms=SMS in chosen,
                in_app=IN_APP in chosen,
                phone_verified=phone_verified,
                email_bounced=email_bounced,
            ),
        ).channels
        sent = deliveries_for(name, preferences=prefs, email_bounced=email_bounced, phone_verified=phone_verified)
        assert sent == expected
        if name in MANDATORY_EVENTS:
            assert IN_APP in sent
            assert EMAIL in sent
