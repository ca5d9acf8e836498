"""PlaidWebhookVerifier (RELIABILITY 2) over the JWT matrix, its key cache, and PlaidEventDecoder.

Tokens are made by the fake Plaid's signer (EC P-256 keys whose public JWKs the key source serves); no server is
needed: the key source here reads the fake's keys directly and counts the calls."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.plaid.events import PlaidEventDecoder
from adapters.plaid.webhooks import PlaidWebhookVerifier, UnknownKey
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.kyc import KycEventDecoder, KycEventRef
from ports.outbound.webhooks import InvalidSignature, VerifiedMessage, WebhookVerifier
from tests.provider_fakes.plaid_server import CURRENT_KID, EXPIRED_KID, FakePlaid

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
AT = datetime.fromtimestamp(NOW, UTC)


class Keys:
    """A key source over the fake's keys that records each lookup."""

    def __init__(self, fake: FakePlaid) -> None:
        self.fake = fake
        self.calls: list[str] = []
        self.down = False

    async def __call__(self, kid: str) -> dict[str, object]:
        self.calls.append(kid)
        if self.down:
            raise ComponentUnavailable("kyc", "webhook_verification_key/get: ConnectionRefusedError")
        key = self.fake.keys.get(kid)
        if key is None or not key.served:
            raise UnknownKey(kid)
        return key.jwk()


@pytest.fixture
def fake() -> FakePlaid:
    return FakePlaid(clock=lambda: NOW)


@pytest.fixture
def keys(fake: FakePlaid) -> Keys:
    return Keys(fake)


@pytest.fixture
def hooks(keys: Keys) -> PlaidWebhookVerifier:
    return PlaidWebhookVerifier(keys)


async def test_a_valid_webhook_is_verified(fake: FakePlaid, hooks: PlaidWebhookVerifier) -> None:
    port: WebhookVerifier = hooks
    body, headers = fake.signed_webhook("idv_abc")
    message = await port.verify(body, headers, now=AT)
    token = headers["Plaid-Verification"]
    assert message == VerifiedMessage(
        key=hashlib.sha256(token.encode()).hexdigest(),
        type="IDENTITY_VERIFICATION.STATUS_UPDATED",
        subject="idv_abc",
    )
    assert port.provider == "plaid"
    assert fake.violations == []


@pytest.mark.parametrize("name", ["plaid-verification", "PLAID-VERIFICATION", "Plaid-Verification"])
async def test_the_header_name_is_case_insensitive(fake: FakePlaid, hooks: PlaidWebhookVerifier, name: str) -> None:
    body, headers = fake.signed_webhook("idv_abc", "STEP_UPDATED")
    message = await hooks.verify(body, {name: headers["Plaid-Verification"]}, now=AT)
    assert message.type == "IDENTITY_VERIFICATION.STEP_UPDATED"


async def test_each_delivery_has_its_own_key(fake: FakePlaid, hooks: PlaidWebhookVerifier) -> None:
    first = await hooks.verify(*fake.signed_webhook("idv_abc", iat=NOW - 5), now=AT)
    second = await hooks.verify(*fake.signed_webhook("idv_abc", iat=NOW - 4), now=AT)
    assert first.key != second.key
    assert len(first.key) == 64


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"alg": "HS256"}, "ES256"),
        ({"alg": "none"}, "ES256"),
        ({"kid": "unknown"}, "unknown"),
        ({"kid": EXPIRED_KID}, "expired"),
        ({"key": EXPIRED_KID}, "signature"),  # names the current key, signed by another
        ({"omit_kid": True}, "key"),
        ({"tamper_body": True}, "body"),
        ({"extra_claims": {"request_body_sha256": "0" * 64}}, "body"),
        ({"extra_claims": {"request_body_sha256": None}}, "hash"),
        ({"iat": NOW - 301}, "old"),
        ({"iat": NOW - 3600}, "old"),
        ({"iat": NOW + 120}, "future"),
        ({"extra_claims": {"iat": "yesterday"}}, "iat"),
        ({"body": b"not json"}, "JSON"),
        ({"body": b'{"webhook_code": "STATUS_UPDATED"}'}, "not a Plaid webhook"),
        ({"body": b"[1, 2]"}, "not a Plaid webhook"),
    ],
)
async def test_forged_or_stale_webhooks_are_refused(
    fake: FakePlaid, hooks: PlaidWebhookVerifier, options: dict[str, object], reason: str
) -> None:
    body, headers = fake.signed_webhook("idv_abc", **options)  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature, match=reason) as raised:
        await hooks.verify(body, headers, now=AT)
    assert headers["Plaid-Verification"] not in str(raised.value)
    assert body.decode(errors="replace") not in str(raised.value)


@pytest.mark.parametrize("alg", ["HS256", "none"])
async def test_a_wrong_algorithm_is_refused_before_any_key_is_fetched(
    fake: FakePlaid, hooks: PlaidWebhookVerifier, keys: Keys, alg: str
) -> None:
    with pytest.raises(InvalidSignature):
        await hooks.verify(*fake.signed_webhook("idv_abc", alg=alg), now=AT)
    assert keys.calls == []


@pytest.mark.parametrize("iat_offset", [-300, -299, 0, 25])
async def test_iat_within_300_seconds_and_a_small_skew_is_accepted(
    fake: FakePlaid, hooks: PlaidWebhookVerifier, iat_offset: int
) -> None:
    body, headers = fake.signed_webhook("idv_abc", iat=NOW + iat_offset)
    assert (await hooks.verify(body, headers, now=AT)).subject == "idv_abc"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Plaid-Verification": ""},
        {"Plaid-Verification": "garbage"},
        {"Plaid-Verification": "a.b.c"},
        {"Plaid-Verification": "eyJhbGciOiJFUzI1NiJ9.e30"},
        {"Plaid-Verification": "x" * 10_000},
        {"Stripe-Signature": "t=1,v1=00"},
    ],
)
async def test_missing_or_garbled_tokens_are_refused(hooks: PlaidWebhookVerifier, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        await hooks.verify(b"{}", headers, now=AT)


async def test_a_body_that_is_not_about_an_attempt_has_no_subject(fake: FakePlaid, hooks: PlaidWebhookVerifier) -> None:
    body = json.dumps({"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "x"}).encode()
    message = await hooks.verify(*fake.signed_webhook("", body=body), now=AT)
    assert (message.type, message.subject) == ("ITEM.ERROR", None)


async def test_keys_are_cached(fake: FakePlaid, hooks: PlaidWebhookVerifier, keys: Keys) -> None:
    await hooks.verify(*fake.signed_webhook("idv_1"), now=AT)
    await hooks.verify(*fake.signed_webhook("idv_2"), now=AT + timedelta(seconds=60))
    await hooks.verify(*fake.signed_webhook("idv_3", iat=NOW + 100), now=AT + timedelta(seconds=100))
    assert keys.calls == [CURRENT_KID]


async def test_a_cached_key_that_expires_is_refetched_and_refused(
    fake: FakePlaid, hooks: PlaidWebhookVerifier, keys: Keys
) -> None:
    fake.expire_key(CURRENT_KID, NOW + 100)  # Plaid announces the key's expiry
    await hooks.verify(*fake.signed_webhook("idv_1"), now=AT)
    await hooks.verify(*fake.signed_webhook("idv_1", iat=NOW + 50), now=AT + timedelta(seconds=50))
    assert keys.calls == [CURRENT_KID]
    later = AT + timedelta(seconds=200)
    with pytest.raises(InvalidSignature, match="expired"):
        await hooks.verify(*fake.signed_webhook("idv_1", iat=NOW + 200), now=later)
    assert keys.calls == [CURRENT_KID, CURRENT_KID]


async def test_a_key_without_expiry_is_reread_after_the_refresh_interval(fake: FakePlaid, keys: Keys) -> None:
    hooks = PlaidWebhookVerifier(keys, key_refresh_s=600)
    await hooks.verify(*fake.signed_webhook("idv_1"), now=AT)
    fake.expire_key(CURRENT_KID, NOW + 300)
    later = AT + timedelta(seconds=601)
    with pytest.raises(InvalidSignature, match="expired"):
        await hooks.verify(*fake.signed_webhook("idv_1", iat=NOW + 601), now=later)
    assert keys.calls == [CURRENT_KID, CURRENT_KID]


async def test_an_unknown_kid_is_asked_again_next_time(
    fake: FakePlaid, hooks: PlaidWebhookVerifier, keys: Keys
) -> None:
    for _ in range(2):
        with pytest.raises(InvalidSignature, match="unknown"):
            await hooks.verify(*fake.signed_webhook("idv_1", kid="unknown"), now=AT)
    assert keys.calls == ["unknown", "unknown"]


async def test_an_unreachable_key_source_is_unavailable_not_forged(
    fake: FakePlaid, hooks: PlaidWebhookVerifier, keys: Keys
) -> None:
    keys.down = True
    with pytest.raises(ComponentUnavailable):
        await hooks.verify(*fake.signed_webhook("idv_1"), now=AT)
    keys.down = False
    assert (await hooks.verify(*fake.signed_webhook("idv_1"), now=AT)).subject == "idv_1"


# ---- PlaidEventDecoder ------------------------------------------------------------------------------------------

DECODER: KycEventDecoder = PlaidEventDecoder()


@pytest.mark.parametrize("code", ["STATUS_UPDATED", "STEP_UPDATED", "RETRIED"])
def test_decoder_reads_identity_verification_webhooks(fake: FakePlaid, code: str) -> None:
    body = fake.webhook_body("idv_52xR9LKo77r1Np", code).decode()
    assert DECODER.decode(body) == KycEventRef(attempt_id="idv_52xR9LKo77r1Np", type=f"IDENTITY_VERIFICATION.{code}")
    assert fake.violations == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"webhook_type": "ITEM", "webhook_code": "ERROR", "identity_verification_id": "idv_1"}),
        json.dumps({"webhook_type": "IDENTITY_VERIFICATION", "webhook_code": "STATUS_UPDATED"}),
        json.dumps({"webhook_type": "IDENTITY_VERIFICATION", "webhook_code": "", "identity_verification_id": "i"}),
        json.dumps({"webhook_type": "IDENTITY_VERIFICATION", "webhook_code": "X", "identity_verification_id": 7}),
    ],
)
def test_decoder_refuses_anything_else(body: str) -> None:
    with pytest.raises(ValueError, match="not"):
        DECODER.decode(body)
