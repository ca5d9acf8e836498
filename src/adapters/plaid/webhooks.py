"""Plaid webhook verification (RELIABILITY 2), done ourselves with PyJWT (ES256 through `cryptography`).

Plaid signs each webhook with a JWT in the `Plaid-Verification` header:
- its header must say `alg: ES256` (anything else is refused before any key is used: no `none`, no HMAC with a
  public key as the secret) and name the signing key (`kid`);
- the key is Plaid's public JWK from `/webhook_verification_key/get`; keys are cached until their `expired_at`
  (a key without one is re-read after `refresh_s` to learn of a later expiry); an expired key is refused;
- the claims: `iat` at most 300 s before `now` and not more than `skew_s` after it, and `request_body_sha256`
  equal (constant-time) to the SHA-256 of the raw body as received.

Plaid sends no event id, so the inbox key is the SHA-256 of the JWT itself. Failures raise `InvalidSignature`
with a short reason; neither the token nor the body is ever put into a message or a log line. A key source that
cannot reach Plaid raises `ComponentUnavailable`, which is passed on (the message is not known to be forged).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jwt
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest  # type: ignore[import-untyped]

from adapters.plaid.verifier import PRODUCTION_HOST, PlaidClient
from ports.outbound.kyc import KycProviderError
from ports.outbound.webhooks import InvalidSignature, VerifiedMessage

log = logging.getLogger(__name__)
HEADER = "plaid-verification"
ALGORITHM = "ES256"
MAX_AGE_S = 300
FUTURE_SKEW_S = 30
KEY_REFRESH_S = 3600
MAX_TOKEN_LENGTH = 8192
Jwk = Mapping[str, Any]


class UnknownKey(LookupError):
    """The provider does not know a key with this id."""


class WebhookKeySource(Protocol):
    async def __call__(self, kid: str) -> Jwk:
        """The public JWK with this id (including `expired_at`); raise `UnknownKey` (or `KycProviderError`) when
        the provider has none, `ComponentUnavailable` when it cannot be asked."""
        ...


class PlaidWebhookKeySource:
    """`/webhook_verification_key/get` through plaid-python, in a worker thread."""

    def __init__(self, client_id: str, secret: str, *, host: str = PRODUCTION_HOST) -> None:
        self._plaid = PlaidClient(client_id, secret, host=host)

    def __repr__(self) -> str:
        return "PlaidWebhookKeySource()"

    async def close(self) -> None:
        self._plaid.close()

    async def __call__(self, kid: str) -> Jwk:
        request = WebhookVerificationKeyGetRequest(key_id=kid)
        response = await self._plaid.call(
            "webhook_verification_key/get", self._plaid.api.webhook_verification_key_get, request
        )
        key: dict[str, Any] = response.to_dict()["key"]
        return key


@dataclass(frozen=True, slots=True)
class _CachedKey:
    key: jwt.PyJWK
    expired_at: float | None
    fetched_at: float


def _header(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == HEADER:
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class PlaidWebhookVerifier:
    provider = "plaid"

    def __init__(
        self,
        key_source: WebhookKeySource,
        *,
        max_age_s: int = MAX_AGE_S,
        future_skew_s: int = FUTURE_SKEW_S,
        key_refresh_s: int = KEY_REFRESH_S,
    ) -> None:
        self._key_source = key_source
        self._max_age_s = max_age_s
        self._future_skew_s = future_skew_s
        self._key_refresh_s = key_refresh_s
        self._keys: dict[str, _CachedKey] = {}
        self._fetching = asyncio.Lock()

    def __repr__(self) -> str:
        return "PlaidWebhookVerifier()"

    async def verify(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> VerifiedMessage:
        token = _header(headers)
        if not token:
            raise InvalidSignature("missing Plaid-Verification header")
        token = token.strip()
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidSignature("the Plaid-Verification token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidSignature("the Plaid-Verification token is garbled") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidSignature("the Plaid-Verification token is not ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise InvalidSignature("the Plaid-Verification token names no key")
        key = await self._key(kid, now.timestamp())
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,  # checked below against the `now` we are given
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            raise InvalidSignature("the Plaid-Verification signature does not verify") from None
        self._check_claims(claims, body, now.timestamp())
        return _message(token, body)

    def _check_claims(self, claims: Any, body: bytes, now: float) -> None:
        if not isinstance(claims, dict):
            raise InvalidSignature("the Plaid-Verification claims are not an object")
        issued = _number(claims.get("iat"))
        if issued is None:
            raise InvalidSignature("the Plaid-Verification token has no iat")
        if now - issued > self._max_age_s:
            raise InvalidSignature("the Plaid-Verification token is too old")
        if issued - now > self._future_skew_s:
            raise InvalidSignature("the Plaid-Verification token is from the future")
        claimed = claims.get("request_body_sha256")
        if not isinstance(claimed, str):
            raise InvalidSignature("the Plaid-Verification token has no body hash")
        actual = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(actual.encode(), claimed.lower().encode("utf-8", "replace")):
            raise InvalidSignature("the body does not match the signed hash")

    async def _key(self, kid: str, now: float) -> jwt.PyJWK:
        cached = self._usable(kid, now)
        if cached is not None:
            return cached
        async with self._fetching:
            cached = self._usable(kid, now)  # another verify may have fetched it meanwhile
            if cached is not None:
                return cached
            try:
                jwk = await self._key_source(kid)
            except (UnknownKey, KycProviderError):
                self._keys.pop(kid, None)
                raise InvalidSignature("unknown Plaid webhook key") from None
            entry = _entry(kid, jwk, now)
            self._keys[kid] = entry
        if entry.expired_at is not None and entry.expired_at <= now:
            raise InvalidSignature("the Plaid webhook key has expired")
        return entry.key

    def _usable(self, kid: str, now: float) -> jwt.PyJWK | None:
        entry = self._keys.get(kid)
        if entry is None:
            return None
        if entry.expired_at is not None:
            return entry.key if entry.expired_at > now else None
        return entry.key if now - entry.fetched_at < self._key_refresh_s else None


def _entry(kid: str, jwk: Jwk, now: float) -> _CachedKey:
    if not isinstance(jwk, Mapping):
        raise InvalidSignature("the Plaid webhook key is malformed")
    if jwk.get("kid") not in (None, kid) or jwk.get("alg") not in (None, ALGORITHM):
        raise InvalidSignature("the Plaid webhook key does not match the token")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise InvalidSignature("the Plaid webhook key is not a P-256 key")
    expired_at = jwk.get("expired_at")
    if expired_at is not None and _number(expired_at) is None:
        raise InvalidSignature("the Plaid webhook key is malformed")
    public = {name: jwk[name] for name in ("kty", "crv", "x", "y") if name in jwk}
    try:
        key = jwt.PyJWK(public, algorithm=ALGORITHM)
    except jwt.PyJWTError:
        raise InvalidSignature("the Plaid webhook key is malformed") from None
    return _CachedKey(key=key, expired_at=_number(expired_at), fetched_at=now)


def _message(token: str, body: bytes) -> VerifiedMessage:
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidSignature("a signed body that is not JSON") from None
    if not isinstance(event, dict):
        raise InvalidSignature("a signed body that is not a Plaid webhook")
    webhook_type, webhook_code = event.get("webhook_type"), event.get("webhook_code")
    if not isinstance(webhook_type, str) or not webhook_type or not isinstance(webhook_code, str) or not webhook_code:
        raise InvalidSignature("a signed body that is not a Plaid webhook")
    subject = event.get("identity_verification_id")
    return VerifiedMessage(
        key=hashlib.sha256(token.encode()).hexdigest(),
        type=f"{webhook_type}.{webhook_code}",
        subject=subject if isinstance(subject, str) and 0 < len(subject) <= 255 else None,
    )
