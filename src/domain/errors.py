"""Domain errors: the one place every rule violation is named.

Decisions that are part of normal business (a member is not eligible, a default must wait) are *values* with
reasons, not exceptions. These exceptions are for programming or data errors: asking for a transition the
table does not allow, mixing currencies, constructing invalid rules, passing a naive datetime. The HTTP layer
maps them to problem documents in one place, so keep this a flat list of classes.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error raised by ``domain``."""


class InvalidTransition(DomainError):
    """A state machine was asked for a transition its table does not contain."""

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: event {event!r} is not allowed in state {state!r}")
        self.machine = machine
        self.state = state
        self.event = event


class CurrencyMismatch(DomainError):
    """Two amounts in different currencies were combined or compared."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"currency mismatch: {left} vs {right}")
        self.left = left
        self.right = right


class InvalidAmount(DomainError):
    """An amount is not an integer number of minor units (float, bool, ...) or is otherwise unusable."""


class RulesInvalid(DomainError):
    """A ``ProgramRules`` version (or a set of versions) breaks its invariants; lists every problem."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("invalid program rules: " + "; ".join(problems))
        self.problems = problems


class NoRulesInForce(DomainError):
    """No rules version is in force at the requested instant (or the requested version does not exist)."""


class NaiveDatetime(DomainError):
    """A datetime without a timezone reached the domain; every instant must be timezone-aware UTC."""


class InvalidDate(DomainError):
    """A date or instant argument is out of order or out of range (e.g. an end before its start)."""


class InvalidQueue(DomainError):
    """Queue input breaks the strict total order (duplicate member numbers or memberships)."""


class InvalidIdentity(DomainError):
    """Identity fingerprint input is unusable (empty name, no ID digits, weak key)."""


class InvalidInput(DomainError):
    """An argument outside the domain of a rule (negative count, unknown reason code, ...)."""


class UnbalancedEntry(DomainError):
    """A journal entry whose debits and credits differ in some currency (or that is otherwise malformed)."""


class LedgerConflict(DomainError):
    """A ledger reference was posted again with different postings: one movement cannot have two versions."""


class FundWouldGoNegative(DomainError):
    """A commit larger than the fund: rewards are committed only from money the fund holds."""


class InvalidSnapshot(DomainError):
    """A round snapshot that is not a gap-free, strictly ordered queue, or an entry that cannot be serialised."""


class AuditError(DomainError):
    """An audit record or chain append that would break the chain's rules (personal data, seq gap, ...)."""


class PayoutRefused(DomainError):
    """An operation on a payout that its rules refuse; ``reasons`` says why (all of them)."""

    def __init__(self, action: str, reasons: tuple[str, ...]) -> None:
        super().__init__(f"{action} refused: {', '.join(reasons)}")
        self.action = action
        self.reasons = reasons


class InvalidPolicy(DomainError):
    """A security policy (passwords, codes, throttling, sessions) whose numbers contradict each other."""


class WeakSecret(DomainError):
    """A key or caller-supplied random input too short for the guarantee the rule gives (HMAC keys, TOTP secrets)."""


class PreferenceLocked(DomainError):
    """A member tried to switch off a notification channel that a rule keeps on (DOMAIN.md §11 always-on notices)."""

    def __init__(self, group: str, channel: str) -> None:
        super().__init__(f"notifications for {group!r} are always sent by {channel!r}")
        self.group = group
        self.channel = channel
