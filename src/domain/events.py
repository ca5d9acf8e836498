"""Domain events (DOMAIN.md §11) and the pure rules that turn them into deliveries.

Why: aggregates record events; the unit of work writes them to the outbox in the same transaction as the state
change, and a dispatcher turns each into messages. Which channels a message uses is a business rule (some notices
must reach the member whatever their preferences), so it lives here as a pure function. Event ids are passed in
(the domain has no randomness); each event's ``name`` is stable because it is stored in the outbox and used in
templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from domain.money import Money


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    IN_APP = "in_app"


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of every event: a caller-supplied id and the instant the change happened."""

    name: ClassVar[str] = ""
    event_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberEvent(DomainEvent):
    """An event addressed to the person holding a membership."""

    person_id: str
    membership_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipActivated(MemberEvent):
    name: ClassVar[str] = "membership.activated"
    member_number: int
    tenure_start: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentFailed(MemberEvent):
    name: ClassVar[str] = "payment.failed"
    invoice_id: str
    grace_ends_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipPastDueReminder(MemberEvent):
    name: ClassVar[str] = "membership.past_due_reminder"
    grace_ends_at: datetime
    hours_before: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipCured(MemberEvent):
    name: ClassVar[str] = "membership.cured"


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipDefaulted(MemberEvent):
    name: ClassVar[str] = "membership.defaulted"


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipCancelScheduled(MemberEvent):
    name: ClassVar[str] = "membership.cancel_scheduled"
    effective_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipCancelUndone(MemberEvent):
    name: ClassVar[str] = "membership.cancel_undone"


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipCancelled(MemberEvent):
    name: ClassVar[str] = "membership.cancelled"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipRejoined(MemberEvent):
    name: ClassVar[str] = "membership.rejoined"
    member_number: int
    previous_membership_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DuesUpcoming(MemberEvent):
    name: ClassVar[str] = "dues.upcoming"
    invoice_due_at: datetime
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class KycVerified(MemberEvent):
    name: ClassVar[str] = "kyc.verified"


@dataclass(frozen=True, slots=True, kw_only=True)
class KycFailed(MemberEvent):
    name: ClassVar[str] = "kyc.failed"
    attempts_left: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KycNeedsReview(MemberEvent):
    name: ClassVar[str] = "kyc.needs_review"


@dataclass(frozen=True, slots=True, kw_only=True)
class KycReminder(MemberEvent):
    name: ClassVar[str] = "kyc.reminder"


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityBlockedNearPayout(MemberEvent):
    name: ClassVar[str] = "eligibility.blocked_near_payout"
    position: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundOpened(DomainEvent):
    """Staff notice: a round selected winners and its payouts await approval."""

    name: ClassVar[str] = "round.opened"
    round_key: date
    winner_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundNotOpened(DomainEvent):
    """Staff alert: payouts were possible but nobody was eligible, so no round was created (§7)."""

    name: ClassVar[str] = "round.not_opened"
    day: date
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutUnclaimed(DomainEvent):
    """Staff alert: a winner's details are still missing at the deadline; two staff must cancel it `unclaimed`."""

    name: ClassVar[str] = "payout.unclaimed_due"
    payout_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutEvent(MemberEvent):
    """An event about a winner's payout, addressed to the winner."""

    payout_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutSelected(PayoutEvent):
    name: ClassVar[str] = "payout.selected"
    round_key: date
    gross: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutApproved(PayoutEvent):
    name: ClassVar[str] = "payout.approved"


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutCancelled(PayoutEvent):
    name: ClassVar[str] = "payout.cancelled"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutInfoRequired(PayoutEvent):
    name: ClassVar[str] = "payout.info_required"
    missing: tuple[str, ...]
    deadline: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutDetailsChanged(PayoutEvent):
    """Bank or tax details changed after approval (DOMAIN.md §8): the member is told on every channel."""

    name: ClassVar[str] = "payout.details_changed"
    hold_until: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutProcessing(PayoutEvent):
    name: ClassVar[str] = "payout.processing"
    net: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutCompleted(PayoutEvent):
    name: ClassVar[str] = "payout.completed"
    net: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutFailed(PayoutEvent):
    name: ClassVar[str] = "payout.failed"
    failure: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutReturned(PayoutEvent):
    name: ClassVar[str] = "payout.returned"
    return_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipEnded(MemberEvent):
    name: ClassVar[str] = "membership.ended"


EVENT_TYPES: Mapping[str, type[DomainEvent]] = {
    cls.name: cls
    for cls in (
        MembershipActivated,
        PaymentFailed,
        MembershipPastDueReminder,
        MembershipCured,
        MembershipDefaulted,
        MembershipCancelScheduled,
        MembershipCancelUndone,
        MembershipCancelled,
        MembershipRejoined,
        DuesUpcoming,
        KycVerified,
        KycFailed,
        KycNeedsReview,
        KycReminder,
        EligibilityBlockedNearPayout,
        RoundOpened,
        RoundNotOpened,
        PayoutUnclaimed,
        PayoutSelected,
        PayoutApproved,
        PayoutCancelled,
        PayoutInfoRequired,
        PayoutDetailsChanged,
        PayoutProcessing,
        PayoutCompleted,
        PayoutFailed,
        PayoutReturned,
        MembershipEnded,
    )
}
"""Every event by its stable name (the outbox stores the name)."""

MANDATORY_EVENTS = frozenset(
    {
        PaymentFailed.name,
        MembershipPastDueReminder.name,
        MembershipDefaulted.name,
        PayoutSelected.name,
        PayoutApproved.name,
        PayoutCancelled.name,
        PayoutInfoRequired.name,
        PayoutProcessing.name,
        PayoutCompleted.name,
        PayoutFailed.name,
        PayoutReturned.name,
    }
)
"""Payment failure, grace reminders, defaults and payout notices: email + in-app whatever the preferences."""

EVERY_CHANNEL_EVENTS = frozenset({PayoutDetailsChanged.name})
"""Security-relevant notices sent on every channel the member can receive (a hijacked account must be seen)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationSettings:
    """A recipient's preferences and what we know about reaching them."""

    email: bool = True
    sms: bool = False
    in_app: bool = True
    phone_verified: bool = False
    email_bounced: bool = False


class ChannelRule(StrEnum):
    """Why a set of channels was chosen (kept with the delivery for support questions)."""

    PREFERENCES = "preferences"
    MANDATORY = "mandatory"
    EVERY_CHANNEL = "every_channel"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDecision:
    channels: tuple[Channel, ...]
    rule: ChannelRule


_CHANNEL_ORDER = (Channel.EMAIL, Channel.SMS, Channel.IN_APP)


def channels_for(event_name: str, settings: NotificationSettings) -> ChannelDecision:
    """Channels an event goes to.

    Mandatory notices go to email and in-app, plus SMS when email bounced or the member asked for SMS; other
    events follow preferences (a bounced address gets no more mail). SMS always needs a verified phone.
    """
    if event_name not in EVENT_TYPES:
        raise ValueError(f"unknown event {event_name!r}")
    chosen: set[Channel]
    if event_name in EVERY_CHANNEL_EVENTS:
        rule = ChannelRule.EVERY_CHANNEL
        chosen = {Channel.EMAIL, Channel.IN_APP, Channel.SMS}
    elif event_name in MANDATORY_EVENTS:
        rule = ChannelRule.MANDATORY
        chosen = {Channel.EMAIL, Channel.IN_APP}
        if settings.email_bounced or settings.sms:
            chosen.add(Channel.SMS)
    else:
        rule = ChannelRule.PREFERENCES
        chosen = set()
        if settings.email and not settings.email_bounced:
            chosen.add(Channel.EMAIL)
        if settings.sms:
            chosen.add(Channel.SMS)
        if settings.in_app:
            chosen.add(Channel.IN_APP)
    if not settings.phone_verified:
        chosen.discard(Channel.SMS)
    return ChannelDecision(channels=tuple(c for c in _CHANNEL_ORDER if c in chosen), rule=rule)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryKey:
    """Idempotency key of one delivery: a redelivered event never sends a second message on a channel."""

    event_id: str
    recipient_id: str
    channel: Channel

    def __post_init__(self) -> None:
        if not self.event_id or not self.recipient_id:
            raise ValueError("event id and recipient are required")
        if ":" in self.event_id or ":" in self.recipient_id:
            raise ValueError("event id and recipient may not contain ':' (key separator)")

    @property
    def text(self) -> str:
        return f"{self.event_id}:{self.recipient_id}:{self.channel.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationSchedule:
    """When time-based notices fire (DOMAIN.md §11): grace reminders and the dues heads-up."""

    past_due_reminder_hours: tuple[int, ...] = (168, 48)
    dues_upcoming_days: int = 3


def past_due_reminder_times(
    *, grace_start: datetime, grace_ends_at: datetime, schedule: NotificationSchedule
) -> tuple[tuple[int, datetime], ...]:
    """(hours before, send time) of each grace reminder, earliest first; none before grace has started."""
    times = ((h, grace_ends_at - timedelta(hours=h)) for h in schedule.past_due_reminder_hours)
    return tuple(sorted(((h, at) for h, at in times if at >= grace_start), key=lambda item: item[1]))


def dues_upcoming_at(due_at: datetime, schedule: NotificationSchedule) -> datetime:
    """When the "dues upcoming" notice for an invoice due at ``due_at`` is sent."""
    return due_at - timedelta(days=schedule.dues_upcoming_days)
