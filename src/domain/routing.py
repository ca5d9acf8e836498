"""Payout destination checks (§8): ACH details (ABA routing checksum, account number shape, checking or savings,
holder-name match) or a cheque to a verified US address.

Why: a reward is $100,000 sent once. A typo in the routing number or a payout to someone else's account is
expensive to unwind, so details are checked before they are accepted — and the holder must be the verified
winner (the name on the account matches the KYC legal name).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from domain.checkout import AddressProblem, PostalAddress, address_problems

ROUTING_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)
"""ABA checksum weights: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10)."""

ACCOUNT_NUMBER_MIN_DIGITS = 4
ACCOUNT_NUMBER_MAX_DIGITS = 17
"""NACHA's DFI account number field is 17 characters; fewer than 4 digits is not a real account."""

ROUTING_PREFIX_RANGES = ((0, 12), (21, 32), (61, 72), (80, 80))
"""Valid first two digits: Federal Reserve districts (00–12), thrifts (21–32), electronic (61–72), 80."""

NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
"""Generational suffixes banks often drop or add; ignored when comparing names."""


class AccountType(StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"


class BankDetailsProblem(StrEnum):
    """Why bank details were refused (several may apply at once)."""

    ROUTING_NOT_NINE_DIGITS = "routing_not_nine_digits"
    ROUTING_PREFIX_INVALID = "routing_prefix_invalid"
    ROUTING_CHECKSUM_FAILED = "routing_checksum_failed"
    ACCOUNT_NUMBER_INVALID = "account_number_invalid"
    ACCOUNT_TYPE_INVALID = "account_type_invalid"
    """Not given, or neither checking nor savings (NACHA credits only those two kinds of account)."""
    HOLDER_NAME_MISMATCH = "holder_name_mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class BankDetailsCheck:
    """Decision on a set of bank details, with every reason it failed."""

    ok: bool
    problems: tuple[BankDetailsProblem, ...]


def routing_number_problems(routing_number: str) -> tuple[BankDetailsProblem, ...]:
    """Every problem with a routing number (empty if it is a valid ABA routing number)."""
    if len(routing_number) != 9 or not routing_number.isascii() or not routing_number.isdigit():
        return (BankDetailsProblem.ROUTING_NOT_NINE_DIGITS,)
    problems: list[BankDetailsProblem] = []
    prefix = int(routing_number[:2])
    if not any(low <= prefix <= high for low, high in ROUTING_PREFIX_RANGES):
        problems.append(BankDetailsProblem.ROUTING_PREFIX_INVALID)
    checksum = sum(w * int(d) for w, d in zip(ROUTING_WEIGHTS, routing_number, strict=True))
    if checksum % 10 != 0:
        problems.append(BankDetailsProblem.ROUTING_CHECKSUM_FAILED)
    return tuple(problems)


def account_number_valid(account_number: str) -> bool:
    """4–17 ASCII digits (no spaces or dashes: the adapter strips formatting before asking)."""
    return (
        account_number.isascii()
        and account_number.isdigit()
        and ACCOUNT_NUMBER_MIN_DIGITS <= len(account_number) <= ACCOUNT_NUMBER_MAX_DIGITS
    )


def normalise_name(name: str) -> tuple[str, ...]:
    """Name as a sorted tuple of lower-case ASCII tokens: accents, punctuation and suffixes removed.

    Sorted because banks commonly store "SMITH JOHN" for "John Smith"; accents removed because many bank systems
    are ASCII-only ("José" is held as "JOSE").
    """
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    cleaned = "".join(ch if ch.isalnum() else " " for ch in ascii_only.replace("'", ""))
    return tuple(sorted(token for token in cleaned.split() if token not in NAME_SUFFIXES))


def name_digest(*, key: bytes, name: str) -> str | None:
    """Keyed digest (HMAC-SHA256) of a normalised name, or None when nothing of it survives normalisation.

    KYC keeps no names (§10); it keeps this digest of the verified name, so a payout's account holder can be
    checked against the *verified* name rather than the profile, which the member (or whoever took over the
    account) can edit.
    """
    tokens = normalise_name(name)
    if not tokens:
        return None
    return hmac.new(key, b"holder-name/v1\x00" + " ".join(tokens).encode(), hashlib.sha256).hexdigest()


def holder_name_matches(holder_name: str, kyc_legal_name: str) -> bool:
    """The account holder's name equals the KYC legal name after normalisation (same tokens)."""
    holder = normalise_name(holder_name)
    return bool(holder) and holder == normalise_name(kyc_legal_name)


def account_type_valid(account_type: AccountType | str | None) -> bool:
    """Checking or savings (the raw form value is accepted, so the adapter need not parse it first)."""
    return account_type is not None and account_type in {t.value for t in AccountType}


def check_bank_details(
    *,
    routing_number: str,
    account_number: str,
    holder_name: str,
    kyc_legal_name: str | None = None,
    verified_name_digest: str | None = None,
    name_key: bytes = b"",
    account_type: AccountType | str | None = None,
) -> BankDetailsCheck:
    """Check ACH details for a winner; returns every problem, not just the first.

    ``account_type`` defaults to "not given", which is refused: an ACH credit needs the account's kind (fail
    closed rather than guess checking). The holder is compared with ``verified_name_digest`` (keyed with
    ``name_key``) when given, else with ``kyc_legal_name``; with neither, it cannot match.
    """
    problems = list(routing_number_problems(routing_number))
    if not account_number_valid(account_number):
        problems.append(BankDetailsProblem.ACCOUNT_NUMBER_INVALID)
    if not account_type_valid(account_type):
        problems.append(BankDetailsProblem.ACCOUNT_TYPE_INVALID)
    if verified_name_digest is not None:
        holder = name_digest(key=name_key, name=holder_name)
        matches = holder is not None and hmac.compare_digest(holder, verified_name_digest)
    else:
        matches = kyc_legal_name is not None and holder_name_matches(holder_name, kyc_legal_name)
    if not matches:
        problems.append(BankDetailsProblem.HOLDER_NAME_MISMATCH)
    return BankDetailsCheck(ok=not problems, problems=tuple(problems))


# -- cheques ------------------------------------------------------------------------------------------------------


class ChequeAddressProblem(StrEnum):
    """Why a cheque cannot be sent to an address (several may apply at once)."""

    ADDRESS_INCOMPLETE = "address_incomplete"
    ADDRESS_NOT_US = "address_not_us"
    ADDRESS_NOT_VERIFIED = "address_not_verified"
    """§8: a cheque goes only to a *verified* US address (verification is the adapter's job, e.g. USPS)."""


_CHEQUE_PROBLEM = {
    AddressProblem.INCOMPLETE: ChequeAddressProblem.ADDRESS_INCOMPLETE,
    AddressProblem.NOT_US: ChequeAddressProblem.ADDRESS_NOT_US,
}


def cheque_address_problems(address: PostalAddress | None, *, verified: bool) -> tuple[ChequeAddressProblem, ...]:
    """Every reason a cheque payout may not go to ``address`` (empty = it may): complete, US, verified."""
    problems = [_CHEQUE_PROBLEM[problem] for problem in address_problems(address)]
    if not verified:
        problems.append(ChequeAddressProblem.ADDRESS_NOT_VERIFIED)
    return tuple(problems)
