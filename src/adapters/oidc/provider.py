"""`OpenIdProvider` over plain async httpx and PyJWT: discovery, the authorization URL, the code exchange, and the
ID token's signature against the provider's published keys (JWKS).

The discovery document and the keys are cached (keys for their Cache-Control max-age, at most a day); a token signed
with a key id we have not seen makes one refetch, at most once a minute, so a rotation is picked up at once and a
flood of forged key ids cannot make us hammer the provider. Only RS256 and ES256 are accepted ("none" and HMAC never).
Claims are returned unchecked: `domain.oidc` decides whether they are acceptable. Nothing secret (client secret,
code, verifier, token) reaches a log line or an error message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from ports.outbound.errors import ComponentUnavailable
from ports.outbound.oidc import OidcRejected

log = logging.getLogger(__name__)

GOOGLE_ISSUER = "https://accounts.google.com"
GOOGLE_ISSUER_ALIASES = frozenset({GOOGLE_ISSUER, "accounts.google.com"})
"""Google signs ID tokens with either spelling of its issuer (its OpenID documentation says so)."""
ALGORITHMS = ["RS256", "ES256"]
KEYS_MAX_AGE_S = 86_400
REFETCH_MIN_INTERVAL_S = 60.0


def _max_age(cache_control: str | None) -> int:
    found = re.search(r"max-age=(\d+)", cache_control or "")
    return min(int(found.group(1)), KEYS_MAX_AGE_S) if found else 3600


class HttpOpenIdProvider:
    def __init__(
        self,
        *,
        name: str,
        issuer: str,
        client_id: str,
        client_secret: str,
        issuer_aliases: frozenset[str] = frozenset(),
        scopes: str = "openid email profile",
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
        monotonic: Any = time.monotonic,
    ) -> None:
        if not issuer or not client_id or not client_secret:
            raise ValueError(f"{name}: an issuer, client id and client secret are required")
        self._name = name
        self._issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self._issuers = frozenset({self._issuer, *issuer_aliases})
        self._scopes = scopes
        self._client = client if client is not None else httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))
        self._owns_client = client is None
        self._monotonic = monotonic
        self._discovery: Mapping[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_expire_at = 0.0
        self._keys_fetched_at = -REFETCH_MIN_INTERVAL_S
        self._refresh_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the client secret
        return f"HttpOpenIdProvider({self._name!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def issuers(self) -> frozenset[str]:
        return self._issuers

    @property
    def canonical_issuer(self) -> str:
        return self._issuer

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _get_json(self, url: str, what: str) -> tuple[dict[str, Any], httpx.Response]:
        """A JSON object from `url`; anything else (unreachable, not 200, not a JSON object) is unavailable."""
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise ComponentUnavailable(self._name, f"{what}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ComponentUnavailable(self._name, f"{what}: HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ComponentUnavailable(self._name, f"{what}: not a JSON object")
        return document, response

    async def _configuration(self) -> Mapping[str, Any]:
        if self._discovery is None:
            document, _ = await self._get_json(f"{self._issuer}/.well-known/openid-configuration", "discovery")
            needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
            if not all(isinstance(document.get(k), str) for k in needed):
                raise ComponentUnavailable(self._name, "discovery: incomplete document")
            if document.get("issuer") not in self._issuers:
                raise ComponentUnavailable(self._name, "discovery: the document names another issuer")
            self._discovery = document
        return self._discovery

    async def authorization_url(self, *, state: str, nonce: str, code_challenge: str, redirect_uri: str) -> str:
        endpoint = str((await self._configuration())["authorization_endpoint"])
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": redirect_uri,
                "scope": self._scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def _refresh_keys(self) -> None:
        document, response = await self._get_json(str((await self._configuration())["jwks_uri"]), "keys")
        try:
            key_set = jwt.PyJWKSet.from_dict(document)
        except (jwt.PyJWKSetError, ValueError, TypeError, AttributeError) as exc:
            raise ComponentUnavailable(self._name, "keys: unreadable key set") from exc
        now = self._monotonic()
        self._keys = {k.key_id: k for k in key_set.keys if k.key_id}
        self._keys_fetched_at = now
        self._keys_expire_at = now + _max_age(response.headers.get("cache-control"))

    async def _key(self, kid: str) -> jwt.PyJWK:
        async with self._refresh_lock:  # concurrent sign-ins with a new kid wait for one fetch, not one each
            now = self._monotonic()
            stale = now >= self._keys_expire_at
            unknown = kid not in self._keys and now - self._keys_fetched_at >= REFETCH_MIN_INTERVAL_S
            if stale or unknown:
                await self._refresh_keys()
        key = self._keys.get(kid)
        if key is None:
            raise OidcRejected("the ID token is signed with an unknown key")
        return key

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> Mapping[str, object]:
        endpoint = str((await self._configuration())["token_endpoint"])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            "client_id": self._client_id,
            "client_secret": self._secret,
        }
        try:
            response = await self._client.post(endpoint, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ComponentUnavailable(self._name, f"token: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ComponentUnavailable(self._name, f"token: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            log.info("%s refused the code exchange: HTTP %s %s", self._name, response.status_code, error)
            raise OidcRejected(f"the provider refused the sign-in ({error or response.status_code})")
        token = body.get("id_token")
        if not isinstance(token, str):
            raise OidcRejected("the provider sent no ID token")
        return await self._verified_claims(token)

    async def _verified_claims(self, token: str) -> Mapping[str, object]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcRejected("the ID token is malformed") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS or not isinstance(kid, str):
            raise OidcRejected("the ID token's algorithm or key id is not acceptable")
        key = await self._key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                options={
                    "verify_signature": True,
                    "verify_aud": False,  # the claims are checked by domain.oidc, all in one place
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise OidcRejected("the ID token's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise OidcRejected("the ID token is malformed") from exc
        return dict(claims)
