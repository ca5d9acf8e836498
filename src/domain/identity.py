"""Identity fingerprint (DOMAIN.md §10): spot the same human behind two accounts without storing their ID number.

Why keyed and normalised: a plain hash of a 9-digit ID number is reversible by brute force, so the fingerprint is
an HMAC-SHA256 under a secret key the caller passes in (the domain never reads the environment). Trivial spelling
differences ("José O'Brien" vs "jose obrien") must not let one person hold two memberships or win twice, so the
inputs are normalised first.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import date, datetime

from domain.errors import InvalidIdentity

FINGERPRINT_VERSION = "tenure-identity-v1"
"""Part of the HMAC message: changing the normalisation means a new version, never silently different digests."""

MIN_KEY_BYTES = 32
"""HMAC-SHA256 keys shorter than the digest weaken it; refuse them."""

_ASCII_DIGITS = frozenset("0123456789")


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def normalise_name(legal_name: str) -> str:
    """Casefold, strip accents (NFKD), drop punctuation and symbols, collapse whitespace.

    Punctuation is dropped, not replaced by a space: "O'Brien" and "OBrien" match. Letters and digits of every
    script are kept, so non-Latin names still fingerprint meaningfully.
    """
    # Casefold first (some combining marks fold to letters, e.g. Greek iota subscript), then strip accents, then
    # once more: decomposition can expose characters that fold again. Idempotent, and blind to casefolding.
    text = _strip_accents(_strip_accents(legal_name.casefold()).casefold())
    kept = "".join(ch for ch in text if ch.isalnum() or ch.isspace())
    return " ".join(kept.split())


def normalise_id_number(id_number: str) -> str:
    """ASCII digits only (after NFKD, so full-width digits count); dashes, spaces and letters are dropped."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", id_number) if ch in _ASCII_DIGITS)


def fingerprint(*, key: bytes, legal_name: str, date_of_birth: date, id_number: str) -> str:
    """Hex HMAC-SHA256 over the versioned, normalised ``name``, ISO ``date_of_birth`` and ID-number digits."""
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise InvalidIdentity(f"fingerprint key must be at least {MIN_KEY_BYTES} bytes")
    if not isinstance(date_of_birth, date) or isinstance(date_of_birth, datetime):
        raise InvalidIdentity("date_of_birth must be a date")
    name = normalise_name(legal_name)
    digits = normalise_id_number(id_number)
    if not name:
        raise InvalidIdentity("legal name is empty after normalisation")
    if not digits:
        raise InvalidIdentity("ID number has no digits")
    # NUL cannot occur in a normalised field (not alphanumeric, not whitespace), so fields cannot run together.
    message = "\x00".join((FINGERPRINT_VERSION, name, date_of_birth.isoformat(), digits))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()
