"""Emailed one-time codes: generation, keyed digests, expiry, attempts, single use, resend cool-down."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput, InvalidPolicy, NaiveDatetime, WeakSecret
from domain.one_time_codes import (
    CodeCheck,
    CodePolicy,
    CodePurpose,
    CodeRejection,
    IssuedCode,
    Resend,
    attempts_left,
    check_code,
    code_digest,
    code_from_random,
    issue_code,
    resend_allowed,
)

KEY = b"k" * 32
OTHER_KEY = b"j" * 32
POLICY = CodePolicy()
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SUBJECT = "person-1"


def issue(code: str = "123456", purpose: CodePurpose = CodePurpose.EMAIL_VERIFICATION) -> IssuedCode:
    return issue_code(code=code, key=KEY, subject=SUBJECT, purpose=purpose, now=T0, policy=POLICY)


def check(issued: IssuedCode | None, submitted: str, at: datetime = T0) -> CodeCheck:
    return check_code(issued, submitted, key=KEY, now=at, policy=POLICY)


class TestPolicy:
    def test_defaults_follow_the_spec(self) -> None:
        assert POLICY.length == 6
        assert POLICY.ttl == timedelta(minutes=10)
        assert POLICY.max_attempts == 3
        assert POLICY.resend_cooldown == timedelta(seconds=60)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"length": 3},
            {"length": 11},
            {"ttl": timedelta(0)},
            {"max_attempts": 0},
            {"resend_cooldown": timedelta(seconds=-1)},
            {"resend_cooldown": timedelta(minutes=10)},
        ],
    )
    def test_contradictions_refused(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(InvalidPolicy):
            CodePolicy(**kwargs)  # type: ignore[arg-type]


class TestGeneration:
    def test_zero_padded_decimal_of_the_integer(self) -> None:
        assert code_from_random((123).to_bytes(8, "big"), 6) == "000123"
        assert code_from_random((10**6 + 42).to_bytes(8, "big"), 6) == "000042"
        assert code_from_random(b"\xff" * 8, 6) == "551615"  # 2^64 - 1 = 18446744073709551615

    def test_too_few_bytes_refused(self) -> None:
        with pytest.raises(WeakSecret):
            code_from_random(b"\x00" * 7, 6)

    @pytest.mark.parametrize("length", [0, 11])
    def test_length_bounds(self, length: int) -> None:
        with pytest.raises(InvalidInput):
            code_from_random(b"\x00" * 8, length)

    @given(st.binary(min_size=8, max_size=64), st.integers(min_value=1, max_value=10))
    def test_shape(self, random_bytes: bytes, length: int) -> None:
        code = code_from_random(random_bytes, length)
        assert len(code) == length
        assert code.isascii()
        assert code.isdigit()

    def test_digits_are_uniform(self) -> None:
        # 20 000 single digits from seeded random bytes: a chi-square far below the 0.1% critical value (27.9, 9 df).
        rng = random.Random(4)
        counts = Counter(code_from_random(rng.randbytes(8), 1) for _ in range(20_000))
        expected = 2_000
        chi_square = sum((counts[str(d)] - expected) ** 2 / expected for d in range(10))
        assert chi_square < 27.9


class TestDigest:
    def test_independent_hmac(self) -> None:
        expected = hmac.new(
            KEY, b"tenure-otp-v1\x00email_verification\x00person-1\x00123456", hashlib.sha256
        ).hexdigest()
        assert code_digest("123456", key=KEY, subject=SUBJECT, purpose=CodePurpose.EMAIL_VERIFICATION) == expected

    def test_domain_separated(self) -> None:
        base = code_digest("123456", key=KEY, subject=SUBJECT, purpose=CodePurpose.EMAIL_VERIFICATION)
        assert base != code_digest("123456", key=KEY, subject=SUBJECT, purpose=CodePurpose.PASSWORD_RESET)
        assert base != code_digest("123456", key=KEY, subject="person-2", purpose=CodePurpose.EMAIL_VERIFICATION)
        assert base != code_digest("123456", key=OTHER_KEY, subject=SUBJECT, purpose=CodePurpose.EMAIL_VERIFICATION)
        assert base != code_digest("123457", key=KEY, subject=SUBJECT, purpose=CodePurpose.EMAIL_VERIFICATION)

    def test_short_key_refused(self) -> None:
        with pytest.raises(WeakSecret):
            code_digest("123456", key=b"k" * 31, subject=SUBJECT, purpose=CodePurpose.EMAIL_VERIFICATION)

    @pytest.mark.parametrize(("code", "subject"), [("12a456", SUBJECT), ("", SUBJECT), ("123456", ""), ("1", "a\x00")])
    def test_bad_fields_refused(self, code: str, subject: str) -> None:
        with pytest.raises(InvalidInput):
            code_digest(code, key=KEY, subject=subject, purpose=CodePurpose.EMAIL_VERIFICATION)


class TestIssue:
    def test_record_holds_no_raw_code(self) -> None:
        issued = issue()
        assert "123456" not in repr(issued)
        assert issued.issued_at == T0
        assert issued.expires_at == T0 + timedelta(minutes=10)
        assert (issued.attempts, issued.consumed_at) == (0, None)

    @pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "１２３４５６"])
    def test_malformed_code_refused(self, code: str) -> None:
        with pytest.raises(InvalidInput):
            issue(code)

    def test_naive_now_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            issue_code(
                code="123456",
                key=KEY,
                subject=SUBJECT,
                purpose=CodePurpose.EMAIL_VERIFICATION,
                now=datetime(2026, 1, 1),
                policy=POLICY,
            )


class TestCheck:
    def test_right_code_consumes(self) -> None:
        result = check(issue(), "123456", T0 + timedelta(minutes=1))
        assert result.ok
        assert result.reason is None
        assert result.updated is not None
        assert result.updated.consumed_at == T0 + timedelta(minutes=1)

    def test_consumed_code_refused_even_if_right(self) -> None:
        first = check(issue(), "123456")
        assert first.updated is not None
        assert check(first.updated, "123456") == CodeCheck(ok=False, reason=CodeRejection.CONSUMED, updated=None)

    def test_missing(self) -> None:
        assert check(None, "123456") == CodeCheck(ok=False, reason=CodeRejection.MISSING, updated=None)

    def test_expiry_is_half_open(self) -> None:
        issued = issue()
        assert check(issued, "123456", T0 + timedelta(minutes=10) - timedelta(microseconds=1)).ok
        expired = check(issued, "123456", T0 + timedelta(minutes=10))
        assert expired == CodeCheck(ok=False, reason=CodeRejection.EXPIRED, updated=None)

    def test_three_wrong_guesses_kill_the_code(self) -> None:
        issued = issue()
        for attempt in range(1, 4):
            result = check(issued, "000000")
            assert (result.ok, result.reason) == (False, CodeRejection.MISMATCH)
            assert result.updated is not None
            assert result.updated.attempts == attempt
            assert attempts_left(result.updated, POLICY) == 3 - attempt
            issued = result.updated
        dead = check(issued, "123456")
        assert dead == CodeCheck(ok=False, reason=CodeRejection.TOO_MANY_ATTEMPTS, updated=None)
        assert attempts_left(issued, POLICY) == 0

    def test_right_code_after_two_wrong_guesses(self) -> None:
        issued = issue()
        for _ in range(2):
            result = check(issued, "999999")
            assert result.updated is not None
            issued = result.updated
        assert check(issued, "123456").ok

    @pytest.mark.parametrize("submitted", ["", "12345", "1234567", "12345a", "abcdef", "١٢٣٤٥٦", "\x00" * 6])
    def test_malformed_submission_is_a_counted_mismatch(self, submitted: str) -> None:
        result = check(issue(), submitted)
        assert (result.ok, result.reason) == (False, CodeRejection.MISMATCH)
        assert result.updated is not None
        assert result.updated.attempts == 1

    @pytest.mark.parametrize("submitted", [" 123456 ", "123 456", "１２３４５６", "123\t456\n"])
    def test_typing_variants_accepted(self, submitted: str) -> None:
        assert check(issue(), submitted).ok

    def test_purpose_and_subject_bound(self) -> None:
        issued = issue()
        other_subject = IssuedCode(
            purpose=issued.purpose,
            subject="person-2",
            digest=issued.digest,
            issued_at=issued.issued_at,
            expires_at=issued.expires_at,
        )
        other_purpose = issue_code(
            code="123456", key=KEY, subject=SUBJECT, purpose=CodePurpose.PASSWORD_RESET, now=T0, policy=POLICY
        )
        assert not check(other_subject, "123456").ok
        assert check(other_purpose, "123456").ok
        assert other_purpose.digest != issued.digest

    def test_wrong_key_is_a_mismatch(self) -> None:
        result = check_code(issue(), "123456", key=OTHER_KEY, now=T0, policy=POLICY)
        assert result.reason is CodeRejection.MISMATCH

    def test_short_key_refused(self) -> None:
        with pytest.raises(WeakSecret):
            check_code(issue(), "123456", key=b"short", now=T0, policy=POLICY)


@given(
    guesses=st.lists(st.text(alphabet="0123456789", min_size=6, max_size=6), max_size=8),
    offset=st.integers(min_value=0, max_value=599),
)
def test_at_most_max_attempts_wrong_guesses_then_dead(guesses: list[str], offset: int) -> None:
    issued = issue("424242")
    at = T0 + timedelta(seconds=offset)
    wrong = 0
    for guess in guesses:
        result = check(issued, guess, at)
        if result.ok:
            assert guess == "424242"
            assert wrong < 3
            return
        if result.reason is CodeRejection.MISMATCH:
            wrong += 1
        else:
            assert result.reason is CodeRejection.TOO_MANY_ATTEMPTS
            assert wrong == 3
        if result.updated is not None:
            issued = result.updated
    assert wrong <= 3


class TestResend:
    def test_first_send_allowed(self) -> None:
        assert resend_allowed(None, now=T0, policy=POLICY) == Resend(ok=True, retry_after=None)

    def test_cool_down(self) -> None:
        assert resend_allowed(T0, now=T0 + timedelta(seconds=20), policy=POLICY) == Resend(
            ok=False, retry_after=timedelta(seconds=40)
        )
        assert resend_allowed(T0, now=T0 + timedelta(seconds=60), policy=POLICY).ok

    def test_future_issue_time_waits_at_most_the_cool_down(self) -> None:
        result = resend_allowed(T0 + timedelta(hours=1), now=T0, policy=POLICY)
        assert result == Resend(ok=False, retry_after=timedelta(seconds=60))
