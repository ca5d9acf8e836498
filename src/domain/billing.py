"""Billing schedule and per-invoice grace (DOMAIN.md §5).

Why per invoice: each unpaid invoice has its own grace window, fixed by facts the provider reports (due time,
first failed attempt, full refund), so the same inputs always give the same ``grace_ends_at`` whoever computes it
and whenever. The membership is PAST_DUE while any invoice is unpaid past its grace start; its grace end is the
earliest of those invoices'. Grace is the *closed* interval ``[grace_start, grace_ends_at]``: a payment
whose provider paid-at equals ``grace_ends_at`` is in time, and the sweep defaults only strictly after it
(DOMAIN.md: "past grace_ends_at"; the tie goes to the member).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.calendar import add_months_utc, ensure_utc, months_between
from domain.errors import InvalidDate
from domain.membership import MembershipEvent, MembershipState
from domain.rules import ProgramRules, RulesHistory

# -- schedule -----------------------------------------------------------------------------------------------------


def dues_due_at(anchor: datetime, n: int) -> datetime:
    """Due instant of the ``n``-th dues invoice (n >= 1): ``clamp(anchor + n months)``, anchor = joining paid-at.

    The joining invoice (n = 0) includes the first month's dues, so dues start one calendar month later.
    """
    if n < 1:
        raise InvalidDate("dues invoices are numbered from 1")
    return add_months_utc(anchor, n)


def dues_schedule(anchor: datetime, count: int) -> tuple[datetime, ...]:
    """The first ``count`` dues due instants, each computed from the anchor (never from the previous one)."""
    return tuple(dues_due_at(anchor, n) for n in range(1, count + 1))


def period_index(anchor: datetime, at: datetime) -> int:
    """The ``n`` with ``due(n) <= at < due(n+1)`` (0 = the period the joining fee paid for)."""
    return months_between(anchor, at)


def next_due_after(anchor: datetime, at: datetime) -> datetime:
    """The first due instant strictly after ``at`` (for "dues upcoming" notices and resumed billing)."""
    at = ensure_utc(at, "at")
    if at < ensure_utc(anchor, "anchor"):
        return dues_due_at(anchor, 1)
    return dues_due_at(anchor, period_index(anchor, at) + 1)


# -- per-invoice grace --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Invoice:
    """Provider facts about one dues invoice, all in provider time (paid-at, not when we learnt of it)."""

    invoice_id: str
    rules_version: int
    due_at: datetime
    first_failed_at: datetime | None = None
    """First failed or action-required payment attempt."""
    paid_at: datetime | None = None
    reversed_at: datetime | None = None
    """Full refund or lost dispute: the period is unpaid again from this instant."""

    def __post_init__(self) -> None:
        for name in ("due_at", "first_failed_at", "paid_at", "reversed_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, name))
        if self.reversed_at is not None and (self.paid_at is None or self.reversed_at < self.paid_at):
            raise InvalidDate("an invoice can only be reversed after it was paid")

    def unpaid_at(self, at: datetime) -> bool:
        """Was the invoice unpaid at instant ``at`` (as far as the provider's facts tell)?"""
        at = ensure_utc(at, "at")
        if self.paid_at is None or self.paid_at > at:
            return True
        return self.reversed_at is not None and self.reversed_at <= at


def grace_start(invoice: Invoice, rules: ProgramRules) -> datetime:
    """``min(first failed attempt, due + invoice_unpaid_after_hours)``; after a full reversal, its time."""
    if invoice.reversed_at is not None:
        return invoice.reversed_at
    unpaid_after = invoice.due_at + rules.invoice_unpaid_after
    if invoice.first_failed_at is None:
        return unpaid_after
    return min(invoice.first_failed_at, unpaid_after)


def grace_ends_at(invoice: Invoice, rules: ProgramRules) -> datetime:
    return grace_start(invoice, rules) + rules.grace_period


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceGrace:
    invoice_id: str
    grace_start: datetime
    grace_ends_at: datetime


def invoice_grace(invoice: Invoice, history: RulesHistory) -> InvoiceGrace:
    """Grace of one invoice under the rules version it was created with (never newer rules)."""
    rules = history.version(invoice.rules_version)
    start = grace_start(invoice, rules)
    return InvoiceGrace(invoice_id=invoice.invoice_id, grace_start=start, grace_ends_at=start + rules.grace_period)


# -- membership-level status --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingStatus:
    past_due: bool
    """Some invoice is unpaid past its grace start."""
    grace_ends_at: datetime | None
    """Earliest grace end over the invoices in grace (None when not past due)."""
    overdue_invoice_ids: tuple[str, ...]
    """Invoices unpaid past their grace start, earliest grace end first."""


def billing_status(invoices: Iterable[Invoice], history: RulesHistory, at: datetime) -> BillingStatus:
    at = ensure_utc(at, "at")
    overdue = sorted(
        (
            (grace.grace_ends_at, grace.invoice_id)
            for grace, invoice in ((invoice_grace(inv, history), inv) for inv in invoices)
            if invoice.unpaid_at(at) and grace.grace_start <= at
        ),
    )
    if not overdue:
        return BillingStatus(past_due=False, grace_ends_at=None, overdue_invoice_ids=())
    return BillingStatus(past_due=True, grace_ends_at=overdue[0][0], overdue_invoice_ids=tuple(i for _, i in overdue))


def status_event(state: MembershipState, status: BillingStatus) -> MembershipEvent | None:
    """The event that brings the membership in line with its invoices: become past due, cure, or nothing.

    Cure keeps tenure_start and place: only the state changes. Defaults are decided by ``default_decision``.
    """
    if state is MembershipState.ACTIVE and status.past_due:
        return MembershipEvent.BECOME_PAST_DUE
    if state is MembershipState.PAST_DUE and not status.past_due:
        return MembershipEvent.CURE
    return None


# -- default sweep ------------------------------------------------------------------------------------------------


class DefaultAction(StrEnum):
    DEFAULT = "default"
    WAIT = "wait"
    NONE = "none"


class DefaultReason(StrEnum):
    NOT_PAST_DUE = "not_past_due"
    GRACE_NOT_ENDED = "grace_not_ended"
    INVOICES_NOT_REFRESHED = "invoices_not_refreshed"
    """Re-read the invoices from the provider first (a payment may have been missed)."""
    PROVIDER_EVENTS_PENDING = "provider_events_pending"
    """The customer has unprocessed provider events: they may hold the payment."""
    GRACE_ENDED = "grace_ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class DefaultDecision:
    action: DefaultAction
    reasons: tuple[DefaultReason, ...]


def default_decision(
    *,
    state: MembershipState,
    invoices: Sequence[Invoice],
    history: RulesHistory,
    now: datetime,
    invoices_refreshed: bool,
    unprocessed_provider_events: bool,
) -> DefaultDecision:
    """The hourly sweep's decision for one membership. Defaulting ends tenure, so every doubt means WAIT.

    An ACTIVE membership whose overdue invoice was never reflected in its state is swept too; the caller applies
    BECOME_PAST_DUE (from ``status_event``) before DEFAULT, since the table only defaults from PAST_DUE.
    """
    status = billing_status(invoices, history, now)
    if state is not MembershipState.PAST_DUE and not (state is MembershipState.ACTIVE and status.past_due):
        return DefaultDecision(action=DefaultAction.NONE, reasons=(DefaultReason.NOT_PAST_DUE,))
    if status.grace_ends_at is None:
        return DefaultDecision(action=DefaultAction.NONE, reasons=(DefaultReason.NOT_PAST_DUE,))
    if ensure_utc(now, "now") <= status.grace_ends_at:
        return DefaultDecision(action=DefaultAction.NONE, reasons=(DefaultReason.GRACE_NOT_ENDED,))
    waits: list[DefaultReason] = []
    if not invoices_refreshed:
        waits.append(DefaultReason.INVOICES_NOT_REFRESHED)
    if unprocessed_provider_events:
        waits.append(DefaultReason.PROVIDER_EVENTS_PENDING)
    if waits:
        return DefaultDecision(action=DefaultAction.WAIT, reasons=tuple(waits))
    return DefaultDecision(action=DefaultAction.DEFAULT, reasons=(DefaultReason.GRACE_ENDED,))


def default_was_justified(invoices: Iterable[Invoice], history: RulesHistory, defaulted_at: datetime) -> bool:
    """With the provider facts known *now*, was some invoice still unpaid when its grace ended (by the default)?

    This is the late-truth test (§5): an invoice paid (provider paid-at) before its ``grace_ends_at`` never
    justified a default, however late we learnt of it.
    """
    defaulted_at = ensure_utc(defaulted_at, "defaulted_at")
    for invoice in invoices:
        grace = invoice_grace(invoice, history)
        if grace.grace_ends_at < defaulted_at and invoice.unpaid_at(grace.grace_ends_at):
            return True
    return False
