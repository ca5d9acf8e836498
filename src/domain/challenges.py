"""Single-use, short-lived ceremony challenges (RELIABILITY.md 20, 21).

A passkey ceremony or an OpenID sign-in spans two requests: the server issues a challenge, the browser comes back
with an answer. The challenge is stored server-side and redeemed at most once, within its lifetime, by the party it
was issued to: the same account and session for ceremonies inside a session, the same browser (a binding cookie's
digest) for ceremonies that start signed out. A replayed, expired or transplanted answer is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from domain.calendar import ensure_utc


class ChallengeKind(StrEnum):
    PASSKEY_REGISTRATION = "passkey_registration"
    PASSKEY_ASSERTION = "passkey_assertion"
    """A sign-in or second-factor assertion: started signed out, so bound to nobody."""
    PASSKEY_STEP_UP = "passkey_step_up"
    OIDC_AUTHORIZATION = "oidc_authorization"
    OIDC_SECOND_FACTOR = "oidc_second_factor"
    """A provider sign-in that still needs the account's TOTP before it becomes a session."""


CHALLENGE_LIFETIME: dict[ChallengeKind, timedelta] = {
    ChallengeKind.PASSKEY_REGISTRATION: timedelta(minutes=5),
    ChallengeKind.PASSKEY_ASSERTION: timedelta(minutes=5),
    ChallengeKind.PASSKEY_STEP_UP: timedelta(minutes=5),
    ChallengeKind.OIDC_AUTHORIZATION: timedelta(minutes=10),
    ChallengeKind.OIDC_SECOND_FACTOR: timedelta(minutes=5),
}
"""Long enough for a person to touch an authenticator or pass a provider's consent screen, no longer."""


class ChallengeRefusal(StrEnum):
    UNKNOWN = "unknown"
    WRONG_KIND = "wrong_kind"
    USED = "used"
    EXPIRED = "expired"
    WRONG_ACCOUNT = "wrong_account"
    WRONG_SESSION = "wrong_session"
    WRONG_BROWSER = "wrong_browser"


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    id: UUID
    kind: ChallengeKind
    issued_at: datetime
    expires_at: datetime
    account_id: UUID | None = None
    session_id: UUID | None = None
    binding_digest: str | None = None
    """Digest of a random token kept in the browser's cookie, for ceremonies that start signed out."""
    consumed_at: datetime | None = None


def challenge_expiry(kind: ChallengeKind, issued_at: datetime) -> datetime:
    return ensure_utc(issued_at, "issued_at") + CHALLENGE_LIFETIME[kind]


@dataclass(frozen=True, slots=True, kw_only=True)
class Redemption:
    ok: bool
    reason: ChallengeRefusal | None = None


def redeem(
    challenge: Challenge | None,
    *,
    kind: ChallengeKind,
    now: datetime,
    account_id: UUID | None = None,
    session_id: UUID | None = None,
    binding_digest: str | None = None,
) -> Redemption:
    """Whether this answer may redeem `challenge`. Every binding the challenge carries must match exactly: a
    challenge issued to a session is not redeemable without that session, and vice versa (None ≠ a value)."""
    if challenge is None:
        return Redemption(ok=False, reason=ChallengeRefusal.UNKNOWN)
    if challenge.kind is not kind:
        return Redemption(ok=False, reason=ChallengeRefusal.WRONG_KIND)
    if challenge.consumed_at is not None:
        return Redemption(ok=False, reason=ChallengeRefusal.USED)
    if ensure_utc(now, "now") >= ensure_utc(challenge.expires_at, "expires_at"):
        return Redemption(ok=False, reason=ChallengeRefusal.EXPIRED)
    if challenge.account_id != account_id:
        return Redemption(ok=False, reason=ChallengeRefusal.WRONG_ACCOUNT)
    if challenge.session_id != session_id:
        return Redemption(ok=False, reason=ChallengeRefusal.WRONG_SESSION)
    if challenge.binding_digest != binding_digest:
        return Redemption(ok=False, reason=ChallengeRefusal.WRONG_BROWSER)
    return Redemption(ok=True)
