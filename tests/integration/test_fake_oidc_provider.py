"""The fake OpenID Connect provider (tests/provider_fakes/oidc_server.py) behaves like a real one: discovery and
JWKS, the authorization code flow with S256 PKCE, RFC 6749 / 7636 token errors, and ID tokens that PyJWT accepts —
or, with each knob, rejects for the matching reason."""

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.provider_fakes.oidc_server import FakeOidcProvider, FakeOidcUser, pkce_pair, run_fake_oidc_provider

pytestmark = pytest.mark.integration

REDIRECT_URI = "https://tenure.example/auth/callback"


@pytest.fixture
async def provider() -> AsyncIterator[FakeOidcProvider]:
    async with run_fake_oidc_provider() as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
        yield http


def authorize_params(fake: FakeOidcProvider, challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": fake.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params


async def authorize(
    client: httpx.AsyncClient, fake: FakeOidcProvider, challenge: str, **overrides: str
) -> dict[str, list[str]]:
    """Run /authorize; answer the query of the redirect back to the relying party."""
    response = await client.get(f"{fake.base_url}/authorize", params=authorize_params(fake, challenge, **overrides))
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)


async def get_code(client: httpx.AsyncClient, fake: FakeOidcProvider, challenge: str, **overrides: str) -> str:
    query = await authorize(client, fake, challenge, **overrides)
    return query["code"][0]


async def exchange(
    client: httpx.AsyncClient,
    fake: FakeOidcProvider,
    code: str,
    verifier: str,
    *,
    redirect_uri: str = REDIRECT_URI,
    client_secret: str | None = None,
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret if client_secret is None else client_secret,
    }
    return await client.post(f"{fake.base_url}/token", data=form)


async def signing_key(client: httpx.AsyncClient, fake: FakeOidcProvider) -> jwt.PyJWK:
    jwks = (await client.get(f"{fake.base_url}/jwks")).json()
    return jwt.PyJWK(jwks["keys"][0])


async def issue_id_token(client: httpx.AsyncClient, fake: FakeOidcProvider) -> str:
    verifier, challenge = pkce_pair()
    response = await exchange(client, fake, await get_code(client, fake, challenge), verifier)
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


def verify(token: str, key: jwt.PyJWK, fake: FakeOidcProvider) -> dict[str, Any]:
    return jwt.decode(token, key, algorithms=["RS256"], audience=fake.client_id, issuer=fake.base_url)


async def test_discovery_and_jwks(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{provider.base_url}/.well-known/openid-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["issuer"] == provider.base_url
    assert config["authorization_endpoint"] == f"{provider.base_url}/authorize"
    assert config["token_endpoint"] == f"{provider.base_url}/token"
    assert config["jwks_uri"] == f"{provider.base_url}/jwks"
    assert config["response_types_supported"] == ["code"]
    assert config["subject_types_supported"] == ["public"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["scopes_supported"] == ["openid", "email", "profile"]
    assert config["token_endpoint_auth_methods_supported"] == ["client_secret_post", "client_secret_basic"]

    response = await client.get(config["jwks_uri"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"] == provider.kid
    assert {"n", "e"} <= key.keys()
    assert "d" not in key  # public only


async def test_round_trip_yields_a_verifiable_id_token(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    provider.user = FakeOidcUser(subject="sub-1", email="ada@example.com", name="Ada Lovelace")
    verifier, challenge = pkce_pair()
    query = await authorize(client, provider, challenge)
    assert query["state"] == ["state-123"]

    response = await exchange(client, provider, query["code"][0], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid email profile"
    assert body["access_token"]

    key = await signing_key(client, provider)
    assert jwt.get_unverified_header(body["id_token"])["kid"] == provider.kid
    claims = verify(body["id_token"], key, provider)
    assert claims["sub"] == "sub-1"
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Ada Lovelace"
    assert claims["nonce"] == "nonce-456"
    assert claims["azp"] == provider.client_id
    assert claims["exp"] - claims["iat"] == 300

    (token_call,) = [call for call in provider.requests if call["endpoint"] == "token"]
    assert token_call["status"] == 200
    assert token_call["params"]["code_verifier"] == "<redacted>"
    assert token_call["params"]["client_secret"] == "<redacted>"
    assert token_call["client_auth"] == "post"


async def test_basic_client_auth_and_the_redirect_uris_own_query(
    provider: FakeOidcProvider, client: httpx.AsyncClient
) -> None:
    redirect_uri = "http://localhost:8000/callback?next=%2Fhome"
    verifier, challenge = pkce_pair()
    response = await client.get(
        f"{provider.base_url}/authorize", params=authorize_params(provider, challenge, redirect_uri=redirect_uri)
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "localhost:8000", "/callback")
    query = parse_qs(location.query)
    assert query["next"] == ["/home"]

    credentials = base64.b64encode(f"{provider.client_id}:{provider.client_secret}".encode()).decode()
    response = await client.post(
        f"{provider.base_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 200, response.text
    assert provider.requests[-1]["client_auth"] == "basic"


async def test_wrong_code_verifier_is_invalid_grant(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    response = await exchange(client, provider, await get_code(client, provider, challenge), other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_code_works_once(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, provider, challenge)
    assert (await exchange(client, provider, code, verifier)).status_code == 200
    again = await exchange(client, provider, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_a_failed_exchange_consumes_the_code(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, provider, challenge)
    assert (await exchange(client, provider, code, verifier, redirect_uri="https://evil.example/cb")).status_code == 400
    retry = await exchange(client, provider, code, verifier)
    assert retry.status_code == 400
    assert retry.json()["error"] == "invalid_grant"


async def test_wrong_redirect_uri_is_invalid_grant(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, provider, challenge)
    response = await exchange(client, provider, code, verifier, redirect_uri="https://tenure.example/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_an_expired_code_is_invalid_grant(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    now = [1_800_000_000.0]
    provider.clock = lambda: now[0]
    verifier, challenge = pkce_pair()
    code = await get_code(client, provider, challenge)
    now[0] += 61
    response = await exchange(client, provider, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_bad_client_secret_is_invalid_client(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, provider, challenge)
    response = await exchange(client, provider, code, verifier, client_secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": ""},
        {"code_challenge": ""},
        {"response_type": "token"},
        {"client_id": "someone-else"},
        {"scope": "email profile"},
        {"redirect_uri": "/relative/callback"},
        {"redirect_uri": "https://tenure.example/cb#fragment"},
    ],
)
async def test_bad_authorize_requests_get_an_error_page_not_a_redirect(
    provider: FakeOidcProvider, client: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    _, challenge = pkce_pair()
    response = await client.get(
        f"{provider.base_url}/authorize", params=authorize_params(provider, challenge, **overrides)
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "location" not in response.headers
    assert provider.issued_codes == []


async def test_no_user_means_access_denied(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    provider.user = None
    _, challenge = pkce_pair()
    query = await authorize(client, provider, challenge)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["state-123"]
    assert "code" not in query


async def test_foreign_key_fails_the_signature_check(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    provider.sign_with_foreign_key = True
    token = await issue_id_token(client, provider)
    assert jwt.get_unverified_header(token)["kid"] == provider.kid
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token, await signing_key(client, provider), provider)


async def test_audience_override_fails_the_audience_check(
    provider: FakeOidcProvider, client: httpx.AsyncClient
) -> None:
    provider.audience_override = "some-other-client"
    token = await issue_id_token(client, provider)
    with pytest.raises(jwt.InvalidAudienceError):
        verify(token, await signing_key(client, provider), provider)


async def test_issuer_override_fails_the_issuer_check(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    provider.issuer_override = "https://accounts.evil.example"
    token = await issue_id_token(client, provider)
    with pytest.raises(jwt.InvalidIssuerError):
        verify(token, await signing_key(client, provider), provider)


async def test_nonce_override_changes_the_nonce(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    provider.nonce_override = "replayed-nonce"
    claims = verify(await issue_id_token(client, provider), await signing_key(client, provider), provider)
    assert claims["nonce"] == "replayed-nonce"
    assert claims["nonce"] != "nonce-456"


async def test_expired_token_fails_the_expiry_check(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    provider.issued_at_offset_s = -600
    provider.expires_in_s = 300
    token = await issue_id_token(client, provider)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, await signing_key(client, provider), provider)


async def test_rotate_keys_publishes_a_new_kid(provider: FakeOidcProvider, client: httpx.AsyncClient) -> None:
    old_key = await signing_key(client, provider)
    old_token = await issue_id_token(client, provider)

    provider.rotate_keys()
    new_key = await signing_key(client, provider)
    assert new_key.key_id != old_key.key_id
    assert new_key.key_id == provider.kid
    new_token = await issue_id_token(client, provider)
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.key_id
    verify(new_token, new_key, provider)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(old_token, new_key, provider)
