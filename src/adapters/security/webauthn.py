"""The WebAuthn relying party on py_webauthn (Duo Labs): options for the browser, and checked ceremonies.

RP id and allowed origins come from settings and are pinned here: a response made for another site or another
origin fails, whatever else is right. Only "none" attestation is asked for (we do not restrict authenticator
models), and ES256, EdDSA and RS256 keys are accepted, as browsers offer them.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ports.outbound.passkeys import NewCredential, PasskeyRejected, VerifiedAssertion

ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn L3 §5.1.3 (and our column)
TIMEOUT_MS = 300_000  # the challenge lives 5 minutes (domain.challenges)


class PyWebAuthnRelyingParty:
    def __init__(self, *, rp_id: str, rp_name: str, origins: Sequence[str]) -> None:
        if not rp_id or not origins:
            raise ValueError("a relying party needs an RP id and at least one origin")
        self.rp_id = rp_id
        self._rp_name = rp_name
        self._origins = list(origins)

    def registration_options(
        self, *, challenge: bytes, user_handle: bytes, user_name: str, exclude: Sequence[bytes]
    ) -> dict[str, Any]:
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self._rp_name,
            user_id=user_handle,
            user_name=user_name,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude],
            supported_pub_key_algs=ALGORITHMS,
        )
        return dict(json.loads(options_to_json(options)))

    def verify_registration(self, *, credential: Mapping[str, Any], challenge: bytes) -> NewCredential:
        try:
            verified = verify_registration_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self._origins,
                supported_pub_key_algs=ALGORITHMS,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise PasskeyRejected(str(exc) or type(exc).__name__) from exc
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise PasskeyRejected("the credential id is longer than WebAuthn allows")
        return NewCredential(
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            aaguid=verified.aaguid,
            backed_up=verified.credential_backed_up
            or verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            user_verified=verified.user_verified,
        )

    def assertion_options(self, *, challenge: bytes, allow: Sequence[bytes], user_verification: str) -> dict[str, Any]:
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allow],
            user_verification=UserVerificationRequirement(user_verification),
        )
        return dict(json.loads(options_to_json(options)))

    def assertion_credential_id(self, credential: Mapping[str, Any]) -> bytes:
        try:
            return parse_authentication_credential_json(dict(credential)).raw_id
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise PasskeyRejected("the passkey answer is malformed") from exc

    def verify_assertion(
        self,
        *,
        credential: Mapping[str, Any],
        challenge: bytes,
        public_key: bytes,
        sign_count: int,
        require_user_verification: bool,
    ) -> VerifiedAssertion:
        try:
            verified = verify_authentication_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self._origins,
                credential_public_key=public_key,
                credential_current_sign_count=sign_count,
                require_user_verification=require_user_verification,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise PasskeyRejected(str(exc) or type(exc).__name__) from exc
        return VerifiedAssertion(sign_count=verified.new_sign_count, user_verified=verified.user_verified)
