"""Password acceptance rules (RELIABILITY.md 17): length, common passwords, the member's own email.

Why NFKC: the same password typed on two keyboards (full-width digits, ligatures, composed vs decomposed accents)
must count, and later hash, the same; the hashing adapter must hash ``normalise_password(p)`` too. Hashing itself
(Argon2id) is I/O-free but needs a third-party library, so it lives in an adapter, not here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import InvalidPolicy


class PasswordProblem(StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    CONTAINS_EMAIL = "contains_email"


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicy:
    """Lengths in Unicode code points after NFKC (NIST SP 800-63B: at least 8, allow at least 64)."""

    min_length: int = 8
    max_length: int = 128
    min_email_local_part: int = 4
    """Shorter local parts ("bob") would refuse too many ordinary passwords for little gain."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise InvalidPolicy("password lengths must satisfy 1 <= min_length <= max_length")
        if self.min_email_local_part < 1:
            raise InvalidPolicy("min_email_local_part must be positive")


def normalise_password(password: str) -> str:
    """NFKC form: what is measured, checked and hashed."""
    return unicodedata.normalize("NFKC", password)


def _email_fragments(email: str, policy: PasswordPolicy) -> tuple[str, ...]:
    """The local part and, for sub-addressed mail (``alice+tenure@``), its base; only those long enough."""
    local = normalise_password(email).rsplit("@", 1)[0].casefold()
    candidates = {local, local.split("+", 1)[0]}
    return tuple(sorted(c for c in candidates if len(c) >= policy.min_email_local_part))


def check_password(
    password: str,
    *,
    policy: PasswordPolicy,
    is_common: Callable[[str], bool],
    email: str | None = None,
) -> tuple[PasswordProblem, ...]:
    """Every problem with ``password`` (empty = acceptable), in ``PasswordProblem`` order.

    ``is_common`` comes from an adapter (a breached/common password list) and receives the normalised,
    lower-cased password, so the list only needs lower-case entries.
    """
    normalised = normalise_password(password)
    problems: list[PasswordProblem] = []
    if len(normalised) < policy.min_length:
        problems.append(PasswordProblem.TOO_SHORT)
    if len(normalised) > policy.max_length:
        problems.append(PasswordProblem.TOO_LONG)
    if is_common(normalised.lower()):
        problems.append(PasswordProblem.COMMON)
    if email is not None:
        folded = normalised.casefold()
        if any(fragment in folded for fragment in _email_fragments(email, policy)):
            problems.append(PasswordProblem.CONTAINS_EMAIL)
    return tuple(problems)
