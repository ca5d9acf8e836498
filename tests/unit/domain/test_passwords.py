"""Password rules: NFKC lengths, every problem reported, the common-list hook, the member's email."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidPolicy
from domain.passwords import PasswordPolicy, PasswordProblem, check_password, normalise_password

POLICY = PasswordPolicy()
COMMON = frozenset({"password", "password1", "qwertyuiop"})


def never_common(_: str) -> bool:
    return False


def check(password: str, email: str | None = None, policy: PasswordPolicy = POLICY) -> tuple[PasswordProblem, ...]:
    return check_password(password, policy=policy, is_common=COMMON.__contains__, email=email)


class TestPolicy:
    def test_defaults_follow_the_spec(self) -> None:
        assert (POLICY.min_length, POLICY.max_length) == (8, 128)

    @pytest.mark.parametrize(
        "kwargs", [{"min_length": 0}, {"min_length": 9, "max_length": 8}, {"min_email_local_part": 0}]
    )
    def test_contradictions_refused(self, kwargs: dict[str, int]) -> None:
        with pytest.raises(InvalidPolicy):
            PasswordPolicy(**kwargs)


class TestLength:
    @pytest.mark.parametrize(
        ("password", "expected"),
        [
            ("a" * 7, (PasswordProblem.TOO_SHORT,)),
            ("b" * 8, ()),
            ("c" * 128, ()),
            ("d" * 129, (PasswordProblem.TOO_LONG,)),
            ("", (PasswordProblem.TOO_SHORT,)),
        ],
    )
    def test_boundaries(self, password: str, expected: tuple[PasswordProblem, ...]) -> None:
        assert check(password) == expected

    def test_code_points_not_bytes(self) -> None:
        assert check("ñ" * 8) == ()  # 8 code points, 16 UTF-8 bytes
        assert check("😀" * 128) == ()

    def test_nfkc_before_counting(self) -> None:
        # "e" + combining acute composes to one code point: 8 decomposed pairs are 8 characters, not 16.
        assert check("e\u0301" * 8) == ()
        assert check("e\u0301" * 7) == (PasswordProblem.TOO_SHORT,)
        # U+FDFA expands to 18 code points under NFKC: one typed character is long enough.
        assert check("\ufdfa") == ()

    def test_normalise_folds_compatibility_forms(self) -> None:
        assert normalise_password("ｐａｓｓ１２") == "pass12"
        assert normalise_password("e\u0301") == "\u00e9"


class TestCommon:
    def test_common_refused_after_normalising_and_lower_casing(self) -> None:
        assert check("Password1") == (PasswordProblem.COMMON,)
        assert check("ＰＡＳＳＷＯＲＤ") == (PasswordProblem.COMMON,)

    def test_hook_receives_normalised_lower_case(self) -> None:
        seen: list[str] = []

        def spy(candidate: str) -> bool:
            seen.append(candidate)
            return False

        check_password("ＭｙＳｅｃｒｅｔ", policy=POLICY, is_common=spy)
        assert seen == ["mysecret"]

    def test_every_problem_reported(self) -> None:
        assert check_password("alice", policy=POLICY, is_common=lambda _: True, email="alice@example.com") == (
            PasswordProblem.TOO_SHORT,
            PasswordProblem.COMMON,
            PasswordProblem.CONTAINS_EMAIL,
        )


class TestEmail:
    def test_local_part_case_insensitive(self) -> None:
        assert check("xxALICExx99", email="Alice@example.com") == (PasswordProblem.CONTAINS_EMAIL,)

    def test_sub_address_base_counts(self) -> None:
        assert check("alice-rocks-2025", email="alice+tenure@example.com") == (PasswordProblem.CONTAINS_EMAIL,)
        assert check("i-am-alice+tenure", email="alice+tenure@example.com") == (PasswordProblem.CONTAINS_EMAIL,)

    def test_short_local_part_ignored(self) -> None:
        assert check("bobcat-lover", email="bob@example.com") == ()
        assert check("bobcat-lover", email="bob+x@example.com") == ()

    def test_domain_is_not_the_local_part(self) -> None:
        assert check("example-horse-staple", email="zoe1@example.com") == ()

    def test_no_email_no_check(self) -> None:
        assert check("alice-rocks-2025") == ()

    def test_threshold_is_a_policy_number(self) -> None:
        lenient = PasswordPolicy(min_email_local_part=3)
        assert check("bobcat-lover", email="bob@example.com", policy=lenient) == (PasswordProblem.CONTAINS_EMAIL,)


@given(st.text(max_size=200))
def test_problems_are_unique_and_ordered(password: str) -> None:
    problems = check_password(password, policy=POLICY, is_common=never_common)
    assert list(problems) == sorted(set(problems), key=list(PasswordProblem).index)
    length = len(normalise_password(password))
    assert (PasswordProblem.TOO_SHORT in problems) == (length < 8)
    assert (PasswordProblem.TOO_LONG in problems) == (length > 128)


@given(st.text())
def test_normalisation_is_idempotent(password: str) -> None:
    once = normalise_password(password)
    assert normalise_password(once) == once
