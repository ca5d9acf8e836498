"""A whole small program driven by Hypothesis through the domain modules, checked against oracles written here.

Members join (sometimes activated late, so they are inserted mid-queue), are billed monthly through
``domain.billing`` (grace per invoice, past due, the default sweep, late truth), pay or fail, cure, cancel and
rejoin; payments carry provider fees and are refunded in part or in full, or disputed; KYC results, provider
redeliveries and staff decisions arrive; daily evaluations select winners; staff approve, change details,
schedule, process, complete, see ACH returns, correct withholding, remit it and cancel payouts.

The invariants never ask the domain to check itself. Each is an independent oracle kept in this file:

* eligibility is recomputed from the raw model (state, scheduled cancellation, open disputes, KYC status, age,
  country, validity, wins by person and fingerprint, other live memberships with the same fingerprint) and must
  agree with ``domain.eligibility`` for every queue member after every step; each round's winners must be the
  first ``min(fund // reward, oracle-eligible)`` oracle-eligible members in ``(tenure_start, member_number)``
  order, and everyone passed over must be oracle-ineligible;
* positions are kept incrementally here by the §4 rules (a leaver moves exactly those behind it up by one; a join
  at ``domain.queue.position_of`` moves exactly those at or behind it back by one) and compared with a full
  ``sorted()`` ranking and with ``domain.queue.positions`` after every step;
* every ledger account that matters is tracked here with plain integer arithmetic (fund, cash, fees, disputes,
  payables, withholding); before each commit the oracle fund decides whether the ledger must refuse it;
* billing status (past due, default due) is recomputed from the invoices' provider facts; late truth is decided
  here too and must match ``late_payment_decision``;
* no person and no identity fingerprint ever wins twice; a staff KYC decision is never overturned by the provider.

Scenarios that reach the identity paths (shared fingerprints, a past winner's rejoin, a reinstated membership of
a person who has since won) are driven deterministically in the example tests at the bottom, which assert that
each guarded situation really occurs.
"""

from __future__ import annotations

import calendar
import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.billing import (
    DefaultAction,
    Invoice,
    billing_status,
    default_decision,
    default_was_justified,
    dues_due_at,
    grace_ends_at,
    period_index,
    status_event,
)
from domain.eligibility import NOT_DISQUALIFYING, DisqualifyingReason, EligibilityFacts, eligibility, payouts_possible
from domain.errors import FundWouldGoNegative, PayoutRefused
from domain.kyc import (
    KycRecord,
    KycStatus,
    ProviderOutcome,
    ProviderResult,
    StaffDecision,
    apply_provider_result,
    may_start_attempt,
    staff_decide,
    start_attempt,
)
from domain.ledger import (
    Account,
    Ledger,
    PaymentSplit,
    cancelled_after_processing,
    cancelled_before_processing,
    dispute_lost,
    dispute_opened,
    dispute_won,
    first_processing,
    payment_received,
    payout_completed,
    payout_returned,
    provider_fee,
    refund_issued,
    reward_committed,
    split_payment,
    withholding_corrected,
    withholding_remitted,
)
from domain.membership import (
    LIVE_STATES,
    QUEUE_STATES,
    DisputeOutcome,
    LatePaymentAction,
    MembershipEvent,
    MembershipState,
    PaymentKind,
    ReversalDecision,
    ReversalEffect,
    cancellation_takes_effect,
    dispute_decision,
    late_payment_decision,
    may_join,
    refund_decision,
    schedule_cancellation,
    transition,
    undo_cancellation,
    winner_end_at,
)
from domain.money import Money
from domain.payouts import (
    Payout,
    PayoutStatus,
    ProcessingFacts,
    StaffMember,
    StaffRole,
    approve,
    cancel,
    change_details,
    check_return_window,
    complete,
    correct_withholding,
    counts_as_win,
    fail,
    mark_returned,
    new_payout,
    schedule,
    start_processing,
)
from domain.queue import QueueEntry, QueueKey, position_of, positions
from domain.rounds import NoRound, Snapshot, SnapshotEntry, round_key, select_round
from domain.rules import ProgramRules, RulesHistory

# Small amounts so a handful of members fund a round; still a valid rules version (net always positive). A 75 %
# fund share of 25.02 dues is 18.765 → 18.77: the half-up rounding is exercised on every dues payment.
RULES = ProgramRules(
    joining_fee=Money(cents=30_000),
    monthly_dues=Money(cents=2_502),
    reward=Money(cents=50_000),
    payout_threshold=Money(cents=50_000),
    fund_share_bps=7_500,
    launch_date=date(2024, 6, 1),
)
HISTORY = RulesHistory.of(RULES)
START = datetime(2025, 6, 1, 0, 30, tzinfo=UTC)
PAYOUTS_FROM = datetime(2025, 6, 1, tzinfo=UTC)  # launch + 12 months, written out here rather than derived

# The test's own copies of the numbers (the oracles never read them back from RULES' derived properties).
REWARD = 50_000
JOINING = 30_000
DUES = 2_502
SHARE_BPS = 7_500
WITHHOLDING_BPS = 2_400
RETENTION = 12 * DUES
GRACE = timedelta(days=30)
UNPAID_AFTER = timedelta(hours=24)
KYC_VALID_MONTHS = 24
MIN_AGE = 18
RETURN_WINDOW = timedelta(days=60)
DETAILS_HOLD = timedelta(hours=72)

PERSONS = ("p0", "p1", "p2", "p3", "p4", "p5", "p6")
IDENTITY = {"p0": "id_a", "p3": "id_a", "p1": "id_b", "p4": "id_b", "p2": "id_c", "p5": "id_e", "p6": "id_f"}
"""p0/p3 and p1/p4 are the same real person under two accounts: same identity fingerprint."""
DOB = dict.fromkeys(PERSONS, date(1990, 1, 1)) | {"p5": date(2007, 7, 15)}
"""p5 turns 18 on 2025-07-15 (from 12:00 UTC, D20): under age at the start of every run."""
COUNTRY = dict.fromkeys(PERSONS, "US") | {"p6": "CA"}

FIN1 = StaffMember(staff_id="s_fin1", roles=frozenset({StaffRole.FINANCE}))
FIN2 = StaffMember(staff_id="s_fin2", roles=frozenset({StaffRole.FINANCE}))
OPS1 = StaffMember(staff_id="s_ops1", roles=frozenset({StaffRole.SUPPORT}))
OPS2 = StaffMember(staff_id="s_ops2", roles=frozenset({StaffRole.COMPLIANCE}))
STAFF = (FIN1, FIN2, OPS1, OPS2)
CANCEL_REASONS = (*DisqualifyingReason, NOT_DISQUALIFYING)
APPROVABLE = (PayoutStatus.PENDING_APPROVAL, PayoutStatus.FAILED, PayoutStatus.RETURNED)
PROCESSABLE = (PayoutStatus.SCHEDULED, PayoutStatus.FAILED, PayoutStatus.RETURNED)
CANCELLABLE = (
    PayoutStatus.PENDING_APPROVAL,
    PayoutStatus.APPROVED,
    PayoutStatus.SCHEDULED,
    PayoutStatus.FAILED,
    PayoutStatus.RETURNED,
)
OPEN = tuple(s for s in PayoutStatus if s is not PayoutStatus.CANCELLED)
S = MembershipState
E = MembershipEvent


# -- the test's own arithmetic ------------------------------------------------------------------------------------


def half_up(cents: int, bps: int) -> int:
    """``bps`` of a non-negative amount, rounded half-up."""
    return (cents * bps + 5_000) // 10_000


def reversed_fund_part(total: int, fund: int, reversed_cents: int) -> int:
    """Fund part of the first ``reversed_cents`` reversed of a payment split (total, fund): half-up pro rata."""
    return (2 * reversed_cents * fund + total) // (2 * total)


def fee_of(cents: int) -> int:
    """The provider's fee (2.9 % + 30 c)."""
    return half_up(cents, 290) + 30


def plus_months(at: datetime, months: int) -> datetime:
    years, month0 = divmod(at.month - 1 + months, 12)
    year = at.year + years
    day = min(at.day, calendar.monthrange(year, month0 + 1)[1])
    return at.replace(year=year, month=month0 + 1, day=day)


def age_years(dob: date, at: datetime) -> int:
    """Completed years on the earliest local date anywhere (UTC−12): nobody is of age a day early."""
    local = (at - timedelta(hours=12)).date()
    return local.year - dob.year - ((local.month, local.day) < (dob.month, dob.day))


def unpaid_at(invoice: Invoice, at: datetime) -> bool:
    if invoice.paid_at is None or invoice.paid_at > at:
        return True
    return invoice.reversed_at is not None and invoice.reversed_at <= at


def own_grace_start(invoice: Invoice) -> datetime:
    if invoice.reversed_at is not None:
        return invoice.reversed_at
    unpaid_after = invoice.due_at + UNPAID_AFTER
    return unpaid_after if invoice.first_failed_at is None else min(invoice.first_failed_at, unpaid_after)


def own_grace_end(invoice: Invoice) -> datetime:
    return own_grace_start(invoice) + GRACE


# -- the model ----------------------------------------------------------------------------------------------------


@dataclass
class Member:
    membership_id: str
    person: str
    member_number: int
    tenure_start: datetime
    state: MembershipState = S.PENDING
    invoices: dict[str, Invoice] = field(default_factory=dict)
    invoice_payment: dict[str, str] = field(default_factory=dict)
    """invoice id → the payment currently settling it."""
    next_dues: int = 1
    card_ok: bool = True
    cancel_effective_at: datetime | None = None
    defaulted_at: datetime | None = None
    retention_prepaid: bool = False
    joining_payment: str = ""

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.tenure_start, self.member_number)


@dataclass
class Payment:
    payment_id: str
    membership_id: str
    kind: PaymentKind
    split: PaymentSplit
    cents: int
    fund_cents: int
    invoice_id: str | None = None
    reversed_cents: int = 0
    dispute: tuple[str, int] | None = None

    @property
    def remaining(self) -> int:
        return self.cents - self.reversed_cents


@dataclass
class Win:
    payout: Payout
    person: str
    fingerprint: str
    approvers: dict[str, bool] = field(default_factory=dict)
    """staff id → has the finance role (the test's own record of approvals since the last details change)."""
    first_approved: bool = False
    hold_until: datetime | None = None
    withholding: int | None = None
    retention: int | None = None
    remitted: int = 0

    @property
    def counts(self) -> bool:
        cancellation = self.payout.cancellation
        return cancellation is None or cancellation.disqualifying

    @property
    def net(self) -> int:
        assert self.withholding is not None
        assert self.retention is not None
        return REWARD - self.withholding - self.retention


class ProgramMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.ledger = Ledger()
        self.members: dict[str, Member] = {}
        self.payments: dict[str, Payment] = {}
        self.kyc: dict[str, KycRecord] = {p: KycRecord() for p in PERSONS}
        self.kyc_starts: dict[str, list[datetime]] = {p: [] for p in PERSONS}
        self.staff_decided: dict[str, tuple[str, KycStatus]] = {}
        self.details_on_file: dict[str, bool] = dict.fromkeys(PERSONS, False)
        self.w9: dict[str, bool] = dict.fromkeys(PERSONS, False)
        self.wins: dict[str, Win] = {}
        self.evaluated_days: set[date] = set()
        self.positions: dict[str, int] = {}
        self.next_number = 1
        self.counter = 0
        self.seen: Counter[str] = Counter()
        # the oracle's ledger, in plain integers
        self.fund = 0
        self.cash = 0
        self.fees = 0
        self.disputes_pending = 0

    # -- helpers ----------------------------------------------------------------------------------------------

    def note(self, what: str) -> None:
        self.seen[what] += 1
        if currently_in_test_context():
            event(what)

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _post(self, *entries: object) -> None:
        self.ledger = self.ledger.post_all(entries)  # type: ignore[arg-type]

    def _pick(self, items: list[str], index: int) -> str:
        return sorted(items)[index % len(items)]

    def _queue(self) -> list[Member]:
        return [m for m in self.members.values() if m.state in QUEUE_STATES]

    def _live_of(self, person: str) -> list[Member]:
        return [m for m in self.members.values() if m.person == person and m.state in LIVE_STATES]

    def _disputed(self, member: Member) -> bool:
        return any(p.dispute for p in self.payments.values() if p.membership_id == member.membership_id)

    def _person_won(self, person: str) -> bool:
        return any(w.counts and w.person == person for w in self.wins.values())

    def _fingerprint_won(self, fingerprint: str | None) -> bool:
        return fingerprint is not None and any(w.counts and w.fingerprint == fingerprint for w in self.wins.values())

    def _wins_in(self, *statuses: PayoutStatus) -> list[str]:
        return [pid for pid, w in self.wins.items() if w.payout.status in statuses]

    # -- queue membership changes, kept incrementally -----------------------------------------------------------

    def _apply(self, member: Member, ev: MembershipEvent) -> None:
        was_queued = member.state in QUEUE_STATES
        member.state = transition(member.state, ev)
        queued = member.state in QUEUE_STATES
        if was_queued and not queued:
            self._leave([member])
        elif queued and not was_queued:
            self._enter(member)

    def _leave(self, leaving: list[Member]) -> None:
        size = len(self.positions)
        old = [self.positions.pop(m.membership_id) for m in leaving]
        assert len(set(old)) == len(old)
        assert all(1 <= p <= size for p in old)
        # §4: everyone behind a leaver moves up by exactly one per leaver ahead of them; nobody else moves.
        self.positions = {mid: p - sum(1 for gone in old if gone < p) for mid, p in self.positions.items()}
        assert len(self.positions) == size - len(leaving)

    def _enter(self, member: Member) -> None:
        keys = [
            QueueKey(tenure_start=self.members[mid].tenure_start, member_number=self.members[mid].member_number)
            for mid in self.positions
        ]
        inserted_at = position_of(QueueKey(tenure_start=member.tenure_start, member_number=member.member_number), keys)
        assert 1 <= inserted_at <= len(keys) + 1
        # §4: a late activation goes where its tenure belongs; exactly those at or behind that place move back by one.
        self.positions = {mid: p + 1 if p >= inserted_at else p for mid, p in self.positions.items()}
        self.positions[member.membership_id] = inserted_at
        if inserted_at <= len(keys):
            self.note("queue: inserted mid-queue")

    # -- money in -----------------------------------------------------------------------------------------------

    def _pay(self, member: Member, kind: PaymentKind, cents: int, invoice_id: str | None = None) -> Payment:
        payment_id = self._next("ch_")
        split = split_payment(Money(cents=cents), RULES)
        entry = payment_received(invoice_id=payment_id, split=split, at=self.now)
        self._post(entry)
        # The webhook, the checkout redirect and reconciliation all deliver it: the same reference posts nothing.
        again = payment_received(invoice_id=payment_id, split=split, at=self.now + timedelta(minutes=5))
        assert self.ledger.post(again) is self.ledger
        fee = fee_of(cents)
        self._post(provider_fee(balance_transaction_id=f"txn_{payment_id}", fee=Money(cents=fee), at=self.now))
        share = half_up(cents, SHARE_BPS)
        self.fund += share
        self.cash += cents - fee
        self.fees += fee
        payment = Payment(
            payment_id=payment_id,
            membership_id=member.membership_id,
            kind=kind,
            split=split,
            cents=cents,
            fund_cents=share,
            invoice_id=invoice_id,
        )
        self.payments[payment_id] = payment
        if invoice_id is not None:
            member.invoice_payment[invoice_id] = payment_id
        return payment

    def _refund(self, payment: Payment, cents: int) -> ReversalDecision:
        before = payment.reversed_cents
        self._post(
            refund_issued(
                refund_id=self._next("re_"),
                amount=Money(cents=cents),
                original=payment.split,
                already_reversed=Money(cents=before),
                at=self.now,
            )
        )
        payment.reversed_cents += cents
        self.fund -= reversed_fund_part(payment.cents, payment.fund_cents, payment.reversed_cents) - (
            reversed_fund_part(payment.cents, payment.fund_cents, before)
        )
        self.cash -= cents
        member = self.members[payment.membership_id]
        decision = refund_decision(
            state=member.state,
            kind=payment.kind,
            refunded=Money(cents=payment.reversed_cents),
            payment=Money(cents=payment.cents),
        )
        if payment.reversed_cents < payment.cents:
            assert decision.effect is ReversalEffect.LEDGER_ONLY, "a partial refund only posts to the ledger"
        return decision

    def _reversal_effect(self, payment: Payment, decision: ReversalDecision) -> None:
        member = self.members[payment.membership_id]
        if decision.effect is ReversalEffect.PERIOD_UNPAID:
            invoice_id = payment.invoice_id
            assert invoice_id is not None
            if member.invoice_payment.get(invoice_id) == payment.payment_id:
                member.invoices[invoice_id] = replace(member.invoices[invoice_id], reversed_at=self.now)
                self.note("billing: period unpaid after full reversal")
            self._sync(member)
        elif decision.effect is ReversalEffect.CANCEL_MEMBERSHIP:
            assert decision.event is not None
            self._apply(member, decision.event)
            self.note("membership: joining payment reversed")
        elif decision.effect is ReversalEffect.DISQUALIFY_WINNER:
            self.note("payout: winner's joining payment reversed")

    # -- billing through domain.billing -------------------------------------------------------------------------

    def _bill(self, member: Member) -> None:
        """Issue the dues invoices that fell due; a working card pays each at its due time."""
        while (due := dues_due_at(member.tenure_start, member.next_dues)) <= self.now:
            invoice_id = f"in_{member.membership_id}_{member.next_dues}"
            member.next_dues += 1
            if member.card_ok:
                member.invoices[invoice_id] = Invoice(
                    invoice_id=invoice_id, rules_version=RULES.version, due_at=due, paid_at=due
                )
                self._pay(member, PaymentKind.DUES, DUES, invoice_id)
            else:
                member.invoices[invoice_id] = Invoice(
                    invoice_id=invoice_id, rules_version=RULES.version, due_at=due, first_failed_at=due
                )
                self.note("billing: payment failed")

    def _resume_billing(self, member: Member) -> None:
        """Back in the queue after a pause (payout cancelled, reinstated): the months in between are waived."""
        member.next_dues = max(member.next_dues, period_index(member.tenure_start, self.now) + 1)

    def _sync(self, member: Member) -> None:
        """Bring the state in line with the invoices, and run the default sweep for this membership."""
        if member.state not in QUEUE_STATES:
            return
        invoices = list(member.invoices.values())
        status = billing_status(invoices, HISTORY, self.now)
        ev = status_event(member.state, status)
        if ev is not None:
            self._apply(member, ev)
            self.note(f"billing: {ev.value}")
        decision = default_decision(
            state=member.state,
            invoices=invoices,
            history=HISTORY,
            now=self.now,
            invoices_refreshed=True,
            unprocessed_provider_events=False,
        )
        if decision.action is DefaultAction.DEFAULT:
            if member.state is S.ACTIVE:
                self._apply(member, E.BECOME_PAST_DUE)
            self._apply(member, E.DEFAULT)
            member.defaulted_at = self.now
            self.note("billing: defaulted")

    # -- membership ---------------------------------------------------------------------------------------------

    def _join(self, person: str, late_hours: int = 0) -> Member | None:
        earlier = [m.state for m in self.members.values() if m.person == person]
        decision = may_join(
            earlier_states=earlier,
            person_has_won=any(counts_as_win(w.payout) and w.person == person for w in self.wins.values()),
            identity_has_won=self._fingerprint_won(self.kyc[person].fingerprint),
        )
        person_won = self._person_won(person) or any(s in (S.WON, S.PAID, S.ENDED) for s in earlier)
        identity_won = self._fingerprint_won(self.kyc[person].fingerprint)
        expected = not any(s in LIVE_STATES for s in earlier) and not person_won and not identity_won
        assert decision.ok == expected, (person, decision)
        if not decision.ok:
            if person_won or identity_won:
                self.note("join: refused after a win")
            return None
        if earlier:
            self.note("join: rejoin")
        paid_at = self.now - timedelta(hours=late_hours)  # a late activation keeps the provider's paid-at
        member = Member(
            membership_id=self._next("m_"), person=person, member_number=self.next_number, tenure_start=paid_at
        )
        self.next_number += 1
        self.members[member.membership_id] = member
        member.joining_payment = self._pay(member, PaymentKind.JOINING, JOINING).payment_id
        self._apply(member, E.ACTIVATE)
        return member

    def _kyc_attempt(self, person: str, outcome: ProviderOutcome) -> None:
        record = self.kyc[person]
        if not may_start_attempt(record=record, previous_starts=self.kyc_starts[person], now=self.now, rules=RULES).ok:
            return
        attempt = self._next("kyc_")
        record = start_attempt(record, attempt_id=attempt, now=self.now)
        self.kyc_starts[person].append(self.now)
        fingerprint = IDENTITY[person]
        conflict = self._fingerprint_won(fingerprint) or any(
            other != person
            and self.kyc[other].fingerprint == fingerprint
            and (self._live_of(other) or self._person_won(other))
            for other in PERSONS
        )
        result = ProviderResult(
            attempt_id=attempt,
            outcome=outcome,
            occurred_at=self.now,
            date_of_birth=DOB[person],
            country=COUNTRY[person],
            fingerprint=fingerprint,
        )
        update = apply_provider_result(record, result, fingerprint_conflict=conflict, profile_date_of_birth=DOB[person])
        self.kyc[person] = update.record
        if conflict and outcome is ProviderOutcome.VERIFIED:
            assert update.record.status is KycStatus.NEEDS_REVIEW
            self.note("kyc: duplicate identity sent to review")

    def _staff_kyc(self, person: str, *, approve_it: bool, two_staff: bool) -> bool:
        record = self.kyc[person]
        position = next(
            (self.positions[m.membership_id] for m in self._live_of(person) if m.membership_id in self.positions), None
        )
        outcome = staff_decide(
            record,
            decision=StaffDecision.APPROVE if approve_it else StaffDecision.REJECT,
            staff_ids=["s_ops1", "s_ops2"] if two_staff else ["s_ops1"],
            queue_position=position,
            at=self.now,
            rules=RULES,
        )
        if position is not None and position <= 10 and not two_staff:
            assert not outcome.ok, "a decision on a top-10 member needs two staff"
        if outcome.ok:
            self.kyc[person] = outcome.record
            if record.attempt_id is not None:
                self.staff_decided[person] = (record.attempt_id, outcome.record.status)
            self.note(f"kyc: staff {'approved' if approve_it else 'rejected'}")
        return outcome.ok

    @initialize(
        verified_first=st.sets(st.sampled_from(PERSONS), max_size=4),
        joiners=st.lists(st.sampled_from(PERSONS), min_size=2, max_size=6, unique=True),
        verified_after=st.sets(st.sampled_from(PERSONS), max_size=4),
        race=st.one_of(st.just(0), st.integers(1, 10**6)),
    )
    def seed(self, verified_first: set[str], joiners: list[str], verified_after: set[str], race: int = 0) -> None:
        """Some verify before joining (so persons sharing a fingerprint can both be VERIFIED), then join."""
        for person in sorted(verified_first):
            self._kyc_attempt(person, ProviderOutcome.VERIFIED)
        for person in joiners:
            self._join(person)
        for person in sorted(verified_after):
            self._kyc_attempt(person, ProviderOutcome.VERIFIED)
        self._evaluate(race)

    @rule(person=st.sampled_from(PERSONS), late_hours=st.sampled_from([0, 0, 0, 30, 400]))
    def join(self, person: str, late_hours: int) -> None:
        self._join(person, late_hours)

    @precondition(lambda self: self._queue())
    @rule(index=st.integers(0, 99), ok=st.booleans())
    def card(self, index: int, ok: bool) -> None:
        """The card starts failing, or the member fixes it and pays every unpaid invoice now (a cure)."""
        member = self.members[self._pick([m.membership_id for m in self._queue()], index)]
        member.card_ok = ok
        if not ok:
            return
        for invoice_id, invoice in list(member.invoices.items()):
            if unpaid_at(invoice, self.now):
                member.invoices[invoice_id] = replace(invoice, paid_at=self.now, reversed_at=None)
                self._pay(member, PaymentKind.DUES, DUES, invoice_id)
        self._sync(member)

    @precondition(lambda self: self._queue())
    @rule(index=st.integers(0, 99), undo=st.booleans())
    def member_cancellation(self, index: int, undo: bool) -> None:
        """Schedule a voluntary cancellation (end of period), or undo one before it takes effect."""
        member = self.members[self._pick([m.membership_id for m in self._queue()], index)]
        if undo:
            decision = undo_cancellation(
                state=member.state, scheduled_effective_at=member.cancel_effective_at, now=self.now
            )
            if decision.ok:
                member.cancel_effective_at = None
            return
        scheduled = schedule_cancellation(
            state=member.state,
            anchor=member.tenure_start,
            now=self.now,
            scheduled_at=self.now if member.cancel_effective_at else None,
        )
        if scheduled.ok:
            member.cancel_effective_at = scheduled.effective_at

    @precondition(lambda self: any(m.state in (S.ACTIVE, S.PAST_DUE, S.WON) for m in self.members.values()))
    @rule(index=st.integers(0, 99))
    def prepay_retention(self, index: int) -> None:
        candidates = [
            m.membership_id
            for m in self.members.values()
            if m.state in (S.ACTIVE, S.PAST_DUE, S.WON) and not m.retention_prepaid
        ]
        if candidates:
            member = self.members[self._pick(candidates, index)]
            self._pay(member, PaymentKind.RETENTION, RETENTION)
            member.retention_prepaid = True

    @rule(
        person=st.sampled_from(PERSONS),
        outcome=st.sampled_from([ProviderOutcome.VERIFIED, ProviderOutcome.VERIFIED, ProviderOutcome.FAILED]),
    )
    def kyc_attempt(self, person: str, outcome: ProviderOutcome) -> None:
        self._kyc_attempt(person, outcome)

    @rule(
        person=st.sampled_from(PERSONS),
        outcome=st.sampled_from([ProviderOutcome.VERIFIED, ProviderOutcome.FAILED, ProviderOutcome.NEEDS_REVIEW]),
        minutes=st.sampled_from([0, 1, 90]),
        after_staff=st.booleans(),
    )
    def kyc_provider_redelivers(self, person: str, outcome: ProviderOutcome, minutes: int, after_staff: bool) -> None:
        """A later provider status for the current attempt (provider-side review, a resent webhook), possibly
        for a person on whom staff decided."""
        decided = sorted(p for p, (attempt, _) in self.staff_decided.items() if self.kyc[p].attempt_id == attempt)
        if after_staff and decided:
            person = decided[PERSONS.index(person) % len(decided)]
        if minutes:
            self._advance(timedelta(minutes=minutes))
        record = self.kyc[person]
        if record.attempt_id is None:
            return
        result = ProviderResult(
            attempt_id=record.attempt_id,
            outcome=outcome,
            occurred_at=self.now,
            date_of_birth=DOB[person],
            country=COUNTRY[person],
            fingerprint=IDENTITY[person],
        )
        conflict = self._fingerprint_won(IDENTITY[person]) or any(
            other != person
            and self.kyc[other].fingerprint == IDENTITY[person]
            and (self._live_of(other) or self._person_won(other))
            for other in PERSONS
        )
        update = apply_provider_result(record, result, fingerprint_conflict=conflict, profile_date_of_birth=DOB[person])
        decided = self.staff_decided.get(person)
        if decided is not None and decided[0] == record.attempt_id:
            assert update.record == record, "a staff decision stands over the provider"
            assert not update.applied
            self.note("kyc: staff decision stands")
        self.kyc[person] = update.record

    @rule(
        person=st.sampled_from(PERSONS),
        approve_it=st.booleans(),
        two_staff=st.booleans(),
        under_review=st.booleans(),
    )
    def kyc_staff_decision(self, person: str, approve_it: bool, two_staff: bool, under_review: bool) -> None:
        """Staff approve or reject a verification (one of those waiting in review, if asked and there is one)."""
        waiting = [p for p in PERSONS if self.kyc[p].status is KycStatus.NEEDS_REVIEW]
        if under_review and waiting:
            person = waiting[PERSONS.index(person) % len(waiting)]
        self._staff_kyc(person, approve_it=approve_it, two_staff=two_staff)

    @rule(
        hours=st.one_of(st.integers(1, 72), st.integers(24 * 20, 24 * 45)),
        race=st.one_of(st.just(0), st.integers(1, 10**6), st.integers(1, 10**6)),
    )
    def time_passes(self, hours: int, race: int) -> None:
        """Time passes and the sweeps run: invoices, past due, defaults, cancellations, winners ending, the round."""
        self._advance(timedelta(hours=hours), race)

    def _advance(self, delta: timedelta, race: int = 0) -> None:
        self.now += delta
        for member in list(self.members.values()):
            if member.state in QUEUE_STATES:
                self._bill(member)
                self._sync(member)
        for member in self.members.values():
            if cancellation_takes_effect(
                state=member.state, scheduled_effective_at=member.cancel_effective_at, now=self.now
            ):
                self._apply(member, E.CANCEL)
                self.note("membership: cancelled")
        for win in self.wins.values():
            payout = win.payout
            member = self.members[payout.membership_id]
            if member.state is S.PAID and payout.completed_at is not None:
                end = winner_end_at(
                    selected_at=payout.selected_at, completed_at=payout.completed_at, retention_months=12
                )
                assert end == max(plus_months(payout.selected_at, 12), payout.completed_at + RETURN_WINDOW)
                if self.now >= end:
                    self._apply(member, E.END)
                    self.note("membership: ended after win")
        self._evaluate(race)

    # -- late truth ---------------------------------------------------------------------------------------------

    def _defaulted_with_unpaid(self) -> list[str]:
        return [
            m.membership_id
            for m in self.members.values()
            if m.state is S.DEFAULTED and any(i.paid_at is None for i in m.invoices.values())
        ]

    @precondition(lambda self: self._defaulted_with_unpaid())
    @rule(index=st.integers(0, 99), in_time=st.booleans(), hours=st.integers(0, 48))
    def late_payment_arrives(self, index: int, in_time: bool, hours: int) -> None:
        """A payment we learn of only now, after the default; its provider paid-at is before or after grace end."""
        member = self.members[self._pick(self._defaulted_with_unpaid(), index)]
        self._late_payment(member, in_time=in_time, hours=hours)

    def _late_payment(self, member: Member, *, in_time: bool, hours: int) -> LatePaymentAction:
        assert member.defaulted_at is not None
        invoice = min((i for i in member.invoices.values() if i.paid_at is None), key=own_grace_end)
        end = own_grace_end(invoice)
        paid_at = end - timedelta(hours=hours) if in_time else end + timedelta(hours=hours + 1)
        paid_at = max(invoice.due_at, min(paid_at, self.now))
        paid = replace(invoice, paid_at=paid_at)
        after = {**member.invoices, invoice.invoice_id: paid}
        joining = self.payments[member.joining_payment]
        joining_reversed = joining.reversed_cents == joining.cents
        # the oracle: in time, no other invoice still justifies the default, and the person has not rejoined
        still = any(unpaid_at(i, own_grace_end(i)) and own_grace_end(i) < member.defaulted_at for i in after.values())
        rejoined = any(
            other is not member and other.person == member.person and other.state in LIVE_STATES
            for other in self.members.values()
        )
        expected_reinstate = paid_at <= end and not still and not joining_reversed and not rejoined
        decision = late_payment_decision(
            state=member.state,
            paid_at=paid_at,
            grace_ends_at=grace_ends_at(invoice, RULES),
            default_still_justified=default_was_justified(after.values(), HISTORY, member.defaulted_at),
            joining_payment_reversed=joining_reversed,
            person_has_other_live_membership=rejoined,
        )
        assert (decision.action is LatePaymentAction.REINSTATE) == expected_reinstate, decision
        payment = self._pay(member, PaymentKind.DUES, DUES, invoice.invoice_id)
        if decision.action is LatePaymentAction.REINSTATE:
            member.invoices = after
            member.defaulted_at = None
            member.card_ok = True
            self._apply(member, E.REINSTATE)
            self._resume_billing(member)
            self.note("late truth: reinstated")
            self._sync(member)
        else:
            assert decision.action is LatePaymentAction.REFUND
            self._refund(payment, payment.cents)
            self.note("late truth: refunded")
        return decision.action

    # -- refunds and disputes -----------------------------------------------------------------------------------

    def _refundable(self) -> list[str]:
        return [
            p.payment_id
            for p in self.payments.values()
            if p.remaining > 0 and p.dispute is None and p.kind is not PaymentKind.RETENTION
        ]

    @precondition(lambda self: self._refundable())
    @rule(index=st.integers(0, 999), full=st.booleans(), seed=st.integers(0, 10**6))
    def refund(self, index: int, full: bool, seed: int) -> None:
        """A full or partial refund of the rest of a payment (cumulative ``already_reversed``)."""
        payment = self.payments[self._pick(self._refundable(), index)]
        remaining = payment.remaining
        cents = remaining if full or remaining == 1 else 1 + seed % (remaining - 1)
        self.note("refund: full" if payment.reversed_cents + cents == payment.cents else "refund: partial")
        if payment.reversed_cents and payment.reversed_cents + cents == payment.cents:
            self.note("refund: completes earlier partial refunds")
        self._reversal_effect(payment, self._refund(payment, cents))

    def _disputable(self) -> list[str]:
        return [p.payment_id for p in self.payments.values() if p.remaining > 0 and p.dispute is None]

    @precondition(lambda self: self._disputable())
    @rule(index=st.integers(0, 999), of_a_winner=st.booleans())
    def dispute_opened(self, index: int, of_a_winner: bool) -> None:
        """A card holder disputes a payment (of a winner, if asked and there is one: it must block processing)."""
        candidates = self._disputable()
        winners = [pid for pid in candidates if self.members[self.payments[pid].membership_id].state is S.WON]
        payment = self.payments[self._pick(winners if of_a_winner and winners else candidates, index)]
        dispute_id = self._next("dp_")
        amount = payment.remaining
        self._post(dispute_opened(dispute_id=dispute_id, amount=Money(cents=amount), at=self.now))
        payment.dispute = (dispute_id, amount)
        self.cash -= amount
        self.disputes_pending += amount
        self.note("dispute: opened")

    def _disputed_payments(self) -> list[str]:
        return [p.payment_id for p in self.payments.values() if p.dispute is not None]

    @precondition(lambda self: self._disputed_payments())
    @rule(index=st.integers(0, 99), won=st.booleans())
    def dispute_closed(self, index: int, won: bool) -> None:
        payment = self.payments[self._pick(self._disputed_payments(), index)]
        assert payment.dispute is not None
        dispute_id, amount = payment.dispute
        payment.dispute = None
        self.disputes_pending -= amount
        if won:
            self._post(dispute_won(dispute_id=dispute_id, amount=Money(cents=amount), at=self.now))
            self.cash += amount
            return
        before = payment.reversed_cents
        self._post(
            dispute_lost(
                dispute_id=dispute_id,
                amount=Money(cents=amount),
                original=payment.split,
                already_reversed=Money(cents=before),
                at=self.now,
            )
        )
        payment.reversed_cents += amount
        self.fund -= reversed_fund_part(payment.cents, payment.fund_cents, payment.reversed_cents) - (
            reversed_fund_part(payment.cents, payment.fund_cents, before)
        )
        member = self.members[payment.membership_id]
        decision = dispute_decision(state=member.state, kind=payment.kind, outcome=DisputeOutcome.LOST)
        self._reversal_effect(payment, decision)

    # -- eligibility: the domain's answer and the oracle's ------------------------------------------------------

    def _facts(self, member: Member) -> EligibilityFacts:
        kyc = self.kyc[member.person]
        fingerprint = kyc.fingerprint
        return EligibilityFacts(
            state=member.state,
            tenure_start=member.tenure_start,
            cancellation_scheduled=member.cancel_effective_at is not None,
            open_dispute=self._disputed(member),
            kyc=kyc,
            person_has_won=any(counts_as_win(w.payout) and w.person == member.person for w in self.wins.values()),
            identity_has_won=fingerprint is not None
            and any(counts_as_win(w.payout) and w.fingerprint == fingerprint for w in self.wins.values()),
            identity_has_other_live_membership=fingerprint is not None
            and any(
                other is not member and other.state in LIVE_STATES and self.kyc[other.person].fingerprint == fingerprint
                for other in self.members.values()
            ),
        )

    def oracle_reasons(self, member: Member, at: datetime) -> set[str]:
        """DOMAIN.md §6 written out from the raw model, without ``domain.eligibility``."""
        reasons: set[str] = set()
        if member.state is S.PAST_DUE:
            reasons.add("past_due")
        elif member.state is not S.ACTIVE:
            reasons.add("not_active")
        if member.cancel_effective_at is not None:
            reasons.add("cancellation_scheduled")
        if any(p.dispute for p in self.payments.values() if p.membership_id == member.membership_id):
            reasons.add("payment_disputed")
        kyc = self.kyc[member.person]
        if kyc.status is not KycStatus.VERIFIED or kyc.verified_at is None:
            reasons.add("kyc_not_verified")
        else:
            if at > plus_months(kyc.verified_at, KYC_VALID_MONTHS):
                reasons.add("kyc_expired")
            if kyc.country != "US":
                reasons.add("kyc_not_us")
            if kyc.date_of_birth is None:
                reasons.add("age_unknown")
            elif age_years(kyc.date_of_birth, at) < MIN_AGE:
                reasons.add("under_age")
            if kyc.fingerprint is None:
                reasons.add("identity_unknown")
        won = [w for w in self.wins.values() if w.payout.cancellation is None or w.payout.cancellation.disqualifying]
        if any(w.person == member.person for w in won):
            reasons.add("already_won")
        fingerprint = kyc.fingerprint
        if fingerprint is not None:
            if any(w.fingerprint == fingerprint for w in won):
                reasons.add("identity_already_won")
            for other in self.members.values():
                if (
                    other.membership_id != member.membership_id
                    and other.state in (S.PENDING, S.ACTIVE, S.PAST_DUE, S.WON, S.PAID)
                    and self.kyc[other.person].fingerprint == fingerprint
                ):
                    reasons.add("duplicate_identity")
        return reasons

    # -- rounds ---------------------------------------------------------------------------------------------------

    @rule(race=st.one_of(st.just(0), st.integers(1, 10**6)))
    def evaluation_triggered_by_admin(self, race: int) -> None:
        """The same evaluation as the 00:30 job; ``race`` = a partial refund lands between snapshot and commit."""
        self._evaluate(race)

    def _race_refund(self, seed: int, racing: tuple[str, int] | None) -> None:
        """Partial refunds (ledger only) posted by provider webhooks between the snapshot and the commits."""
        if racing is not None:
            self._refund(self.payments[racing[0]], racing[1])
        else:
            candidates = sorted(
                (self.payments[pid] for pid in self._refundable() if self.payments[pid].remaining >= 2),
                key=lambda p: (-p.remaining, p.payment_id),
            )
            if not candidates:
                return
            if seed % 2:  # the largest payments, almost all of each: the likeliest to leave the fund short
                for payment in candidates[: 1 + seed % 3]:
                    self._refund(payment, payment.remaining - 1)
            else:
                payment = candidates[seed % len(candidates)]
                self._refund(payment, 1 + seed % (payment.remaining - 1))
        self.note("round: refund raced the commit")

    def _evaluate(self, race: int = 0, racing: tuple[str, int] | None = None) -> None:
        key = round_key(self.now)
        if key in self.evaluated_days:
            return  # the unique round key: a second evaluation the same day selects nothing
        possible = payouts_possible(
            at=self.now,
            rules=RULES,
            fund=self.ledger.fund,
            frozen=False,
            inbox_backlog=False,
            last_reconciliation_at=self.now,
        )
        assert possible.ok == (self.now >= PAYOUTS_FROM and self.fund >= REWARD), possible
        if not possible.ok:
            return
        queue = sorted(self._queue(), key=lambda m: m.key)  # the oracle's own ranking
        entries = []
        oracle_ok = []
        for position, member in enumerate(queue, start=1):
            verdict = eligibility(self._facts(member), RULES, self.now)
            entries.append(
                SnapshotEntry(
                    position=position,
                    member_number=member.member_number,
                    tenure_start=member.tenure_start,
                    eligible=verdict.ok,
                    reasons=tuple(verdict.reasons),
                )
            )
            oracle_ok.append(not self.oracle_reasons(member, self.now))
        snapshot = Snapshot(round_key=key, entries=tuple(entries))
        salts = {e.member_number: hashlib.sha256(str(e.member_number).encode()).digest() for e in entries}
        fund_before = self.fund
        result = select_round(snapshot=snapshot, fund=self.ledger.fund, rules=RULES, salts=salts)
        expected_count = min(fund_before // REWARD, sum(oracle_ok))
        expected = [m.member_number for m, ok in zip(queue, oracle_ok, strict=True) if ok][:expected_count]
        if isinstance(result, NoRound):
            assert expected_count == 0, f"no round, but the oracle expects winners {expected}"
            self.note("round: none (nobody eligible)")
            return
        winners = [w.member_number for w in result.winners]
        assert winners == expected, f"winners {winners}, oracle expects {expected}"
        last = next(i for i, m in enumerate(queue) if m.member_number == winners[-1])
        for member, ok in zip(queue[:last], oracle_ok[:last], strict=True):
            if member.member_number not in winners:
                assert not ok, f"#{member.member_number} was passed over but is eligible"
                for reason in self.oracle_reasons(member, self.now):
                    self.note(f"round: passed over ({reason})")
        if race or racing:
            self._race_refund(race, racing)
        by_number = {m.member_number: m for m in queue}
        payouts = [
            new_payout(
                payout_id=self._next("po_"),
                membership_id=by_number[n].membership_id,
                winner_person_id=by_number[n].person,
                round_key=key,
                selected_at=self.now,
                rules=RULES,
            )
            for n in winners
        ]
        # The commits of one round are one transaction: the oracle decides, before posting, whether they fit.
        must_refuse = self.fund < REWARD * len(payouts)
        ledger = self.ledger
        refused = False
        try:
            for payout in payouts:
                ledger = ledger.post(reward_committed(payout_id=payout.payout_id, gross=payout.gross, at=self.now))
        except FundWouldGoNegative:
            refused = True
        assert refused == must_refuse, f"oracle fund {self.fund}, {len(payouts)} commits, refused={refused}"
        if refused:
            self.note("round: commit refused, round rolled back")
            return
        self.ledger = ledger
        self.fund -= REWARD * len(payouts)
        self.evaluated_days.add(key)
        leaving = [by_number[n] for n in winners]
        for member in leaving:
            member.state = transition(member.state, E.WIN)
        self._leave(leaving)
        for payout, member in zip(payouts, leaving, strict=True):
            fingerprint = self.kyc[member.person].fingerprint
            assert fingerprint is not None
            self.wins[payout.payout_id] = Win(payout=payout, person=member.person, fingerprint=fingerprint)
        self.note(f"round: {len(payouts)} winner(s)")

    # -- payouts ------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.wins)
    @rule(index=st.integers(0, 99), w9=st.booleans())
    def winner_gives_details(self, index: int, w9: bool) -> None:
        person = self.wins[self._pick(list(self.wins), index)].person
        self.details_on_file[person] = True
        self.w9[person] = w9

    @precondition(lambda self: self._wins_in(*CANCELLABLE))
    @rule(index=st.integers(0, 99))
    def winner_changes_details(self, index: int) -> None:
        """New bank details (step-up done): after the first approval, approvals are cleared and a hold starts."""
        win = self.wins[self._pick(self._wins_in(*CANCELLABLE), index)]
        before = win.payout
        changed = change_details(before, self.now)
        self.details_on_file[win.person] = True
        if win.first_approved:
            win.approvers = {}
            win.hold_until = self.now + DETAILS_HOLD
            expected_status = (
                PayoutStatus.PENDING_APPROVAL
                if before.status in (PayoutStatus.APPROVED, PayoutStatus.SCHEDULED)
                else before.status
            )
            assert changed.status is expected_status
            assert changed.approvals == ()
            assert changed.hold_until == win.hold_until
            self.note("payout: details changed after approval")
        else:
            assert changed == before
        win.payout = changed

    @precondition(lambda self: self._wins_in(*OPEN))
    @rule(
        index=st.integers(0, 99),
        first=st.sampled_from(STAFF),
        second=st.sampled_from(STAFF),
        outcomes=st.lists(st.booleans(), min_size=1, max_size=5),
        details=st.sampled_from([None, True, False]),
    )
    def payout_desk(
        self, index: int, first: StaffMember, second: StaffMember, outcomes: list[bool], details: bool | None
    ) -> None:
        """The next steps of one payout: details (with or without a W-9), approvals, scheduling, processing, the
        rail's answer, an ACH return or the withholding remittance — one step per entry of ``outcomes``."""
        payout_id = self._pick(self._wins_in(*OPEN), index)
        win = self.wins[payout_id]
        if details is not None and not self.details_on_file[win.person]:
            self.details_on_file[win.person] = True
            self.w9[win.person] = details
        for succeeds in outcomes:
            self._desk_step(payout_id, first, second, succeeds)

    def _desk_step(self, payout_id: str, first: StaffMember, second: StaffMember, succeeds: bool) -> None:
        win = self.wins[payout_id]
        status = win.payout.status
        complete_now = len(win.approvers) >= 2 and any(win.approvers.values())
        if status in APPROVABLE and not complete_now:
            for staff in (first, second):  # possibly the same person twice, possibly no finance
                if payout_id in self._wins_in(*APPROVABLE):
                    self.staff_approves(index=sorted(self._wins_in(*APPROVABLE)).index(payout_id), staff=staff)
        elif status is PayoutStatus.APPROVED:
            self.staff_schedules(index=sorted(self._wins_in(PayoutStatus.APPROVED)).index(payout_id))
        elif status in PROCESSABLE:
            self._start_processing(win)
        elif status is PayoutStatus.PROCESSING:
            self.rail_reports(index=sorted(self._wins_in(PayoutStatus.PROCESSING)).index(payout_id), succeeds=succeeds)
        elif status is PayoutStatus.COMPLETED:
            if not succeeds:
                self.ach_return(index=sorted(self._wins_in(PayoutStatus.COMPLETED)).index(payout_id))
            elif payout_id in self._remittable():
                self.withholding_remitted_to_irs(index=sorted(self._remittable()).index(payout_id))

    def staff_approves(self, index: int, staff: StaffMember) -> None:
        win = self.wins[self._pick(self._wins_in(*APPROVABLE), index)]
        complete_before = len(win.approvers) >= 2 and any(win.approvers.values())
        expected = not complete_before and staff.staff_id not in win.approvers
        try:
            win.payout = approve(win.payout, staff, self.now, RULES)
        except PayoutRefused:
            assert not expected
            return
        assert expected
        win.approvers[staff.staff_id] = StaffRole.FINANCE in staff.roles
        win.first_approved = True

    def staff_schedules(self, index: int) -> None:
        win = self.wins[self._pick(self._wins_in(PayoutStatus.APPROVED), index)]
        win.payout = schedule(win.payout)

    def _start_processing(self, win: Win) -> bool:
        member = self.members[win.payout.membership_id]
        kyc = self.kyc[win.person]
        # the oracle: approvals, details, current KYC, no open dispute, no hold
        may = (
            len(win.approvers) >= 2
            and any(win.approvers.values())
            and self.details_on_file[win.person]
            and kyc.status is KycStatus.VERIFIED
            and kyc.verified_at is not None
            and self.now <= plus_months(kyc.verified_at, KYC_VALID_MONTHS)
            and not any(p.dispute for p in self.payments.values() if p.membership_id == member.membership_id)
            and (win.hold_until is None or self.now >= win.hold_until)
        )
        if self._disputed(member):
            self.note("payout: processing attempted with an open dispute")
        facts = ProcessingFacts(
            payment_details_on_file=self.details_on_file[win.person],
            w9_certified=self.w9[win.person],
            retention_prepaid=member.retention_prepaid,
            kyc=kyc,
            open_dispute=self._disputed(member),
        )
        try:
            started = start_processing(win.payout, facts, self.now, RULES)
        except PayoutRefused:
            assert not may, "processing refused although nothing blocks it"
            return False
        assert may, "processing started although something blocks it"
        if started.attempt == 1:
            withholding = 0 if self.w9[win.person] else half_up(REWARD, WITHHOLDING_BPS)
            retention = 0 if member.retention_prepaid else RETENTION
            assert started.amounts is not None
            assert (started.amounts.withholding.cents, started.amounts.retention_deduction.cents) == (
                withholding,
                retention,
            )
            win.withholding, win.retention = withholding, retention
            self._post(
                *first_processing(
                    payout_id=started.payout_id,
                    withholding=started.amounts.withholding,
                    retention_deduction=started.amounts.retention_deduction,
                    rules=RULES,
                    at=self.now,
                )
            )
            self.fund += half_up(retention, SHARE_BPS)
            self.note(f"payout: first processing (w9={self.w9[win.person]}, prepaid={member.retention_prepaid})")
        win.payout = started
        return True

    def rail_reports(self, index: int, succeeds: bool) -> None:
        win = self.wins[self._pick(self._wins_in(PayoutStatus.PROCESSING), index)]
        if not succeeds:
            win.payout = fail(win.payout)
            win.approvers = {}  # a retry sends money again: two staff approve it again
            return
        done = complete(win.payout, "rail:nacha", self.now)
        assert done.amounts is not None
        assert done.amounts.net.cents == win.net
        self._post(payout_completed(payout_id=done.payout_id, attempt=done.attempt, net=done.amounts.net, at=self.now))
        self.cash -= win.net
        self._apply(self.members[done.membership_id], E.PAY)
        win.payout = done

    def ach_return(self, index: int) -> None:
        win = self.wins[self._pick(self._wins_in(PayoutStatus.COMPLETED), index)]
        if not check_return_window(win.payout, self.now):
            return
        returned = mark_returned(win.payout, self.now)
        self._post(
            payout_returned(
                payout_id=returned.payout_id, attempt=returned.attempt, net=Money(cents=win.net), at=self.now
            )
        )
        self.cash += win.net
        self._apply(self.members[returned.membership_id], E.PAYOUT_RETURNED)
        win.payout = returned
        win.approvers = {}  # a return usually means a bad destination: the retry is approved again
        self.note("payout: ACH return")

    @precondition(lambda self: self._wins_in(PayoutStatus.FAILED, PayoutStatus.RETURNED))
    @rule(index=st.integers(0, 99), first=st.sampled_from(STAFF), second=st.sampled_from(STAFF))
    def staff_correct_withholding(self, index: int, first: StaffMember, second: StaffMember) -> None:
        """Two staff align the frozen withholding with the W-9 status now on file (a no-op posts nothing)."""
        win = self.wins[self._pick(self._wins_in(PayoutStatus.FAILED, PayoutStatus.RETURNED), index)]
        before = win.payout.amounts
        assert before is not None
        try:
            corrected = correct_withholding(
                win.payout, w9_certified=self.w9[win.person], requested_by=first, confirmed_by=second, rules=RULES
            )
        except PayoutRefused:
            assert first.staff_id == second.staff_id
            return
        assert corrected.amounts is not None
        if corrected.amounts.withholding != before.withholding:
            self._post(
                withholding_corrected(
                    payout_id=corrected.payout_id,
                    correction=corrected.withholding_corrections,
                    before=before.withholding,
                    after=corrected.amounts.withholding,
                    at=self.now,
                )
            )
            self.note("payout: withholding corrected")
        win.withholding = 0 if self.w9[win.person] else half_up(REWARD, WITHHOLDING_BPS)
        assert corrected.amounts.withholding.cents == win.withholding
        win.payout = corrected

    def _remittable(self) -> list[str]:
        return [
            pid
            for pid, w in self.wins.items()
            if w.payout.status is PayoutStatus.COMPLETED and w.withholding and w.remitted < w.withholding
        ]

    def withholding_remitted_to_irs(self, index: int) -> None:
        win = self.wins[self._pick(self._remittable(), index)]
        assert win.withholding is not None
        amount = win.withholding - win.remitted
        self._post(withholding_remitted(remittance_id=self._next("wr_"), amount=Money(cents=amount), at=self.now))
        win.remitted += amount
        self.cash -= amount
        self.note("payout: withholding remitted")

    @precondition(lambda self: self._wins_in(*CANCELLABLE))
    @rule(
        index=st.integers(0, 99),
        reason=st.sampled_from(CANCEL_REASONS),
        first=st.sampled_from(STAFF),
        second=st.sampled_from(STAFF),
    )
    def cancel_payout(self, index: int, reason: str, first: StaffMember, second: StaffMember) -> None:
        """Two staff cancel (or reject) a payout; the reward returns to the fund and replacement follows."""
        win = self.wins[self._pick(self._wins_in(*CANCELLABLE), index)]
        self._cancel_payout(win, reason, first, second)

    def _cancel_payout(self, win: Win, reason: str, first: StaffMember, second: StaffMember) -> None:
        try:
            cancelled = cancel(win.payout, reason=reason, requested_by=first, confirmed_by=second, now=self.now)
        except PayoutRefused:
            assert first.staff_id == second.staff_id
            return
        if cancelled.amounts is None:
            self._post(*cancelled_before_processing(payout_id=cancelled.payout_id, gross=cancelled.gross, at=self.now))
            self.fund += REWARD
        else:
            self._post(
                *cancelled_after_processing(
                    payout_id=cancelled.payout_id,
                    gross=cancelled.gross,
                    withholding=cancelled.amounts.withholding,
                    retention_deduction=cancelled.amounts.retention_deduction,
                    rules=RULES,
                    at=self.now,
                )
            )
            assert win.retention is not None
            self.fund += REWARD - half_up(win.retention, SHARE_BPS)
        win.payout = cancelled
        member = self.members[cancelled.membership_id]
        if reason != NOT_DISQUALIFYING:
            self._apply(member, E.DISQUALIFY)
            self.note("payout: cancelled, disqualified")
        else:
            self._apply(member, E.PAYOUT_CANCELLED)  # back in the queue, same tenure, same place
            self._resume_billing(member)
            self._sync(member)
            self.note("payout: cancelled, back in the queue")

    # -- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def positions_match_a_full_ranking(self) -> None:
        ranked = sorted(self._queue(), key=lambda m: m.key)
        assert self.positions == {m.membership_id: i for i, m in enumerate(ranked, start=1)}
        assert sorted(self.positions.values()) == list(range(1, len(ranked) + 1))
        entries = [
            QueueEntry(
                membership_id=m.membership_id,
                key=QueueKey(tenure_start=m.tenure_start, member_number=m.member_number),
                state=m.state,
            )
            for m in self.members.values()
        ]
        assert positions(entries) == self.positions

    @invariant()
    def eligibility_matches_the_oracle(self) -> None:
        for member in self._queue():
            verdict = eligibility(self._facts(member), RULES, self.now)
            expected = self.oracle_reasons(member, self.now)
            assert set(verdict.reasons) == expected, (member.membership_id, verdict.reasons, expected)
            assert verdict.ok == (not expected)

    @invariant()
    def ledger_matches_the_oracle(self) -> None:
        assert self.ledger.trial_balance().is_zero
        assert self.ledger.fund.cents == self.fund
        assert self.ledger.balance(Account.CASH).cents == self.cash
        assert self.ledger.balance(Account.PROCESSING_FEES).cents == self.fees
        assert self.ledger.balance(Account.DISPUTES_PENDING).cents == self.disputes_pending
        payable = 0
        withholding = 0
        for win in self.wins.values():
            status = win.payout.status
            if status in (PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED, PayoutStatus.SCHEDULED):
                payable += REWARD
            elif status in (PayoutStatus.PROCESSING, PayoutStatus.FAILED, PayoutStatus.RETURNED):
                payable += win.net
            if win.withholding is not None and status is not PayoutStatus.CANCELLED:
                withholding += win.withholding
            withholding -= win.remitted
        assert self.ledger.balance(Account.PAYOUTS_PAYABLE).cents == payable
        assert self.ledger.balance(Account.WITHHOLDING_PAYABLE).cents == withholding

    @invariant()
    def billing_matches_the_invoices(self) -> None:
        for member in self._queue():
            open_invoices = [i for i in member.invoices.values() if unpaid_at(i, self.now)]
            past_due = any(own_grace_start(i) <= self.now for i in open_invoices)
            assert (member.state is S.PAST_DUE) == past_due, member.membership_id
            assert not any(own_grace_end(i) < self.now for i in open_invoices), "grace ended: must have defaulted"

    @invariant()
    def nobody_wins_twice(self) -> None:
        counted = [w for w in self.wins.values() if w.counts]
        persons = [w.person for w in counted]
        fingerprints = [w.fingerprint for w in counted]
        assert len(persons) == len(set(persons)), persons
        assert len(fingerprints) == len(set(fingerprints)), fingerprints

    @invariant()
    def staff_decisions_stand(self) -> None:
        for person, (attempt, status) in self.staff_decided.items():
            record = self.kyc[person]
            if record.attempt_id == attempt:
                assert record.status is status, (person, record.status, status)

    @invariant()
    def memberships_follow_their_payouts(self) -> None:
        for win in self.wins.values():
            state = self.members[win.payout.membership_id].state
            status = win.payout.status
            if status is PayoutStatus.COMPLETED:
                assert state in (S.PAID, S.ENDED)
            elif status is not PayoutStatus.CANCELLED:
                assert state is S.WON

    def check(self) -> None:
        """Every invariant (for the example tests, which drive the machine by hand)."""
        self.positions_match_a_full_ranking()
        self.eligibility_matches_the_oracle()
        self.ledger_matches_the_oracle()
        self.billing_matches_the_invoices()
        self.nobody_wins_twice()
        self.staff_decisions_stand()
        self.memberships_follow_their_payouts()


ProgramMachine.TestCase.settings = settings(ProgramMachine.TestCase.settings, stateful_step_count=40)
TestProgram = ProgramMachine.TestCase


# -- deterministic scenarios: the guarded situations really occur ------------------------------------------------


def _machine(*, verified_first: set[str], joiners: list[str], verified_after: set[str]) -> ProgramMachine:
    machine = ProgramMachine()
    machine.seed(verified_first=verified_first, joiners=joiners, verified_after=verified_after)
    machine.check()
    return machine


def _member_of(machine: ProgramMachine, person: str) -> Member:
    return [m for m in machine.members.values() if m.person == person][-1]


def _queue_index(machine: ProgramMachine, member: Member) -> int:
    return sorted(m.membership_id for m in machine._queue()).index(member.membership_id)


def _winners(machine: ProgramMachine) -> list[str]:
    return [w.person for w in machine.wins.values()]


def _step(machine: ProgramMachine, hours: int) -> None:
    machine.time_passes(hours=hours, race=0)
    machine.check()


def test_duplicate_fingerprints_and_identity_wins_block_winning() -> None:
    # p0 and p3 share a fingerprint and both verify before joining: both VERIFIED, both live → both duplicates.
    machine = _machine(verified_first={"p0", "p3"}, joiners=["p0", "p3", "p1", "p2"], verified_after={"p1"})
    assert machine.kyc["p0"].status is machine.kyc["p3"].status is KycStatus.VERIFIED
    assert _winners(machine) == ["p1"]
    assert machine.seen["round: passed over (duplicate_identity)"] == 2
    # p4 shares p1's fingerprint: its verification goes to review; staff approve (two: it is in the top 10).
    machine.join(person="p4", late_hours=0)
    machine.kyc_attempt(person="p4", outcome=ProviderOutcome.VERIFIED)
    assert machine.kyc["p4"].status is KycStatus.NEEDS_REVIEW
    assert not machine._staff_kyc("p4", approve_it=True, two_staff=False)
    assert machine._staff_kyc("p4", approve_it=True, two_staff=True)
    machine.check()
    p4 = _member_of(machine, "p4")
    assert {"identity_already_won", "duplicate_identity"} <= machine.oracle_reasons(p4, machine.now)
    # the winner is disqualified: p1's membership is no longer live, but the identity has still won
    machine._cancel_payout(next(iter(machine.wins.values())), "fraud", FIN1, OPS1)
    machine.check()
    assert machine.oracle_reasons(p4, machine.now) == {"identity_already_won"}
    # a past winner tries to rejoin: refused
    machine.join(person="p1", late_hours=0)
    assert machine.seen["join: refused after a win"] == 1
    # p3 cancels, so p0 is no longer a duplicate and wins the next round
    machine.member_cancellation(index=_queue_index(machine, _member_of(machine, "p3")), undo=False)
    _step(machine, 24 * 32)
    assert _winners(machine) == ["p1", "p0"]
    _step(machine, 24 * 20)  # p5 is 18 now
    machine.join(person="p5", late_hours=0)
    machine.kyc_attempt(person="p5", outcome=ProviderOutcome.VERIFIED)
    _step(machine, 24)
    assert _winners(machine) == ["p1", "p0", "p5"]
    assert machine.seen["round: passed over (identity_already_won)"] == 1


def test_a_late_payment_never_gives_a_person_who_rejoined_a_second_live_membership() -> None:
    machine = _machine(verified_first={"p1", "p0"}, joiners=["p1", "p2"], verified_after=set())
    first = _member_of(machine, "p1")
    machine.card(index=_queue_index(machine, first), ok=False)
    _step(machine, 24 * 32)  # the first dues invoice failed: past due
    assert first.state is S.PAST_DUE
    _step(machine, 24 * 32)  # its grace ended: defaulted
    assert first.state is S.DEFAULTED
    machine.join(person="p1", late_hours=0)  # a rejoin: new membership, back of the queue
    machine.join(person="p4", late_hours=0)  # the fund now holds one reward; p4 is unverified
    machine.evaluation_triggered_by_admin(race=0)
    machine.check()
    assert _winners(machine) == ["p1"]
    # the first dues payment was made before its grace ended; we learn of it only now, but p1 has rejoined
    # (and won) since: a person holds at most one live membership, so the old one stays defaulted (refund)
    assert machine._late_payment(first, in_time=True, hours=2) is LatePaymentAction.REFUND
    machine.check()
    assert first.state is S.DEFAULTED
    assert len(machine._live_of("p1")) == 1


def test_late_truth_after_grace_end_is_refunded() -> None:
    machine = _machine(verified_first=set(), joiners=["p1", "p2"], verified_after=set())
    member = _member_of(machine, "p1")
    machine.card(index=_queue_index(machine, member), ok=False)
    _step(machine, 24 * 32)
    _step(machine, 24 * 32)
    assert member.state is S.DEFAULTED
    assert machine._late_payment(member, in_time=False, hours=1) is LatePaymentAction.REFUND
    machine.check()
    assert member.state is S.DEFAULTED


def test_past_due_disputes_and_short_funds_are_exercised() -> None:
    machine = _machine(verified_first={"p0", "p1", "p2"}, joiners=["p0", "p1"], verified_after=set())
    p0, p1 = _member_of(machine, "p0"), _member_of(machine, "p1")
    machine.card(index=_queue_index(machine, p0), ok=False)
    _step(machine, 24 * 32)
    assert p0.state is S.PAST_DUE
    machine.dispute_opened(index=sorted(machine._disputable()).index(p1.joining_payment), of_a_winner=False)
    machine.join(person="p2", late_hours=0)  # the fund holds one reward; p0 is past due, p1 disputed
    machine.evaluation_triggered_by_admin(race=0)
    machine.check()
    assert _winners(machine) == ["p2"]
    assert machine.seen["round: passed over (past_due)"] == 1
    assert machine.seen["round: passed over (payment_disputed)"] == 1
    # the winner's own payment is disputed: processing is blocked even with approvals and details
    win = next(iter(machine.wins.values()))
    p2 = _member_of(machine, "p2")
    machine.dispute_opened(index=sorted(machine._disputable()).index(p2.joining_payment), of_a_winner=False)
    machine.winner_gives_details(index=0, w9=False)
    machine.staff_approves(index=0, staff=FIN1)
    machine.staff_approves(index=0, staff=OPS1)
    machine.staff_schedules(index=0)
    assert not machine._start_processing(win)
    machine.check()
    assert machine.seen["payout: processing attempted with an open dispute"] == 1
    # both disputes are won, p0 cures, two more join; a refund races the next round's commit and the fund is short
    machine.dispute_closed(index=0, won=True)
    machine.dispute_closed(index=0, won=True)
    machine.card(index=_queue_index(machine, p0), ok=True)
    assert p0.state is S.ACTIVE
    machine.join(person="p3", late_hours=0)
    machine.join(person="p5", late_hours=0)
    machine.now += timedelta(days=1)
    assert REWARD <= machine.fund < REWARD + half_up(JOINING - 1, SHARE_BPS)
    machine._evaluate(racing=(p0.joining_payment, JOINING - 1))
    machine.check()
    assert machine.seen["round: commit refused, round rolled back"] == 1
    assert _winners(machine) == ["p2"]
    assert machine._start_processing(win)  # the dispute is closed: nothing blocks processing now
    machine.check()


def test_a_staff_decision_is_not_overturned_by_the_provider() -> None:
    machine = _machine(verified_first={"p1"}, joiners=["p1", "p4"], verified_after={"p4"})
    assert machine.kyc["p4"].status is KycStatus.NEEDS_REVIEW
    assert machine._staff_kyc("p4", approve_it=True, two_staff=True)
    # a later provider status (90 minutes on, not a same-second tie) for the attempt staff decided on
    machine.kyc_provider_redelivers(person="p4", outcome=ProviderOutcome.FAILED, minutes=90, after_staff=False)
    machine.check()
    assert machine.kyc["p4"].status is KycStatus.VERIFIED
    assert machine.seen["kyc: staff decision stands"] == 1
