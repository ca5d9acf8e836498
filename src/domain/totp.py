"""TOTP second factor (RFC 6238 over RFC 4226 HOTP: SHA-1, 6 digits, 30 s) and single-use backup codes.

Why SHA-1/6/30: every authenticator app supports exactly these; others are silently ignored by some apps, which
then show wrong codes. Why remember the last used step: RFC 6238 §5.2 — a code seen once (shoulder-surfed,
phished, replayed) must not work again, so each accepted step must be greater than the last. Why ±1 step: clocks
of phones drift; a wider window only helps attackers. Secrets and random bytes are supplied by the caller; the
secret is encrypted at rest by an adapter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, urlencode

from domain.calendar import ensure_utc
from domain.errors import InvalidInput, WeakSecret

PERIOD_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20
"""RFC 4226 §4 R6 recommends 160-bit secrets; 20 bytes is also 32 base32 characters without padding."""
MIN_SECRET_BYTES = 16
"""RFC 4226 §4 R6: secrets shorter than 128 bits are refused when verifying or provisioning."""
MAX_WINDOW = 10
MIN_KEY_BYTES = 32

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ASCII_DIGITS = frozenset("0123456789")

BACKUP_CODE_COUNT = 10
BACKUP_CODE_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
"""Crockford's base32, lower case: no i, l, o, u; typed i/l read as 1 and o as 0 (see ``normalise_backup_code``)."""
BACKUP_CODE_CHARS = 10
"""10 characters × 5 bits = 50 bits of entropy, shown as ``xxxxx-xxxxx``."""
BACKUP_CODE_RANDOM_BYTES = 7
BACKUP_DIGEST_VERSION = "tenure-backup-v1"
_BACKUP_CONFUSABLES = str.maketrans({"o": "0", "i": "1", "l": "1"})


class TotpRejection(StrEnum):
    MISMATCH = "mismatch"
    REUSED = "reused"


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpCheck:
    """``step`` is the accepted time step: store it as the new ``last_used_step``."""

    ok: bool
    step: int | None
    reason: TotpRejection | None


def time_step(now: datetime, period: int = PERIOD_SECONDS) -> int:
    """RFC 6238 T = floor((unix time − T0) / X), in exact integer arithmetic (no float rounding at boundaries)."""
    if period < 1:
        raise InvalidInput("period must be a positive number of seconds")
    return (ensure_utc(now, "now") - _EPOCH) // timedelta(seconds=period)


def hotp(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 §5.3: HMAC-SHA1 of the 8-byte big-endian counter, dynamic truncation, modulo 10^digits."""
    if not 0 <= counter < 2**64:
        raise InvalidInput("HOTP counter must fit in 8 unsigned bytes")
    if not 6 <= digits <= 8:
        raise InvalidInput("HOTP codes have 6 to 8 digits")
    mac = hmac.new(secret, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF
    return str(binary % 10**digits).zfill(digits)


def totp_at(secret: bytes, step: int, digits: int = DIGITS) -> str:
    """The TOTP code of one time step."""
    return hotp(secret, step, digits)


def _require_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise WeakSecret(f"a TOTP secret has at least {MIN_SECRET_BYTES} bytes")


def verify_totp(secret: bytes, code: str, *, now: datetime, last_used_step: int | None, window: int = 1) -> TotpCheck:
    """Accept a code for any step in now−window..now+window that is later than ``last_used_step``.

    Every candidate step is compared (constant-time, no early exit). If the code matches several steps (a 10^-6
    coincidence) the latest is taken: accepting an earlier one would let the same code replay at the later step.
    Whitespace is ignored ("123 456"); anything but 6 ASCII digits is a ``mismatch``.
    """
    _require_secret(secret)
    if not 0 <= window <= MAX_WINDOW:
        raise InvalidInput(f"window must be 0..{MAX_WINDOW}")
    current = time_step(now)
    typed = "".join(unicodedata.normalize("NFKC", code).split())
    if len(typed) != DIGITS or not set(typed) <= _ASCII_DIGITS:
        return TotpCheck(ok=False, step=None, reason=TotpRejection.MISMATCH)
    matched = [
        step
        for step in range(current - window, current + window + 1)
        if step >= 0 and hmac.compare_digest(totp_at(secret, step), typed)
    ]
    fresh = [step for step in matched if last_used_step is None or step > last_used_step]
    if fresh:
        return TotpCheck(ok=True, step=max(fresh), reason=None)
    if matched:
        return TotpCheck(ok=False, step=None, reason=TotpRejection.REUSED)
    return TotpCheck(ok=False, step=None, reason=TotpRejection.MISMATCH)


def secret_from_random(random_bytes: bytes) -> bytes:
    """A 160-bit TOTP secret: the first ``SECRET_BYTES`` of caller-supplied random bytes."""
    if len(random_bytes) < SECRET_BYTES:
        raise WeakSecret(f"a TOTP secret needs at least {SECRET_BYTES} random bytes")
    return bytes(random_bytes[:SECRET_BYTES])


def base32_secret(secret: bytes) -> str:
    """RFC 4648 base32 without padding: what authenticator apps expect in the URI and for manual entry."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def provisioning_uri(secret: bytes, *, account_name: str, issuer: str) -> str:
    """The Key URI (Google Authenticator format) shown as a QR code when enrolling.

    Label parts are percent-encoded (spaces as %20, never "+"); a colon in either part is refused because the
    format uses it to separate issuer from account.
    """
    _require_secret(secret)
    for name, value in (("issuer", issuer), ("account_name", account_name)):
        if not value or ":" in value:
            raise InvalidInput(f"{name} must be non-empty and contain no ':'")
    label = f"{quote(issuer, safe='')}:{quote(account_name, safe='')}"
    query = urlencode(
        {
            "secret": base32_secret(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD_SECONDS,
        },
        quote_via=quote,
        safe="",
    )
    return f"otpauth://totp/{label}?{query}"


def backup_code_from_random(random_bytes: bytes) -> str:
    """One ``xxxxx-xxxxx`` backup code: the top 50 bits of the first 7 random bytes in lower-case Crockford base32."""
    if len(random_bytes) < BACKUP_CODE_RANDOM_BYTES:
        raise WeakSecret(f"a backup code needs at least {BACKUP_CODE_RANDOM_BYTES} random bytes")
    value = int.from_bytes(random_bytes[:BACKUP_CODE_RANDOM_BYTES], "big") >> (BACKUP_CODE_RANDOM_BYTES * 8 - 50)
    chars = [BACKUP_CODE_ALPHABET[(value >> (5 * i)) & 0x1F] for i in reversed(range(BACKUP_CODE_CHARS))]
    half = BACKUP_CODE_CHARS // 2
    return "".join(chars[:half]) + "-" + "".join(chars[half:])


def normalise_backup_code(submitted: str) -> str:
    """Lower case without whitespace or dashes; i/l → 1 and o → 0 so misread characters still match."""
    text = unicodedata.normalize("NFKC", submitted).lower()
    return "".join(ch for ch in text if not ch.isspace() and ch not in "-‐‑‒–—").translate(_BACKUP_CONFUSABLES)


def backup_code_digest(code: str, *, key: bytes, account_id: str) -> str:
    """Hex HMAC-SHA256 over ``version‖account‖normalised code``: unguessable without the key, bound to the account."""
    if len(key) < MIN_KEY_BYTES:
        raise WeakSecret(f"backup code key must be at least {MIN_KEY_BYTES} bytes")
    if not account_id or "\x00" in account_id:
        raise InvalidInput("account_id must be non-empty and free of NUL")
    message = "\x00".join((BACKUP_DIGEST_VERSION, account_id, normalise_backup_code(code)))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def match_backup_code(submitted: str, unused_digests: Iterable[str], *, key: bytes, account_id: str) -> str | None:
    """The stored digest a submitted backup code matches (the caller then marks it used), or None.

    Every stored digest is compared in constant time, without early exit.
    """
    digest = backup_code_digest(submitted, key=key, account_id=account_id)
    found: str | None = None
    for candidate in unused_digests:
        if hmac.compare_digest(candidate, digest):
            found = candidate
    return found
