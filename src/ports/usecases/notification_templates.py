"""Plain-text templates of member notifications, one per event name (DOMAIN.md §11).

Templates fill `{placeholders}` from the event's outbox payload (camelCase keys). Only scalar payload values
are offered, and an event without a template, or a payload missing a placeholder, gets the safe generic text:
a notice is never lost and never shows a raw template. Later capabilities only add rows here.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any

GENERIC = (
    "An update about your Tenure membership",
    "There is news about your Tenure membership. Sign in to Tenure to see the details.",
)

SIGN_OFF = "\n\n— Tenure"

TEMPLATES: Mapping[str, tuple[str, str]] = {
    "membership.activated": (
        "Welcome to Tenure: your membership is active",
        "Your membership is active and your place in the queue is held. Your member number is {memberNumber}.",
    ),
    "payment.failed": (
        "Action needed: your Tenure payment failed",
        "We could not collect your dues. Update your payment method before {graceEndsAt} to keep your membership "
        "and your place in the queue.",
    ),
    "membership.past_due_reminder": (
        "Reminder: your Tenure dues are overdue",
        "Your dues are still unpaid. Your grace period ends at {graceEndsAt}; after that your membership ends and "
        "your place in the queue is lost.",
    ),
    "membership.cured": (
        "Your Tenure membership is back in good standing",
        "Thank you: your overdue dues are paid and your membership is in good standing again.",
    ),
    "membership.defaulted": (
        "Your Tenure membership has ended",
        "Your dues were not paid before the grace period ended, so your membership has ended.",
    ),
    "membership.cancel_scheduled": (
        "Your Tenure membership will end",
        "Your membership is scheduled to end at {effectiveAt}. You can undo this until then.",
    ),
    "membership.cancel_undone": (
        "Your Tenure membership continues",
        "You undid your cancellation: your membership continues as before.",
    ),
    "membership.cancelled": ("Your Tenure membership is cancelled", "Your membership is cancelled."),
    "membership.rejoined": (
        "Welcome back to Tenure",
        "Your new membership is active. Your member number is {memberNumber}.",
    ),
    "membership.ended": (
        "Your Tenure membership has ended",
        "Your membership has ended. Thank you for being a member.",
    ),
    "dues.upcoming": (
        "Your Tenure dues are due soon",
        "Your next dues payment is due at {invoiceDueAt}.",
    ),
    "kyc.verified": ("Your identity is verified", "Thank you: we verified your identity."),
    "kyc.failed": (
        "We could not verify your identity",
        "We could not verify your identity. Sign in to Tenure to try again.",
    ),
    "kyc.needs_review": (
        "Your identity check is being reviewed",
        "Our team is reviewing your identity check. We will let you know the result.",
    ),
    "kyc.reminder": (
        "Please verify your identity",
        "Verify your identity in Tenure so that nothing stands between you and a payout.",
    ),
    "eligibility.blocked_near_payout": (
        "Action needed: you are close to a payout",
        "You are at position {position} in the queue and the fund is close to the next payout, but a payout is "
        "blocked because {blockedBy}. Sign in to Tenure to see how to fix it.",
    ),
    "announcement.published": ("{title}", "{body}"),
    "round.opened": (
        "A payout round opened",
        "The round of {roundKey} selected {winnerCount} winner(s); their payouts await approval.",
    ),
    "round.not_opened": (
        "No payout round today",
        "Payouts were possible on {day}, but no member was eligible ({reason}); no round was created.",
    ),
    "payout.unclaimed_due": (
        "A payout reached its details deadline",
        "Payout {payoutId} still has no payment details at its deadline; two staff must cancel it as unclaimed.",
    ),
    "payout.selected": (
        "You have been selected for a Tenure payout",
        "Congratulations: you have been selected for a payout. Sign in to Tenure for the next steps.",
    ),
    "payout.approved": ("Your Tenure payout is approved", "Your payout is approved and will be sent soon."),
    "payout.cancelled": ("Your Tenure payout was cancelled", "Your payout was cancelled. Sign in to Tenure for why."),
    "payout.info_required": (
        "Action needed: we need details for your payout",
        "We need more details before we can pay you. Please provide them before {deadline}.",
    ),
    "payout.details_changed": (
        "Your payout details were changed",
        "The bank or tax details of your payout were changed. If this was not you, contact us immediately.",
    ),
    "payout.processing": ("Your Tenure payout is on its way", "Your payout is being sent."),
    "payout.completed": ("Your Tenure payout was sent", "Your payout was sent."),
    "payout.failed": (
        "Your Tenure payout failed",
        "Your payout could not be sent. Sign in to Tenure to check your payout details.",
    ),
    "payout.returned": (
        "Your Tenure payout was returned",
        "Your bank returned your payout. Sign in to Tenure to check your payout details.",
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendered:
    subject: str
    text: str
    template: str
    """`notify.<event name>`, or `notify.generic` when the generic text was used."""


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}


def render(event_name: str, payload: Mapping[str, Any]) -> Rendered:
    """The subject and body of `event_name` for one member, or the generic text if they cannot be filled."""
    subject, body = TEMPLATES.get(event_name, GENERIC)
    values = {k: str(v) for k, v in payload.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    needed = _fields(subject) | _fields(body)
    if event_name not in TEMPLATES or not needed <= values.keys() or not all(n.isidentifier() for n in needed):
        return Rendered(subject=GENERIC[0], text=GENERIC[1] + SIGN_OFF, template="notify.generic")
    return Rendered(
        subject=subject.format_map(values),
        text=body.format_map(values) + SIGN_OFF,
        template=f"notify.{event_name}",
    )
