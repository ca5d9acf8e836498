"""HttpOpenIdProvider (src/adapters/oidc/provider.py) against the fake OpenID Connect provider: real httpx and
PyJWT over loopback for discovery, the authorization URL, the PKCE code exchange and the ID token's signature check
(JWKS cached, one rate-limited refetch on an unknown key id). Answers the fake cannot give (another signing
algorithm, a 5xx token endpoint, a broken document) come from a small `httpx.MockTransport` provider.

The adapter only checks signatures: the claims it returns are unchecked, and `domain.oidc` judges them."""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from adapters.oidc.provider import REFETCH_MIN_INTERVAL_S, HttpOpenIdProvider
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.oidc import OidcRejected, OpenIdProvider
from tests.provider_fakes.oidc_server import FakeOidcProvider, FakeOidcUser, pkce_pair, run_fake_oidc_provider

pytestmark = pytest.mark.integration

REDIRECT_URI = "https://tenure.example/auth/callback"
STATE = "state-abc"
NONCE = "nonce-xyz"


class FakeMonotonic:
    """The adapter's `monotonic` source, moved by hand."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def fake() -> AsyncIterator[FakeOidcProvider]:
    async with run_fake_oidc_provider() as running:
        running.user = FakeOidcUser(subject="sub-42", email="ada@example.com", name="Ada Lovelace")
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """Plays the user's browser at /authorize (redirects are read, never followed)."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
        yield http


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


def make_adapter(fake: FakeOidcProvider, clock: Callable[[], float], **overrides: Any) -> HttpOpenIdProvider:
    settings: dict[str, Any] = {
        "name": "google",
        "issuer": fake.base_url,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "timeout_s": 10.0,
        "monotonic": clock,
    }
    settings.update(overrides)
    return HttpOpenIdProvider(**settings)


@pytest.fixture
async def adapter(fake: FakeOidcProvider, clock: FakeMonotonic) -> AsyncIterator[HttpOpenIdProvider]:
    provider = make_adapter(fake, clock)
    yield provider
    await provider.aclose()


def calls(fake: FakeOidcProvider, endpoint: str) -> list[dict[str, Any]]:
    return [call for call in fake.requests if call["endpoint"] == endpoint]


async def sign_in(adapter: HttpOpenIdProvider, browser: httpx.AsyncClient) -> tuple[str, str]:
    """Follow the adapter's authorization URL as the browser would; answer (code, code_verifier)."""
    verifier, challenge = pkce_pair()
    url = await adapter.authorization_url(state=STATE, nonce=NONCE, code_challenge=challenge, redirect_uri=REDIRECT_URI)
    response = await browser.get(url)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == [STATE]
    return query["code"][0], verifier


async def signed_in_claims(adapter: HttpOpenIdProvider, browser: httpx.AsyncClient) -> dict[str, object]:
    code, verifier = await sign_in(adapter, browser)
    return dict(await adapter.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI))


# ---- construction, repr ------------------------------------------------------------------------------------------


async def test_the_adapter_satisfies_its_port_and_hides_the_secret(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider
) -> None:
    as_port: OpenIdProvider = adapter
    assert as_port.name == "google"
    assert as_port.client_id == fake.client_id
    assert as_port.canonical_issuer == fake.base_url
    assert as_port.issuers == frozenset({fake.base_url})
    assert fake.client_secret not in repr(adapter)
    assert fake.client_secret not in str(adapter)
    assert fake.client_secret not in f"{adapter!r} {adapter!s}"


@pytest.mark.parametrize("missing", ["issuer", "client_id", "client_secret"])
def test_an_issuer_client_id_and_secret_are_required(missing: str) -> None:
    settings: dict[str, Any] = {"issuer": "https://op.example", "client_id": "id", "client_secret": "shh-very-secret"}
    settings[missing] = ""
    with pytest.raises(ValueError, match="required") as refused:
        HttpOpenIdProvider(name="google", **settings)
    assert "shh-very-secret" not in str(refused.value)


# ---- the authorization URL ---------------------------------------------------------------------------------------


async def test_the_authorization_url_asks_the_providers_authorize_endpoint_for_a_code_with_pkce(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider
) -> None:
    _, challenge = pkce_pair()
    url = await adapter.authorization_url(state=STATE, nonce=NONCE, code_challenge=challenge, redirect_uri=REDIRECT_URI)

    parts = urlsplit(url)
    authorize = urlsplit(f"{fake.base_url}/authorize")
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        authorize.scheme,
        authorize.netloc,
        authorize.path,
        "",
    )
    query = parse_qs(parts.query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values()), query  # no repeated parameter
    params = {name: values[0] for name, values in query.items()}
    assert params == {
        "response_type": "code",
        "client_id": fake.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": STATE,
        "nonce": NONCE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert "openid" in params["scope"].split()
    assert fake.client_secret not in url

    # The discovery document is fetched once and cached.
    await adapter.authorization_url(state="s2", nonce="n2", code_challenge=challenge, redirect_uri=REDIRECT_URI)
    assert len(calls(fake, "discovery")) == 1


# ---- the code exchange -------------------------------------------------------------------------------------------


async def test_a_full_round_trip_returns_the_claims_the_provider_issued(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient
) -> None:
    code, verifier = await sign_in(adapter, browser)
    claims = await adapter.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI)

    assert claims["sub"] == "sub-42"
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Ada Lovelace"
    assert claims["nonce"] == NONCE
    assert claims["aud"] == fake.client_id
    assert claims["azp"] == fake.client_id
    assert claims["iss"] == fake.base_url

    (token_call,) = calls(fake, "token")
    assert token_call["status"] == 200  # so the verifier matched the challenge
    assert token_call["client_auth"] == "post"
    assert token_call["params"] == {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": "<redacted>",
        "client_id": fake.client_id,
        "client_secret": "<redacted>",
    }
    assert len(calls(fake, "discovery")) == 1
    assert len(calls(fake, "jwks")) == 1

    # A second sign-in reuses the cached discovery document and keys.
    assert (await signed_in_claims(adapter, browser))["sub"] == "sub-42"
    assert len(calls(fake, "discovery")) == 1
    assert len(calls(fake, "jwks")) == 1


async def test_a_wrong_code_verifier_is_rejected(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient
) -> None:
    code, _ = await sign_in(adapter, browser)
    other_verifier, _ = pkce_pair()
    with pytest.raises(OidcRejected, match="invalid_grant"):
        await adapter.exchange_code(code=code, code_verifier=other_verifier, redirect_uri=REDIRECT_URI)
    assert calls(fake, "token")[-1]["status"] == 400


async def test_a_code_is_redeemed_once(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient
) -> None:
    code, verifier = await sign_in(adapter, browser)
    await adapter.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI)
    with pytest.raises(OidcRejected, match="invalid_grant"):
        await adapter.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI)
    assert [call["status"] for call in calls(fake, "token")] == [200, 400]


async def test_a_wrong_client_secret_is_rejected(
    fake: FakeOidcProvider, clock: FakeMonotonic, browser: httpx.AsyncClient
) -> None:
    provider = make_adapter(fake, clock, client_secret="not-the-secret")
    try:
        code, verifier = await sign_in(provider, browser)
        with pytest.raises(OidcRejected, match="invalid_client"):
            await provider.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI)
    finally:
        await provider.aclose()


# ---- the ID token's signature ------------------------------------------------------------------------------------


async def test_a_token_signed_with_a_foreign_key_is_rejected(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient
) -> None:
    fake.sign_with_foreign_key = True  # under the published kid
    code, verifier = await sign_in(adapter, browser)
    with pytest.raises(OidcRejected, match="signature"):
        await adapter.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI)
    assert calls(fake, "token")[-1]["status"] == 200  # the provider answered; our signature check refused


@pytest.mark.parametrize(
    ("knob", "value", "claim"),
    [
        ("audience_override", "some-other-client", "aud"),
        ("nonce_override", "replayed-nonce", "nonce"),
        ("issuer_override", "https://accounts.evil.example", "iss"),
    ],
)
async def test_claims_come_back_unchecked_when_the_signature_holds(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient, knob: str, value: str, claim: str
) -> None:
    """Audience, nonce and issuer are `domain.oidc`'s to judge (validate_id_token_claims), all in one place: the
    adapter hands back whatever a correctly signed token says."""
    setattr(fake, knob, value)
    claims = await signed_in_claims(adapter, browser)
    assert claims[claim] == value
    assert claims["sub"] == "sub-42"


async def test_an_expired_token_comes_back_unchecked_too(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient
) -> None:
    fake.issued_at_offset_s = -600  # with the default 300 s lifetime: expired 5 minutes ago
    claims = await signed_in_claims(adapter, browser)
    assert isinstance(claims["exp"], int)
    assert isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 300


# ---- key rotation and the refetch limit --------------------------------------------------------------------------


async def test_a_rotated_key_is_picked_up_by_one_refetch(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient, clock: FakeMonotonic
) -> None:
    await signed_in_claims(adapter, browser)
    assert len(calls(fake, "jwks")) == 1

    fake.rotate_keys()
    clock.advance(REFETCH_MIN_INTERVAL_S + 1)  # 61 s: a refetch is allowed, the 300 s cache is still fresh
    claims = await signed_in_claims(adapter, browser)
    assert claims["sub"] == "sub-42"
    assert len(calls(fake, "jwks")) == 2

    # The new key is cached now: no further fetch.
    await signed_in_claims(adapter, browser)
    assert len(calls(fake, "jwks")) == 2


async def test_an_unknown_kid_within_the_refetch_interval_is_refused_without_asking_for_keys(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient, clock: FakeMonotonic
) -> None:
    await signed_in_claims(adapter, browser)
    fake.rotate_keys()

    clock.advance(REFETCH_MIN_INTERVAL_S - 1)  # 59 s since the last fetch
    for _ in range(3):  # however many tokens with an unknown kid arrive
        with pytest.raises(OidcRejected, match="unknown key"):
            await signed_in_claims(adapter, browser)
    assert len(calls(fake, "jwks")) == 1

    clock.advance(2)  # 61 s since the last fetch: one refetch, and the rotation is picked up
    assert (await signed_in_claims(adapter, browser))["sub"] == "sub-42"
    assert len(calls(fake, "jwks")) == 2


async def test_concurrent_sign_ins_after_a_rotation_share_one_refetch(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient, clock: FakeMonotonic
) -> None:
    await signed_in_claims(adapter, browser)
    fake.rotate_keys()
    clock.advance(REFETCH_MIN_INTERVAL_S + 1)
    codes = [await sign_in(adapter, browser) for _ in range(8)]
    claims = await asyncio.gather(
        *(adapter.exchange_code(code=code, code_verifier=v, redirect_uri=REDIRECT_URI) for code, v in codes)
    )
    assert [c["sub"] for c in claims] == ["sub-42"] * 8
    assert len(calls(fake, "jwks")) == 2, "eight tokens with the new kid: one refetch between them"


async def test_keys_are_refetched_when_their_cache_lifetime_ends(
    adapter: HttpOpenIdProvider, fake: FakeOidcProvider, browser: httpx.AsyncClient, clock: FakeMonotonic
) -> None:
    await signed_in_claims(adapter, browser)
    clock.advance(299)  # the fake's JWKS says max-age=300
    await signed_in_claims(adapter, browser)
    assert len(calls(fake, "jwks")) == 1
    clock.advance(2)
    await signed_in_claims(adapter, browser)
    assert len(calls(fake, "jwks")) == 2


# ---- a mock provider for answers the fake cannot give ------------------------------------------------------------

MOCK_ISSUER = "https://op.example"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KID = "rsa-1"
EC_KID = "ec-1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_made_token(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A JWS built by hand, so PyJWT's own guard rails (no HMAC with a PEM key) cannot get in the way."""
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}".encode()
    return f"{signing_input.decode()}.{_b64url(sign(signing_input))}"


def mock_claims() -> dict[str, Any]:
    return {"iss": MOCK_ISSUER, "sub": "mock-sub", "aud": "mock-client", "iat": 1_800_000_000, "nonce": NONCE}


class MockProvider:
    """Discovery, a JWKS (one RSA and one EC key) and a token endpoint answering `id_token`, each overridable."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.id_token: str = jwt.encode(mock_claims(), RSA_KEY, algorithm="RS256", headers={"kid": RSA_KID})
        self.discovery: Callable[[], httpx.Response] = lambda: httpx.Response(
            200,
            json={
                "issuer": MOCK_ISSUER,
                "authorization_endpoint": f"{MOCK_ISSUER}/authorize",
                "token_endpoint": f"{MOCK_ISSUER}/token",
                "jwks_uri": f"{MOCK_ISSUER}/jwks",
            },
        )
        self.jwks: Callable[[], httpx.Response] = lambda: httpx.Response(
            200, json={"keys": [self._public(RSA_KEY, RSA_KID, "RS256"), self._public(EC_KEY, EC_KID, "ES256")]}
        )
        self.token: Callable[[], httpx.Response] = lambda: httpx.Response(
            200, json={"access_token": "at", "token_type": "Bearer", "id_token": self.id_token}
        )

    @staticmethod
    def _public(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, alg: str) -> dict[str, Any]:
        if isinstance(key, rsa.RSAPrivateKey):
            public: dict[str, Any] = dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))
        else:
            public = dict(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))
        public.update(kid=kid, alg=alg, use="sig")
        return public

    def handle(self, request: httpx.Request) -> httpx.Response:
        routes = {
            "/.well-known/openid-configuration": self.discovery,
            "/jwks": self.jwks,
            "/token": self.token,
        }
        self.calls.append(request.url.path)
        route = routes.get(request.url.path)
        return route() if route is not None else httpx.Response(404)


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider()


@pytest.fixture
async def mock_adapter(mock: MockProvider, clock: FakeMonotonic) -> AsyncIterator[HttpOpenIdProvider]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(mock.handle)) as client:
        provider = HttpOpenIdProvider(
            name="google",
            issuer=MOCK_ISSUER,
            client_id="mock-client",
            client_secret="mock-client-secret",
            client=client,
            monotonic=clock,
        )
        yield provider
        await provider.aclose()  # not its client: leaves it open (the `async with` closes it)
        assert not client.is_closed


async def mock_exchange(adapter: HttpOpenIdProvider) -> dict[str, object]:
    verifier, _ = pkce_pair()
    return dict(await adapter.exchange_code(code="mock-code", code_verifier=verifier, redirect_uri=REDIRECT_URI))


def _rsa_public_pem() -> bytes:
    return RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda: jwt.encode(mock_claims(), RSA_KEY, algorithm="RS256", headers={"kid": RSA_KID}), id="RS256"
        ),
        pytest.param(lambda: jwt.encode(mock_claims(), EC_KEY, algorithm="ES256", headers={"kid": EC_KID}), id="ES256"),
    ],
)
async def test_rs256_and_es256_tokens_signed_with_a_published_key_are_accepted(
    mock: MockProvider, mock_adapter: HttpOpenIdProvider, make_token: Callable[[], str]
) -> None:
    """The control for the refusals below: the mock provider's own well-signed tokens pass."""
    mock.id_token = make_token()
    claims = await mock_exchange(mock_adapter)
    assert claims["sub"] == "mock-sub"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(
            lambda: hand_made_token({"alg": "none", "kid": RSA_KID, "typ": "JWT"}, mock_claims(), lambda _: b""),
            "algorithm",
            id="alg-none",
        ),
        pytest.param(
            lambda: hand_made_token(
                {"alg": "HS256", "kid": RSA_KID, "typ": "JWT"},
                mock_claims(),
                lambda data: hmac.new(_rsa_public_pem(), data, hashlib.sha256).digest(),
            ),
            "algorithm",
            id="HS256-keyed-with-the-public-key",
        ),
        pytest.param(
            lambda: jwt.encode(mock_claims(), RSA_KEY, algorithm="RS512", headers={"kid": RSA_KID}),
            "algorithm",
            id="RS512",
        ),
        pytest.param(
            lambda: jwt.encode(mock_claims(), RSA_KEY, algorithm="RS256"),
            "key id",
            id="no-kid",
        ),
        pytest.param(
            lambda: jwt.encode(mock_claims(), EC_KEY, algorithm="ES256", headers={"kid": RSA_KID}),
            "malformed",  # ES256 under an RSA key's kid: PyJWT refuses the algorithm/key mismatch
            id="ES256-under-an-RSA-kid",
        ),
        pytest.param(lambda: "not.a.jwt", "malformed", id="garbage"),
    ],
)
async def test_tokens_with_an_unacceptable_algorithm_or_form_are_refused(
    mock: MockProvider, mock_adapter: HttpOpenIdProvider, make_token: Callable[[], str], reason: str
) -> None:
    mock.id_token = make_token()
    with pytest.raises(OidcRejected, match=reason):
        await mock_exchange(mock_adapter)


async def test_a_token_answer_without_an_id_token_is_rejected(
    mock: MockProvider, mock_adapter: HttpOpenIdProvider
) -> None:
    mock.token = lambda: httpx.Response(200, json={"access_token": "at", "token_type": "Bearer"})
    with pytest.raises(OidcRejected, match="no ID token"):
        await mock_exchange(mock_adapter)


async def test_an_authorize_endpoint_with_a_query_keeps_it(
    mock: MockProvider, mock_adapter: HttpOpenIdProvider
) -> None:
    base = mock.discovery().json()
    mock.discovery = lambda: httpx.Response(200, json={**base, "authorization_endpoint": f"{MOCK_ISSUER}/auth?hd=x"})
    url = await mock_adapter.authorization_url(state=STATE, nonce=NONCE, code_challenge="c" * 43, redirect_uri="u")
    query = parse_qs(urlsplit(url).query)
    assert query["hd"] == ["x"]
    assert query["response_type"] == ["code"]


# ---- the provider unavailable or misconfigured -------------------------------------------------------------------


async def test_discovery_naming_another_issuer_is_unavailable(
    fake: FakeOidcProvider, clock: FakeMonotonic, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = fake.discovery()
    monkeypatch.setattr(fake, "discovery", lambda: {**document, "issuer": "https://accounts.evil.example"})
    provider = make_adapter(fake, clock)
    try:
        _, challenge = pkce_pair()
        with pytest.raises(ComponentUnavailable, match="another issuer") as refused:
            await provider.authorization_url(state=STATE, nonce=NONCE, code_challenge=challenge, redirect_uri="u")
        assert refused.value.component == "google"
        with pytest.raises(ComponentUnavailable, match="another issuer"):
            await provider.exchange_code(code="c", code_verifier="v" * 43, redirect_uri=REDIRECT_URI)
        assert calls(fake, "token") == []
    finally:
        await provider.aclose()


async def test_discovery_naming_a_configured_alias_is_accepted(
    fake: FakeOidcProvider, clock: FakeMonotonic, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = fake.discovery()
    monkeypatch.setattr(fake, "discovery", lambda: {**document, "issuer": "op.alias.example"})
    provider = make_adapter(fake, clock, issuer_aliases=frozenset({"op.alias.example"}))
    try:
        _, challenge = pkce_pair()
        url = await provider.authorization_url(state=STATE, nonce=NONCE, code_challenge=challenge, redirect_uri="u")
        assert url.startswith(f"{fake.base_url}/authorize?")
        assert provider.issuers == frozenset({fake.base_url, "op.alias.example"})
    finally:
        await provider.aclose()


async def test_an_unreachable_provider_is_unavailable(clock: FakeMonotonic) -> None:
    async with run_fake_oidc_provider() as stopped:
        pass  # its port is closed now
    provider = make_adapter(stopped, clock)
    try:
        _, challenge = pkce_pair()
        with pytest.raises(ComponentUnavailable, match="discovery: ConnectError"):
            await provider.authorization_url(state=STATE, nonce=NONCE, code_challenge=challenge, redirect_uri="u")
        with pytest.raises(ComponentUnavailable):
            await provider.exchange_code(code="c", code_verifier="v" * 43, redirect_uri=REDIRECT_URI)
    finally:
        await provider.aclose()


def _raise(exc: Exception) -> httpx.Response:
    raise exc


@pytest.mark.parametrize(
    ("endpoint", "answer", "detail"),
    [
        ("discovery", lambda: httpx.Response(500), "discovery: HTTP 500"),
        ("discovery", lambda: httpx.Response(404), "discovery: HTTP 404"),
        ("discovery", lambda: httpx.Response(200, json={"issuer": MOCK_ISSUER}), "discovery: incomplete"),
        ("discovery", lambda: httpx.Response(200, json=["not", "an", "object"]), "discovery: not a JSON object"),
        ("discovery", lambda: _raise(httpx.ConnectTimeout("slow")), "discovery: ConnectTimeout"),
        ("jwks", lambda: httpx.Response(503), "keys: HTTP 503"),
        ("jwks", lambda: httpx.Response(200, text="<html>"), "keys: not a JSON object"),
        ("jwks", lambda: httpx.Response(200, json={"keys": []}), "keys: unreadable"),
        ("token", lambda: httpx.Response(500, json={"error": "server_error"}), "token: HTTP 500"),
        ("token", lambda: httpx.Response(502, text="Bad Gateway"), "token: HTTP 502"),
        ("token", lambda: _raise(httpx.ConnectError("refused")), "token: ConnectError"),
        ("token", lambda: _raise(httpx.ReadTimeout("slow")), "token: ReadTimeout"),
    ],
)
async def test_a_failing_provider_is_unavailable(
    mock: MockProvider,
    mock_adapter: HttpOpenIdProvider,
    endpoint: str,
    answer: Callable[[], httpx.Response],
    detail: str,
) -> None:
    setattr(mock, endpoint, answer)
    with pytest.raises(ComponentUnavailable) as unavailable:
        await mock_exchange(mock_adapter)
    assert unavailable.value.component == "google"
    assert unavailable.value.detail.startswith(detail)
    assert "mock-client-secret" not in str(unavailable.value)
    assert "mock-code" not in str(unavailable.value)


@pytest.mark.parametrize(
    ("endpoint", "answer"),
    [
        pytest.param("discovery", lambda: httpx.Response(200, text="<html>captive portal</html>"), id="discovery-html"),
        pytest.param("jwks", lambda: httpx.Response(200, json=[]), id="jwks-array"),
    ],
)
async def test_a_200_answer_that_is_not_a_json_object_is_unavailable(
    mock: MockProvider, mock_adapter: HttpOpenIdProvider, endpoint: str, answer: Callable[[], httpx.Response]
) -> None:
    setattr(mock, endpoint, answer)
    with pytest.raises(ComponentUnavailable):
        await mock_exchange(mock_adapter)


# ---- nothing secret in the logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", ["wrong-verifier", "reused-code", "wrong-client-secret", "foreign-key"])
async def test_a_refused_exchange_logs_no_code_verifier_or_secret(
    fake: FakeOidcProvider,
    clock: FakeMonotonic,
    browser: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    refusal: str,
) -> None:
    configured_secret = "not-the-secret-" + fake.client_secret if refusal == "wrong-client-secret" else None
    provider = make_adapter(fake, clock, client_secret=configured_secret or fake.client_secret)
    try:
        code, verifier = await sign_in(provider, browser)
        if refusal == "reused-code":
            await provider.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI)
        if refusal == "wrong-verifier":
            verifier, _ = pkce_pair()
        fake.sign_with_foreign_key = refusal == "foreign-key"

        caplog.clear()
        with caplog.at_level(logging.DEBUG), pytest.raises(OidcRejected) as refused:
            await provider.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI)
    finally:
        await provider.aclose()

    secrets = {"code": code, "verifier": verifier, "client secret": fake.client_secret}
    if configured_secret is not None:
        secrets["configured client secret"] = configured_secret
    assert caplog.records, "nothing was captured: the check below would prove nothing"
    logged = caplog.text + "\n".join(
        f"{record.getMessage()} {record.args!r} {record.__dict__!r}" for record in caplog.records
    )
    for what, value in secrets.items():
        assert value not in logged, f"the {what} reached a log record"
        assert value not in str(refused.value), f"the {what} reached the error message"
        assert value not in refused.value.reason
    if refusal != "foreign-key":  # the provider's refusal is logged (without the secrets)
        assert any(record.name == "adapters.oidc.provider" for record in caplog.records)
