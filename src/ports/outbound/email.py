"""Sending email. Bodies may hold one-time codes: adapters never log them."""

from dataclasses import dataclass
from typing import Protocol


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
