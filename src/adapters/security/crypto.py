"""`SecretBox` on AES-256-GCM, per-purpose keys derived from the app secret with HKDF-SHA256, and
`RandomSource` on the operating system's CSPRNG (`secrets`).

Sealed format: version byte ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag; the `context` string is the
associated data, so a value sealed for one purpose (or one account) cannot be opened as another.
"""

import secrets
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION: Final = 1
NONCE_LEN: Final = 12
TAG_LEN: Final = 16
KEY_LEN: Final = 32
HKDF_SALT: Final = b"tenure/hkdf/v1"

PURPOSE_TOTP_SECRETS: Final = "totp-secrets"
PURPOSE_CODE_DIGESTS: Final = "code-digests"
PURPOSE_EMAIL_HASH: Final = "email-hash"
PURPOSE_SESSION_TOKENS: Final = "session-tokens"


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 32-byte key for `purpose`, independent of every other purpose's key (HKDF-SHA256 from the app secret)."""
    if not secret_key:
        raise ValueError("the secret key must not be empty")
    if not purpose:
        raise ValueError("a key purpose is required")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=HKDF_SALT, info=b"tenure:" + purpose.encode())
    return hkdf.derive(secret_key.encode())


class AesGcmSecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_LEN:
            raise ValueError(f"AES-256-GCM needs a {KEY_LEN}-byte key")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_LEN)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, *, context: str) -> bytes:
        if len(sealed) < 1 + NONCE_LEN + TAG_LEN:
            raise ValueError("sealed value is too short")
        if sealed[0] != VERSION:
            raise ValueError("unknown sealed-value version")
        nonce, ciphertext = sealed[1 : 1 + NONCE_LEN], sealed[1 + NONCE_LEN :]
        try:
            return self._aead.decrypt(nonce, ciphertext, context.encode())
        except InvalidTag:
            raise ValueError("sealed value was altered or sealed for another context") from None


class SystemRandom:
    def bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)

    def token(self, n_bytes: int) -> str:
        return secrets.token_urlsafe(n_bytes)
