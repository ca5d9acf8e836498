"""Phones: verifying a member's number by SMS code, and sending them text messages (issue 9).

Provider refusals come back as `PhoneProviderError` with one of a few stable codes, so the use case can say what
went wrong in words ("that number cannot receive texts") without knowing Twilio's error numbers. Timeouts and
provider 5xx are `unavailable`: retryable, and never a verified phone.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from ports.outbound.errors import PortError


class PhoneProblem(StrEnum):
    INVALID_NUMBER = "invalid_number"
    """Not a number the provider can text (malformed, a landline, an unsupported country)."""
    RATE_LIMITED = "rate_limited"
    """Too many sends or checks for this number (the provider's own limits)."""
    FRAUD_BLOCKED = "fraud_blocked"
    """The provider blocked the number or its prefix as likely fraud (SMS pumping)."""
    NOT_FOUND = "not_found"
    """No pending verification for this number (expired, used up or never started)."""
    UNAVAILABLE = "unavailable"
    """Timeout, provider 5xx or network trouble: retry later."""
    OUTCOME_UNKNOWN = "outcome_unknown"
    """The request may have reached the provider but no answer came back (a read timeout, a dropped
    connection): the message may have been accepted. Never retried blindly: that could text twice."""


class PhoneProviderError(PortError):
    def __init__(self, problem: PhoneProblem, detail: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(detail)
        self.problem = problem
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationStarted:
    provider_id: str
    """The provider's verification id (Twilio Verify: ``VE…``)."""
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationChecked:
    approved: bool
    status: str
    """The provider's status after the check (``pending`` for a wrong code, ``approved``, ``canceled``...)."""


class PhoneVerifier(Protocol):
    async def start(self, phone: str) -> VerificationStarted:
        """Send a code by SMS to ``phone`` (E.164). Raises `PhoneProviderError`."""
        ...

    async def check(self, phone: str, code: str) -> VerificationChecked:
        """Check a code the member typed. A wrong code is ``approved=False``, not an error. Raises
        `PhoneProviderError` (``not_found`` when nothing is pending for the number)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsMessage:
    to: str
    """E.164."""
    body: str
    status_callback: str | None = None
    """Where the provider reports delivery (``/api/webhooks/twilio``); None: no reports."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsAccepted:
    provider_id: str
    """The provider's message id (Twilio: ``SM…``)."""
    status: str


class SmsSender(Protocol):
    async def send(self, message: SmsMessage) -> SmsAccepted:
        """Hand one message to the provider. Raises `PhoneProviderError`."""
        ...
