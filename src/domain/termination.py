"""Terminating a membership for cause: a staff decision, taken by two staff for a reason from a closed list.

Why a closed list: a termination takes away a paid-for place in the queue, so it must be explainable in the same
words to the member, to the other staff member who confirms it, and to an auditor years later. Free text goes
into a staff note (erasable personal data), never into the reason.
"""

from enum import StrEnum

from domain.membership import QUEUE_STATES, WINNER_STATES, MembershipState


class TerminationReason(StrEnum):
    FRAUD = "fraud"
    IDENTITY_MISREPRESENTED = "identity_misrepresented"
    DUPLICATE_ACCOUNT = "duplicate_account"
    NOT_US_PERSON = "not_us_person"
    UNDER_AGE = "under_age"
    TERMS_VIOLATION = "terms_violation"


class TerminationRefusal(StrEnum):
    NOT_IN_QUEUE = "not_in_queue"
    """PENDING or ended: there is no place in the queue to take away."""
    WINNER = "winner"
    """A selected winner leaves through the payout's own two-person cancellation (a disqualifying reason)."""


END_REASON_PREFIX = "terminated:"


def parse_reason(value: str) -> TerminationReason:
    """The reason, or ``ValueError`` naming the allowed ones."""
    try:
        return TerminationReason(value)
    except ValueError:
        allowed = ", ".join(reason.value for reason in TerminationReason)
        raise ValueError(f"unknown termination reason {value!r}; one of: {allowed}") from None


def termination_refusal(state: MembershipState) -> TerminationRefusal | None:
    """Only a membership holding a place in the queue (ACTIVE, PAST_DUE) can be terminated."""
    if state in WINNER_STATES:
        return TerminationRefusal.WINNER
    if state not in QUEUE_STATES:
        return TerminationRefusal.NOT_IN_QUEUE
    return None


def end_reason(reason: TerminationReason) -> str:
    return f"{END_REASON_PREFIX}{reason.value}"


def is_terminated(membership_end_reason: str | None) -> bool:
    """Was the membership that ended with this reason terminated for cause? (Such a person may not rejoin.)"""
    return membership_end_reason is not None and membership_end_reason.startswith(END_REASON_PREFIX)
