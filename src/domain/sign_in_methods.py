"""Which ways of signing in an account keeps when one is removed (issue 10, RELIABILITY.md 21).

Nobody may lock themselves out: removing a passkey or unlinking a provider identity must leave another way in.
Staff must keep a second factor (API.md: admin and finance use TOTP or a passkey), so their last one stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.sessions import Role, is_staff


class Method(StrEnum):
    PASSWORD = "password"  # noqa: S105 (a method's name, not a secret)
    PASSKEY = "passkey"
    IDENTITY = "identity"
    TOTP = "totp"


class RemovalRefusal(StrEnum):
    LAST_SIGN_IN_METHOD = "last_sign_in_method"
    STAFF_SECOND_FACTOR = "staff_second_factor"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignInMethods:
    password: bool
    passkeys: int
    identities: int
    totp: bool

    @property
    def ways_in(self) -> int:
        """Each of these can start a session on its own (TOTP only completes one)."""
        return int(self.password) + self.passkeys + self.identities

    @property
    def second_factors(self) -> int:
        return int(self.totp) + self.passkeys


def removal_refusal(methods: SignInMethods, removing: Method, *, role: Role) -> RemovalRefusal | None:
    """None when `removing` one method of this kind is allowed, else why not."""
    after = SignInMethods(
        password=methods.password and removing is not Method.PASSWORD,
        passkeys=methods.passkeys - (removing is Method.PASSKEY),
        identities=methods.identities - (removing is Method.IDENTITY),
        totp=methods.totp and removing is not Method.TOTP,
    )
    if after.ways_in < 1:
        return RemovalRefusal.LAST_SIGN_IN_METHOD
    if is_staff(role) and after.second_factors < 1:
        return RemovalRefusal.STAFF_SECOND_FACTOR
    return None
