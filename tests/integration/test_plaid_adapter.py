"""PlaidIdentityVerifier and the webhook key source against the fake Plaid server: real plaid-python, real HTTP
over loopback, every request and response checked against Plaid's OpenAPI document by the fake."""

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from adapters.plaid.events import PlaidEventDecoder
from adapters.plaid.verifier import PlaidIdentityVerifier
from adapters.plaid.webhooks import PlaidWebhookKeySource, PlaidWebhookVerifier
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.kyc import IdentityVerifier, KycEventRef, KycProviderError
from ports.outbound.webhooks import InvalidSignature, WebhookVerifier
from tests.provider_fakes.plaid_server import (
    CURRENT_KID,
    EXPIRED_KID,
    FakePlaid,
    response_schema,
    run_fake_plaid,
    schema_errors,
)

PERSONAL = ("Leslie", "Knope", "1990-05-29", "123456789", "Ada", "Lovelace", "987654321", "1815-12-10")


@pytest.fixture
async def fake() -> AsyncIterator[FakePlaid]:
    async with run_fake_plaid() as running:
        yield running


@pytest.fixture
async def verifier(fake: FakePlaid) -> AsyncIterator[PlaidIdentityVerifier]:
    adapter = PlaidIdentityVerifier(fake.client_id, fake.secret, fake.template_id, host=fake.base_url)
    yield adapter
    await adapter.close()


def test_the_adapters_satisfy_their_ports(verifier: PlaidIdentityVerifier) -> None:
    as_port: IdentityVerifier = verifier
    hooks: WebhookVerifier = PlaidWebhookVerifier(PlaidWebhookKeySource("id", "secret"))
    assert as_port is verifier
    assert hooks.provider == "plaid"
    assert "secret" not in repr(verifier)


async def test_start_creates_a_shareable_verification_with_consent(
    fake: FakePlaid, verifier: PlaidIdentityVerifier
) -> None:
    session = await verifier.start(client_user_id="mem_1", email="ada@example.com", retry=False)
    assert session.attempt_id.startswith("idv_")
    assert session.url
    assert session.url.startswith("https://")
    assert session.status == "active"
    assert session.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - session.created_at).total_seconds()) < 60
    (request,) = fake.requests
    assert request.path == "/identity_verification/create"
    assert request.body["template_id"] == fake.template_id
    assert request.body["client_user_id"] == "mem_1"
    assert request.body["is_shareable"] is True
    assert request.body["gave_consent"] is True
    assert request.body["user"] == {"email_address": "ada@example.com"}
    assert "client_id" not in request.body  # credentials travel in headers
    assert fake.attempts[session.attempt_id]["user"]["email_address"] == "ada@example.com"


async def test_start_without_email_sends_no_user_and_repeats_idempotently(
    fake: FakePlaid, verifier: PlaidIdentityVerifier
) -> None:
    first = await verifier.start(client_user_id="mem_2", email=None, retry=False)
    again = await verifier.start(client_user_id="mem_2", email=None, retry=False)
    assert again.attempt_id == first.attempt_id
    assert all("user" not in r.body for r in fake.requests)
    assert len(fake.attempts) == 1


async def test_retry_resets_and_starts_a_new_attempt(fake: FakePlaid, verifier: PlaidIdentityVerifier) -> None:
    first = await verifier.start(client_user_id="mem_3", email="ada@example.com", retry=False)
    fake.complete(first.attempt_id, "failed")
    second = await verifier.start(client_user_id="mem_3", email="ada@example.com", retry=True)
    assert second.attempt_id != first.attempt_id
    assert second.status == "active"
    assert second.url
    retry = fake.requests[-1]
    assert retry.path == "/identity_verification/retry"
    assert (retry.body["strategy"], retry.body["client_user_id"], retry.body["template_id"]) == (
        "reset",
        "mem_3",
        fake.template_id,
    )
    assert retry.body["is_shareable"] is True
    assert fake.attempts[second.attempt_id]["previous_attempt_id"] == first.attempt_id


async def test_retry_for_a_user_without_an_attempt_is_refused(verifier: PlaidIdentityVerifier) -> None:
    with pytest.raises(KycProviderError) as raised:
        await verifier.start(client_user_id="nobody", email=None, retry=True)
    assert (raised.value.status, raised.value.code) == (400, "INVALID_FIELD")


async def test_get_an_active_attempt_reports_creation_and_no_personal_data(
    fake: FakePlaid, verifier: PlaidIdentityVerifier
) -> None:
    session = await verifier.start(client_user_id="mem_4", email=None, retry=False)
    facts = await verifier.get(session.attempt_id)
    assert (facts.attempt_id, facts.client_user_id, facts.status) == (session.attempt_id, "mem_4", "active")
    assert facts.status_at == session.created_at
    assert (facts.country, facts.date_of_birth, facts.given_name, facts.family_name, facts.id_number) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert facts.failure_reasons == ()


async def test_get_a_successful_attempt_maps_the_users_data(fake: FakePlaid, verifier: PlaidIdentityVerifier) -> None:
    session = await verifier.start(client_user_id="mem_5", email=None, retry=False)
    completed = 1_767_225_600  # 2026-01-01T00:00:00Z
    fake.complete(
        session.attempt_id,
        "success",
        user={
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": "1815-12-10",
            "country": "GB",
            "id_number": "987654321",
            "id_type": "us_ssn",
        },
        at=completed,
    )
    facts = await verifier.get(session.attempt_id)
    assert facts.status == "success"
    assert facts.status_at == datetime.fromtimestamp(completed, UTC)
    assert facts.country == "GB"
    assert facts.date_of_birth == date(1815, 12, 10)
    assert (facts.given_name, facts.family_name, facts.id_number) == ("Ada", "Lovelace", "987654321")
    assert facts.failure_reasons == ()
    assert not any(value in repr(facts) for value in PERSONAL)


@pytest.mark.parametrize(
    ("outcome", "failed_steps", "reasons"),
    [
        ("failed", ("documentary_verification",), ("documentary_verification",)),
        ("failed", ("kyc_check", "selfie_check"), ("kyc_check", "selfie_check")),
        ("pending_review", (), ()),
        ("expired", (), ()),
        ("canceled", (), ()),
    ],
)
async def test_get_maps_each_outcome_and_names_the_failed_steps(
    fake: FakePlaid,
    verifier: PlaidIdentityVerifier,
    outcome: str,
    failed_steps: tuple[str, ...],
    reasons: tuple[str, ...],
) -> None:
    session = await verifier.start(client_user_id=f"mem_{outcome}", email=None, retry=False)
    fake.complete(session.attempt_id, outcome, failed_steps=failed_steps)
    facts = await verifier.get(session.attempt_id)
    assert facts.status == outcome
    assert facts.status_at >= session.created_at
    assert set(facts.failure_reasons) == set(reasons)
    assert facts.country == "US"
    assert facts.date_of_birth == date(1990, 5, 29)


async def test_an_unknown_attempt_is_a_provider_refusal(verifier: PlaidIdentityVerifier) -> None:
    with pytest.raises(KycProviderError) as raised:
        await verifier.get("idv_doesNotExist")
    assert (raised.value.status, raised.value.code) == (400, "INVALID_FIELD")


async def test_wrong_credentials_are_a_provider_refusal(fake: FakePlaid) -> None:
    adapter = PlaidIdentityVerifier(fake.client_id, "wrong-secret", fake.template_id, host=fake.base_url)
    try:
        with pytest.raises(KycProviderError) as raised:
            await adapter.start(client_user_id="mem_6", email=None, retry=False)
    finally:
        await adapter.close()
    assert (raised.value.status, raised.value.code) == (400, "INVALID_API_KEYS")
    assert "wrong-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "error_type", "error_code"),
    [
        (500, "API_ERROR", "INTERNAL_SERVER_ERROR"),
        (503, "API_ERROR", "PLANNED_MAINTENANCE"),
        (429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT"),
    ],
)
async def test_5xx_and_429_are_unavailable(
    fake: FakePlaid, verifier: PlaidIdentityVerifier, status: int, error_type: str, error_code: str
) -> None:
    fake.fail_next("/identity_verification/create", status, error_type, error_code)
    with pytest.raises(ComponentUnavailable) as raised:
        await verifier.start(client_user_id="mem_7", email=None, retry=False)
    assert raised.value.component == "kyc"
    # the next call goes through: nothing was retried behind the caller's back
    assert (await verifier.start(client_user_id="mem_7", email=None, retry=False)).status == "active"


async def test_other_4xx_are_provider_refusals_with_plaids_code(
    fake: FakePlaid, verifier: PlaidIdentityVerifier
) -> None:
    fake.fail_next("/identity_verification/get", 400, "INVALID_REQUEST", "MISSING_FIELDS")
    with pytest.raises(KycProviderError) as raised:
        await verifier.get("idv_x")
    assert (raised.value.status, raised.value.code) == (400, "MISSING_FIELDS")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_host_is_unavailable() -> None:
    adapter = PlaidIdentityVerifier("id", "secret", "idvtmp_1", host=f"http://127.0.0.1:{_closed_port()}")
    try:
        with pytest.raises(ComponentUnavailable) as raised:
            await adapter.get("idv_1")
    finally:
        await adapter.close()
    assert raised.value.component == "kyc"


async def test_a_read_timeout_is_unavailable(fake: FakePlaid) -> None:
    adapter = PlaidIdentityVerifier(
        fake.client_id, fake.secret, fake.template_id, host=fake.base_url, read_timeout_s=0.2
    )
    fake.delay_s = 1.0
    try:
        with pytest.raises(ComponentUnavailable):
            await adapter.start(client_user_id="mem_8", email=None, retry=False)
    finally:
        await adapter.close()
        fake.delay_s = 0


async def test_calls_do_not_block_the_event_loop(fake: FakePlaid, verifier: PlaidIdentityVerifier) -> None:
    """The fake answers after 0.5 s; a ticker on the same loop keeps ticking meanwhile. (A blocking call on the
    loop would also starve the fake, which shares it, so the call could not even complete.)"""
    fake.delay_s = 0.5
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        session = await asyncio.wait_for(verifier.start(client_user_id="mem_9", email=None, retry=False), 10)
    finally:
        stop.set()
        await ticking
    assert time.monotonic() - started >= 0.5
    assert ticks >= 20
    assert session.status == "active"


async def test_nothing_personal_is_logged(
    fake: FakePlaid, verifier: PlaidIdentityVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = await verifier.start(client_user_id="mem_10", email="ada@example.com", retry=False)
    fake.complete(session.attempt_id, "failed")
    await verifier.get(session.attempt_id)
    fake.fail_next("/identity_verification/get", 500)
    with pytest.raises(ComponentUnavailable):
        await verifier.get(session.attempt_id)
    with pytest.raises(KycProviderError):
        await verifier.get("idv_unknown")
    text = caplog.text
    assert not any(value in text for value in (*PERSONAL, "ada@example.com", fake.secret))


async def test_webhook_key_source_reads_keys_through_plaid_python(fake: FakePlaid) -> None:
    keys = PlaidWebhookKeySource(fake.client_id, fake.secret, host=fake.base_url)
    hooks = PlaidWebhookVerifier(keys)
    try:
        jwk = await keys(CURRENT_KID)
        assert (jwk["kid"], jwk["alg"], jwk["crv"], jwk["expired_at"]) == (CURRENT_KID, "ES256", "P-256", None)
        body, headers = fake.signed_webhook("idv_abc")
        message = await hooks.verify(body, headers, now=datetime.now(UTC))
        assert (message.type, message.subject) == ("IDENTITY_VERIFICATION.STATUS_UPDATED", "idv_abc")
        assert PlaidEventDecoder().decode(body.decode()) == KycEventRef(
            attempt_id="idv_abc", type="IDENTITY_VERIFICATION.STATUS_UPDATED"
        )
        body, headers = fake.signed_webhook("idv_abc", kid=EXPIRED_KID)
        with pytest.raises(InvalidSignature, match="expired"):
            await hooks.verify(body, headers, now=datetime.now(UTC))
        body, headers = fake.signed_webhook("idv_abc", kid="unknown")
        with pytest.raises(InvalidSignature, match="unknown"):
            await hooks.verify(body, headers, now=datetime.now(UTC))
    finally:
        await keys.close()
    keys_down = PlaidWebhookKeySource("id", "secret", host=f"http://127.0.0.1:{_closed_port()}")
    body, headers = fake.signed_webhook("idv_abc")
    with pytest.raises(ComponentUnavailable):  # not provably forged: answered 503 so that Plaid retries
        await PlaidWebhookVerifier(keys_down).verify(body, headers, now=datetime.now(UTC))
    await keys_down.close()


async def test_the_fake_fails_the_test_on_traffic_that_breaks_the_openapi_document() -> None:
    with pytest.raises(AssertionError, match="OpenAPI"):
        async with run_fake_plaid() as fake:
            adapter = PlaidIdentityVerifier(fake.client_id, fake.secret, fake.template_id, host=fake.base_url)
            session = await adapter.start(client_user_id="mem_11", email=None, retry=False)
            fake.attempts[session.attempt_id]["status"] = "bogus"  # not one of Plaid's statuses
            await adapter.get(session.attempt_id)
            await adapter.close()
    assert schema_errors(response_schema("/identity_verification/get"), {"id": 1})
