"""Money: integer cents, one currency, splits that conserve every cent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import CurrencyMismatch, InvalidAmount
from domain.money import Money, pro_rata, pro_rata_increment, round_half_up_div

cents = st.integers(min_value=-(10**12), max_value=10**12)
bps = st.integers(min_value=0, max_value=10_000)


def usd(amount: int) -> Money:
    return Money(cents=amount)


class TestConstruction:
    def test_defaults_to_usd(self) -> None:
        assert usd(2500).currency == "USD"
        assert Money.of(7, "EUR") == Money(cents=7, currency="EUR")
        assert Money.zero().cents == 0

    @pytest.mark.parametrize("bad", [1.0, 2500.0, True, False, "2500", None])
    def test_refuses_non_int_cents(self, bad: object) -> None:
        with pytest.raises(InvalidAmount):
            Money(cents=bad)  # type: ignore[arg-type]

    @pytest.mark.parametrize("bad", ["usd", "US", "USDX", "U$D", 840, ""])
    def test_refuses_bad_currency(self, bad: object) -> None:
        with pytest.raises(InvalidAmount):
            Money(cents=1, currency=bad)  # type: ignore[arg-type]

    def test_is_immutable(self) -> None:
        m = usd(1)
        with pytest.raises(AttributeError):
            m.cents = 2  # type: ignore[misc]

    def test_str_shows_dollars(self) -> None:
        assert str(usd(9_999_999)) == "99,999.99 USD"
        assert str(usd(-5)) == "-0.05 USD"


class TestArithmetic:
    def test_add_sub_neg_abs(self) -> None:
        assert usd(30_000) + usd(2_500) == usd(32_500)
        assert usd(30_000) - usd(2_500) == usd(27_500)
        assert -usd(5) == usd(-5)
        assert abs(usd(-5)) == usd(5)

    def test_multiply_by_int_only(self) -> None:
        assert usd(2_500) * 12 == usd(30_000)
        assert 12 * usd(2_500) == usd(30_000)
        with pytest.raises(InvalidAmount):
            usd(2_500) * 1.5  # type: ignore[operator]
        with pytest.raises(InvalidAmount):
            usd(2_500) * True

    def test_floordiv_counts_whole_amounts(self) -> None:
        assert usd(25_000_000) // usd(10_000_000) == 2
        assert usd(9_999_999) // usd(10_000_000) == 0
        with pytest.raises(InvalidAmount):
            usd(1) // usd(0)

    def test_comparisons(self) -> None:
        assert usd(1) < usd(2) <= usd(2) < usd(3)
        assert usd(3) > usd(2) >= usd(2)
        assert not usd(2) < usd(2)
        assert usd(0).is_zero
        assert usd(1).is_positive
        assert usd(-1).is_negative
        assert not usd(0).is_positive
        assert not usd(0).is_negative

    @pytest.mark.parametrize(
        "op",
        [
            lambda a, b: a + b,
            lambda a, b: a - b,
            lambda a, b: a < b,
            lambda a, b: a <= b,
            lambda a, b: a > b,
            lambda a, b: a >= b,
            lambda a, b: a // b,
        ],
    )
    def test_mixed_currencies_refused(self, op: object) -> None:
        with pytest.raises(CurrencyMismatch, match="USD vs EUR"):
            op(usd(100), Money(cents=100, currency="EUR"))  # type: ignore[operator]

    def test_non_money_operand_refused(self) -> None:
        with pytest.raises(InvalidAmount):
            usd(1) + 1  # type: ignore[operator]

    def test_equality_includes_currency(self) -> None:
        assert usd(1) != Money(cents=1, currency="EUR")


class TestRounding:
    @pytest.mark.parametrize(
        ("num", "den", "expected"),
        [(5, 10, 1), (4, 10, 0), (15, 10, 2), (-5, 10, -1), (-4, 10, 0), (-15, 10, -2), (0, 3, 0)],
    )
    def test_half_away_from_zero(self, num: int, den: int, expected: int) -> None:
        assert round_half_up_div(num, den) == expected

    def test_denominator_must_be_positive(self) -> None:
        with pytest.raises(InvalidAmount):
            round_half_up_div(1, 0)


class TestSplit:
    def test_default_full_share(self) -> None:
        assert usd(30_000).split(10_000) == (usd(30_000), usd(0))

    def test_half_cent_goes_to_the_fund(self) -> None:
        # 1 cent at 50% = 0.5 cent: the fund's share rounds half-up, the company takes the rest.
        assert usd(1).split(5_000) == (usd(1), usd(0))
        assert usd(3).split(5_000) == (usd(2), usd(1))
        assert usd(2_500).split(3_333) == (usd(833), usd(1_667))  # 833.25 -> 833

    def test_withholding_example(self) -> None:
        assert usd(10_000_000).share(2_400) == usd(2_400_000)

    @pytest.mark.parametrize("bad", [-1, 10_001])
    def test_bps_out_of_range(self, bad: int) -> None:
        with pytest.raises(InvalidAmount):
            usd(100).split(bad)

    def test_bps_must_be_int(self) -> None:
        with pytest.raises(InvalidAmount):
            usd(100).split(50.0)  # type: ignore[arg-type]

    @given(amount=cents, share_bps=bps)
    def test_split_conserves_total(self, amount: int, share_bps: int) -> None:
        fund, rest = usd(amount).split(share_bps)
        assert fund + rest == usd(amount)

    @given(amount=cents, share_bps=bps)
    def test_split_is_within_half_a_cent_of_exact(self, amount: int, share_bps: int) -> None:
        fund, _ = usd(amount).split(share_bps)
        # |fund - amount*bps/10000| <= 1/2, in integers
        assert abs(fund.cents * 10_000 - amount * share_bps) * 2 <= 10_000

    @given(amount=cents, share_bps=bps)
    def test_reversal_mirrors_split(self, amount: int, share_bps: int) -> None:
        fund, rest = usd(amount).split(share_bps)
        assert usd(-amount).split(share_bps) == (-fund, -rest)


class TestProRata:
    def test_full_amount_returns_parts(self) -> None:
        parts = (usd(833), usd(1_667))
        assert pro_rata(usd(2_500), parts) == parts
        assert pro_rata(usd(-2_500), parts) == (usd(-833), usd(-1_667))

    def test_half_refund(self) -> None:
        # 1000 of a 2500 payment split 833/1667: exact 333.2 / 666.8 -> 333 / 667
        assert pro_rata(usd(1_000), (usd(833), usd(1_667))) == (usd(333), usd(667))

    def test_tie_goes_to_earlier_part(self) -> None:
        assert pro_rata(usd(1), (usd(1), usd(1))) == (usd(1), usd(0))

    def test_zero_part_gets_nothing(self) -> None:
        assert pro_rata(usd(999), (usd(2_500), usd(0))) == (usd(999), usd(0))

    @pytest.mark.parametrize(
        "parts",
        [(), (usd(0), usd(0)), (usd(-1), usd(5)), (Money(cents=1, currency="EUR"),)],
    )
    def test_bad_parts(self, parts: tuple[Money, ...]) -> None:
        with pytest.raises((InvalidAmount, CurrencyMismatch)):
            pro_rata(usd(10), parts)

    def test_currency_mismatch_is_named(self) -> None:
        with pytest.raises(CurrencyMismatch):
            pro_rata(usd(10), (Money(cents=1, currency="EUR"),))

    @given(
        amount=st.integers(min_value=-(10**9), max_value=10**9),
        parts=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=5).filter(any),
    )
    def test_conserves_and_stays_close(self, amount: int, parts: list[int]) -> None:
        allocated = pro_rata(usd(amount), [usd(p) for p in parts])
        assert sum(a.cents for a in allocated) == amount
        total = sum(parts)
        for got, part in zip(allocated, parts, strict=True):
            # each share is within one cent of its exact proportional value
            assert abs(got.cents * total - amount * part) < total

    @given(
        payment=st.integers(min_value=1, max_value=10**7),
        share_bps=bps,
        cuts=st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=6),
    )
    def test_partial_refunds_summing_to_payment_reverse_split_exactly(
        self, payment: int, share_bps: int, cuts: list[int]
    ) -> None:
        parts = usd(payment).split(share_bps)
        # turn cuts into refunds that sum exactly to the payment
        refunds: list[int] = []
        left = payment
        for cut in cuts:
            if left == 0:
                break
            take = min(left, cut)
            refunds.append(take)
            left -= take
        if left:
            refunds.append(left)
        already = usd(0)
        reversed_fund = usd(0)
        reversed_rest = usd(0)
        for refund in refunds:
            fund, rest = pro_rata_increment(already, usd(refund), parts)
            assert fund + rest == usd(refund)
            reversed_fund += fund
            reversed_rest += rest
            already += usd(refund)
        assert (reversed_fund, reversed_rest) == parts
