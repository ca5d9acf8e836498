"""OpenID Connect sign-in rules: PKCE (RFC 7636, S256 only) and ID token claim validation (OIDC Core §3.1.3.7).

The adapter checks the token's signature against the provider's published keys; whether the signed claims are
acceptable is decided here, so the rules are pure and property-tested: right issuer, our client in the audience
(and as the authorized party when there are several), not expired, not issued in the future or long ago, the nonce
of this very sign-in, and a subject to key the account by (never the email, which the provider lets people change).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from domain.calendar import ensure_utc

CLOCK_LEEWAY = timedelta(seconds=60)
MAX_TOKEN_AGE = timedelta(minutes=10)
"""An ID token is exchanged for seconds after it is issued; an older one is a replay, however valid its `exp`."""
SUBJECT_MAX = 255  # OIDC Core §2: at most 255 ASCII characters


def pkce_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 §4.2, method S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_verifier_valid(verifier: str) -> bool:
    """43–128 characters of [A-Z a-z 0-9 - . _ ~] (RFC 7636 §4.1)."""
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return 43 <= len(verifier) <= 128 and all(ch in allowed for ch in verifier)


class ClaimProblem(StrEnum):
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_AUTHORIZED_PARTY = "wrong_authorized_party"
    EXPIRED = "expired"
    ISSUED_IN_FUTURE = "issued_in_future"
    TOO_OLD = "too_old"
    WRONG_NONCE = "wrong_nonce"
    NO_SUBJECT = "no_subject"


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedIdentity:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimsCheck:
    problems: tuple[ClaimProblem, ...]
    identity: VerifiedIdentity | None

    @property
    def ok(self) -> bool:
        return not self.problems


def _instant(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def check_id_token_claims(
    claims: Mapping[str, object],
    *,
    issuers: frozenset[str],
    canonical_issuer: str,
    client_id: str,
    nonce: str,
    now: datetime,
) -> ClaimsCheck:
    """Every problem with `claims`, and the identity they name when there is none. `issuers` lists the spellings
    the provider uses for itself (Google: with and without the scheme); identities are keyed by
    `canonical_issuer` so the spelling never splits one person into two accounts."""
    now = ensure_utc(now, "now")
    problems: list[ClaimProblem] = []
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or issuer not in issuers:
        problems.append(ClaimProblem.WRONG_ISSUER)
    aud = claims.get("aud")
    if isinstance(aud, str):
        audiences = [aud]
    elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        audiences = list(aud)
    else:  # absent, or not the string or array of strings OIDC Core §2 allows
        audiences = []
    if client_id not in audiences:
        problems.append(ClaimProblem.WRONG_AUDIENCE)
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        problems.append(ClaimProblem.WRONG_AUTHORIZED_PARTY)
    expires = _instant(claims.get("exp"))
    if expires is None or now - CLOCK_LEEWAY >= expires:  # never `expires + leeway`: year 9999 overflows
        problems.append(ClaimProblem.EXPIRED)
    issued = _instant(claims.get("iat"))
    if issued is None or issued > now + CLOCK_LEEWAY:
        problems.append(ClaimProblem.ISSUED_IN_FUTURE)
    elif now - issued > MAX_TOKEN_AGE:
        problems.append(ClaimProblem.TOO_OLD)
    if not isinstance(claims.get("nonce"), str) or claims.get("nonce") != nonce or not nonce:
        problems.append(ClaimProblem.WRONG_NONCE)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > SUBJECT_MAX:
        problems.append(ClaimProblem.NO_SUBJECT)
    if problems:
        return ClaimsCheck(problems=tuple(problems), identity=None)
    email = claims.get("email")
    assert isinstance(subject, str)
    return ClaimsCheck(
        problems=(),
        identity=VerifiedIdentity(
            issuer=canonical_issuer,
            subject=subject,
            email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
            email_verified=claims.get("email_verified") is True,
        ),
    )
