"""Notification preferences per event group × channel (DOMAIN.md §11), on top of ``domain.events``.

Why groups: members choose per topic, not per event name. Why these groups: each group is *homogeneous* under
the channel rules of ``events.channels_for`` — every event in it is either always-on for a channel or never — so a
switch on the settings screen means exactly what it shows; that is why missed-payment notices (always on) are
apart from other billing notices, and why the "every channel" payout-details notice is account security.
The always-on rules themselves stay in ``events`` (``MANDATORY_EVENTS``, ``channels_for``); here they are only
*observed*, never restated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from domain.errors import InvalidInput, PreferenceLocked
from domain.events import (
    Channel,
    ChannelDecision,
    DuesUpcoming,
    EligibilityBlockedNearPayout,
    KycFailed,
    KycNeedsReview,
    KycReminder,
    KycVerified,
    MembershipActivated,
    MembershipCancelled,
    MembershipCancelScheduled,
    MembershipCancelUndone,
    MembershipCured,
    MembershipDefaulted,
    MembershipEnded,
    MembershipPastDueReminder,
    MembershipRejoined,
    NotificationSettings,
    PaymentFailed,
    PayoutApproved,
    PayoutCancelled,
    PayoutCompleted,
    PayoutDetailsChanged,
    PayoutFailed,
    PayoutInfoRequired,
    PayoutProcessing,
    PayoutReturned,
    PayoutSelected,
    PayoutUnclaimed,
    RoundNotOpened,
    RoundOpened,
    channels_for,
)


class EventGroup(StrEnum):
    MEMBERSHIP = "membership"
    BILLING = "billing"
    MISSED_PAYMENTS = "missed_payments"
    KYC = "kyc"
    QUEUE = "queue"
    PAYOUTS = "payouts"
    ACCOUNT_SECURITY = "account_security"
    STAFF = "staff"


_GROUP_EVENTS: Mapping[EventGroup, tuple[str, ...]] = {
    EventGroup.MEMBERSHIP: (
        MembershipActivated.name,
        MembershipCancelScheduled.name,
        MembershipCancelUndone.name,
        MembershipCancelled.name,
        MembershipRejoined.name,
        MembershipEnded.name,
    ),
    EventGroup.BILLING: (DuesUpcoming.name, MembershipCured.name),
    EventGroup.MISSED_PAYMENTS: (PaymentFailed.name, MembershipPastDueReminder.name, MembershipDefaulted.name),
    EventGroup.KYC: (KycVerified.name, KycFailed.name, KycNeedsReview.name, KycReminder.name),
    EventGroup.QUEUE: (EligibilityBlockedNearPayout.name,),
    EventGroup.PAYOUTS: (
        PayoutSelected.name,
        PayoutApproved.name,
        PayoutCancelled.name,
        PayoutInfoRequired.name,
        PayoutProcessing.name,
        PayoutCompleted.name,
        PayoutFailed.name,
        PayoutReturned.name,
    ),
    EventGroup.ACCOUNT_SECURITY: (PayoutDetailsChanged.name,),
    EventGroup.STAFF: (RoundOpened.name, RoundNotOpened.name, PayoutUnclaimed.name),
}

_GROUP_OF: Mapping[str, EventGroup] = {name: group for group, names in _GROUP_EVENTS.items() for name in names}


def group_of(event_name: str) -> EventGroup:
    """The preference group of an event (every name in ``EVENT_TYPES`` has exactly one)."""
    try:
        return _GROUP_OF[event_name]
    except KeyError:
        raise InvalidInput(f"unknown event {event_name!r}") from None


def events_in(group: EventGroup) -> tuple[str, ...]:
    return _GROUP_EVENTS[group]


_NOTHING_CHOSEN = NotificationSettings(email=False, sms=False, in_app=False, phone_verified=True, email_bounced=False)


@cache
def locked(group: EventGroup, channel: Channel) -> bool:
    """Whether the member cannot switch ``channel`` off for ``group``: its events use it even when nothing is chosen.

    Observed from ``events.channels_for`` with every preference off (and a verified phone, so forced SMS shows).
    """
    return all(channel in channels_for(name, _NOTHING_CHOSEN).channels for name in _GROUP_EVENTS[group])


def mandatory_channels(group: EventGroup) -> frozenset[Channel]:
    """The locked channels of ``group`` (shown switched on and disabled on the settings screen)."""
    return frozenset(c for c in Channel if locked(group, c))


@dataclass(frozen=True, slots=True, kw_only=True)
class Preferences:
    """The (group, channel) pairs a member receives. Always includes the locked pairs (they cannot be off)."""

    opted_in: frozenset[tuple[EventGroup, Channel]]

    def __post_init__(self) -> None:
        if not all(isinstance(g, EventGroup) and isinstance(c, Channel) for g, c in self.opted_in):
            raise InvalidInput("preferences are (EventGroup, Channel) pairs")
        missing = sorted(
            f"{g}/{c}" for g in EventGroup for c in Channel if locked(g, c) and (g, c) not in self.opted_in
        )
        if missing:
            raise InvalidInput("always-on notifications cannot be off: " + ", ".join(missing))

    @classmethod
    def from_choices(cls, choices: Mapping[EventGroup, Iterable[Channel]]) -> Preferences:
        """From stored choices; groups not mentioned (e.g. added after they were saved) take the defaults.

        Unknown group or channel names raise ``ValueError`` (from the enums); locked pairs are added.
        """
        given = {EventGroup(g): {Channel(c) for c in channels} for g, channels in choices.items()}
        pairs = {(g, c) for g, channels in given.items() for c in channels}
        pairs |= {pair for pair in _DEFAULT_PAIRS if pair[0] not in given}
        pairs |= {(g, c) for g in EventGroup for c in Channel if locked(g, c)}
        return cls(opted_in=frozenset(pairs))

    def enabled(self, group: EventGroup, channel: Channel) -> bool:
        return (group, channel) in self.opted_in

    def channels(self, group: EventGroup) -> frozenset[Channel]:
        return frozenset(c for g, c in self.opted_in if g == group)

    def as_choices(self) -> dict[EventGroup, frozenset[Channel]]:
        """Every group with its channels (for storage and the settings screen)."""
        return {group: self.channels(group) for group in EventGroup}

    def with_choice(self, group: EventGroup, channel: Channel, on: bool) -> Preferences:
        """A new value with one switch changed; switching off a locked pair raises ``PreferenceLocked``."""
        if not on and locked(group, channel):
            raise PreferenceLocked(group.value, channel.value)
        pair = (group, channel)
        return Preferences(opted_in=self.opted_in | {pair} if on else self.opted_in - {pair})


_DEFAULT_PAIRS = frozenset((g, c) for g in EventGroup for c in (Channel.EMAIL, Channel.IN_APP))

DEFAULT_PREFERENCES = Preferences.from_choices({})
"""§11 defaults: email and in-app for every group, SMS only where a rule forces it (SMS costs money and needs a
verified phone, so members opt in)."""


def delivery_decision(
    event_name: str, *, preferences: Preferences, email_bounced: bool, phone_verified: bool
) -> ChannelDecision:
    """The channels (and the rule that chose them) for one event to one member."""
    chosen = preferences.channels(group_of(event_name))
    settings = NotificationSettings(
        email=Channel.EMAIL in chosen,
        sms=Channel.SMS in chosen,
        in_app=Channel.IN_APP in chosen,
        phone_verified=phone_verified,
        email_bounced=email_bounced,
    )
    return channels_for(event_name, settings)


def deliveries_for(
    event_name: str, *, preferences: Preferences, email_bounced: bool, phone_verified: bool
) -> tuple[Channel, ...]:
    """The channels one event goes to for one member (email, SMS, in-app order)."""
    return delivery_decision(
        event_name, preferences=preferences, email_bounced=email_bounced, phone_verified=phone_verified
    ).channels
