"""A whole small program driven by Hypothesis, using only the domain modules.

Members join, pay, miss payments, cure, default, cancel and rejoin; KYC results arrive; refunds and disputes
happen; time passes (the sweeps run); daily evaluations select winners; staff approve, schedule, process,
complete, see ACH returns and cancel. After every step the program-wide invariants must hold: positions are
gap-free, the fund is exactly the ledger's fund balance (recomputed independently here), no commit made the
fund negative, no person or identity has won twice, every round's winners are the first eligible entries of
its snapshot, and the ledger is balanced with payables matching the payouts in flight.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.eligibility import NOT_DISQUALIFYING, DisqualifyingReason, EligibilityFacts, eligibility, payouts_possible
from domain.errors import PayoutRefused
from domain.kyc import (
    KycRecord,
    ProviderOutcome,
    ProviderResult,
    apply_provider_result,
    may_start_attempt,
    start_attempt,
)
from domain.ledger import (
    Account,
    JournalEntry,
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
    refund_issued,
    reward_committed,
    split_payment,
    withholding_corrected,
)
from domain.membership import (
    ENDED_STATES,
    LIVE_STATES,
    QUEUE_STATES,
    DisputeOutcome,
    JoiningPaymentAction,
    MembershipEvent,
    MembershipState,
    PaymentKind,
    ReversalEffect,
    cancellation_takes_effect,
    dispute_decision,
    joining_payment_action,
    may_join,
    refund_decision,
    schedule_cancellation,
    transition,
    undo_cancellation,
    winner_end_at,
)
from domain.money import Money
from domain.payouts import (
    DEFAULT_POLICY,
    Payout,
    PayoutStatus,
    ProcessingFacts,
    StaffMember,
    StaffRole,
    approve,
    cancel,
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
from domain.queue import QueueEntry, QueueKey, rank
from domain.rounds import NoRound, RoundSelected, Snapshot, SnapshotEntry, round_key, select_round
from domain.rules import ProgramRules

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
START = datetime(2025, 6, 1, 0, 30, tzinfo=UTC)  # the first day payouts are possible (launch + 12 months)

PERSONS = ("p0", "p1", "p2", "p3", "p4", "p5")
IDENTITY = {"p0": "id_a", "p1": "id_b", "p2": "id_c", "p3": "id_a", "p4": "id_d", "p5": "id_e"}
"""p0 and p3 are the same real person under two accounts (same identity fingerprint)."""
DOB = {p: date(1990, 1, 1) for p in PERSONS} | {"p5": date(2010, 1, 1)}
"""p5 is under age until 2028."""

STAFF = (
    StaffMember(staff_id="s_fin1", roles=frozenset({StaffRole.FINANCE})),
    StaffMember(staff_id="s_fin2", roles=frozenset({StaffRole.FINANCE})),
    StaffMember(staff_id="s_ops1", roles=frozenset({StaffRole.SUPPORT})),
    StaffMember(staff_id="s_ops2", roles=frozenset({StaffRole.COMPLIANCE})),
)
CANCEL_REASONS = (*DisqualifyingReason, NOT_DISQUALIFYING)
OPEN_PAYOUT_STATUSES = tuple(s for s in PayoutStatus if s is not PayoutStatus.CANCELLED)


def fund_share(cents: int) -> int:
    """The fund's share, half-up — computed here independently of ``Money.split``."""
    return (cents * RULES.fund_share_bps + 5_000) // 10_000


@dataclass
class Member:
    membership_id: str
    person: str
    member_number: int
    tenure_start: datetime
    state: MembershipState = MembershipState.ACTIVE
    grace_ends_at: datetime | None = None
    cancel_scheduled_at: datetime | None = None
    cancel_effective_at: datetime | None = None
    open_disputes: set[str] = field(default_factory=set)


@dataclass
class Payment:
    invoice_id: str
    membership_id: str
    kind: PaymentKind
    split: PaymentSplit
    entry: JournalEntry
    reversed: bool = False
    dispute_id: str | None = None


@dataclass
class Won:
    payout: Payout
    identity: str


class ProgramMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.ledger = Ledger()
        self.members: dict[str, Member] = {}
        self.payments: dict[str, Payment] = {}
        self.kyc: dict[str, KycRecord] = {p: KycRecord() for p in PERSONS}
        self.kyc_starts: dict[str, list[datetime]] = {p: [] for p in PERSONS}
        self.details_on_file: dict[str, bool] = dict.fromkeys(PERSONS, False)
        self.w9: dict[str, bool] = dict.fromkeys(PERSONS, False)
        self.payouts: dict[str, Won] = {}
        self.rounds: list[tuple[Snapshot, RoundSelected]] = []
        self.evaluated_days: set[date] = set()
        self.fund_after_commits: list[int] = []
        self.expected_fund = 0
        self.expected_cash = 0
        self.counter = 0

    # -- helpers ----------------------------------------------------------------------------------------------

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _post(self, *entries: JournalEntry) -> None:
        self.ledger = self.ledger.post_all(entries)

    def _person_won(self, person: str) -> bool:
        return any(w.payout.winner_person_id == person and counts_as_win(w.payout) for w in self.payouts.values())

    def _identity_won(self, identity: str | None) -> bool:
        return identity is not None and any(
            w.identity == identity and counts_as_win(w.payout) for w in self.payouts.values()
        )

    def _fingerprint(self, person: str) -> str | None:
        return self.kyc[person].fingerprint

    def _live_membership_of(self, person: str) -> Member | None:
        return next((m for m in self.members.values() if m.person == person and m.state in LIVE_STATES), None)

    def _pick(self, items: list[str], index: int) -> str:
        return sorted(items)[index % len(items)]

    def _queue_members(self) -> list[str]:
        return [m.membership_id for m in self.members.values() if m.state in QUEUE_STATES]

    def _reversible_payments(self) -> list[str]:
        return [
            p.invoice_id
            for p in self.payments.values()
            if not p.reversed
            and p.dispute_id is None
            and (self.members[p.membership_id].state in QUEUE_STATES | ENDED_STATES)
        ]

    def _payouts_in(self, *statuses: PayoutStatus) -> list[str]:
        return [pid for pid, w in self.payouts.items() if w.payout.status in statuses]

    def _event(self, member: Member, event: MembershipEvent) -> None:
        member.state = transition(member.state, event)

    def _pay(self, member: Member, kind: PaymentKind, cents: int) -> None:
        invoice_id = self._next("in_")
        split = split_payment(Money(cents=cents), RULES)
        entry = payment_received(invoice_id=invoice_id, split=split, at=self.now)
        self._post(entry)
        # The webhook, the checkout redirect and reconciliation all deliver it: the same reference posts nothing.
        redelivered = payment_received(invoice_id=invoice_id, split=split, at=self.now + timedelta(minutes=5))
        assert self.ledger.post(redelivered) is self.ledger
        self.payments[invoice_id] = Payment(
            invoice_id=invoice_id, membership_id=member.membership_id, kind=kind, split=split, entry=entry
        )
        self.expected_fund += fund_share(cents)
        self.expected_cash += cents

    def _apply_reversal(self, member: Member, effect: ReversalEffect, event: MembershipEvent | None) -> None:
        assert effect is not ReversalEffect.DISQUALIFY_WINNER, "a winner never has a reversible payment here"
        if event is not None:
            self._event(member, event)
        elif effect is ReversalEffect.PERIOD_UNPAID and member.state is MembershipState.ACTIVE:
            self._event(member, MembershipEvent.BECOME_PAST_DUE)
            member.grace_ends_at = self.now + RULES.grace_period

    # -- membership --------------------------------------------------------------------------------------------

    def _join(self, person: str) -> None:
        earlier = [m.state for m in self.members.values() if m.person == person]
        decision = may_join(
            earlier_states=earlier,
            person_has_won=self._person_won(person),
            identity_has_won=self._identity_won(self._fingerprint(person)),
        )
        if not decision.ok:
            return
        assert joining_payment_action(MembershipState.PENDING) is JoiningPaymentAction.ACTIVATE
        number = 1 + max((m.member_number for m in self.members.values()), default=0)
        member = Member(
            membership_id=self._next("m_"),
            person=person,
            member_number=number,
            tenure_start=self.now,
            state=transition(MembershipState.PENDING, MembershipEvent.ACTIVATE),
        )
        self.members[member.membership_id] = member
        self._pay(member, PaymentKind.JOINING, RULES.joining_fee.cents)

    def _verify(self, person: str, outcome: ProviderOutcome) -> None:
        record = self.kyc[person]
        if not may_start_attempt(record=record, previous_starts=self.kyc_starts[person], now=self.now, rules=RULES).ok:
            return
        attempt = self._next("kyc_")
        record = start_attempt(record, attempt_id=attempt, now=self.now)
        self.kyc_starts[person].append(self.now)
        identity = IDENTITY[person]
        conflict = any(
            IDENTITY[other] == identity and (self._live_membership_of(other) is not None or self._person_won(other))
            for other in PERSONS
            if other != person
        ) or self._identity_won(identity)
        result = ProviderResult(
            attempt_id=attempt,
            outcome=outcome,
            occurred_at=self.now,
            date_of_birth=DOB[person],
            country="US",
            fingerprint=identity,
        )
        update = apply_provider_result(record, result, fingerprint_conflict=conflict, profile_date_of_birth=DOB[person])
        self.kyc[person] = update.record

    @initialize(
        joiners=st.lists(st.sampled_from(PERSONS), min_size=2, max_size=6, unique=True),
        unverified=st.sets(st.sampled_from(PERSONS), max_size=2),
    )
    def seed(self, joiners: list[str], unverified: set[str]) -> None:
        for person in joiners:
            self._join(person)
        for person in PERSONS:
            if person not in unverified:
                self._verify(person, ProviderOutcome.VERIFIED)
        self._evaluate()

    @rule(person=st.sampled_from(PERSONS))
    def join(self, person: str) -> None:
        self._join(person)

    @precondition(lambda self: self._queue_members())
    @rule(index=st.integers(0, 99), succeeds=st.booleans())
    def dues_attempt(self, index: int, succeeds: bool) -> None:
        """A dues charge: paid (a PAST_DUE member is cured in place) or failed (grace starts)."""
        member = self.members[self._pick(self._queue_members(), index)]
        if succeeds:
            self._pay(member, PaymentKind.DUES, RULES.monthly_dues.cents)
            if member.state is MembershipState.PAST_DUE:
                self._event(member, MembershipEvent.CURE)  # same tenure_start, same place
                member.grace_ends_at = None
        elif member.state is MembershipState.ACTIVE:
            self._event(member, MembershipEvent.BECOME_PAST_DUE)
            member.grace_ends_at = self.now + RULES.grace_period

    @precondition(lambda self: self._queue_members())
    @rule(index=st.integers(0, 99), undo=st.booleans())
    def member_cancellation(self, index: int, undo: bool) -> None:
        """Schedule a voluntary cancellation (end of period), or undo one before it takes effect."""
        member = self.members[self._pick(self._queue_members(), index)]
        if undo:
            if undo_cancellation(
                state=member.state, scheduled_effective_at=member.cancel_effective_at, now=self.now
            ).ok:
                member.cancel_scheduled_at = member.cancel_effective_at = None
            return
        decision = schedule_cancellation(
            state=member.state, anchor=member.tenure_start, now=self.now, scheduled_at=member.cancel_scheduled_at
        )
        if decision.ok:
            member.cancel_scheduled_at = self.now
            member.cancel_effective_at = decision.effective_at

    @rule(
        person=st.sampled_from(PERSONS),
        outcome=st.sampled_from([ProviderOutcome.VERIFIED, ProviderOutcome.VERIFIED, ProviderOutcome.FAILED]),
    )
    def kyc_result(self, person: str, outcome: ProviderOutcome) -> None:
        self._verify(person, outcome)

    @rule(hours=st.integers(1, 2_000))
    def time_passes(self, hours: int) -> None:
        """Time passes and the sweeps run: defaults, cancellations taking effect, winners ending."""
        self.now += timedelta(hours=hours)
        for member in self.members.values():
            if (
                member.state is MembershipState.PAST_DUE
                and member.grace_ends_at is not None
                and self.now > member.grace_ends_at
            ):
                self._event(member, MembershipEvent.DEFAULT)
            elif cancellation_takes_effect(
                state=member.state, scheduled_effective_at=member.cancel_effective_at, now=self.now
            ):
                self._event(member, MembershipEvent.CANCEL)
        for won in self.payouts.values():
            payout = won.payout
            member = self.members[payout.membership_id]
            if member.state is MembershipState.PAID and payout.completed_at is not None:
                end = winner_end_at(
                    selected_at=payout.selected_at,
                    completed_at=payout.completed_at,
                    retention_months=RULES.retention_months,
                )
                # Wait out the ACH return window too: a return must still find the membership PAID.
                if self.now >= max(end, payout.completed_at + DEFAULT_POLICY.ach_return_window):
                    self._event(member, MembershipEvent.END)
        self._evaluate()

    # -- refunds and disputes ----------------------------------------------------------------------------------

    @precondition(lambda self: self._reversible_payments())
    @rule(index=st.integers(0, 99), dispute=st.booleans())
    def payment_reversed(self, index: int, dispute: bool) -> None:
        """A full refund, or a dispute opened by the card holder (the member is not eligible while it is open)."""
        payment = self.payments[self._pick(self._reversible_payments(), index)]
        member = self.members[payment.membership_id]
        amount = payment.split.total
        if dispute:
            if member.state not in QUEUE_STATES:
                return
            payment.dispute_id = self._next("dp_")
            member.open_disputes.add(payment.dispute_id)
            self._post(dispute_opened(dispute_id=payment.dispute_id, amount=amount, at=self.now))
            self.expected_cash -= amount.cents
            return
        self._post(
            refund_issued(
                refund_id=self._next("re_"),
                amount=amount,
                original=payment.split,
                already_reversed=Money(cents=0),
                at=self.now,
            )
        )
        payment.reversed = True
        self.expected_fund -= fund_share(amount.cents)
        self.expected_cash -= amount.cents
        decision = refund_decision(state=member.state, kind=payment.kind, refunded=amount, payment=amount)
        self._apply_reversal(member, decision.effect, decision.event)

    @precondition(lambda self: any(p.dispute_id for p in self.payments.values()))
    @rule(index=st.integers(0, 99), won=st.booleans())
    def close_dispute(self, index: int, won: bool) -> None:
        disputed = [p.invoice_id for p in self.payments.values() if p.dispute_id]
        payment = self.payments[self._pick(disputed, index)]
        member = self.members[payment.membership_id]
        dispute_id = payment.dispute_id
        assert dispute_id is not None
        amount = payment.split.total
        member.open_disputes.discard(dispute_id)
        payment.dispute_id = None
        if won:
            self._post(dispute_won(dispute_id=dispute_id, amount=amount, at=self.now))
            self.expected_cash += amount.cents
            return
        self._post(
            dispute_lost(
                dispute_id=dispute_id,
                amount=amount,
                original=payment.split,
                already_reversed=Money(cents=0),
                at=self.now,
            )
        )
        payment.reversed = True
        self.expected_fund -= fund_share(amount.cents)
        decision = dispute_decision(state=member.state, kind=payment.kind, outcome=DisputeOutcome.LOST)
        self._apply_reversal(member, decision.effect, decision.event)

    # -- rounds --------------------------------------------------------------------------------------------------

    @rule()
    def evaluation_triggered_by_admin(self) -> None:
        """The same evaluation as the 00:30 job, for the current day (a second one that day selects nothing)."""
        self._evaluate()

    def _evaluate(self) -> None:
        key = round_key(self.now)
        if key in self.evaluated_days:
            return  # the unique round key: a second evaluation the same day selects nothing
        decision = payouts_possible(
            at=self.now,
            rules=RULES,
            fund=self.ledger.fund,
            frozen=False,
            inbox_backlog=False,
            last_reconciliation_at=self.now,
        )
        if not decision.ok:
            return
        self.evaluated_days.add(key)
        ranked = rank(
            QueueEntry(
                membership_id=m.membership_id,
                key=QueueKey(tenure_start=m.tenure_start, member_number=m.member_number),
                state=m.state,
            )
            for m in self.members.values()
        )
        entries = []
        for item in ranked:
            member = self.members[item.entry.membership_id]
            kyc = self.kyc[member.person]
            fp = kyc.fingerprint
            verdict = eligibility(
                EligibilityFacts(
                    state=member.state,
                    tenure_start=member.tenure_start,
                    cancellation_scheduled=member.cancel_effective_at is not None,
                    open_dispute=bool(member.open_disputes),
                    kyc=kyc,
                    person_has_won=self._person_won(member.person),
                    identity_has_won=self._identity_won(fp),
                    identity_has_other_live_membership=fp is not None
                    and any(
                        other.person != member.person
                        and other.state in LIVE_STATES
                        and self.kyc[other.person].fingerprint == fp
                        for other in self.members.values()
                    ),
                ),
                RULES,
                self.now,
            )
            entries.append(
                SnapshotEntry(
                    position=item.position,
                    member_number=member.member_number,
                    tenure_start=member.tenure_start,
                    eligible=verdict.ok,
                    reasons=tuple(verdict.reasons),
                )
            )
        snapshot = Snapshot(round_key=key, entries=tuple(entries))
        salts = {e.member_number: hashlib.sha256(str(e.member_number).encode()).digest() for e in entries}
        result = select_round(snapshot=snapshot, fund=self.ledger.fund, rules=RULES, salts=salts)
        if isinstance(result, NoRound):
            return
        by_number = {m.member_number: m for m in self.members.values()}
        for winner in result.winners:
            member = by_number[winner.member_number]
            payout = new_payout(
                payout_id=self._next("po_"),
                membership_id=member.membership_id,
                winner_person_id=member.person,
                round_key=key,
                selected_at=self.now,
                rules=RULES,
            )
            self._post(reward_committed(payout_id=payout.payout_id, gross=payout.gross, at=self.now))
            self.fund_after_commits.append(self.ledger.fund.cents)
            self.expected_fund -= payout.gross.cents
            fingerprint = self.kyc[member.person].fingerprint
            assert fingerprint is not None
            self.payouts[payout.payout_id] = Won(payout=payout, identity=fingerprint)
            self._event(member, MembershipEvent.WIN)
        self.rounds.append((snapshot, result))

    # -- payouts -------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.payouts)
    @rule(index=st.integers(0, 99), w9=st.booleans())
    def winner_gives_details(self, index: int, w9: bool) -> None:
        person = self.payouts[self._pick(list(self.payouts), index)].payout.winner_person_id
        self.details_on_file[person] = True
        self.w9[person] = w9

    @precondition(lambda self: self._payouts_in(*OPEN_PAYOUT_STATUSES))
    @rule(
        index=st.integers(0, 99),
        first=st.sampled_from(STAFF),
        second=st.sampled_from(STAFF),
        succeeds=st.booleans(),
    )
    def payout_desk(self, index: int, first: StaffMember, second: StaffMember, succeeds: bool) -> None:
        """The next step of one payout: approvals, scheduling, processing, the rail's answer, an ACH return."""
        won = self.payouts[self._pick(self._payouts_in(*OPEN_PAYOUT_STATUSES), index)]
        match won.payout.status:
            case PayoutStatus.PENDING_APPROVAL:
                for staff in (first, second):  # possibly the same person twice, possibly no finance
                    with contextlib.suppress(PayoutRefused):
                        won.payout = approve(won.payout, staff, self.now, RULES)
            case PayoutStatus.APPROVED:
                won.payout = schedule(won.payout)
            case PayoutStatus.PROCESSING:
                self._rail_reports(won, succeeds)
            case PayoutStatus.COMPLETED:
                if succeeds and check_return_window(won.payout, self.now):
                    self._ach_return(won)
            case PayoutStatus.FAILED | PayoutStatus.RETURNED if not succeeds:
                self._correct_withholding(won, first, second)
            case _:
                self._start_processing(won)

    def _start_processing(self, won: Won) -> None:
        member = self.members[won.payout.membership_id]
        facts = ProcessingFacts(
            payment_details_on_file=self.details_on_file[member.person],
            w9_certified=self.w9[member.person],
            retention_prepaid=False,
            kyc=self.kyc[member.person],
            open_dispute=bool(member.open_disputes),
        )
        try:
            started = start_processing(won.payout, facts, self.now, RULES)
        except PayoutRefused:
            return
        if started.attempt == 1:
            assert started.amounts is not None
            self._post(
                *first_processing(
                    payout_id=started.payout_id,
                    withholding=started.amounts.withholding,
                    retention_deduction=started.amounts.retention_deduction,
                    rules=RULES,
                    at=self.now,
                )
            )
            self.expected_fund += fund_share(started.amounts.retention_deduction.cents)
        won.payout = started

    def _correct_withholding(self, won: Won, first: StaffMember, second: StaffMember) -> None:
        """Two staff align the frozen withholding with the W-9 status now on file (a no-op posts nothing)."""
        before = won.payout.amounts
        assert before is not None
        try:
            corrected = correct_withholding(
                won.payout,
                w9_certified=self.w9[won.payout.winner_person_id],
                requested_by=first,
                confirmed_by=second,
                rules=RULES,
            )
        except PayoutRefused:
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
        won.payout = corrected

    def _rail_reports(self, won: Won, succeeds: bool) -> None:
        if not succeeds:
            won.payout = fail(won.payout)
            return
        done = complete(won.payout, "rail:nacha", self.now)
        assert done.amounts is not None
        self._post(payout_completed(payout_id=done.payout_id, attempt=done.attempt, net=done.amounts.net, at=self.now))
        self.expected_cash -= done.amounts.net.cents
        self._event(self.members[done.membership_id], MembershipEvent.PAY)
        won.payout = done

    def _ach_return(self, won: Won) -> None:
        returned = mark_returned(won.payout, self.now)
        assert returned.amounts is not None
        self._post(
            payout_returned(
                payout_id=returned.payout_id, attempt=returned.attempt, net=returned.amounts.net, at=self.now
            )
        )
        self.expected_cash += returned.amounts.net.cents
        self._event(self.members[returned.membership_id], MembershipEvent.PAYOUT_RETURNED)
        won.payout = returned

    @precondition(lambda self: self.payouts)
    @rule(
        index=st.integers(0, 99),
        reason=st.sampled_from(CANCEL_REASONS),
        first=st.sampled_from(STAFF),
        second=st.sampled_from(STAFF),
    )
    def cancel_payout(self, index: int, reason: str, first: StaffMember, second: StaffMember) -> None:
        """Two staff cancel (or reject) a payout; the reward returns to the fund and replacement follows."""
        won = self.payouts[self._pick(list(self.payouts), index)]
        try:
            cancelled = cancel(won.payout, reason=reason, requested_by=first, confirmed_by=second, now=self.now)
        except PayoutRefused:
            return
        if cancelled.amounts is None:
            self._post(*cancelled_before_processing(payout_id=cancelled.payout_id, gross=cancelled.gross, at=self.now))
            self.expected_fund += cancelled.gross.cents
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
            self.expected_fund += cancelled.gross.cents - fund_share(cancelled.amounts.retention_deduction.cents)
        member = self.members[cancelled.membership_id]
        assert cancelled.cancellation is not None
        if cancelled.cancellation.disqualifying:
            self._event(member, MembershipEvent.DISQUALIFY)
        else:
            self._event(member, MembershipEvent.PAYOUT_CANCELLED)  # back in the queue, same tenure
        won.payout = cancelled

    # -- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def positions_are_gap_free_and_ordered(self) -> None:
        ranked = rank(
            QueueEntry(
                membership_id=m.membership_id,
                key=QueueKey(tenure_start=m.tenure_start, member_number=m.member_number),
                state=m.state,
            )
            for m in self.members.values()
        )
        assert [r.position for r in ranked] == list(range(1, len(self._queue_members()) + 1))
        keys = [(r.entry.key.tenure_start, r.entry.key.member_number) for r in ranked]
        assert keys == sorted(keys)

    @invariant()
    def fund_is_the_ledger_fund_balance(self) -> None:
        assert self.ledger.fund.cents == self.expected_fund
        assert self.ledger.balance(Account.CASH).cents == self.expected_cash

    @invariant()
    def no_commit_made_the_fund_negative(self) -> None:
        assert all(after >= 0 for after in self.fund_after_commits)

    @invariant()
    def nobody_wins_twice(self) -> None:
        counted = [w for w in self.payouts.values() if counts_as_win(w.payout)]
        persons = [w.payout.winner_person_id for w in counted]
        identities = [w.identity for w in counted]
        assert len(persons) == len(set(persons))
        assert len(identities) == len(set(identities))

    @invariant()
    def winners_are_the_first_eligible_of_their_snapshot(self) -> None:
        for snapshot, result in self.rounds:
            eligible = snapshot.eligible
            assert result.winners == eligible[: len(result.winners)]
            assert len(result.winners) == min(result.fund_before // RULES.reward, len(eligible))

    @invariant()
    def ledger_is_conserved(self) -> None:
        assert self.ledger.trial_balance().is_zero
        expected_payable = 0
        expected_withholding = 0
        for won in self.payouts.values():
            payout = won.payout
            if payout.status in (PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED, PayoutStatus.SCHEDULED):
                expected_payable += payout.gross.cents
            elif payout.status in (PayoutStatus.PROCESSING, PayoutStatus.FAILED, PayoutStatus.RETURNED):
                assert payout.amounts is not None
                expected_payable += payout.amounts.net.cents
            if payout.amounts is not None and payout.status is not PayoutStatus.CANCELLED:
                expected_withholding += payout.amounts.withholding.cents
        assert self.ledger.balance(Account.PAYOUTS_PAYABLE).cents == expected_payable
        assert self.ledger.balance(Account.WITHHOLDING_PAYABLE).cents == expected_withholding

    @invariant()
    def memberships_follow_their_payouts(self) -> None:
        for won in self.payouts.values():
            state = self.members[won.payout.membership_id].state
            status = won.payout.status
            if status is PayoutStatus.COMPLETED:
                assert state in (MembershipState.PAID, MembershipState.ENDED)
            elif status is not PayoutStatus.CANCELLED:
                assert state is MembershipState.WON


ProgramMachine.TestCase.settings = settings(stateful_step_count=30)
TestProgram = ProgramMachine.TestCase
