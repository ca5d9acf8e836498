"""Passkey rules that are ours rather than the WebAuthn library's: the signature counter and names.

Why our own counter rule when the library checks it too: the stored count is updated with compare-and-set, so two
assertions racing on one counter value cannot both succeed; this function is the rule both places apply.
"""

from __future__ import annotations

import unicodedata

PASSKEY_NAME_MAX = 64
MAX_PASSKEYS_PER_ACCOUNT = 10


def sign_count_acceptable(stored: int, reported: int) -> bool:
    """WebAuthn §6.1.1: a counter that does not move forward means a cloned authenticator or a replay. Synced
    passkeys report 0 every time; that is accepted only while the stored count is 0 too."""
    if stored == 0 and reported == 0:
        return True
    return reported > stored


def passkey_name(raw: str | None, *, default: str) -> str:
    """A label the member chose (trimmed, control characters removed, at most 64 characters) or `default`."""
    cleaned = "".join(ch for ch in (raw or "") if unicodedata.category(ch)[0] != "C").strip()
    return cleaned[:PASSKEY_NAME_MAX].rstrip() or default
