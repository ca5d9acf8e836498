"""TOTP (RFC 6238/4226 vectors, ±1 step, single use, step boundaries), provisioning URI, backup codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.errors import InvalidInput, NaiveDatetime, WeakSecret
from domain.totp import (
    BACKUP_CODE_ALPHABET,
    BACKUP_CODE_COUNT,
    TotpCheck,
    TotpRejection,
    backup_code_digest,
    backup_code_from_random,
    base32_secret,
    hotp,
    match_backup_code,
    normalise_backup_code,
    provisioning_uri,
    secret_from_random,
    time_step,
    totp_at,
    verify_totp,
)

RFC_SECRET = b"12345678901234567890"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEY = b"k" * 32

secrets = st.binary(min_size=20, max_size=20)
# Steps from 2001 to 2286: far from the epoch, within datetime's range.
steps = st.integers(min_value=33_000_000, max_value=333_000_000)


def at_seconds(seconds: int | float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def at_step(step: int, into: timedelta = timedelta(0)) -> datetime:
    return EPOCH + timedelta(seconds=30 * step) + into


class TestRfcVectors:
    @pytest.mark.parametrize(
        ("counter", "expected"),
        list(
            enumerate(
                ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
            )
        ),
    )
    def test_rfc4226_appendix_d(self, counter: int, expected: str) -> None:
        assert hotp(RFC_SECRET, counter) == expected

    @pytest.mark.parametrize(
        ("unix_time", "step", "expected"),
        [
            (59, 0x1, "94287082"),
            (1111111109, 0x23523EC, "07081804"),
            (1111111111, 0x23523ED, "14050471"),
            (1234567890, 0x273EF07, "89005924"),
            (2000000000, 0x3F940AA, "69279037"),
            (20000000000, 0x27BC86AA, "65353130"),
        ],
    )
    def test_rfc6238_appendix_b_sha1(self, unix_time: int, step: int, expected: str) -> None:
        assert time_step(at_seconds(unix_time)) == step
        assert totp_at(RFC_SECRET, step, digits=8) == expected

    def test_rfc6238_vector_verifies_as_six_digits(self) -> None:
        now = at_seconds(1111111109)
        result = verify_totp(RFC_SECRET, "081804", now=now, last_used_step=None)
        assert result == TotpCheck(ok=True, step=0x23523EC, reason=None)


class TestArguments:
    @pytest.mark.parametrize("counter", [-1, 2**64])
    def test_counter_range(self, counter: int) -> None:
        with pytest.raises(InvalidInput):
            hotp(RFC_SECRET, counter)

    @pytest.mark.parametrize("digits", [5, 9])
    def test_digit_range(self, digits: int) -> None:
        with pytest.raises(InvalidInput):
            hotp(RFC_SECRET, 0, digits)

    def test_period_must_be_positive(self) -> None:
        with pytest.raises(InvalidInput):
            time_step(at_seconds(0), period=0)

    def test_naive_now_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            time_step(datetime(2026, 1, 1))

    @pytest.mark.parametrize("window", [-1, 11])
    def test_window_range(self, window: int) -> None:
        with pytest.raises(InvalidInput):
            verify_totp(RFC_SECRET, "000000", now=at_seconds(100), last_used_step=None, window=window)

    def test_short_secret_refused(self) -> None:
        with pytest.raises(WeakSecret):
            verify_totp(b"\x01" * 15, "000000", now=at_seconds(100), last_used_step=None)
        with pytest.raises(WeakSecret):
            provisioning_uri(b"\x01" * 15, account_name="ann@example.com", issuer="Tenure")
        short_but_enough = b"\x01" * 16
        code = totp_at(short_but_enough, 3)  # 90..119 s
        assert verify_totp(short_but_enough, code, now=at_seconds(100), last_used_step=None).step == 3

    def test_other_zones_are_the_same_instant(self) -> None:
        from datetime import timezone

        plus_two = timezone(timedelta(hours=2))
        assert time_step(datetime(2026, 1, 1, 2, 0, 30, tzinfo=plus_two)) == time_step(
            datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
        )


class TestVerify:
    def test_window_is_plus_minus_one_step(self) -> None:
        now = at_step(1000, timedelta(seconds=10))
        for offset in (-1, 0, 1):
            assert verify_totp(RFC_SECRET, totp_at(RFC_SECRET, 1000 + offset), now=now, last_used_step=None).ok
        for offset in (-2, 2):
            result = verify_totp(RFC_SECRET, totp_at(RFC_SECRET, 1000 + offset), now=now, last_used_step=None)
            assert result == TotpCheck(ok=False, step=None, reason=TotpRejection.MISMATCH)

    def test_window_zero_only_current(self) -> None:
        now = at_step(1000)
        assert verify_totp(RFC_SECRET, totp_at(RFC_SECRET, 1000), now=now, last_used_step=None, window=0).ok
        assert not verify_totp(RFC_SECRET, totp_at(RFC_SECRET, 999), now=now, last_used_step=None, window=0).ok

    def test_earlier_step_after_a_later_one_is_reused(self) -> None:
        now = at_step(1000)
        result = verify_totp(RFC_SECRET, totp_at(RFC_SECRET, 999), now=now, last_used_step=1000)
        assert result == TotpCheck(ok=False, step=None, reason=TotpRejection.REUSED)

    @pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "------"])
    def test_malformed_is_mismatch(self, code: str) -> None:
        result = verify_totp(RFC_SECRET, code, now=at_step(1000), last_used_step=None)
        assert result == TotpCheck(ok=False, step=None, reason=TotpRejection.MISMATCH)

    def test_whitespace_and_full_width_tolerated(self) -> None:
        code = totp_at(RFC_SECRET, 1000)
        spaced = f" {code[:3]} {code[3:]} "
        full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
        assert verify_totp(RFC_SECRET, spaced, now=at_step(1000), last_used_step=None).ok
        assert verify_totp(RFC_SECRET, full_width, now=at_step(1000), last_used_step=None).ok

    def test_no_negative_steps_at_the_epoch(self) -> None:
        result = verify_totp(RFC_SECRET, hotp(RFC_SECRET, 0), now=EPOCH, last_used_step=None)
        assert result == TotpCheck(ok=True, step=0, reason=None)
        assert not verify_totp(RFC_SECRET, "000000", now=EPOCH, last_used_step=None).ok

    def test_coincident_code_takes_the_latest_step(self) -> None:
        # Steps 153567 and 153569 of the RFC secret share a code (found offline); verified between them, the later
        # step wins, so the code cannot replay at the later step.
        early, late, code = 153_567, 153_569, "468457"
        assert totp_at(RFC_SECRET, early) == totp_at(RFC_SECRET, late) == code
        first = verify_totp(RFC_SECRET, code, now=at_step(early + 1), last_used_step=None)
        assert first == TotpCheck(ok=True, step=late, reason=None)
        again = verify_totp(RFC_SECRET, code, now=at_step(early + 1), last_used_step=first.step)
        assert again.reason is TotpRejection.REUSED
        # Had the earlier step been stored, the later one would still have accepted the same code.
        assert verify_totp(RFC_SECRET, code, now=at_step(early + 1), last_used_step=early).ok


@given(secret=secrets, step=steps, into=st.integers(min_value=0, max_value=29_999_999), drift=st.integers(-1, 1))
def test_accepted_once_then_refused(secret: bytes, step: int, into: int, drift: int) -> None:
    now = at_step(step, timedelta(microseconds=into))
    code = totp_at(secret, step + drift)
    first = verify_totp(secret, code, now=now, last_used_step=None)
    assert first.ok
    assert first.step is not None
    assert first.step >= step + drift
    second = verify_totp(secret, code, now=now, last_used_step=first.step)
    assert second == TotpCheck(ok=False, step=None, reason=TotpRejection.REUSED)
    # Half a minute later the same code is still refused (its step is still ≤ the last used one).
    later = verify_totp(secret, code, now=now + timedelta(seconds=30), last_used_step=first.step)
    assert not later.ok


@given(secret=secrets, step=steps, offset=st.integers(min_value=2, max_value=10_000), sign=st.sampled_from([-1, 1]))
def test_outside_the_window_refused(secret: bytes, step: int, offset: int, sign: int) -> None:
    code = totp_at(secret, step + sign * offset)
    assume(code not in {totp_at(secret, step + d) for d in (-1, 0, 1)})  # a 3-in-10^6 coincidence
    result = verify_totp(secret, code, now=at_step(step, timedelta(seconds=15)), last_used_step=None)
    assert result == TotpCheck(ok=False, step=None, reason=TotpRejection.MISMATCH)


@given(secret=secrets, step=steps)
def test_frozen_at_step_boundaries(secret: bytes, step: int) -> None:
    boundary = at_step(step)
    just_before = boundary - timedelta(microseconds=1)
    assert time_step(boundary) == step
    assert time_step(just_before) == step - 1
    # At the boundary the window is step-1..step+1; a microsecond earlier it is step-2..step.
    newest = totp_at(secret, step + 1)
    oldest = totp_at(secret, step - 2)
    assume(newest not in {totp_at(secret, step + d) for d in (-2, -1, 0)})
    assume(oldest not in {totp_at(secret, step + d) for d in (-1, 0, 1)})
    assert verify_totp(secret, newest, now=boundary, last_used_step=None).step == step + 1
    assert not verify_totp(secret, newest, now=just_before, last_used_step=None).ok
    assert verify_totp(secret, oldest, now=just_before, last_used_step=None).step == step - 2
    assert not verify_totp(secret, oldest, now=boundary, last_used_step=None).ok
    # The same code twice with time frozen on the boundary: the second is refused.
    code = totp_at(secret, step)
    first = verify_totp(secret, code, now=boundary, last_used_step=None)
    assert first.ok
    assert verify_totp(secret, code, now=boundary, last_used_step=first.step).reason is TotpRejection.REUSED


class TestSecretAndUri:
    def test_secret_is_160_bits(self) -> None:
        assert secret_from_random(bytes(range(32))) == bytes(range(20))
        with pytest.raises(WeakSecret):
            secret_from_random(b"\x00" * 19)

    def test_base32_without_padding(self) -> None:
        assert base32_secret(RFC_SECRET) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        assert base32_secret(b"\x00" * 10) == "A" * 16
        assert base32_secret(b"ab") == "MFRA"  # RFC 4648 would pad to "MFRA===="

    def test_provisioning_uri(self) -> None:
        uri = provisioning_uri(RFC_SECRET, account_name="ann lee+x@example.com", issuer="Tenure & Co")
        assert uri == (
            "otpauth://totp/Tenure%20%26%20Co:ann%20lee%2Bx%40example.com"
            "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tenure%20%26%20Co&algorithm=SHA1&digits=6&period=30"
        )
        parts = urlsplit(uri)
        assert unquote(parts.path) == "/Tenure & Co:ann lee+x@example.com"
        query = parse_qs(parts.query)
        assert query["issuer"] == ["Tenure & Co"]
        assert base64.b32decode(query["secret"][0]) == RFC_SECRET

    @pytest.mark.parametrize(("account", "issuer"), [("a:b", "Tenure"), ("ann", "Ten:ure"), ("", "Tenure"), ("a", "")])
    def test_colons_and_empties_refused(self, account: str, issuer: str) -> None:
        with pytest.raises(InvalidInput):
            provisioning_uri(RFC_SECRET, account_name=account, issuer=issuer)


class TestBackupCodes:
    def test_count(self) -> None:
        assert BACKUP_CODE_COUNT == 10

    def test_alphabet_is_unambiguous_and_32_symbols(self) -> None:
        assert len(set(BACKUP_CODE_ALPHABET)) == 32
        assert not set(BACKUP_CODE_ALPHABET) & set("ilou")

    @pytest.mark.parametrize(
        ("random_bytes", "expected"),
        [
            (b"\x00" * 7, "00000-00000"),
            (b"\xff" * 7, "zzzzz-zzzzz"),
            ((1 << 6).to_bytes(7, "big"), "00000-00001"),  # the lowest of the 50 used bits
            (b"\x00" * 6 + b"\x3f", "00000-00000"),  # the 6 unused low bits
            ((31 << 51).to_bytes(7, "big") + b"\xff", "z0000-00000"),  # only the first 7 bytes count
            ((0b00001_00010_00011_00100_00101_01010_01011_01100_01101_10000 << 6).to_bytes(7, "big"), "12345-abcdg"),
        ],
    )
    def test_vectors(self, random_bytes: bytes, expected: str) -> None:
        assert backup_code_from_random(random_bytes) == expected

    def test_too_few_bytes(self) -> None:
        with pytest.raises(WeakSecret):
            backup_code_from_random(b"\x00" * 6)

    @given(st.binary(min_size=7, max_size=7), st.binary(min_size=7, max_size=7))
    def test_fifty_bits_distinguish(self, a: bytes, b: bytes) -> None:
        same_bits = int.from_bytes(a, "big") >> 6 == int.from_bytes(b, "big") >> 6
        assert (backup_code_from_random(a) == backup_code_from_random(b)) == same_bits

    @pytest.mark.parametrize("typed", ["ABCDE-FGHJK", " abcde fghjk ", "abcdefghjk", "ａｂｃｄｅ–ｆｇｈｊｋ"])
    def test_normalise(self, typed: str) -> None:
        assert normalise_backup_code(typed) == "abcdefghjk"

    def test_confusables_read_as_digits(self) -> None:
        assert normalise_backup_code("OIL10-o0ilx") == "011100011x"

    def test_digest_is_independent_hmac_of_normalised_code(self) -> None:
        expected = hmac.new(KEY, b"tenure-backup-v1\x00acct-1\x00abcdefghjk", hashlib.sha256).hexdigest()
        assert backup_code_digest("ABCDE-FGHJK", key=KEY, account_id="acct-1") == expected
        assert backup_code_digest("abcde-fghjk", key=KEY, account_id="acct-2") != expected

    def test_digest_arguments(self) -> None:
        with pytest.raises(WeakSecret):
            backup_code_digest("abcde-fghjk", key=b"k" * 31, account_id="acct-1")
        with pytest.raises(InvalidInput):
            backup_code_digest("abcde-fghjk", key=KEY, account_id="")

    def test_a_backup_code_works_once(self) -> None:
        codes = [backup_code_from_random(bytes([n]) * 7) for n in range(BACKUP_CODE_COUNT)]
        unused = {backup_code_digest(c, key=KEY, account_id="acct-1") for c in codes}
        typed = codes[3].upper().replace("-", " ")
        used = match_backup_code(typed, unused, key=KEY, account_id="acct-1")
        assert used is not None
        unused.discard(used)
        assert match_backup_code(codes[3], unused, key=KEY, account_id="acct-1") is None
        assert len(unused) == BACKUP_CODE_COUNT - 1
        assert match_backup_code(codes[4], unused, key=KEY, account_id="acct-2") is None
