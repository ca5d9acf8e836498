"""Taxpayer identification numbers on a W-9 (DOMAIN.md §8): the shape checks the IRS publishes.

Why check at all: a W-9 with an impossible TIN is not a certified W-9, and paying without one means 24% backup
withholding. Refusing an obviously wrong number at entry spares the winner a withheld quarter of the reward.
"""

from enum import StrEnum


class TinType(StrEnum):
    SSN = "ssn"
    EIN = "ein"


class TinProblem(StrEnum):
    NOT_NINE_DIGITS = "tin_not_nine_digits"
    SSN_AREA_INVALID = "ssn_area_invalid"
    SSN_GROUP_INVALID = "ssn_group_invalid"
    SSN_SERIAL_INVALID = "ssn_serial_invalid"
    EIN_PREFIX_INVALID = "ein_prefix_invalid"


EIN_INVALID_PREFIXES = frozenset(
    {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89", "96", "97"}
)
"""EIN campus prefixes the IRS has never assigned."""


def normalise_tin(raw: str) -> str:
    """Digits only: members type SSNs as 123-45-6789 and EINs as 12-3456789."""
    return "".join(ch for ch in raw if ch not in " -")


def tin_problems(tin: str, tin_type: TinType) -> tuple[TinProblem, ...]:
    """Every reason ``tin`` (already normalised) cannot be a TIN of this type (empty = plausible)."""
    if len(tin) != 9 or not tin.isascii() or not tin.isdigit():
        return (TinProblem.NOT_NINE_DIGITS,)
    if tin_type is TinType.EIN:
        return (TinProblem.EIN_PREFIX_INVALID,) if tin[:2] in EIN_INVALID_PREFIXES else ()
    problems: list[TinProblem] = []
    area = int(tin[:3])
    if area in {0, 666} or area >= 900:
        problems.append(TinProblem.SSN_AREA_INVALID)
    if tin[3:5] == "00":
        problems.append(TinProblem.SSN_GROUP_INVALID)
    if tin[5:] == "0000":
        problems.append(TinProblem.SSN_SERIAL_INVALID)
    return tuple(problems)


def masked(tin_type: TinType, last4: str) -> str:
    """How a TIN is shown anywhere outside the sealed column."""
    return f"***-**-{last4}" if tin_type is TinType.SSN else f"**-***{last4}"
