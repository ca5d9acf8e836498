"""AES-256-GCM secret box, HKDF key derivation and the system random source."""

import pytest

from adapters.security.crypto import NONCE_LEN, TAG_LEN, VERSION, AesGcmSecretBox, SystemRandom, derive_key

SECRET = "a-test-secret-key-that-is-long-enough-0123456789"
REFUSED = "altered|too short|version"
PURPOSES = ["totp-secrets", "code-digests", "email-hash", "session-tokens"]


@pytest.fixture
def box() -> AesGcmSecretBox:
    return AesGcmSecretBox(derive_key(SECRET, "totp-secrets"))


def test_round_trip(box: AesGcmSecretBox) -> None:
    for plaintext in [b"", b"JBSWY3DPEHPK3PXP", bytes(range(256)) * 4]:
        sealed = box.seal(plaintext, context="account:42")
        assert box.open(sealed, context="account:42") == plaintext


def test_sealed_format_is_version_nonce_ciphertext_tag(box: AesGcmSecretBox) -> None:
    sealed = box.seal(b"secret", context="c")
    assert sealed[0] == VERSION
    assert len(sealed) == 1 + NONCE_LEN + len(b"secret") + TAG_LEN
    assert b"secret" not in sealed


def test_nonces_differ_between_seals(box: AesGcmSecretBox) -> None:
    sealed = [box.seal(b"same plaintext", context="c") for _ in range(50)]
    nonces = {s[1 : 1 + NONCE_LEN] for s in sealed}
    assert len(nonces) == 50
    assert len(set(sealed)) == 50


def test_tampering_with_any_byte_is_detected(box: AesGcmSecretBox) -> None:
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", context="account:42")
    for i in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[i] ^= 0x01
        with pytest.raises(ValueError, match=REFUSED):
            box.open(bytes(tampered), context="account:42")


def test_truncation_is_detected(box: AesGcmSecretBox) -> None:
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", context="c")
    for n in [0, 1, 1 + NONCE_LEN, len(sealed) - 1]:
        with pytest.raises(ValueError, match=REFUSED):
            box.open(sealed[:n], context="c")
    with pytest.raises(ValueError, match=REFUSED):
        box.open(sealed + b"\x00", context="c")


def test_a_wrong_context_is_refused(box: AesGcmSecretBox) -> None:
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", context="account:42")
    with pytest.raises(ValueError, match=REFUSED):
        box.open(sealed, context="account:43")
    with pytest.raises(ValueError, match=REFUSED):
        box.open(sealed, context="")


def test_an_unknown_version_is_refused(box: AesGcmSecretBox) -> None:
    sealed = box.seal(b"x", context="c")
    with pytest.raises(ValueError, match="version"):
        box.open(bytes([VERSION + 1]) + sealed[1:], context="c")


def test_another_key_cannot_open(box: AesGcmSecretBox) -> None:
    sealed = box.seal(b"x", context="c")
    with pytest.raises(ValueError, match=REFUSED):
        AesGcmSecretBox(derive_key(SECRET, "code-digests")).open(sealed, context="c")
    with pytest.raises(ValueError, match=REFUSED):
        AesGcmSecretBox(derive_key(SECRET + "!", "totp-secrets")).open(sealed, context="c")


def test_keys_must_be_32_bytes() -> None:
    for n in [0, 16, 31, 33]:
        with pytest.raises(ValueError, match="32-byte key"):
            AesGcmSecretBox(b"k" * n)


def test_purposes_derive_different_32_byte_keys_deterministically() -> None:
    keys = [derive_key(SECRET, p) for p in PURPOSES]
    assert all(len(k) == 32 for k in keys)
    assert len(set(keys)) == len(PURPOSES)
    assert keys == [derive_key(SECRET, p) for p in PURPOSES]
    assert derive_key("another-secret-key-that-is-long-enough-9876", "totp-secrets") != keys[0]


def test_derivation_needs_a_secret_and_a_purpose() -> None:
    with pytest.raises(ValueError, match="secret key"):
        derive_key("", "totp-secrets")
    with pytest.raises(ValueError, match="purpose"):
        derive_key(SECRET, "")


def test_system_random() -> None:
    rng = SystemRandom()
    assert len(rng.bytes(32)) == 32
    assert rng.bytes(32) != rng.bytes(32)
    token = rng.token(32)
    assert len(token) == 43  # 32 bytes, URL-safe base64 without padding
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert rng.token(32) != token
