"""TIN shape checks on a W-9 (IRS rules for SSNs and EIN prefixes) and how a TIN is shown."""

from hypothesis import given
from hypothesis import strategies as st

from domain.tax import EIN_INVALID_PREFIXES, TinProblem, TinType, masked, normalise_tin, tin_problems


def test_a_typed_ssn_and_ein_are_normalised_to_digits() -> None:
    assert normalise_tin("123-45-6789") == "123456789"
    assert normalise_tin("12-3456789") == "123456789"
    assert normalise_tin(" 123 45 6789 ") == "123456789"


def test_a_plausible_ssn_and_ein_pass() -> None:
    assert tin_problems("123456789", TinType.SSN) == ()
    assert tin_problems("123456789", TinType.EIN) == ()


def test_impossible_ssns_are_refused_with_every_reason() -> None:
    assert tin_problems("000000000", TinType.SSN) == (
        TinProblem.SSN_AREA_INVALID,
        TinProblem.SSN_GROUP_INVALID,
        TinProblem.SSN_SERIAL_INVALID,
    )
    assert tin_problems("666123456", TinType.SSN) == (TinProblem.SSN_AREA_INVALID,)
    assert tin_problems("900123456", TinType.SSN) == (TinProblem.SSN_AREA_INVALID,)
    assert tin_problems("123004567", TinType.SSN) == (TinProblem.SSN_GROUP_INVALID,)
    assert tin_problems("123450000", TinType.SSN) == (TinProblem.SSN_SERIAL_INVALID,)


def test_unassigned_ein_prefixes_are_refused() -> None:
    assert tin_problems("071234567", TinType.EIN) == (TinProblem.EIN_PREFIX_INVALID,)
    assert tin_problems("891234567", TinType.EIN) == (TinProblem.EIN_PREFIX_INVALID,)


@given(st.text(max_size=12))
def test_anything_but_nine_ascii_digits_is_one_shape_problem(raw: str) -> None:
    if len(raw) == 9 and raw.isascii() and raw.isdigit():
        return
    for kind in TinType:
        assert tin_problems(raw, kind) == (TinProblem.NOT_NINE_DIGITS,)


@given(st.from_regex(r"[0-9]{9}", fullmatch=True))
def test_an_ein_is_refused_exactly_for_its_unassigned_prefixes(tin: str) -> None:
    assert bool(tin_problems(tin, TinType.EIN)) == (tin[:2] in EIN_INVALID_PREFIXES)


def test_only_the_last_four_digits_are_ever_shown() -> None:
    assert masked(TinType.SSN, "6789") == "***-**-6789"
    assert masked(TinType.EIN, "6789") == "**-***6789"
