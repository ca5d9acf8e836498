"""The software authenticator in tests/webauthn_authenticator.py interoperates with py_webauthn's verification."""

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import CredentialDeviceType, PublicKeyCredentialDescriptor
from webauthn.registration.verify_registration_response import VerifiedRegistration

from tests.webauthn_authenticator import SoftAuthenticator, b64url_decode, b64url_encode

pytestmark = pytest.mark.unit

RP_ID = "localhost"
ORIGIN = "https://localhost:8000"
USER_ID = b"user-handle-0001"


def creation_options(
    *, challenge: bytes = b"registration-challenge-0123456789", exclude: list[bytes] | None = None
) -> dict[str, Any]:
    options = generate_registration_options(
        rp_id=RP_ID,
        rp_name="Tenure",
        user_id=USER_ID,
        user_name="tenant@example.com",
        challenge=challenge,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude or []],
    )
    return json.loads(options_to_json(options))


def request_options(
    *, challenge: bytes = b"authentication-challenge-0123456", allow: list[bytes] | None = None
) -> dict[str, Any]:
    options = generate_authentication_options(
        rp_id=RP_ID,
        challenge=challenge,
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allow or []],
    )
    return json.loads(options_to_json(options))


def register(
    authenticator: SoftAuthenticator, *, origin: str = ORIGIN, require_user_verification: bool = True
) -> VerifiedRegistration:
    challenge = b"registration-challenge-0123456789"
    credential = authenticator.create(creation_options(challenge=challenge))
    return verify_registration_response(
        credential=credential,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=origin,
        require_user_verification=require_user_verification,
    )


def authenticate(
    credential: dict[str, Any],
    registered: VerifiedRegistration,
    *,
    current_sign_count: int,
    challenge: bytes = b"authentication-challenge-0123456",
    origin: str = ORIGIN,
    require_user_verification: bool = True,
) -> int:
    verified = verify_authentication_response(
        credential=credential,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=origin,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=current_sign_count,
        require_user_verification=require_user_verification,
    )
    assert verified.credential_id == registered.credential_id
    return verified.new_sign_count


@pytest.mark.parametrize("origin", ["https://localhost:8000", "http://localhost:8000"])
def test_registration_verifies_with_py_webauthn(origin: str) -> None:
    authenticator = SoftAuthenticator(origin=origin)
    response = authenticator.create(creation_options())

    registered = verify_registration_response(
        credential=response,
        expected_challenge=b"registration-challenge-0123456789",
        expected_rp_id=RP_ID,
        expected_origin=origin,
        require_user_verification=True,
    )
    assert registered.sign_count == 0
    assert registered.user_verified
    assert registered.fmt == "none"
    assert registered.credential_device_type == CredentialDeviceType.SINGLE_DEVICE
    assert not registered.credential_backed_up

    [stored] = authenticator.credentials
    assert len(stored.credential_id) == 32
    assert response["id"] == response["rawId"] == b64url_encode(stored.credential_id)
    assert "=" not in response["response"]["attestationObject"]
    assert response["response"]["transports"] == ["internal"]
    assert response["authenticatorAttachment"] == "platform"
    assert (stored.rp_id, stored.user_handle, stored.sign_count) == (RP_ID, USER_ID, 0)
    client_data = json.loads(b64url_decode(response["response"]["clientDataJSON"]))
    assert client_data == {
        "type": "webauthn.create",
        "challenge": b64url_encode(b"registration-challenge-0123456789"),
        "origin": origin,
        "crossOrigin": False,
    }


def test_registered_public_key_is_the_stored_key() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    registered = register(authenticator)
    [stored] = authenticator.credentials
    assert registered.credential_id == stored.credential_id
    numbers = stored.private_key.public_key().public_numbers()
    assert isinstance(numbers.curve, ec.SECP256R1)
    assert numbers.x.to_bytes(32, "big") in registered.credential_public_key
    assert numbers.y.to_bytes(32, "big") in registered.credential_public_key


def test_registration_uses_origin_hostname_when_rp_id_is_missing() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options = creation_options()
    del options["rp"]["id"]
    credential = authenticator.create(options)
    verify_registration_response(
        credential=credential,
        expected_challenge=b"registration-challenge-0123456789",
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )
    assert authenticator.credentials[0].rp_id == RP_ID


def test_authentication_verifies_and_counts_up() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    registered = register(authenticator)
    allow = [registered.credential_id]

    first = authenticator.get(request_options(allow=allow))
    assert authenticate(first, registered, current_sign_count=0) == 1
    second = authenticator.get(request_options(challenge=b"second-challenge-0123456789abcde", allow=allow))
    assert authenticate(second, registered, current_sign_count=1, challenge=b"second-challenge-0123456789abcde") == 2

    assert authenticator.credentials[0].sign_count == 2
    assert b64url_decode(second["response"]["userHandle"]) == USER_ID
    client_data = json.loads(b64url_decode(second["response"]["clientDataJSON"]))
    assert client_data["type"] == "webauthn.get"
    assert client_data["origin"] == ORIGIN


def test_forced_lower_sign_count_is_refused_and_not_stored() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    registered = register(authenticator)
    authenticator.get(request_options())
    authenticator.get(request_options())  # stored count is now 2

    replayed = authenticator.get(request_options(), sign_count=1)
    with pytest.raises(InvalidAuthenticationResponse, match="not greater than current count of 2"):
        authenticate(replayed, registered, current_sign_count=2)

    assert authenticator.credentials[0].sign_count == 2
    assert authenticate(authenticator.get(request_options()), registered, current_sign_count=2) == 3


def test_wrong_origin_is_refused() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    registered = register(authenticator)

    phished = authenticator.get(request_options(), origin="https://evil.example")
    with pytest.raises(InvalidAuthenticationResponse, match="origin"):
        authenticate(phished, registered, current_sign_count=0)

    evil = SoftAuthenticator(origin="https://evil.example")
    with pytest.raises(InvalidRegistrationResponse, match="origin"):
        register(evil)


def test_wrong_rp_id_is_refused() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    registered = register(authenticator)

    response = authenticator.get(request_options(), rp_id="evil.example")
    with pytest.raises(InvalidAuthenticationResponse, match="Unexpected RP ID hash"):
        authenticate(response, registered, current_sign_count=0)


def test_synced_passkey_always_reports_zero() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, counter_step=0)
    registered = register(authenticator)
    assert registered.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert registered.credential_backed_up

    for _ in range(2):
        assert authenticate(authenticator.get(request_options()), registered, current_sign_count=0) == 0
    assert authenticator.credentials[0].sign_count == 0


def test_exclude_credentials_refuses_an_already_registered_authenticator() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    registered = register(authenticator)
    options = creation_options(exclude=[registered.credential_id])

    with pytest.raises(ValueError, match="excludeCredentials"):
        authenticator.create(options)
    assert len(authenticator.credentials) == 1

    other = SoftAuthenticator(origin=ORIGIN)
    other.create(options)
    assert len(other.credentials) == 1


def test_unverified_user_fails_required_user_verification() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, user_verified=False)
    with pytest.raises(InvalidRegistrationResponse, match="User verification is required"):
        register(authenticator)

    registered = register(authenticator, require_user_verification=False)
    assert not registered.user_verified
    response = authenticator.get(request_options())
    with pytest.raises(InvalidAuthenticationResponse, match="User verification is required"):
        authenticate(response, registered, current_sign_count=0)
    assert authenticate(response, registered, current_sign_count=0, require_user_verification=False) == 1


def test_discoverable_sign_in_picks_newest_or_requested_credential() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    older = register(authenticator)
    newer = register(authenticator)

    response = authenticator.get(request_options())
    assert b64url_decode(response["rawId"]) == newer.credential_id
    assert authenticate(response, newer, current_sign_count=0) == 1

    response = authenticator.get(request_options(), credential_id=older.credential_id)
    assert authenticate(response, older, current_sign_count=0) == 1

    response = authenticator.get(request_options(allow=[older.credential_id]))
    assert b64url_decode(response["rawId"]) == older.credential_id


def test_no_usable_credential_raises_lookup_error() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    with pytest.raises(LookupError):
        authenticator.get(request_options())

    register(authenticator)
    with pytest.raises(LookupError):
        authenticator.get(request_options(allow=[b"some-other-credential-id"]))
    other_rp = request_options()
    other_rp["rpId"] = "other.example"
    with pytest.raises(LookupError):
        authenticator.get(other_rp)
