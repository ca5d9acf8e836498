"""A local fake OpenID Connect provider ("like Google"), for tests only (never shipped).

Run it with `async with run_fake_oidc_provider() as fake:`: uvicorn serves a Litestar app on 127.0.0.1 (ephemeral
port) inside the test's event loop. `fake.base_url` is also the issuer; configure the relying party with it,
`fake.client_id` and `fake.client_secret`. Only the authorization code flow with PKCE (S256) is served, as a
public provider such as Google does it for a confidential web client. Nothing leaves the machine.

HTTP API:
  GET  /.well-known/openid-configuration   the discovery document (issuer, the endpoints below, RS256, S256, the
      scopes openid/email/profile, client_secret_post and client_secret_basic).
  GET  /jwks   {"keys": [the current RSA public key: kid, alg RS256, use sig]}; Cache-Control public, max-age=300.
  GET  /authorize   response_type=code, client_id, redirect_uri, scope (must contain openid), state, nonce,
      code_challenge and code_challenge_method=S256. A wrong response_type, an unknown client, a missing, relative,
      fragment-bearing (or, with `redirect_uris` set, unregistered) redirect_uri, a scope without openid, a missing
      code_challenge or any method but S256, or a repeated parameter → 400 JSON {"error": "invalid_request",
      "error_description": ...} (an error page, never a redirect). The consent screen is skipped: `fake.user`
      signs in at once → 302 to `redirect_uri?code=...&state=...` (the redirect_uri's own query is kept); with
      `fake.user` None → 302 with `error=access_denied&state=...`. A code is random, valid 60 s (by `clock`) and
      remembers the client, redirect_uri, nonce, code_challenge and user.
  POST /token   form-encoded: grant_type=authorization_code, code, redirect_uri, code_verifier, and the client's
      credentials either in the form (client_secret_post: client_id + client_secret) or as HTTP Basic
      (client_secret_basic; id and secret form-urlencoded, RFC 6749 §2.3.1) — not both. Errors (RFC 6749 §5.2,
      Cache-Control no-store): not form-encoded, a missing or repeated parameter → 400 invalid_request; another
      grant_type → 400 unsupported_grant_type; no or wrong client credentials → 401 invalid_client (with
      WWW-Authenticate: Basic); an unknown, already presented or expired code, a code issued to another client, a
      redirect_uri differing from the authorize one, or BASE64URL(SHA256(code_verifier)) differing from the
      code_challenge (RFC 7636 §4.6) → 400 invalid_grant. A code is consumed by the first form-encoded token
      request (no parameter repeated) that presents it, whatever that request's outcome (even a failed client
      authentication), as most providers do: a retry after any failure gets invalid_grant. Success → 200
      {"access_token", "token_type": "Bearer", "expires_in": 3600, "id_token", "scope": "openid email profile"};
      the ID token is RS256 with the kid in its header and carries iss, sub, aud, exp, iat, nonce (when the
      authorize request had one), email, email_verified, name and azp (the client_id).

Test controls (attributes and methods of `FakeOidcProvider`; the token knobs apply to ID tokens issued from then on,
i.e. at the token request):
  user                       who signs in at /authorize (a `FakeOidcUser`; None → access_denied)
  sign_with_foreign_key      sign with a key not published in the JWKS, under the published kid → bad signature
  audience_override          this "aud" instead of the client_id
  nonce_override             this nonce instead of the authorize request's
  issuer_override            this "iss" instead of base_url
  expires_in_s               the ID token's lifetime (default 300)
  issued_at_offset_s         added to "iat" (and so to "exp"); e.g. -600 with the default lifetime → expired
  rotate_keys()              a new signing key under a new kid; the old key is no longer published
  redirect_uris              when set, the only redirect URIs /authorize accepts (default: any absolute http(s))
  clock                      the time source (seconds) for code expiry and the token's iat/exp
  issued_codes               every code handed out, in order
`fake.requests` records each call as a dict: endpoint, method, params (query or form; `code_verifier` and
`client_secret` redacted), client_auth ("basic", "post" or None; token requests only) and status.
`pkce_pair()` makes a (code_verifier, S256 code_challenge) pair for tests.

Not supported (by design): refresh tokens, the userinfo endpoint, a consent or login screen, prompt / max_age /
login_hint / acr_values, the implicit and hybrid flows, the plain PKCE method, any algorithm but RS256, private_key_jwt
client authentication, request objects, dynamic client registration, end_session, token revocation and introspection.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from litestar import Litestar, Request, Response, get, post

from tests.provider_fakes.serving import run_app

Json = dict[str, Any]

CLIENT_ID = "tenure-test-client"
CODE_LIFETIME_S = 60
ACCESS_TOKEN_LIFETIME_S = 3600
GRANTED_SCOPE = "openid email profile"
FORM = "application/x-www-form-urlencoded"
REDACTED = {"code_verifier", "client_secret"}
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 §4.1
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(code_verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))) — the S256 code_challenge (RFC 7636 §4.2)."""
    return _b64url(hashlib.sha256(code_verifier.encode("ascii")).digest())


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, code_challenge) pair for the S256 method."""
    verifier = _b64url(secrets.token_bytes(32))  # 43 characters
    return verifier, s256(verifier)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _new_kid() -> str:
    return "fake-" + secrets.token_hex(8)


class OAuthError(Exception):
    """Raised by the handlers; rendered as an RFC 6749 error object."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class FakeOidcUser:
    subject: str
    email: str
    email_verified: bool = True
    name: str = "Test Person"


@dataclass
class IssuedCode:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    user: FakeOidcUser
    issued_at: float


@dataclass
class FakeOidcProvider:
    client_id: str = CLIENT_ID
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    base_url: str = ""
    user: FakeOidcUser | None = field(
        default_factory=lambda: FakeOidcUser(subject="104729000000000000001", email="test.person@example.com")
    )
    sign_with_foreign_key: bool = False
    audience_override: str | None = None
    nonce_override: str | None = None
    issuer_override: str | None = None
    expires_in_s: int = 300
    issued_at_offset_s: int = 0
    redirect_uris: set[str] | None = None
    clock: Callable[[], float] = time.time
    requests: list[Json] = field(default_factory=list)
    issued_codes: list[str] = field(default_factory=list)
    _codes: dict[str, IssuedCode] = field(default_factory=dict)
    _key: rsa.RSAPrivateKey = field(default_factory=_new_key)
    _kid: str = field(default_factory=_new_kid)
    _foreign_key: rsa.RSAPrivateKey | None = None

    # ---- test controls --------------------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def kid(self) -> str:
        """The kid of the key currently published and used for signing."""
        return self._kid

    def rotate_keys(self) -> None:
        """Sign with a new key under a new kid from now on; only the new key is published."""
        self._key = _new_key()
        self._kid = _new_kid()

    # ---- documents ------------------------------------------------------------------------------------------

    def discovery(self) -> Json:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.base_url}/authorize",
            "token_endpoint": f"{self.base_url}/token",
            "jwks_uri": f"{self.base_url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": ["authorization_code"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "azp"],
        }

    def jwks(self) -> Json:
        public: Json = dict(RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True))
        public.update(kid=self._kid, alg="RS256", use="sig")
        return {"keys": [public]}

    # ---- /authorize -----------------------------------------------------------------------------------------

    def _valid_redirect_uri(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment or "#" in redirect_uri:
            return False
        return self.redirect_uris is None or redirect_uri in self.redirect_uris

    def authorize(self, params: Mapping[str, str]) -> str:
        """Validate an authorization request; answer the URL to redirect the browser to."""
        if params.get("response_type") != "code":
            raise OAuthError(400, "invalid_request", "response_type must be code")
        if params.get("client_id") != self.client_id:
            raise OAuthError(400, "invalid_request", "unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if not self._valid_redirect_uri(redirect_uri):
            raise OAuthError(400, "invalid_request", "redirect_uri missing, not absolute or not registered")
        if "openid" not in params.get("scope", "").split():
            raise OAuthError(400, "invalid_request", "scope must contain openid")
        challenge = params.get("code_challenge", "")
        if not challenge:
            raise OAuthError(400, "invalid_request", "code_challenge is required")
        if params.get("code_challenge_method") != "S256":
            raise OAuthError(400, "invalid_request", "code_challenge_method must be S256")
        state = params.get("state")
        if self.user is None:
            answer = {"error": "access_denied", "error_description": "the user declined"}
        else:
            code = secrets.token_urlsafe(32)
            self._codes[code] = IssuedCode(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                nonce=params.get("nonce"),
                code_challenge=challenge,
                user=self.user,
                issued_at=self.clock(),
            )
            self.issued_codes.append(code)
            answer = {"code": code}
        if state is not None:
            answer["state"] = state
        return _with_query(redirect_uri, answer)

    # ---- /token ---------------------------------------------------------------------------------------------

    def _client_auth(self, headers: Mapping[str, str], form: Mapping[str, str]) -> str:
        """Authenticate the client; answer the method used ("basic" or "post")."""
        header = headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "basic":
                raise OAuthError(401, "invalid_client", "unsupported authorization scheme")
            if "client_secret" in form:
                raise OAuthError(400, "invalid_request", "more than one client authentication method")
            try:
                raw_id, sep, raw_secret = base64.b64decode(token.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "malformed basic credentials") from None
            if not sep:
                raise OAuthError(401, "invalid_client", "malformed basic credentials")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if "client_id" in form and form["client_id"] != client_id:
                raise OAuthError(401, "invalid_client", "client_id differs from the basic credentials")
            method = "basic"
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            if not client_id or not secret:
                raise OAuthError(401, "invalid_client", "client authentication is required")
            method = "post"
        if not (
            hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(secret.encode(), self.client_secret.encode())
        ):
            raise OAuthError(401, "invalid_client", "client authentication failed")
        return method

    def token(self, headers: Mapping[str, str], form: Mapping[str, str]) -> Json:
        # The code is consumed first: whatever happens below, it cannot be presented again.
        issued = self._codes.pop(form.get("code", ""), None)
        self._client_auth(headers, form)
        if form.get("grant_type") != "authorization_code":
            raise OAuthError(400, "unsupported_grant_type", "only authorization_code is supported")
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                raise OAuthError(400, "invalid_request", f"{name} is required")
        if issued is None:
            raise OAuthError(400, "invalid_grant", "the code is unknown or was already used")
        if self.clock() - issued.issued_at >= CODE_LIFETIME_S:
            raise OAuthError(400, "invalid_grant", "the code has expired")
        if issued.client_id != self.client_id:
            raise OAuthError(400, "invalid_grant", "the code was issued to another client")
        if form["redirect_uri"] != issued.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri differs from the authorization request's")
        verifier = form["code_verifier"]
        if not VERIFIER.match(verifier) or not hmac.compare_digest(s256(verifier), issued.code_challenge):
            raise OAuthError(400, "invalid_grant", "the code_verifier does not match the code_challenge")
        return {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            "id_token": self.id_token(issued),
            "scope": GRANTED_SCOPE,
        }

    def id_token(self, issued: IssuedCode) -> str:
        iat = int(self.clock()) + self.issued_at_offset_s
        claims: Json = {
            "iss": self.issuer_override if self.issuer_override is not None else self.issuer,
            "sub": issued.user.subject,
            "aud": self.audience_override if self.audience_override is not None else issued.client_id,
            "azp": issued.client_id,
            "iat": iat,
            "exp": iat + self.expires_in_s,
            "email": issued.user.email,
            "email_verified": issued.user.email_verified,
            "name": issued.user.name,
        }
        nonce = self.nonce_override if self.nonce_override is not None else issued.nonce
        if nonce is not None:
            claims["nonce"] = nonce
        key = self._key
        if self.sign_with_foreign_key:
            if self._foreign_key is None:
                self._foreign_key = _new_key()
            key = self._foreign_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self._kid, "typ": "JWT"})

    def record(self, endpoint: str, method: str, params: Mapping[str, str], status: int, **extra: Any) -> None:
        shown = {name: ("<redacted>" if name in REDACTED else value) for name, value in params.items()}
        self.requests.append({"endpoint": endpoint, "method": method, "params": shown, "status": status, **extra})


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _single(parsed: dict[str, list[str]]) -> dict[str, str]:
    """One value per name; a repeated name is an invalid request (RFC 6749 §3.1, §3.2)."""
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise OAuthError(400, "invalid_request", f"repeated parameter: {', '.join(repeated)}")
    return {name: values[0] for name, values in parsed.items()}


def _error(exc: OAuthError, extra_headers: Mapping[str, str] | None = None) -> Response[bytes]:
    headers = dict(extra_headers or {})
    if exc.error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="fake-oidc"'
    return _json(exc.status, {"error": exc.error, "error_description": exc.description}, headers)


def _json(status: int, body: Json, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=json.dumps(body).encode(),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def create_app(fake: FakeOidcProvider) -> Litestar:
    @get("/.well-known/openid-configuration")
    async def discovery() -> Response[bytes]:
        fake.record("discovery", "GET", {}, 200)
        return _json(200, fake.discovery(), {"Cache-Control": "public, max-age=300"})

    @get("/jwks")
    async def jwks() -> Response[bytes]:
        fake.record("jwks", "GET", {}, 200)
        return _json(200, fake.jwks(), {"Cache-Control": "public, max-age=300"})

    @get("/authorize")
    async def authorize(request: Request[Any, Any, Any]) -> Response[bytes]:
        query = request.scope.get("query_string", b"").decode("utf-8", "replace")
        parsed = parse_qs(query, keep_blank_values=True)
        params = {name: values[-1] for name, values in parsed.items()}
        try:
            location = fake.authorize(_single(parsed))
        except OAuthError as exc:
            fake.record("authorize", "GET", params, exc.status)
            return _error(exc)
        fake.record("authorize", "GET", params, 302)
        return Response(content=b"", status_code=302, headers={"Location": location, "Cache-Control": "no-store"})

    @post("/token", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[bytes]:
        raw = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True) if content_type == FORM else {}
        params = {name: values[-1] for name, values in parsed.items()}
        header = request.headers.get("authorization")
        client_auth = "basic" if header is not None else ("post" if "client_secret" in params else None)
        try:
            if content_type != FORM:
                raise OAuthError(400, "invalid_request", f"the body must be {FORM}")
            answer = fake.token(request.headers, _single(parsed))
        except OAuthError as exc:
            fake.record("token", "POST", params, exc.status, client_auth=client_auth)
            return _error(exc, NO_STORE)
        fake.record("token", "POST", params, 200, client_auth=client_auth)
        return _json(200, answer, NO_STORE)

    return Litestar(route_handlers=[discovery, jwks, authorize, token], openapi_config=None, debug=False)


@contextlib.asynccontextmanager
async def run_fake_oidc_provider(
    *, client_id: str = CLIENT_ID, startup_timeout: float = 10.0
) -> AsyncIterator[FakeOidcProvider]:
    """Serve a fresh fake provider on 127.0.0.1 (ephemeral port) in the current event loop for the block."""
    fake = FakeOidcProvider(client_id=client_id)
    async with run_app(create_app(fake), name="OpenID Connect provider", startup_timeout=startup_timeout) as base_url:
        fake.base_url = base_url
        yield fake
