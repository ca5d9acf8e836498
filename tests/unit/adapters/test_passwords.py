"""Argon2id hashing (RELIABILITY 17) and the common-password list."""

import re
import secrets
import time

import pytest

from adapters.security.passwords import (
    Argon2Parameters,
    Argon2PasswordHasher,
    ZxcvbnCommonPasswords,
    fast_test_parameters,
)

PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")


@pytest.fixture(scope="module")
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(fast_test_parameters())


def stored_parameters(stored_hash: str) -> tuple[int, int, int]:
    match = PHC.match(stored_hash)
    assert match, f"not an Argon2id PHC string: {stored_hash[:30]}…"
    m, t, p = (int(g) for g in match.groups())
    return m, t, p


def test_production_defaults_meet_the_reliability_bar() -> None:
    params = Argon2Parameters()
    assert params.memory_kib >= 19 * 1024
    assert params.memory_kib == 64 * 1024
    assert params.time_cost >= 2
    assert 1 <= params.parallelism <= 4


def test_production_parameters_are_read_back_from_the_stored_hash() -> None:
    stored = Argon2PasswordHasher().hash("correct horse battery staple")
    m, t, p = stored_parameters(stored)
    assert m >= 19 * 1024
    assert t >= 2
    assert 1 <= p <= 4
    assert (m, t, p) == (Argon2Parameters().memory_kib, Argon2Parameters().time_cost, Argon2Parameters().parallelism)


def test_test_parameters_still_meet_the_minimum(hasher: Argon2PasswordHasher) -> None:
    m, t, p = stored_parameters(hasher.hash("correct horse battery staple"))
    assert (m, t, p) == (19 * 1024, 2, 1)


@pytest.mark.parametrize(
    "overrides",
    [{"memory_kib": 19 * 1024 - 1}, {"time_cost": 1}, {"parallelism": 0}, {"parallelism": 5}],
    ids=["memory", "time", "parallelism-low", "parallelism-high"],
)
def test_parameters_below_the_bar_are_refused(overrides: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="Argon2id"):
        Argon2Parameters(**overrides)


def test_the_right_password_verifies_and_a_wrong_one_does_not(hasher: Argon2PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery staple")
    assert hasher.verify(stored, "correct horse battery staple") is True
    assert hasher.verify(stored, "correct horse battery stapler") is False
    assert hasher.verify(stored, "") is False


def test_hashes_are_salted(hasher: Argon2PasswordHasher) -> None:
    assert hasher.hash("same password") != hasher.hash("same password")


@pytest.mark.parametrize(
    "garbage",
    ["", "not a hash", "$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB", "$2b$12$abcdefghijklmnopqrstuv", "$argon2id$"],
)
def test_an_unreadable_hash_verifies_false_and_never_raises(hasher: Argon2PasswordHasher, garbage: str) -> None:
    assert hasher.verify(garbage, "anything") is False
    assert hasher.needs_rehash(garbage) is True


def test_a_hash_made_with_current_parameters_needs_no_rehash(hasher: Argon2PasswordHasher) -> None:
    assert hasher.needs_rehash(hasher.hash("pw-one-two-three")) is False


@pytest.mark.parametrize(
    "other",
    [
        Argon2Parameters(memory_kib=20 * 1024, time_cost=2, parallelism=1),
        Argon2Parameters(memory_kib=19 * 1024, time_cost=3, parallelism=1),
        Argon2Parameters(memory_kib=19 * 1024, time_cost=2, parallelism=2),
    ],
    ids=["memory", "time", "parallelism"],
)
def test_a_parameter_change_asks_for_a_rehash_but_old_hashes_still_verify(
    hasher: Argon2PasswordHasher, other: Argon2Parameters
) -> None:
    upgraded = Argon2PasswordHasher(other)
    old = hasher.hash("pw-one-two-three")
    assert upgraded.needs_rehash(old) is True
    assert upgraded.verify(old, "pw-one-two-three") is True
    new = upgraded.hash("pw-one-two-three")
    assert upgraded.needs_rehash(new) is False
    assert hasher.needs_rehash(new) is True


def test_an_argon2i_hash_asks_for_a_rehash(hasher: Argon2PasswordHasher) -> None:
    from argon2 import PasswordHasher, Type

    argon2i = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.I).hash("pw")
    assert argon2i.startswith("$argon2i$")
    assert hasher.needs_rehash(argon2i) is True


def test_dummy_verify_costs_about_one_verification(hasher: Argon2PasswordHasher) -> None:
    stored = hasher.hash("pw-one-two-three")

    def best_of(f: object, n: int = 3) -> float:
        timings = []
        for _ in range(n):
            start = time.perf_counter()
            f()  # type: ignore[operator]
            timings.append(time.perf_counter() - start)
        return min(timings)

    real = best_of(lambda: hasher.verify(stored, "wrong password"))
    dummy = best_of(hasher.dummy_verify)
    assert dummy > real / 3, (dummy, real)  # same Argon2 work, not a shortcut
    assert dummy < real * 3, (dummy, real)


@pytest.fixture(scope="module")
def common() -> ZxcvbnCommonPasswords:
    return ZxcvbnCommonPasswords()


@pytest.mark.parametrize("password", ["password", "123456", "qwerty", "iloveyou"])
def test_well_known_passwords_are_common(common: ZxcvbnCommonPasswords, password: str) -> None:
    assert password in common


def test_lookup_is_case_insensitive(common: ZxcvbnCommonPasswords) -> None:
    assert "PassWord" in common


def test_a_long_random_passphrase_is_not_common(common: ZxcvbnCommonPasswords) -> None:
    assert secrets.token_urlsafe(24) not in common
    assert "violet-harbour-teapot-glacier-1987" not in common


def test_non_strings_are_not_common(common: ZxcvbnCommonPasswords) -> None:
    assert 123456 not in common
    assert None not in common
