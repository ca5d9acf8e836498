"""Inbound provider messages: each provider's adapter proves a message is authentic before we store it."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ports.outbound.errors import PortError


class InvalidSignature(PortError):
    """The message is not provably from the provider (bad or missing signature, wrong time, altered body)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedMessage:
    key: str
    """The provider's own identity of the message (Stripe: the event id), unique per provider in the inbox."""
    type: str
    subject: str | None = None
    """Who the message is about at the provider (Stripe: the customer), to find a customer's backlog."""


class WebhookVerifier(Protocol):
    provider: str

    async def verify(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> VerifiedMessage:
        """Return the message's identity, or raise `InvalidSignature`. Never trusts anything unverified. Async
        because some providers' keys are fetched (and cached) from the provider (Plaid's JWT keys)."""
        ...
