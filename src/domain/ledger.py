"""Double-entry ledger: accounts, balanced journal entries, a builder for every movement of DOMAIN.md §9.

Why double-entry: the fund *is* the balance of the ``fund`` account, never a sum recomputed over payments, so
every cent that enters or leaves it is an entry that can be explained. Entries are append-only (a correction is
a reversing entry) and each carries its **business identity** as ``reference`` (``invoice:in_…:paid``,
``refund:re_…``, ``payout:<id>:commit``): the checkout redirect, the webhook and reconciliation all build the
same reference for the same movement, so posting it twice posts nothing.

Conventions: postings carry positive amounts and a side. Balances are kept debit-positive internally; an
account's balance is reported on its normal side (``cash`` is an asset, ``fund`` a liability owed to future
winners), so a healthy fund has a positive balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from domain.calendar import ensure_utc
from domain.errors import FundWouldGoNegative, LedgerConflict, UnbalancedEntry
from domain.money import DEFAULT_CURRENCY, Money, pro_rata_increment
from domain.rules import ProgramRules


class Account(StrEnum):
    CASH = "cash"
    FUND = "fund"
    COMPANY_REVENUE = "company_revenue"
    PROCESSING_FEES = "processing_fees"
    DISPUTES_PENDING = "disputes_pending"
    PAYOUTS_PAYABLE = "payouts_payable"
    WITHHOLDING_PAYABLE = "withholding_payable"


DEBIT_NORMAL = frozenset({Account.CASH, Account.PROCESSING_FEES, Account.DISPUTES_PENDING})
"""Assets and expenses grow with debits; every other account (liabilities, revenue) grows with credits."""


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class EntryKind(StrEnum):
    """What movement an entry records; the ledger's invariants depend on it (a commit may not overdraw)."""

    PAYMENT = "payment"
    PROVIDER_FEE = "provider_fee"
    REFUND = "refund"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_LOST = "dispute_lost"
    DISPUTE_WON = "dispute_won"
    COMMIT = "commit"
    RELEASE = "release"
    WITHHOLDING = "withholding"
    WITHHOLDING_CORRECTION = "withholding_correction"
    RETENTION_DEDUCTION = "retention_deduction"
    COMPLETION = "completion"
    ACH_RETURN = "ach_return"
    WITHHOLDING_REVERSAL = "withholding_reversal"
    RETENTION_REVERSAL = "retention_reversal"
    WITHHOLDING_REMITTANCE = "withholding_remittance"


@dataclass(frozen=True, slots=True, kw_only=True)
class Posting:
    """One line of an entry: a positive amount on one side of one account."""

    account: Account
    side: Side
    amount: Money

    def __post_init__(self) -> None:
        if not self.amount.is_positive:
            raise UnbalancedEntry(f"posting amounts are positive; got {self.amount} on {self.account}")

    @property
    def signed_cents(self) -> int:
        """Debit-positive signed amount (the internal balance convention)."""
        return self.amount.cents if self.side is Side.DEBIT else -self.amount.cents


def debit(account: Account, amount: Money) -> Posting:
    return Posting(account=account, side=Side.DEBIT, amount=amount)


def credit(account: Account, amount: Money) -> Posting:
    return Posting(account=account, side=Side.CREDIT, amount=amount)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """A balanced set of postings with its business-identity reference. Refuses to exist unbalanced."""

    reference: str
    kind: EntryKind
    at: datetime
    postings: tuple[Posting, ...]
    memo: str = ""

    def __post_init__(self) -> None:
        if not self.reference:
            raise UnbalancedEntry("an entry needs its business-identity reference")
        object.__setattr__(self, "at", ensure_utc(self.at, "entry time"))
        if len(self.postings) < 2:
            raise UnbalancedEntry(f"{self.reference}: an entry needs at least two postings")
        totals: dict[str, int] = defaultdict(int)
        for posting in self.postings:
            totals[posting.amount.currency] += posting.signed_cents
        unbalanced = {currency: cents for currency, cents in totals.items() if cents != 0}
        if unbalanced:
            raise UnbalancedEntry(f"{self.reference}: debits and credits differ by {unbalanced}")

    def same_movement(self, other: JournalEntry) -> bool:
        """Same kind and same postings (order-insensitive); time and memo may differ between deliveries."""

        def key(entry: JournalEntry) -> list[tuple[str, str, str, int]]:
            return sorted((p.account, p.side, p.amount.currency, p.amount.cents) for p in entry.postings)

        return self.kind == other.kind and key(self) == key(other)

    def net_effect(self, account: Account, currency: str = DEFAULT_CURRENCY) -> Money:
        """How this entry changes ``account``'s balance (normal side), e.g. a commit's effect on the fund."""
        signed = sum(p.signed_cents for p in self.postings if p.account is account and p.amount.currency == currency)
        return Money(cents=normal_balance(account, signed), currency=currency)


_NOT_INFLOW = frozenset({EntryKind.COMMIT, EntryKind.RELEASE})


def fund_inflow(entry: JournalEntry) -> dict[str, int]:
    """Net member money the entry moves into the fund, per currency (negative for refunds and lost disputes).

    Commits and releases of rewards move money within the program, not into it, so they never count: this is the
    pace the public next-payout estimate projects (§4).
    """
    if entry.kind in _NOT_INFLOW:
        return {}
    flows: dict[str, int] = defaultdict(int)
    for posting in entry.postings:
        if posting.account is Account.FUND:
            flows[posting.amount.currency] -= posting.signed_cents
    return {currency: cents for currency, cents in flows.items() if cents}


def normal_balance(account: Account, debit_positive_cents: int) -> int:
    """A debit-positive amount expressed on the account's normal side (liabilities and revenue flip sign)."""
    return debit_positive_cents if account in DEBIT_NORMAL else -debit_positive_cents


@dataclass(frozen=True, slots=True, kw_only=True)
class Ledger:
    """An in-memory ledger value: posting returns a new ledger; the old one is unchanged.

    Adapters keep the real ledger in the database (unique reference, append-only); this value carries the same
    rules so they can be property-tested and so use cases can check a posting before writing it.
    """

    entries: tuple[JournalEntry, ...] = ()
    _by_reference: Mapping[str, JournalEntry] = field(default_factory=dict)
    _balances: Mapping[tuple[Account, str], int] = field(default_factory=dict)

    def post(self, entry: JournalEntry) -> Ledger:
        """Append ``entry``; a reference already posted with the same movement posts nothing.

        Raises ``LedgerConflict`` for a known reference with different postings and ``FundWouldGoNegative`` for
        a commit larger than the fund (refunds and lost disputes may still take the fund below zero: that money
        has really gone, and no round happens until the fund recovers).
        """
        existing = self._by_reference.get(entry.reference)
        if existing is not None:
            if existing.same_movement(entry):
                return self
            raise LedgerConflict(f"{entry.reference} was already posted with different postings")
        balances = dict(self._balances)
        for posting in entry.postings:
            key = (posting.account, posting.amount.currency)
            balances[key] = balances.get(key, 0) + posting.signed_cents
        if entry.kind is EntryKind.COMMIT:
            for currency in {p.amount.currency for p in entry.postings}:
                fund_after = normal_balance(Account.FUND, balances.get((Account.FUND, currency), 0))
                if fund_after < 0:
                    fund_before = self.balance(Account.FUND, currency)
                    raise FundWouldGoNegative(f"{entry.reference}: commit exceeds the fund ({fund_before})")
        by_reference = dict(self._by_reference)
        by_reference[entry.reference] = entry
        return Ledger(
            entries=(*self.entries, entry),
            _by_reference=MappingProxyType(by_reference),
            _balances=MappingProxyType(balances),
        )

    def post_all(self, entries: Iterable[JournalEntry]) -> Ledger:
        ledger = self
        for entry in entries:
            ledger = ledger.post(entry)
        return ledger

    def contains(self, reference: str) -> bool:
        return reference in self._by_reference

    def entry(self, reference: str) -> JournalEntry | None:
        return self._by_reference.get(reference)

    def balance(self, account: Account, currency: str = DEFAULT_CURRENCY) -> Money:
        """Balance on the account's normal side (may be negative, e.g. a fund drained by refunds)."""
        return Money(cents=normal_balance(account, self._balances.get((account, currency), 0)), currency=currency)

    @property
    def fund(self) -> Money:
        """The reward fund in the default currency (DOMAIN.md §7: the fund *is* this balance)."""
        return self.balance(Account.FUND)

    def trial_balance(self, currency: str = DEFAULT_CURRENCY) -> Money:
        """Sum of debit-positive balances over every account: zero in a sound ledger."""
        return Money(
            cents=sum(cents for (_, cur), cents in self._balances.items() if cur == currency),
            currency=currency,
        )


# -- builders: one per movement of DOMAIN.md §9 -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentSplit:
    """How one member payment was divided between the fund and the company (kept to reverse it pro rata)."""

    fund: Money
    company: Money

    @property
    def total(self) -> Money:
        return self.fund + self.company


def split_payment(amount: Money, rules: ProgramRules) -> PaymentSplit:
    """Fund share = ``fund_share_bps`` of the amount, rounded half-up; the remainder to the company."""
    if not amount.is_positive:
        raise UnbalancedEntry(f"a payment is positive; got {amount}")
    fund, company = amount.split(rules.fund_share_bps)
    return PaymentSplit(fund=fund, company=company)


def _lines(*postings: tuple[Side, Account, Money]) -> tuple[Posting, ...]:
    """Postings, dropping zero amounts (a 100 % fund share leaves the company nothing to credit)."""
    return tuple(
        Posting(account=account, side=side, amount=amount) for side, account, amount in postings if not amount.is_zero
    )


def _entry(reference: str, kind: EntryKind, at: datetime, *postings: tuple[Side, Account, Money]) -> JournalEntry:
    return JournalEntry(reference=reference, kind=kind, at=at, postings=_lines(*postings))


def payment_reference(invoice_id: str) -> str:
    return f"invoice:{invoice_id}:paid"


def payment_received(*, invoice_id: str, split: PaymentSplit, at: datetime) -> JournalEntry:
    """Payment P: Dr cash P / Cr fund P·s, Cr company_revenue rest."""
    return _entry(
        payment_reference(invoice_id),
        EntryKind.PAYMENT,
        at,
        (Side.DEBIT, Account.CASH, split.total),
        (Side.CREDIT, Account.FUND, split.fund),
        (Side.CREDIT, Account.COMPANY_REVENUE, split.company),
    )


def provider_fee(*, balance_transaction_id: str, fee: Money, at: datetime) -> JournalEntry:
    """Provider fee F: Dr processing_fees / Cr cash — fees are the company's cost, never the fund's."""
    return _entry(
        f"fee:{balance_transaction_id}",
        EntryKind.PROVIDER_FEE,
        at,
        (Side.DEBIT, Account.PROCESSING_FEES, fee),
        (Side.CREDIT, Account.CASH, fee),
    )


def _reversal_parts(original: PaymentSplit, already_reversed: Money, amount: Money) -> tuple[Money, Money]:
    """Pro-rata parts of one more reversal of a payment, exact in total across every refund and lost dispute."""
    if not amount.is_positive:
        raise UnbalancedEntry(f"a reversal is positive; got {amount}")
    if already_reversed.is_negative or already_reversed + amount > original.total:
        raise UnbalancedEntry(
            f"reversals of a payment cannot exceed it: {already_reversed} + {amount} > {original.total}"
        )
    fund, company = pro_rata_increment(already_reversed, amount, (original.fund, original.company))
    return fund, company


def refund_issued(
    *, refund_id: str, amount: Money, original: PaymentSplit, already_reversed: Money, at: datetime
) -> JournalEntry:
    """Refund R: reverse the original split pro rata — Dr fund, Dr company_revenue / Cr cash.

    ``already_reversed`` is what earlier refunds and lost disputes of the same payment reversed; allocating the
    cumulative total keeps the fund and company parts exact once the whole payment is reversed.
    """
    fund, company = _reversal_parts(original, already_reversed, amount)
    return _entry(
        f"refund:{refund_id}",
        EntryKind.REFUND,
        at,
        (Side.DEBIT, Account.FUND, fund),
        (Side.DEBIT, Account.COMPANY_REVENUE, company),
        (Side.CREDIT, Account.CASH, amount),
    )


def dispute_opened(*, dispute_id: str, amount: Money, at: datetime) -> JournalEntry:
    """Dispute opened: the provider withdraws the amount — Dr disputes_pending / Cr cash."""
    return _entry(
        f"dispute:{dispute_id}:opened",
        EntryKind.DISPUTE_OPENED,
        at,
        (Side.DEBIT, Account.DISPUTES_PENDING, amount),
        (Side.CREDIT, Account.CASH, amount),
    )


def dispute_lost(
    *, dispute_id: str, amount: Money, original: PaymentSplit, already_reversed: Money, at: datetime
) -> JournalEntry:
    """Dispute lost: the money is gone — Dr fund·s + company_revenue / Cr disputes_pending (pro rata, as a refund)."""
    fund, company = _reversal_parts(original, already_reversed, amount)
    return _entry(
        f"dispute:{dispute_id}:lost",
        EntryKind.DISPUTE_LOST,
        at,
        (Side.DEBIT, Account.FUND, fund),
        (Side.DEBIT, Account.COMPANY_REVENUE, company),
        (Side.CREDIT, Account.DISPUTES_PENDING, amount),
    )


def dispute_won(*, dispute_id: str, amount: Money, at: datetime) -> JournalEntry:
    """Dispute won: the provider returns the amount — the reverse of opening, Dr cash / Cr disputes_pending."""
    return _entry(
        f"dispute:{dispute_id}:won",
        EntryKind.DISPUTE_WON,
        at,
        (Side.DEBIT, Account.CASH, amount),
        (Side.CREDIT, Account.DISPUTES_PENDING, amount),
    )


def reward_committed(*, payout_id: str, gross: Money, at: datetime) -> JournalEntry:
    """Commit G at selection: Dr fund / Cr payouts_payable (the ledger refuses it if the fund is short)."""
    return _entry(
        f"payout:{payout_id}:commit",
        EntryKind.COMMIT,
        at,
        (Side.DEBIT, Account.FUND, gross),
        (Side.CREDIT, Account.PAYOUTS_PAYABLE, gross),
    )


def reward_released(*, payout_id: str, gross: Money, at: datetime) -> JournalEntry:
    """Release G on cancellation: the reward returns to the fund — Dr payouts_payable / Cr fund."""
    return _entry(
        f"payout:{payout_id}:release",
        EntryKind.RELEASE,
        at,
        (Side.DEBIT, Account.PAYOUTS_PAYABLE, gross),
        (Side.CREDIT, Account.FUND, gross),
    )


def withholding_recorded(*, payout_id: str, withholding: Money, at: datetime) -> JournalEntry:
    """At first PROCESSING: withholding W owed to the IRS — Dr payouts_payable / Cr withholding_payable."""
    return _entry(
        f"payout:{payout_id}:withholding",
        EntryKind.WITHHOLDING,
        at,
        (Side.DEBIT, Account.PAYOUTS_PAYABLE, withholding),
        (Side.CREDIT, Account.WITHHOLDING_PAYABLE, withholding),
    )


def retention_deducted(*, payout_id: str, deduction: Money, rules: ProgramRules, at: datetime) -> JournalEntry:
    """At first PROCESSING: retention D paid from the reward as dues — Dr payouts_payable / Cr fund D·s + company.

    ``rules`` is the payout's rules version: the deduction is split like the dues it stands for.
    """
    split = split_payment(deduction, rules)
    return _entry(
        f"payout:{payout_id}:retention",
        EntryKind.RETENTION_DEDUCTION,
        at,
        (Side.DEBIT, Account.PAYOUTS_PAYABLE, deduction),
        (Side.CREDIT, Account.FUND, split.fund),
        (Side.CREDIT, Account.COMPANY_REVENUE, split.company),
    )


def first_processing(
    *, payout_id: str, withholding: Money, retention_deduction: Money, rules: ProgramRules, at: datetime
) -> tuple[JournalEntry, ...]:
    """The entries of a payout's first PROCESSING (none for a zero withholding or a prepaid retention)."""
    entries: list[JournalEntry] = []
    if not withholding.is_zero:
        entries.append(withholding_recorded(payout_id=payout_id, withholding=withholding, at=at))
    if not retention_deduction.is_zero:
        entries.append(retention_deducted(payout_id=payout_id, deduction=retention_deduction, rules=rules, at=at))
    return tuple(entries)


def withholding_corrected(
    *, payout_id: str, correction: int, before: Money, after: Money, at: datetime
) -> JournalEntry:
    """A two-staff withholding correction (``correction`` numbers them): move the difference W_before − W_after.

    Less withheld: Dr withholding_payable / Cr payouts_payable (the winner is owed more); more: the reverse.
    """
    reference = f"payout:{payout_id}:withholding:correction:{correction}"
    if after < before:
        return _entry(
            reference,
            EntryKind.WITHHOLDING_CORRECTION,
            at,
            (Side.DEBIT, Account.WITHHOLDING_PAYABLE, before - after),
            (Side.CREDIT, Account.PAYOUTS_PAYABLE, before - after),
        )
    return _entry(
        reference,
        EntryKind.WITHHOLDING_CORRECTION,
        at,
        (Side.DEBIT, Account.PAYOUTS_PAYABLE, after - before),
        (Side.CREDIT, Account.WITHHOLDING_PAYABLE, after - before),
    )


def payout_completed(*, payout_id: str, attempt: int, net: Money, at: datetime) -> JournalEntry:
    """Completion N = G − W − D: Dr payouts_payable / Cr cash.

    ``attempt`` numbers the PROCESSING attempts of the payout: after an ACH return a payout may complete again,
    and that second completion is a different movement with its own reference.
    """
    return _entry(
        f"payout:{payout_id}:attempt:{attempt}:completed",
        EntryKind.COMPLETION,
        at,
        (Side.DEBIT, Account.PAYOUTS_PAYABLE, net),
        (Side.CREDIT, Account.CASH, net),
    )


def payout_returned(*, payout_id: str, attempt: int, net: Money, at: datetime) -> JournalEntry:
    """ACH return of attempt ``attempt``: the money comes back — Dr cash N / Cr payouts_payable."""
    return _entry(
        f"payout:{payout_id}:attempt:{attempt}:returned",
        EntryKind.ACH_RETURN,
        at,
        (Side.DEBIT, Account.CASH, net),
        (Side.CREDIT, Account.PAYOUTS_PAYABLE, net),
    )


def cancelled_before_processing(*, payout_id: str, gross: Money, at: datetime) -> tuple[JournalEntry, ...]:
    """Cancel from PENDING_APPROVAL, APPROVED or SCHEDULED: only the commitment is released."""
    return (reward_released(payout_id=payout_id, gross=gross, at=at),)


def cancelled_after_processing(
    *,
    payout_id: str,
    gross: Money,
    withholding: Money,
    retention_deduction: Money,
    rules: ProgramRules,
    at: datetime,
) -> tuple[JournalEntry, ...]:
    """Cancel after FAILED or RETURNED: reverse W and D, then release G (the net is back in payouts_payable)."""
    entries: list[JournalEntry] = []
    if not withholding.is_zero:
        entries.append(
            _entry(
                f"payout:{payout_id}:withholding:reversed",
                EntryKind.WITHHOLDING_REVERSAL,
                at,
                (Side.DEBIT, Account.WITHHOLDING_PAYABLE, withholding),
                (Side.CREDIT, Account.PAYOUTS_PAYABLE, withholding),
            )
        )
    if not retention_deduction.is_zero:
        split = split_payment(retention_deduction, rules)
        entries.append(
            _entry(
                f"payout:{payout_id}:retention:reversed",
                EntryKind.RETENTION_REVERSAL,
                at,
                (Side.DEBIT, Account.FUND, split.fund),
                (Side.DEBIT, Account.COMPANY_REVENUE, split.company),
                (Side.CREDIT, Account.PAYOUTS_PAYABLE, retention_deduction),
            )
        )
    entries.append(reward_released(payout_id=payout_id, gross=gross, at=at))
    return tuple(entries)


def withholding_remitted(*, remittance_id: str, amount: Money, at: datetime) -> JournalEntry:
    """Withholding paid to the IRS: Dr withholding_payable / Cr cash."""
    return _entry(
        f"withholding:{remittance_id}:remitted",
        EntryKind.WITHHOLDING_REMITTANCE,
        at,
        (Side.DEBIT, Account.WITHHOLDING_PAYABLE, amount),
        (Side.CREDIT, Account.CASH, amount),
    )
