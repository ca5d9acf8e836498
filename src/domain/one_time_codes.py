"""Short numeric codes sent by email (verification, password reset; SMS later): issue, check, resend.

Why keyed digests: a 6-digit code has only 10^6 values, so a plain hash in a leaked table is reversed instantly.
We store HMAC-SHA256 under a server key over ``purpose‖subject‖code``: a code for one purpose or one subject never
verifies another. Why few attempts: 3 guesses out of 10^6 per issued code, plus the throttle (``domain.throttle``)
across codes, keeps online guessing hopeless. Randomness and ``now`` come from the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import ensure_utc
from domain.errors import InvalidInput, InvalidPolicy, WeakSecret

CODE_DIGEST_VERSION = "tenure-otp-v1"
"""Part of every HMAC message: a new message layout gets a new version, never silently different digests."""

MIN_KEY_BYTES = 32
MIN_RANDOM_BYTES = 8
MAX_CODE_LENGTH = 10
"""With ≥ 8 random bytes (64 bits) and ≤ 10 digits the modulo bias is below 10^10 / 2^64 < 6e-10."""

_DIGITS = frozenset("0123456789")


class CodePurpose(StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a password
    PHONE_VERIFICATION = "phone_verification"


class CodeRejection(StrEnum):
    MISSING = "missing"
    EXPIRED = "expired"
    CONSUMED = "consumed"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class CodePolicy:
    length: int = 6
    ttl: timedelta = timedelta(minutes=10)
    max_attempts: int = 3
    resend_cooldown: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if not 4 <= self.length <= MAX_CODE_LENGTH:
            raise InvalidPolicy(f"code length must be 4..{MAX_CODE_LENGTH}")
        if self.ttl <= timedelta(0):
            raise InvalidPolicy("code ttl must be positive")
        if self.max_attempts < 1:
            raise InvalidPolicy("max_attempts must be at least 1")
        if self.resend_cooldown < timedelta(0) or self.resend_cooldown >= self.ttl:
            raise InvalidPolicy("resend cool-down must be non-negative and shorter than the ttl")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCode:
    """What is stored for one issued code (never the code itself)."""

    purpose: CodePurpose
    subject: str
    digest: str
    issued_at: datetime
    expires_at: datetime
    attempts: int = 0
    consumed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeCheck:
    """The outcome; ``updated`` is the record to save, or None when nothing changed."""

    ok: bool
    reason: CodeRejection | None
    updated: IssuedCode | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resend:
    ok: bool
    retry_after: timedelta | None


def code_from_random(random_bytes: bytes, length: int) -> str:
    """A zero-padded ``length``-digit code from caller-supplied random bytes.

    Method: the bytes as one big-endian integer, reduced modulo 10^length. No rejection sampling (that could need
    more bytes than supplied); instead at least ``MIN_RANDOM_BYTES`` are required, which bounds the distance from
    uniform by 10^length / 2^(8·len) — under 6e-14 for 6 digits from 8 bytes.
    """
    if len(random_bytes) < MIN_RANDOM_BYTES:
        raise WeakSecret(f"need at least {MIN_RANDOM_BYTES} random bytes")
    if not 1 <= length <= MAX_CODE_LENGTH:
        raise InvalidInput(f"code length must be 1..{MAX_CODE_LENGTH}")
    value = int.from_bytes(random_bytes, "big") % 10**length
    return str(value).zfill(length)


def _require_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise WeakSecret(f"code key must be at least {MIN_KEY_BYTES} bytes")


def _is_code(code: str, length: int) -> bool:
    return len(code) == length and set(code) <= _DIGITS


def normalise_submitted_code(submitted: str) -> str:
    """What a member typed, as digits: NFKC (full-width digits count) without any whitespace ("123 456")."""
    return "".join(unicodedata.normalize("NFKC", submitted).split())


def code_digest(code: str, *, key: bytes, subject: str, purpose: CodePurpose) -> str:
    """Hex HMAC-SHA256 over ``version‖purpose‖subject‖code`` (NUL-separated: no field can contain NUL)."""
    _require_key(key)
    if not code or not set(code) <= _DIGITS:
        raise InvalidInput("a code is ASCII digits")
    if not subject or "\x00" in subject:
        raise InvalidInput("subject must be non-empty and free of NUL")
    message = "\x00".join((CODE_DIGEST_VERSION, CodePurpose(purpose).value, subject, code))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def issue_code(
    *, code: str, key: bytes, subject: str, purpose: CodePurpose, now: datetime, policy: CodePolicy
) -> IssuedCode:
    """The record for a freshly generated ``code`` (from ``code_from_random``); valid for ``policy.ttl``.

    Issuing replaces any earlier code for the same (subject, purpose): the caller keeps one record per pair.
    """
    now = ensure_utc(now, "now")
    if not _is_code(code, policy.length):
        raise InvalidInput(f"a code is exactly {policy.length} ASCII digits")
    return IssuedCode(
        purpose=purpose,
        subject=subject,
        digest=code_digest(code, key=key, subject=subject, purpose=purpose),
        issued_at=now,
        expires_at=now + policy.ttl,
    )


def attempts_left(issued: IssuedCode, policy: CodePolicy) -> int:
    """Wrong guesses still allowed on this code (0 = dead: ask for a new one)."""
    return max(0, policy.max_attempts - issued.attempts)


def check_code(
    issued: IssuedCode | None, submitted: str, *, key: bytes, now: datetime, policy: CodePolicy
) -> CodeCheck:
    """Check a submitted code. Dead codes (consumed, out of attempts, expired) are refused before comparing.

    A wrong or malformed guess counts as an attempt (returned as ``mismatch`` with the incremented record); once
    ``max_attempts`` wrong guesses are recorded every later check is ``too_many_attempts``, even the right code.
    ``expires_at`` itself is already expired (validity is the half-open interval [issued_at, expires_at)).
    """
    _require_key(key)
    now = ensure_utc(now, "now")
    if issued is None:
        return CodeCheck(ok=False, reason=CodeRejection.MISSING, updated=None)
    if issued.consumed_at is not None:
        return CodeCheck(ok=False, reason=CodeRejection.CONSUMED, updated=None)
    if issued.attempts >= policy.max_attempts:
        return CodeCheck(ok=False, reason=CodeRejection.TOO_MANY_ATTEMPTS, updated=None)
    if now >= ensure_utc(issued.expires_at, "expires_at"):
        return CodeCheck(ok=False, reason=CodeRejection.EXPIRED, updated=None)
    code = normalise_submitted_code(submitted)
    matches = _is_code(code, policy.length) and hmac.compare_digest(
        code_digest(code, key=key, subject=issued.subject, purpose=issued.purpose), issued.digest
    )
    if matches:
        return CodeCheck(ok=True, reason=None, updated=replace(issued, consumed_at=now))
    return CodeCheck(ok=False, reason=CodeRejection.MISMATCH, updated=replace(issued, attempts=issued.attempts + 1))


def resend_allowed(last_issued_at: datetime | None, *, now: datetime, policy: CodePolicy) -> Resend:
    """Whether a new code may be sent; otherwise how long to wait (never more than the cool-down)."""
    if last_issued_at is None:
        return Resend(ok=True, retry_after=None)
    elapsed = ensure_utc(now, "now") - ensure_utc(last_issued_at, "last_issued_at")
    if elapsed >= policy.resend_cooldown:
        return Resend(ok=True, retry_after=None)
    return Resend(ok=False, retry_after=min(policy.resend_cooldown - elapsed, policy.resend_cooldown))
