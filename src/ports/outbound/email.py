"""Sending email. Bodies may hold one-time codes: adapters never log them."""

from dataclasses import dataclass
from typing import Protocol

from ports.outbound.errors import PortError


class EmailRejected(PortError):
    """The receiving server refused the address for good (SMTP 5xx for the recipient): a bounce, not an outage.
    Retrying cannot help; the member's mail is marked bounced."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    template: str
    idempotency_key: str


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Send once per `idempotency_key`; returns the provider's message id."""
        ...
