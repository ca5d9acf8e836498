"""Ledger: balanced entries, idempotent references, every §9 movement, the no-overdraw commit rule."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import FundWouldGoNegative, LedgerConflict, NaiveDatetime, UnbalancedEntry
from domain.ledger import (
    Account,
    EntryKind,
    JournalEntry,
    Ledger,
    Posting,
    Side,
    cancelled_after_processing,
    cancelled_before_processing,
    credit,
    debit,
    dispute_lost,
    dispute_opened,
    dispute_won,
    first_processing,
    fund_inflow,
    payment_received,
    payout_completed,
    payout_returned,
    provider_fee,
    refund_issued,
    retention_deducted,
    reward_committed,
    reward_released,
    split_payment,
    withholding_corrected,
    withholding_recorded,
    withholding_remitted,
)
from domain.money import Money
from domain.payouts import payout_amounts
from domain.rules import ProgramRules

T0 = datetime(2025, 3, 1, tzinfo=UTC)
RULES = ProgramRules()
HALF = ProgramRules(fund_share_bps=5_000)


def usd(cents: int) -> Money:
    return Money(cents=cents)


def pay(invoice: str, cents: int, rules: ProgramRules = RULES) -> JournalEntry:
    return payment_received(invoice_id=invoice, split=split_payment(usd(cents), rules), at=T0)


def postings(entry: JournalEntry) -> set[tuple[Account, Side, int]]:
    return {(p.account, p.side, p.amount.cents) for p in entry.postings}


def funded(cents: int) -> Ledger:
    return Ledger().post(pay("in_seed", cents))


# -- entries ----------------------------------------------------------------------------------------------------


def test_entry_refuses_to_be_unbalanced() -> None:
    with pytest.raises(UnbalancedEntry, match="differ"):
        JournalEntry(
            reference="x",
            kind=EntryKind.PAYMENT,
            at=T0,
            postings=(debit(Account.CASH, usd(100)), credit(Account.FUND, usd(99))),
        )


def test_entry_balances_per_currency_not_in_total() -> None:
    with pytest.raises(UnbalancedEntry, match="differ"):
        JournalEntry(
            reference="x",
            kind=EntryKind.PAYMENT,
            at=T0,
            postings=(
                debit(Account.CASH, usd(100)),
                credit(Account.FUND, Money(cents=100, currency="EUR")),
            ),
        )


def test_entry_needs_reference_two_postings_positive_amounts_and_utc() -> None:
    lines = (debit(Account.CASH, usd(1)), credit(Account.FUND, usd(1)))
    with pytest.raises(UnbalancedEntry, match="reference"):
        JournalEntry(reference="", kind=EntryKind.PAYMENT, at=T0, postings=lines)
    with pytest.raises(UnbalancedEntry, match="two postings"):
        JournalEntry(reference="x", kind=EntryKind.PAYMENT, at=T0, postings=lines[:1])
    with pytest.raises(UnbalancedEntry, match="positive"):
        Posting(account=Account.CASH, side=Side.DEBIT, amount=usd(0))
    with pytest.raises(NaiveDatetime):
        JournalEntry(reference="x", kind=EntryKind.PAYMENT, at=datetime(2025, 1, 1), postings=lines)


# -- builders: one per §9 movement -------------------------------------------------------------------------------


def test_payment_splits_into_fund_and_company_half_up() -> None:
    entry = pay("in_1", 30_001, HALF)
    assert entry.reference == "invoice:in_1:paid"
    # 30_001 × 50 % = 15_000.5 → 15_001 to the fund (half-up), 15_000 to the company.
    assert postings(entry) == {
        (Account.CASH, Side.DEBIT, 30_001),
        (Account.FUND, Side.CREDIT, 15_001),
        (Account.COMPANY_REVENUE, Side.CREDIT, 15_000),
    }


def test_payment_with_full_fund_share_has_no_company_posting() -> None:
    assert postings(pay("in_1", 30_000)) == {(Account.CASH, Side.DEBIT, 30_000), (Account.FUND, Side.CREDIT, 30_000)}


def test_split_refuses_non_positive_payment() -> None:
    with pytest.raises(UnbalancedEntry):
        split_payment(usd(0), RULES)


def test_provider_fee_never_touches_the_fund() -> None:
    entry = provider_fee(balance_transaction_id="txn_1", fee=usd(900), at=T0)
    assert entry.reference == "fee:txn_1"
    assert postings(entry) == {(Account.PROCESSING_FEES, Side.DEBIT, 900), (Account.CASH, Side.CREDIT, 900)}


def test_refund_reverses_the_split_pro_rata() -> None:
    split = split_payment(usd(30_000), ProgramRules(fund_share_bps=8_000))  # 24_000 / 6_000
    entry = refund_issued(refund_id="re_1", amount=usd(10_000), original=split, already_reversed=usd(0), at=T0)
    assert entry.reference == "refund:re_1"
    assert postings(entry) == {
        (Account.FUND, Side.DEBIT, 8_000),
        (Account.COMPANY_REVENUE, Side.DEBIT, 2_000),
        (Account.CASH, Side.CREDIT, 10_000),
    }


@given(
    st.integers(1, 100_000),
    st.integers(0, 10_000),
    st.lists(st.integers(1, 1_000), min_size=1, max_size=8),
)
def test_partial_refunds_reverse_the_split_exactly_once_complete(total: int, bps: int, cuts: list[int]) -> None:
    """However a payment is refunded in parts, the fund and company get back exactly their original shares."""
    rules = ProgramRules(fund_share_bps=bps)
    split = split_payment(usd(total), rules)
    # Turn the cuts into positive parts summing to the total.
    weights = sum(cuts)
    parts = [total * c // weights for c in cuts]
    parts[-1] += total - sum(parts)
    parts = [p for p in parts if p > 0]
    ledger = Ledger().post(payment_received(invoice_id="in_1", split=split, at=T0))
    reversed_so_far = usd(0)
    for i, part in enumerate(parts):
        entry = refund_issued(
            refund_id=f"re_{i}", amount=usd(part), original=split, already_reversed=reversed_so_far, at=T0
        )
        ledger = ledger.post(entry)
        reversed_so_far += usd(part)
    for account in Account:
        assert ledger.balance(account).is_zero


def test_reversals_cannot_exceed_the_payment() -> None:
    split = split_payment(usd(1_000), RULES)
    with pytest.raises(UnbalancedEntry, match="exceed"):
        refund_issued(refund_id="re", amount=usd(600), original=split, already_reversed=usd(500), at=T0)
    with pytest.raises(UnbalancedEntry, match="positive"):
        refund_issued(refund_id="re", amount=usd(0), original=split, already_reversed=usd(0), at=T0)


def test_dispute_opened_lost_and_won() -> None:
    split = split_payment(usd(2_500), HALF)
    opened = dispute_opened(dispute_id="dp_1", amount=usd(2_500), at=T0)
    assert opened.reference == "dispute:dp_1:opened"
    assert postings(opened) == {(Account.DISPUTES_PENDING, Side.DEBIT, 2_500), (Account.CASH, Side.CREDIT, 2_500)}
    lost = dispute_lost(dispute_id="dp_1", amount=usd(2_500), original=split, already_reversed=usd(0), at=T0)
    assert lost.reference == "dispute:dp_1:lost"
    assert postings(lost) == {
        (Account.FUND, Side.DEBIT, 1_250),
        (Account.COMPANY_REVENUE, Side.DEBIT, 1_250),
        (Account.DISPUTES_PENDING, Side.CREDIT, 2_500),
    }
    won = dispute_won(dispute_id="dp_1", amount=usd(2_500), at=T0)
    assert won.reference == "dispute:dp_1:won"
    assert postings(won) == {(Account.CASH, Side.DEBIT, 2_500), (Account.DISPUTES_PENDING, Side.CREDIT, 2_500)}


def test_lost_dispute_ends_like_a_refund_and_won_like_nothing() -> None:
    split = split_payment(usd(2_500), HALF)
    base = Ledger().post(payment_received(invoice_id="in_1", split=split, at=T0))
    opened = base.post(dispute_opened(dispute_id="dp", amount=usd(2_500), at=T0))
    assert opened.balance(Account.DISPUTES_PENDING) == usd(2_500)
    lost = opened.post(dispute_lost(dispute_id="dp", amount=usd(2_500), original=split, already_reversed=usd(0), at=T0))
    refunded = base.post(
        refund_issued(refund_id="re", amount=usd(2_500), original=split, already_reversed=usd(0), at=T0)
    )
    for account in Account:
        assert lost.balance(account) == refunded.balance(account)
    won = opened.post(dispute_won(dispute_id="dp", amount=usd(2_500), at=T0))
    for account in Account:
        assert won.balance(account) == base.balance(account)


def test_commit_and_release() -> None:
    commit = reward_committed(payout_id="po_1", gross=usd(10_000_000), at=T0)
    assert commit.reference == "payout:po_1:commit"
    assert postings(commit) == {
        (Account.FUND, Side.DEBIT, 10_000_000),
        (Account.PAYOUTS_PAYABLE, Side.CREDIT, 10_000_000),
    }
    release = reward_released(payout_id="po_1", gross=usd(10_000_000), at=T0)
    assert release.reference == "payout:po_1:release"
    assert postings(release) == {
        (Account.PAYOUTS_PAYABLE, Side.DEBIT, 10_000_000),
        (Account.FUND, Side.CREDIT, 10_000_000),
    }
    assert cancelled_before_processing(payout_id="po_1", gross=usd(10_000_000), at=T0) == (release,)


def test_withholding_and_retention_at_first_processing() -> None:
    w = withholding_recorded(payout_id="po", withholding=usd(2_400_000), at=T0)
    assert w.reference == "payout:po:withholding"
    assert postings(w) == {
        (Account.PAYOUTS_PAYABLE, Side.DEBIT, 2_400_000),
        (Account.WITHHOLDING_PAYABLE, Side.CREDIT, 2_400_000),
    }
    d = retention_deducted(payout_id="po", deduction=usd(30_000), rules=HALF, at=T0)
    assert d.reference == "payout:po:retention"
    assert postings(d) == {
        (Account.PAYOUTS_PAYABLE, Side.DEBIT, 30_000),
        (Account.FUND, Side.CREDIT, 15_000),
        (Account.COMPANY_REVENUE, Side.CREDIT, 15_000),
    }
    both = first_processing(
        payout_id="po", withholding=usd(2_400_000), retention_deduction=usd(30_000), rules=HALF, at=T0
    )
    assert both == (w, d)
    assert first_processing(payout_id="po", withholding=usd(0), retention_deduction=usd(0), rules=HALF, at=T0) == ()


def test_completion_return_and_remittance() -> None:
    done = payout_completed(payout_id="po", attempt=1, net=usd(7_570_000), at=T0)
    assert done.reference == "payout:po:attempt:1:completed"
    assert postings(done) == {(Account.PAYOUTS_PAYABLE, Side.DEBIT, 7_570_000), (Account.CASH, Side.CREDIT, 7_570_000)}
    back = payout_returned(payout_id="po", attempt=1, net=usd(7_570_000), at=T0)
    assert back.reference == "payout:po:attempt:1:returned"
    assert postings(back) == {(Account.CASH, Side.DEBIT, 7_570_000), (Account.PAYOUTS_PAYABLE, Side.CREDIT, 7_570_000)}
    assert payout_completed(payout_id="po", attempt=2, net=usd(1), at=T0).reference != done.reference
    remit = withholding_remitted(remittance_id="irs_2025q1", amount=usd(2_400_000), at=T0)
    assert remit.reference == "withholding:irs_2025q1:remitted"
    assert postings(remit) == {
        (Account.WITHHOLDING_PAYABLE, Side.DEBIT, 2_400_000),
        (Account.CASH, Side.CREDIT, 2_400_000),
    }


@pytest.mark.parametrize(("w9", "prepaid"), [(True, True), (True, False), (False, True), (False, False)])
def test_full_payout_lifecycle_balances_every_account(w9: bool, prepaid: bool) -> None:
    """Fund → commit → first processing → completion: payable clears, the fund keeps only retention dues."""
    amounts = payout_amounts(rules=HALF, w9_certified=w9, retention_prepaid=prepaid)
    ledger = funded(20_000_000).post(reward_committed(payout_id="po", gross=amounts.gross, at=T0))
    fund_after_commit = ledger.fund
    ledger = ledger.post_all(
        first_processing(
            payout_id="po",
            withholding=amounts.withholding,
            retention_deduction=amounts.retention_deduction,
            rules=HALF,
            at=T0,
        )
    )
    ledger = ledger.post(payout_completed(payout_id="po", attempt=1, net=amounts.net, at=T0))
    assert ledger.balance(Account.PAYOUTS_PAYABLE).is_zero
    assert ledger.balance(Account.WITHHOLDING_PAYABLE) == amounts.withholding
    assert ledger.fund == fund_after_commit + amounts.retention_deduction.share(HALF.fund_share_bps)
    assert ledger.trial_balance().is_zero


@pytest.mark.parametrize("after", ["failed", "returned"])
def test_cancel_after_failed_or_returned_restores_the_fund(after: str) -> None:
    amounts = payout_amounts(rules=HALF, w9_certified=False, retention_prepaid=False)
    start = funded(20_000_000)
    ledger = start.post(reward_committed(payout_id="po", gross=amounts.gross, at=T0))
    ledger = ledger.post_all(
        first_processing(
            payout_id="po",
            withholding=amounts.withholding,
            retention_deduction=amounts.retention_deduction,
            rules=HALF,
            at=T0,
        )
    )
    if after == "returned":
        ledger = ledger.post(payout_completed(payout_id="po", attempt=1, net=amounts.net, at=T0))
        ledger = ledger.post(payout_returned(payout_id="po", attempt=1, net=amounts.net, at=T0))
    entries = cancelled_after_processing(
        payout_id="po",
        gross=amounts.gross,
        withholding=amounts.withholding,
        retention_deduction=amounts.retention_deduction,
        rules=HALF,
        at=T0,
    )
    assert [e.kind for e in entries] == [
        EntryKind.WITHHOLDING_REVERSAL,
        EntryKind.RETENTION_REVERSAL,
        EntryKind.RELEASE,
    ]
    ledger = ledger.post_all(entries)
    for account in Account:
        assert ledger.balance(account) == start.balance(account)


def test_cancel_after_processing_without_withholding_or_retention_only_releases() -> None:
    entries = cancelled_after_processing(
        payout_id="po", gross=usd(10_000_000), withholding=usd(0), retention_deduction=usd(0), rules=RULES, at=T0
    )
    assert [e.kind for e in entries] == [EntryKind.RELEASE]


# -- the ledger value ---------------------------------------------------------------------------------------------


def test_same_payment_posted_ten_times_is_one_entry() -> None:
    """§12: the provider event ten times plus the checkout redirect → one ledger entry."""
    ledger = Ledger()
    for delivery in range(11):
        # Each delivery builds the entry afresh from the same provider invoice (times may differ).
        entry = replace(pay("in_1MqV", 30_000), at=T0 + timedelta(seconds=delivery))
        ledger = ledger.post(entry)
    assert len(ledger.entries) == 1
    assert ledger.fund == usd(30_000)
    assert ledger.balance(Account.CASH) == usd(30_000)


def test_same_reference_with_different_postings_is_a_conflict() -> None:
    ledger = Ledger().post(pay("in_1", 30_000))
    with pytest.raises(LedgerConflict):
        ledger.post(pay("in_1", 2_500))


def test_commit_larger_than_the_fund_is_refused() -> None:
    ledger = funded(9_999_999)
    with pytest.raises(FundWouldGoNegative):
        ledger.post(reward_committed(payout_id="po", gross=usd(10_000_000), at=T0))
    exact = funded(10_000_000).post(reward_committed(payout_id="po", gross=usd(10_000_000), at=T0))
    assert exact.fund.is_zero


def test_refunds_may_take_the_fund_negative() -> None:
    split = split_payment(usd(30_000), RULES)
    ledger = Ledger().post(payment_received(invoice_id="in_1", split=split, at=T0))
    ledger = ledger.post(reward_committed(payout_id="po", gross=usd(30_000), at=T0))
    ledger = ledger.post(
        refund_issued(refund_id="re_1", amount=usd(30_000), original=split, already_reversed=usd(0), at=T0)
    )
    assert ledger.fund == usd(-30_000)
    with pytest.raises(FundWouldGoNegative):
        ledger.post(reward_committed(payout_id="po2", gross=usd(1), at=T0))


def test_posting_returns_a_new_ledger_and_leaves_the_old_one() -> None:
    empty = Ledger()
    one = empty.post(pay("in_1", 100))
    assert empty.entries == ()
    assert empty.fund.is_zero
    assert one.contains("invoice:in_1:paid")
    assert not empty.contains("invoice:in_1:paid")
    assert one.entry("invoice:in_1:paid") == pay("in_1", 100)
    assert one.entry("nope") is None


def test_net_effect_of_an_entry_on_an_account() -> None:
    commit = reward_committed(payout_id="po", gross=usd(500), at=T0)
    assert commit.net_effect(Account.FUND) == usd(-500)
    assert commit.net_effect(Account.PAYOUTS_PAYABLE) == usd(500)
    assert commit.net_effect(Account.CASH).is_zero


# -- properties ---------------------------------------------------------------------------------------------------

amount = st.integers(1, 20_000_000)


Expected = set[tuple[Account, Side, int]]


def _expected(*lines: tuple[Account, Side, int]) -> Expected:
    """Expected postings, zero amounts dropped (a builder never posts a zero line)."""
    return {line for line in lines if line[2] != 0}


def _fund_share(cents: int, bps: int) -> int:
    """Independent of Money.share: bps of a positive amount, half-up = floor((cents x bps + 5_000) / 10_000)."""
    return (cents * bps + 5_000) // 10_000


def _fund_part_of_reversal(part: int, fund: int, total: int) -> int:
    """Independent of pro_rata: part x fund / total rounded half-up (ties go to the fund), first reversal only."""
    return (2 * part * fund + total) // (2 * total)


@st.composite
def movements(draw: st.DrawFn) -> list[tuple[JournalEntry, Expected]]:
    """A random mix of every movement kind, with references that sometimes repeat, each with the postings §9
    prescribes for it, written out independently of the builders."""
    bps = draw(st.integers(0, 10_000))
    rules = ProgramRules(fund_share_bps=bps)
    out: list[tuple[JournalEntry, Expected]] = []
    D, C = Side.DEBIT, Side.CREDIT
    for _ in range(draw(st.integers(1, 25))):
        ref = str(draw(st.integers(0, 6)))
        kind = draw(st.sampled_from(["pay", "fee", "refund", "dispute", "commit", "release", "remit", "processing"]))
        cents = draw(amount)
        split = split_payment(usd(cents), rules)
        fund = _fund_share(cents, bps)
        match kind:
            case "pay":
                out.append(
                    (
                        payment_received(invoice_id=ref, split=split, at=T0),
                        _expected(
                            (Account.CASH, D, cents),
                            (Account.FUND, C, fund),
                            (Account.COMPANY_REVENUE, C, cents - fund),
                        ),
                    )
                )
            case "fee":
                out.append(
                    (
                        provider_fee(balance_transaction_id=ref, fee=usd(cents), at=T0),
                        _expected((Account.PROCESSING_FEES, D, cents), (Account.CASH, C, cents)),
                    )
                )
            case "refund":
                part = draw(st.integers(1, cents))
                back = _fund_part_of_reversal(part, fund, cents)
                out.append(
                    (
                        refund_issued(refund_id=ref, amount=usd(part), original=split, already_reversed=usd(0), at=T0),
                        _expected(
                            (Account.FUND, D, back), (Account.COMPANY_REVENUE, D, part - back), (Account.CASH, C, part)
                        ),
                    )
                )
            case "dispute":
                out.append(
                    (
                        dispute_opened(dispute_id=ref, amount=usd(cents), at=T0),
                        _expected((Account.DISPUTES_PENDING, D, cents), (Account.CASH, C, cents)),
                    )
                )
                if draw(st.booleans()):
                    out.append(
                        (
                            dispute_won(dispute_id=ref, amount=usd(cents), at=T0),
                            _expected((Account.CASH, D, cents), (Account.DISPUTES_PENDING, C, cents)),
                        )
                    )
                else:
                    lost = dispute_lost(
                        dispute_id=ref, amount=usd(cents), original=split, already_reversed=usd(0), at=T0
                    )
                    out.append(
                        (
                            lost,
                            _expected(
                                (Account.FUND, D, fund),
                                (Account.COMPANY_REVENUE, D, cents - fund),
                                (Account.DISPUTES_PENDING, C, cents),
                            ),
                        )
                    )
            case "commit":
                out.append(
                    (
                        reward_committed(payout_id=ref, gross=usd(cents), at=T0),
                        _expected((Account.FUND, D, cents), (Account.PAYOUTS_PAYABLE, C, cents)),
                    )
                )
            case "release":
                out.append(
                    (
                        reward_released(payout_id=ref, gross=usd(cents), at=T0),
                        _expected((Account.PAYOUTS_PAYABLE, D, cents), (Account.FUND, C, cents)),
                    )
                )
            case "remit":
                out.append(
                    (
                        withholding_remitted(remittance_id=ref, amount=usd(cents), at=T0),
                        _expected((Account.WITHHOLDING_PAYABLE, D, cents), (Account.CASH, C, cents)),
                    )
                )
            case _:
                withheld = draw(st.integers(0, cents))
                retained = draw(st.integers(0, cents))
                built = first_processing(
                    payout_id=ref, withholding=usd(withheld), retention_deduction=usd(retained), rules=rules, at=T0
                )
                expected: list[Expected] = []
                if withheld:
                    expected.append(
                        _expected((Account.PAYOUTS_PAYABLE, D, withheld), (Account.WITHHOLDING_PAYABLE, C, withheld))
                    )
                if retained:
                    to_fund = _fund_share(retained, bps)
                    expected.append(
                        _expected(
                            (Account.PAYOUTS_PAYABLE, D, retained),
                            (Account.FUND, C, to_fund),
                            (Account.COMPANY_REVENUE, C, retained - to_fund),
                        )
                    )
                assert len(built) == len(expected)
                out.extend(zip(built, expected, strict=True))
    return out


def _post_leniently(ledger: Ledger, entry: JournalEntry) -> Ledger:
    try:
        return ledger.post(entry)
    except (FundWouldGoNegative, LedgerConflict):
        return ledger


@given(movements())
def test_every_builder_posts_exactly_the_prescribed_lines(moves: list[tuple[JournalEntry, Expected]]) -> None:
    """Each §9 movement debits and credits exactly the accounts and amounts written out in ``movements``, and
    the ledger stays balanced as they are posted."""
    ledger = Ledger()
    for entry, expected in moves:
        assert postings(entry) == expected
        assert len(entry.postings) == len(expected)  # no account posted twice on the same side
        ledger = _post_leniently(ledger, entry)
        assert ledger.trial_balance().is_zero


@given(movements())
def test_replaying_a_posted_reference_changes_nothing(moves: list[tuple[JournalEntry, Expected]]) -> None:
    ledger = Ledger()
    for entry, _ in moves:
        ledger = _post_leniently(ledger, entry)
    for posted in ledger.entries:
        assert ledger.post(posted) is ledger
    assert len({e.reference for e in ledger.entries}) == len(ledger.entries)


@given(movements())
def test_no_commit_makes_the_fund_negative(moves: list[tuple[JournalEntry, Expected]]) -> None:
    """A commit is accepted iff the fund covers it; other movements may still drive the fund below zero."""
    ledger = Ledger()
    for entry, _ in moves:
        if entry.kind is not EntryKind.COMMIT or ledger.contains(entry.reference):
            ledger = _post_leniently(ledger, entry)
            continue
        gross = -entry.net_effect(Account.FUND).cents
        if gross <= ledger.fund.cents:
            ledger = ledger.post(entry)
            assert ledger.fund.cents >= 0
        else:
            with pytest.raises(FundWouldGoNegative):
                ledger.post(entry)


def test_withholding_correction_moves_the_difference_both_ways() -> None:
    less = withholding_corrected(payout_id="po", correction=1, before=usd(2_400_000), after=usd(0), at=T0)
    assert less.reference == "payout:po:withholding:correction:1"
    assert postings(less) == {
        (Account.WITHHOLDING_PAYABLE, Side.DEBIT, 2_400_000),
        (Account.PAYOUTS_PAYABLE, Side.CREDIT, 2_400_000),
    }
    more = withholding_corrected(payout_id="po", correction=2, before=usd(0), after=usd(2_400_000), at=T0)
    assert postings(more) == {
        (Account.PAYOUTS_PAYABLE, Side.DEBIT, 2_400_000),
        (Account.WITHHOLDING_PAYABLE, Side.CREDIT, 2_400_000),
    }
    with pytest.raises(UnbalancedEntry):
        withholding_corrected(payout_id="po", correction=3, before=usd(5), after=usd(5), at=T0)


def test_corrected_payout_still_clears_payables_on_completion() -> None:
    wrong = payout_amounts(rules=RULES, w9_certified=False, retention_prepaid=False)
    right = payout_amounts(rules=RULES, w9_certified=True, retention_prepaid=False)
    ledger = funded(20_000_000).post(reward_committed(payout_id="po", gross=wrong.gross, at=T0))
    ledger = ledger.post_all(
        first_processing(
            payout_id="po",
            withholding=wrong.withholding,
            retention_deduction=wrong.retention_deduction,
            rules=RULES,
            at=T0,
        )
    )
    ledger = ledger.post(
        withholding_corrected(payout_id="po", correction=1, before=wrong.withholding, after=right.withholding, at=T0)
    )
    ledger = ledger.post(payout_completed(payout_id="po", attempt=2, net=right.net, at=T0))
    assert ledger.balance(Account.PAYOUTS_PAYABLE).is_zero
    assert ledger.balance(Account.WITHHOLDING_PAYABLE).is_zero


# -- fund inflow (the pace behind the public next-payout estimate, §4) -------------------------------------------------


def test_fund_inflow_counts_member_money_into_the_fund() -> None:
    split = split_payment(usd(2_500), HALF)  # 1_250 fund / 1_250 company
    assert fund_inflow(payment_received(invoice_id="in_1", split=split, at=T0)) == {"USD": 1_250}
    assert fund_inflow(pay("in_2", 10_001, ProgramRules(fund_share_bps=10_000))) == {"USD": 10_001}
    refund = refund_issued(refund_id="re_1", amount=usd(1_000), original=split, already_reversed=usd(0), at=T0)
    assert fund_inflow(refund) == {"USD": -500}
    lost = dispute_lost(dispute_id="dp_1", amount=usd(2_500), original=split, already_reversed=usd(0), at=T0)
    assert fund_inflow(lost) == {"USD": -1_250}
    # retention is dues paid out of the reward: its fund share comes in, and goes again if the payout is cancelled
    retention = retention_deducted(payout_id="po_1", deduction=usd(30_000), rules=HALF, at=T0)
    assert fund_inflow(retention) == {"USD": 15_000}
    reversal = cancelled_after_processing(
        payout_id="po_1", gross=usd(10_000_000), withholding=usd(0), retention_deduction=usd(30_000), rules=HALF, at=T0
    )
    assert [fund_inflow(e) for e in reversal] == [{"USD": -15_000}, {}]  # the release that follows counts nothing


def test_fund_inflow_ignores_commits_releases_and_movements_outside_the_fund() -> None:
    assert fund_inflow(reward_committed(payout_id="po_1", gross=usd(10_000_000), at=T0)) == {}
    assert fund_inflow(reward_released(payout_id="po_1", gross=usd(10_000_000), at=T0)) == {}
    assert fund_inflow(provider_fee(balance_transaction_id="txn_1", fee=usd(90), at=T0)) == {}
    assert fund_inflow(dispute_opened(dispute_id="dp_1", amount=usd(2_500), at=T0)) == {}
    assert fund_inflow(dispute_won(dispute_id="dp_1", amount=usd(2_500), at=T0)) == {}
    assert fund_inflow(withholding_recorded(payout_id="po_1", withholding=usd(2_400_000), at=T0)) == {}
    assert fund_inflow(payout_completed(payout_id="po_1", attempt=1, net=usd(9_970_000), at=T0)) == {}


def test_fund_inflow_keeps_currencies_apart() -> None:
    def eur(cents: int) -> Money:
        return Money(cents=cents, currency="EUR")

    entry = JournalEntry(
        reference="multi",
        kind=EntryKind.PAYMENT,
        at=T0,
        postings=(
            debit(Account.CASH, usd(1_000)),
            credit(Account.FUND, usd(600)),
            credit(Account.COMPANY_REVENUE, usd(400)),
            debit(Account.CASH, eur(800)),
            credit(Account.FUND, eur(800)),
            debit(Account.FUND, Money(cents=70, currency="GBP")),
            credit(Account.FUND, Money(cents=70, currency="GBP")),  # nets to nothing: not reported
        ),
    )
    assert fund_inflow(entry) == {"USD": 600, "EUR": 800}
    refund = JournalEntry(
        reference="multi-back",
        kind=EntryKind.REFUND,
        at=T0,
        postings=(debit(Account.FUND, eur(300)), credit(Account.CASH, eur(300))),
    )
    assert fund_inflow(refund) == {"EUR": -300}
    commit = replace(entry, reference="multi-commit", kind=EntryKind.COMMIT)
    assert fund_inflow(commit) == {}


@given(movements())
def test_fund_inflow_is_the_prescribed_fund_lines_except_commits_and_releases(
    moves: list[tuple[JournalEntry, Expected]],
) -> None:
    for entry, expected in moves:
        fund = sum(
            cents if side is Side.CREDIT else -cents for account, side, cents in expected if account is Account.FUND
        )
        moved = 0 if entry.kind in (EntryKind.COMMIT, EntryKind.RELEASE) else fund
        assert fund_inflow(entry) == ({"USD": moved} if moved else {})
