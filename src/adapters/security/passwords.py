"""`PasswordHasher` on argon2-cffi (Argon2id) and `CommonPasswords` on zxcvbn's password frequency list.

RELIABILITY 17: Argon2id with at least 19 MiB of memory and two passes; hashes made with other parameters are
flagged by `needs_rehash` so sign-in can upgrade them.
"""

import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_MEMORY_KIB = 19 * 1024
MIN_TIME_COST = 2
MAX_PARALLELISM = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Argon2Parameters:
    """Argon2id cost parameters. The defaults are RFC 9106's low-memory profile (64 MiB, t=3, p=4)."""

    memory_kib: int = 64 * 1024
    time_cost: int = 3
    parallelism: int = 4
    hash_len: int = 32
    salt_len: int = 16

    def __post_init__(self) -> None:
        if self.memory_kib < MIN_MEMORY_KIB:
            raise ValueError(f"Argon2id memory must be at least {MIN_MEMORY_KIB} KiB (19 MiB)")
        if self.time_cost < MIN_TIME_COST:
            raise ValueError(f"Argon2id time cost must be at least {MIN_TIME_COST}")
        if not 1 <= self.parallelism <= MAX_PARALLELISM:
            raise ValueError(f"Argon2id parallelism must be between 1 and {MAX_PARALLELISM}")
        if self.hash_len < 16 or self.salt_len < 16:
            raise ValueError("Argon2id hash and salt must be at least 16 bytes")


def fast_test_parameters() -> Argon2Parameters:
    """The cheapest parameters RELIABILITY 17 still allows (19 MiB, t=2, p=1): for test suites."""
    return Argon2Parameters(memory_kib=MIN_MEMORY_KIB, time_cost=MIN_TIME_COST, parallelism=1)


class Argon2PasswordHasher:
    """Argon2id hashes in the PHC string format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)."""

    def __init__(self, parameters: Argon2Parameters | None = None) -> None:
        self.parameters = parameters or Argon2Parameters()
        self._argon2 = _Argon2(
            time_cost=self.parameters.time_cost,
            memory_cost=self.parameters.memory_kib,
            parallelism=self.parameters.parallelism,
            hash_len=self.parameters.hash_len,
            salt_len=self.parameters.salt_len,
            type=Type.ID,
        )
        # Made with the same parameters as real hashes, so a dummy verification costs what a real one does.
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True only for the right password; False for a wrong one or an unreadable hash (never raises)."""
        try:
            return self._argon2.verify(stored_hash, password)
        except (VerificationError, InvalidHashError, ValueError, TypeError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the stored hash was made with other parameters (or another Argon2 variant)."""
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def dummy_verify(self) -> None:
        self.verify(self._dummy_hash, secrets.token_urlsafe(16))


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # imported on first use: the lists are large

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


class ZxcvbnCommonPasswords:
    """The 30 000 most common passwords of zxcvbn's frequency list; built once, on first lookup."""

    def __contains__(self, normalised_lower_password: object) -> bool:
        if not isinstance(normalised_lower_password, str):
            return False
        return normalised_lower_password.lower() in _common_passwords()
