"""A software WebAuthn authenticator, playing the browser and a platform authenticator at once.

Tests use it to drive passkey registration and sign-in against the relying party without a browser: it turns
the server's creation/request options (their JSON form) into the RegistrationResponseJSON and
AuthenticationResponseJSON a browser would post back, signing with real P-256 keys it keeps in memory.

Written from the WebAuthn Level 3 spec. It does not attempt more than tests need: attestation is always "none",
keys are only ES256 (ECDSA P-256 with SHA-256), and extensions are neither processed nor reported.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_BE = 0x08  # backup eligible
FLAG_BS = 0x10  # backed up
FLAG_AT = 0x40  # attested credential data included

AAGUID = bytes(16)  # "none" attestation: an all-zero AAGUID
CREDENTIAL_ID_LEN = 32


@dataclass
class StoredCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cose_public_key(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The COSE_Key (EC2, P-256, ES256) of the key's public half, CBOR-encoded."""
    numbers = private_key.public_key().public_numbers()
    return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


class SoftAuthenticator:
    """Holds credentials in `credentials` (oldest first); `create` registers one, `get` signs an assertion."""

    def __init__(self, *, origin: str, user_verified: bool = True, counter_step: int = 1) -> None:
        self.origin = origin
        self.user_verified = user_verified
        self.counter_step = counter_step  # 0 models a synced passkey, whose counter always reads 0
        self.credentials: list[StoredCredential] = []

    def create(self, options: dict[str, Any], *, origin: str | None = None) -> dict[str, Any]:
        """Answer navigator.credentials.create() for PublicKeyCredentialCreationOptionsJSON `options`."""
        origin = origin or self.origin
        rp_id = options.get("rp", {}).get("id") or _hostname(origin)
        excluded = {b64url_decode(descriptor["id"]) for descriptor in options.get("excludeCredentials") or []}
        if any(c.rp_id == rp_id and c.credential_id in excluded for c in self.credentials):
            raise ValueError("a credential in excludeCredentials is already registered on this authenticator")

        credential = StoredCredential(
            credential_id=secrets.token_bytes(CREDENTIAL_ID_LEN),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=b64url_decode(options["user"]["id"]),
            sign_count=0,
        )
        attested = (
            AAGUID
            + len(credential.credential_id).to_bytes(2, "big")
            + credential.credential_id
            + cose_public_key(credential.private_key)
        )
        auth_data = self._authenticator_data(rp_id, FLAG_AT, credential.sign_count) + attested
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data("webauthn.create", options["challenge"], origin)
        self.credentials.append(credential)
        return {
            "id": b64url_encode(credential.credential_id),
            "rawId": b64url_encode(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "attestationObject": b64url_encode(attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        sign_count: int | None = None,
        credential_id: bytes | None = None,
        rp_id: str | None = None,
    ) -> dict[str, Any]:
        """Answer navigator.credentials.get() for PublicKeyCredentialRequestOptionsJSON `options`.

        `sign_count` reports that counter instead of the next one and leaves the stored counter alone; `rp_id`
        replaces the RP ID hashed into the authenticator data (the credential is still looked up by the real one).
        """
        origin = origin or self.origin
        request_rp_id = options.get("rpId") or _hostname(origin)
        credential = self._pick(request_rp_id, options.get("allowCredentials") or [], credential_id)
        if sign_count is None:
            credential.sign_count += self.counter_step
            sign_count = credential.sign_count

        auth_data = self._authenticator_data(rp_id or request_rp_id, 0, sign_count)
        client_data = _client_data("webauthn.get", options["challenge"], origin)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url_encode(credential.credential_id),
            "rawId": b64url_encode(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "authenticatorData": b64url_encode(auth_data),
                "signature": b64url_encode(signature),
                "userHandle": b64url_encode(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _pick(self, rp_id: str, allow: list[dict[str, Any]], credential_id: bytes | None) -> StoredCredential:
        allowed = {b64url_decode(descriptor["id"]) for descriptor in allow}
        candidates = [
            c
            for c in self.credentials
            if c.rp_id == rp_id
            and (not allowed or c.credential_id in allowed)
            and (credential_id is None or c.credential_id == credential_id)
        ]
        if not candidates:
            raise LookupError(f"no usable credential for RP ID {rp_id!r}")
        return candidates[-1]

    def _authenticator_data(self, rp_id: str, extra_flags: int, sign_count: int) -> bytes:
        flags = FLAG_UP | extra_flags
        if self.user_verified:
            flags |= FLAG_UV
        if self.counter_step == 0:
            flags |= FLAG_BE | FLAG_BS  # a synced passkey is backup eligible and backed up
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + sign_count.to_bytes(4, "big")


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps(
        {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}, separators=(",", ":")
    ).encode()


def _hostname(origin: str) -> str:
    hostname = urlsplit(origin).hostname
    if not hostname:
        raise ValueError(f"origin {origin!r} has no host")
    return hostname
