"""Payout destinations: ABA routing checksum (3-7-1), account number shape and type, holder name, cheque address."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.checkout import PostalAddress
from domain.routing import (
    ROUTING_WEIGHTS,
    AccountType,
    BankDetailsProblem,
    ChequeAddressProblem,
    account_number_valid,
    account_type_valid,
    check_bank_details,
    cheque_address_problems,
    holder_name_matches,
    name_digest,
    normalise_name,
    routing_number_problems,
)

P = BankDetailsProblem

# Published routing numbers of real banks (checksum-valid by construction).
REAL_ROUTING_NUMBERS = ["011000015", "021000021", "026009593", "111000025", "121000358", "322271627"]


def _checksum(digits: str) -> int:
    return sum(w * int(d) for w, d in zip(ROUTING_WEIGHTS, digits, strict=True)) % 10


@pytest.mark.parametrize("routing", REAL_ROUTING_NUMBERS)
def test_real_routing_numbers_pass(routing: str) -> None:
    assert routing_number_problems(routing) == ()


def test_a_single_digit_typo_fails_the_checksum() -> None:
    assert routing_number_problems("021000022") == (P.ROUTING_CHECKSUM_FAILED,)


@pytest.mark.parametrize("routing", ["", "02100002", "0210000210", "02100002a", "０２１０００００２１", " 21000021"])
def test_routing_must_be_nine_ascii_digits(routing: str) -> None:
    assert routing_number_problems(routing) == (P.ROUTING_NOT_NINE_DIGITS,)


def test_prefix_outside_the_federal_reserve_ranges_is_refused() -> None:
    # 5x is unassigned; choose the check digit so only the prefix is wrong.
    body = "50000000"
    check = next(str(d) for d in range(10) if _checksum(body + str(d)) == 0)
    assert routing_number_problems(body + check) == (P.ROUTING_PREFIX_INVALID,)


@given(
    st.sampled_from([*range(0, 13), *range(21, 33), *range(61, 73), 80]), st.text("0123456789", min_size=6, max_size=6)
)
def test_any_valid_prefix_with_its_check_digit_passes(prefix: int, middle: str) -> None:
    body = f"{prefix:02d}{middle}"
    check = next(str(d) for d in range(10) if _checksum(body + str(d)) == 0)
    assert routing_number_problems(body + check) == ()


@given(st.text("0123456789", min_size=8, max_size=8), st.integers(0, 8), st.integers(1, 9))
def test_changing_any_one_digit_breaks_the_checksum(body: str, index: int, delta: int) -> None:
    """Weights 3, 7, 1 are coprime with 10, so every single-digit error is detected."""
    routing = body + next(str(d) for d in range(10) if _checksum(body + str(d)) == 0)
    changed = routing[:index] + str((int(routing[index]) + delta) % 10) + routing[index + 1 :]
    assert P.ROUTING_CHECKSUM_FAILED not in routing_number_problems(routing)
    assert P.ROUTING_CHECKSUM_FAILED in routing_number_problems(changed)


@pytest.mark.parametrize(
    ("account", "ok"),
    [
        ("1234", True),
        ("1" * 17, True),
        ("123", False),
        ("1" * 18, False),
        ("12-34", False),
        ("", False),
        ("١٢٣٤", False),
    ],
)
def test_account_number_is_4_to_17_digits(account: str, ok: bool) -> None:
    assert account_number_valid(account) is ok


def test_names_normalise_accents_case_order_punctuation_and_suffixes() -> None:
    assert normalise_name("José  O'Brien-Smith Jr.") == ("jose", "obrien", "smith")
    assert holder_name_matches("SMITH JOHN", "John Smith")
    assert holder_name_matches("Zoë Müller", "ZOE MULLER")


def test_different_names_do_not_match() -> None:
    assert not holder_name_matches("John Smith", "Jane Smith")
    assert not holder_name_matches("John A Smith", "John Smith")  # a middle initial is a different token set
    assert not holder_name_matches("", "")
    assert not holder_name_matches("...", "...")


def test_check_bank_details_lists_every_problem() -> None:
    result = check_bank_details(
        routing_number="021000022",
        account_number="12",
        holder_name="Jane Doe",
        kyc_legal_name="John Doe",
        account_type="brokerage",
    )
    assert not result.ok
    assert result.problems == (
        P.ROUTING_CHECKSUM_FAILED,
        P.ACCOUNT_NUMBER_INVALID,
        P.ACCOUNT_TYPE_INVALID,
        P.HOLDER_NAME_MISMATCH,
    )


@pytest.mark.parametrize("account_type", [AccountType.CHECKING, AccountType.SAVINGS, "checking", "savings"])
def test_check_bank_details_accepts_good_details(account_type: str) -> None:
    result = check_bank_details(
        routing_number="021000021",
        account_number="000123456789",
        holder_name="DOE JOHN",
        kyc_legal_name="John Doe",
        account_type=account_type,
    )
    assert result.ok
    assert result.problems == ()


def test_account_type_is_required() -> None:
    """§8 "checking or savings": details without a type are refused rather than sent as checking."""
    result = check_bank_details(
        routing_number="021000021", account_number="000123456789", holder_name="John Doe", kyc_legal_name="John Doe"
    )
    assert result.problems == (P.ACCOUNT_TYPE_INVALID,)
    assert not account_type_valid(None)
    assert not account_type_valid("CHECKING ")
    assert not account_type_valid("")


HOME = PostalAddress(line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country="US")


def test_cheque_to_a_verified_us_address() -> None:
    assert cheque_address_problems(HOME, verified=True) == ()


def test_cheque_address_lists_every_problem() -> None:
    abroad = PostalAddress(line1="1 Rue", city="Paris", region=None, postal_code="75001", country="FR")
    assert cheque_address_problems(abroad, verified=False) == (
        ChequeAddressProblem.ADDRESS_INCOMPLETE,
        ChequeAddressProblem.ADDRESS_NOT_US,
        ChequeAddressProblem.ADDRESS_NOT_VERIFIED,
    )
    assert cheque_address_problems(HOME, verified=False) == (ChequeAddressProblem.ADDRESS_NOT_VERIFIED,)
    assert cheque_address_problems(None, verified=True) == (ChequeAddressProblem.ADDRESS_INCOMPLETE,)


def test_the_holder_is_checked_against_the_verified_name_digest_not_an_editable_name() -> None:
    key = b"k" * 32
    verified = name_digest(key=key, name="Ada Lovelace")
    assert verified is not None
    assert name_digest(key=key, name="LOVELACE, ada") == verified, "order, case and punctuation do not matter"
    assert name_digest(key=b"x" * 32, name="Ada Lovelace") != verified, "keyed: useless without the key"
    assert name_digest(key=key, name="-- ,") is None
    ok = check_bank_details(
        routing_number="011000015",
        account_number="000123456789",
        holder_name="ada lovelace",
        verified_name_digest=verified,
        name_key=key,
        account_type="checking",
    )
    assert ok.ok
    other = check_bank_details(
        routing_number="011000015",
        account_number="000123456789",
        holder_name="Mallory Doe",
        kyc_legal_name="Mallory Doe",  # a profile name edited to match is not what is checked
        verified_name_digest=verified,
        name_key=key,
        account_type="checking",
    )
    assert other.problems == (BankDetailsProblem.HOLDER_NAME_MISMATCH,)
    nothing = check_bank_details(
        routing_number="011000015", account_number="000123456789", holder_name="Ada", account_type="checking"
    )
    assert nothing.problems == (BankDetailsProblem.HOLDER_NAME_MISMATCH,), "no name to compare: refused"
