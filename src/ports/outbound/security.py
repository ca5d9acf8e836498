"""Security primitives the use cases need but must not implement: hashing, encryption, randomness."""

from typing import Protocol


class PasswordHasher(Protocol):
    """Argon2id in production. `needs_rehash` lets sign-in upgrade hashes when parameters change."""

    def hash(self, password: str) -> str: ...

    def verify(self, stored_hash: str, password: str) -> bool: ...

    def needs_rehash(self, stored_hash: str) -> bool: ...

    def dummy_verify(self) -> None:
        """Spend the time of one verification, so unknown accounts answer as slowly as known ones."""
        ...


class CommonPasswords(Protocol):
    def __contains__(self, normalised_lower_password: object) -> bool: ...


class SecretBox(Protocol):
    """Authenticated encryption for secrets at rest (TOTP secrets, codes in job payloads)."""

    def seal(self, plaintext: bytes, *, context: str) -> bytes: ...

    def open(self, sealed: bytes, *, context: str) -> bytes:
        """Raise `ValueError` if `sealed` was altered or sealed for another context."""
        ...


class RandomSource(Protocol):
    def bytes(self, n: int) -> bytes: ...

    def token(self, n_bytes: int) -> str:
        """A URL-safe random token carrying `n_bytes` of entropy."""
        ...
