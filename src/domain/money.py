"""Money as integer minor units with a currency.

Why integers: every cent of the reward fund must be explainable, so no ``float`` ever touches a money path and
storage is ``BIGINT`` cents. Mixing currencies is refused loudly rather than converted.

Rounding: percentage shares are rounded *half away from zero* ("half-up" on magnitudes), so the share of a
negative amount (a reversal) is exactly the negation of the share of the positive amount, and a full reversal
undoes the original split to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from domain.errors import CurrencyMismatch, InvalidAmount

BPS_DENOMINATOR = 10_000
"""Basis points in a whole; a share of ``bps`` is ``bps / BPS_DENOMINATOR``."""

DEFAULT_CURRENCY = "USD"


def _require_int(value: object, what: str) -> int:
    # bool is a subclass of int: refuse it explicitly, True cents is always a bug.
    if type(value) is not int:
        raise InvalidAmount(f"{what} must be an int, got {type(value).__name__}")
    return value


def round_half_up_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in exact integer arithmetic."""
    if denominator <= 0:
        raise InvalidAmount("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


@dataclass(frozen=True, slots=True, kw_only=True)
class Money:
    """An amount of ``cents`` minor units of ``currency`` (ISO 4217, upper case)."""

    cents: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        _require_int(self.cents, "Money.cents")
        if not (
            isinstance(self.currency, str)
            and len(self.currency) == 3
            and self.currency.isascii()
            and self.currency.isalpha()
            and self.currency.isupper()
        ):
            raise InvalidAmount(f"currency must be a 3-letter upper-case ISO code, got {self.currency!r}")

    # -- constructors -------------------------------------------------------------------------------------------

    @classmethod
    def of(cls, cents: int, currency: str = DEFAULT_CURRENCY) -> Self:
        """Positional shorthand: ``Money.of(2500)``."""
        return cls(cents=cents, currency=currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Self:
        return cls(cents=0, currency=currency)

    # -- arithmetic ---------------------------------------------------------------------------------------------

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise InvalidAmount(f"expected Money, got {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)
        return other

    def __add__(self, other: Money) -> Money:
        return Money(cents=self.cents + self._same(other).cents, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(cents=self.cents - self._same(other).cents, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(cents=-self.cents, currency=self.currency)

    def __abs__(self) -> Money:
        return Money(cents=abs(self.cents), currency=self.currency)

    def __mul__(self, factor: int) -> Money:
        """Multiply by a whole number (e.g. ``retention_months x monthly_dues``); never by a float."""
        return Money(cents=self.cents * _require_int(factor, "factor"), currency=self.currency)

    __rmul__ = __mul__

    def __floordiv__(self, other: Money) -> int:
        """How many whole ``other`` fit in ``self`` (``floor(fund / reward)``)."""
        divisor = self._same(other).cents
        if divisor == 0:
            raise InvalidAmount("division by a zero amount")
        return self.cents // divisor

    # -- comparison (never across currencies) -------------------------------------------------------------------

    def __lt__(self, other: Money) -> bool:
        return self.cents < self._same(other).cents

    def __le__(self, other: Money) -> bool:
        return self.cents <= self._same(other).cents

    def __gt__(self, other: Money) -> bool:
        return self.cents > self._same(other).cents

    def __ge__(self, other: Money) -> bool:
        return self.cents >= self._same(other).cents

    @property
    def is_zero(self) -> bool:
        return self.cents == 0

    @property
    def is_positive(self) -> bool:
        return self.cents > 0

    @property
    def is_negative(self) -> bool:
        return self.cents < 0

    # -- shares -------------------------------------------------------------------------------------------------

    def share(self, bps: int) -> Money:
        """``bps`` basis points of this amount, rounded half away from zero."""
        _check_bps(bps)
        return Money(cents=round_half_up_div(self.cents * bps, BPS_DENOMINATOR), currency=self.currency)

    def split(self, bps: int) -> tuple[Money, Money]:
        """``(share, remainder)``: the fund's share (rounded half-up) and the rest; they always sum to self."""
        share = self.share(bps)
        return share, self - share

    def __str__(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, minor = divmod(abs(self.cents), 100)
        return f"{sign}{whole:,}.{minor:02d} {self.currency}"


def _check_bps(bps: int) -> None:
    _require_int(bps, "bps")
    if not 0 <= bps <= BPS_DENOMINATOR:
        raise InvalidAmount(f"bps must be within 0..{BPS_DENOMINATOR}, got {bps}")


def pro_rata(amount: Money, parts: Sequence[Money]) -> tuple[Money, ...]:
    """Allocate ``amount`` over ``parts`` in proportion to them, conserving ``amount`` exactly.

    Used to reverse a split pro rata (a refund of R on a payment split into fund/company parts). Largest
    remainder method; equal remainders go to the earlier part, so with ``(fund, company)`` the fund is favoured
    exactly as ``Money.split`` favours it. Allocating the whole of ``sum(parts)`` returns ``parts`` unchanged, and
    a negative amount is allocated as the negation of its magnitude (reversals mirror the original).
    """
    if not parts:
        raise InvalidAmount("pro_rata needs at least one part")
    for part in parts:
        if part.currency != amount.currency:
            raise CurrencyMismatch(amount.currency, part.currency)
        if part.is_negative:
            raise InvalidAmount("pro_rata parts must not be negative")
    total = sum(part.cents for part in parts)
    if total == 0:
        raise InvalidAmount("pro_rata parts must not all be zero")
    magnitude = abs(amount.cents)
    floors: list[int] = []
    remainders: list[tuple[int, int]] = []
    for index, part in enumerate(parts):
        quotient, remainder = divmod(magnitude * part.cents, total)
        floors.append(quotient)
        remainders.append((-remainder, index))
    leftover = magnitude - sum(floors)
    for _, index in sorted(remainders)[:leftover]:
        floors[index] += 1
    sign = -1 if amount.is_negative else 1
    return tuple(Money(cents=sign * cents, currency=amount.currency) for cents in floors)


def pro_rata_increment(already: Money, increment: Money, parts: Sequence[Money]) -> tuple[Money, ...]:
    """The allocation of one more partial refund, given what was already refunded of the same payment.

    Allocating each partial refund independently could leave a cent un-reversed after the last one; allocating
    the *cumulative* total and subtracting what earlier refunds took guarantees that refunds summing to the
    payment reverse its split exactly.
    """
    before = pro_rata(already, parts)
    after = pro_rata(already + increment, parts)
    return tuple(a - b for a, b in zip(after, before, strict=True))
