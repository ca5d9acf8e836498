"""How money leaves: a payout rail (DOMAIN.md §8).

A rail is handed transfers whose account numbers are still sealed. Only the rail opens them, at the moment it
writes the bank's instruction (a NACHA file) or shows finance what to send by hand, so a full account number never
passes through a use case, a log line or an HTTP body. The use case requires finance step-up before it calls a
rail and audits the call.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from domain.checkout import PostalAddress
from domain.money import Money


class PayoutMethod(StrEnum):
    ACH = "ach"
    CHEQUE = "cheque"


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """One attempt to pay one payout's net amount."""

    payout_id: UUID
    attempt: int
    amount: Money
    method: PayoutMethod
    payee_name: str
    routing_number: str | None = None
    account_type: str | None = None
    """``checking`` or ``savings`` for ACH."""
    sealed_account_number: bytes | None = None
    """Sealed by the payout ``SecretBox`` with context ``account_context(payout_id)``; opened only by the rail."""
    mailing_address: PostalAddress | None = None
    """For a cheque."""


def account_context(payout_id: UUID) -> str:
    """The sealing context of a payout's account number: a sealed value cannot be moved to another payout."""
    return f"payout-account:{payout_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferSubmitted:
    """What the rail did with one transfer: its own reference (file name, trace number, manual reference)."""

    payout_id: UUID
    attempt: int
    rail: str
    reference: str
    trace_number: str | None = None


class RailRefused(Exception):
    """The rail cannot take these transfers (wrong method for this rail, a sealed value that will not open)."""


class PayoutRail(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, transfers: Sequence[Transfer], *, reference: str | None = None) -> None:
        """Raise `RailRefused` for anything `submit` would refuse, without side effects: the use case asks before
        it commits PROCESSING, so a refusal changes nothing."""
        ...

    async def submit(
        self, transfers: Sequence[Transfer], *, actor: str, reference: str | None = None
    ) -> Sequence[TransferSubmitted]:
        """Send (or prepare) every transfer; all or none. ``reference`` is the manual rail's confirmation from
        finance (a wire confirmation or cheque number); file rails ignore it."""
        ...
