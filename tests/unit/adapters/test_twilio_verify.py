"""TwilioPhoneVerifier against the fake Twilio Verify server: real async httpx over loopback (no other service),
every request and response checked against Twilio's OpenAPI document by the fake."""

import logging
import socket
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from adapters.twilio.verify import TwilioPhoneVerifier
from ports.outbound.sms import PhoneProblem, PhoneProviderError, PhoneVerifier
from tests.provider_fakes.twilio_verify_server import (
    CHECK_PATH,
    CREATE_PATH,
    FakeTwilioVerify,
    error_schema,
    form_errors,
    openapi,
    request_schema,
    response_schema,
    run_fake_twilio_verify,
    schema_errors,
)

PHONE = "+15017122661"


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0  # 2026-01-01T00:00:00Z

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeTwilioVerify]:
    async with run_fake_twilio_verify(clock=clock) as running:
        yield running


def _adapter(fake: FakeTwilioVerify, **overrides: Any) -> TwilioPhoneVerifier:
    options: dict[str, Any] = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "service_sid": fake.service_sid,
        "base_url": fake.base_url,
    } | overrides
    return TwilioPhoneVerifier(**options)


@pytest.fixture
async def verifier(fake: FakeTwilioVerify) -> AsyncIterator[TwilioPhoneVerifier]:
    adapter = _adapter(fake)
    yield adapter
    await adapter.aclose()


async def _problem(call: Awaitable[Any]) -> PhoneProviderError:
    with pytest.raises(PhoneProviderError) as raised:
        await call
    return raised.value


def test_the_adapter_satisfies_the_port(verifier: TwilioPhoneVerifier, fake: FakeTwilioVerify) -> None:
    as_port: PhoneVerifier = verifier
    assert as_port is verifier
    assert fake.auth_token not in repr(verifier)


# ---- conformance with Twilio's OpenAPI document ------------------------------------------------------------------


def test_the_operations_are_the_ones_the_spec_describes() -> None:
    assert openapi()["paths"][CREATE_PATH]["post"]["operationId"] == "CreateVerification"
    assert openapi()["paths"][CHECK_PATH]["post"]["operationId"] == "CreateVerificationCheck"
    assert response_schema(CREATE_PATH) == "#/components/schemas/verify.v2.service.verification"
    assert response_schema(CHECK_PATH) == "#/components/schemas/verify.v2.service.verification_check"
    assert set(request_schema(CREATE_PATH)["required"]) == {"To", "Channel"}
    assert {"To", "Code", "VerificationSid"} <= set(request_schema(CHECK_PATH)["properties"])
    # the checkers do catch what breaks the document
    assert schema_errors(response_schema(CREATE_PATH), {"sid": "VE1", "channel": "fax", "valid": "yes"})
    assert schema_errors(error_schema(), {"code": "60200", "status": 400})
    assert form_errors(CREATE_PATH, {"to": ["+1"], "Channel": ["sms"]})


async def test_the_fakes_answers_match_the_spec(fake: FakeTwilioVerify) -> None:
    url = f"{fake.base_url}/v2/Services/{fake.service_sid}"
    auth = (fake.account_sid, fake.auth_token)
    async with httpx.AsyncClient(auth=auth) as client:
        created = await client.post(f"{url}/Verifications", data={"To": PHONE, "Channel": "sms"})
        assert created.status_code == 201
        assert schema_errors(response_schema(CREATE_PATH), created.json()) == []
        assert created.json()["sid"].startswith("VE")
        code = fake.code_for(PHONE)
        wrong = await client.post(f"{url}/VerificationCheck", data={"To": PHONE, "Code": "not-it"})
        assert (wrong.status_code, wrong.json()["status"], wrong.json()["valid"]) == (200, "pending", False)
        assert schema_errors(response_schema(CHECK_PATH), wrong.json()) == []
        right = await client.post(
            f"{url}/VerificationCheck", data={"VerificationSid": created.json()["sid"], "Code": code}
        )
        assert (right.json()["status"], right.json()["valid"]) == ("approved", True)
        assert schema_errors(response_schema(CHECK_PATH), right.json()) == []
        gone = await client.post(f"{url}/VerificationCheck", data={"To": PHONE, "Code": code})
        assert (gone.status_code, gone.json()["code"], gone.json()["status"]) == (404, 20404, 404)
        assert schema_errors(error_schema(), gone.json()) == []
        anonymous = await client.post(f"{url}/Verifications", data={"To": PHONE, "Channel": "sms"}, auth=("AC", "x"))
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)
    assert fake.violations == []


async def test_the_adapter_sends_the_specs_parameters(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    await verifier.start(PHONE)
    await verifier.check(PHONE, fake.code_for(PHONE))
    create, check = fake.requests
    assert (create.operation, create.form, create.authenticated) == (
        "CreateVerification",
        {"To": PHONE, "Channel": "sms"},
        True,
    )
    assert (check.operation, check.form, check.authenticated) == (
        "CreateVerificationCheck",
        {"To": PHONE, "Code": "<redacted>"},
        True,
    )
    assert set(create.form) <= set(request_schema(CREATE_PATH)["properties"])
    assert set(check.form) <= set(request_schema(CHECK_PATH)["properties"])
    assert fake.violations == []


async def test_the_fake_fails_the_block_on_traffic_that_breaks_the_spec() -> None:
    with pytest.raises(AssertionError, match="OpenAPI"):
        async with run_fake_twilio_verify() as fake:
            async with httpx.AsyncClient(auth=(fake.account_sid, fake.auth_token)) as client:
                answer = await client.post(
                    f"{fake.base_url}/v2/Services/{fake.service_sid}/Verifications",
                    data={"To": PHONE, "Channel": "sms", "Bogus": "1"},
                )
            assert (answer.status_code, answer.json()["code"]) == (400, 60200)


# ---- behaviour ---------------------------------------------------------------------------------------------------


async def test_start_then_the_right_code_is_approved(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    started = await verifier.start(PHONE)
    assert started.provider_id.startswith("VE")
    assert started.status == "pending"
    checked = await verifier.check(PHONE, fake.code_for(PHONE))
    assert (checked.approved, checked.status) == (True, "approved")


async def test_a_wrong_code_is_not_approved_and_not_an_error(
    fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier
) -> None:
    await verifier.start(PHONE)
    wrong = "000000" if fake.code_for(PHONE) != "000000" else "111111"
    checked = await verifier.check(PHONE, wrong)
    assert (checked.approved, checked.status) == (False, "pending")
    assert (await verifier.check(PHONE, fake.code_for(PHONE))).approved


async def test_a_code_older_than_ten_minutes_is_not_found(
    fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier, clock: Clock
) -> None:
    await verifier.start(PHONE)
    code = fake.code_for(PHONE)
    clock.now += 9 * 60
    await verifier.start(PHONE)  # a resend within the lifetime keeps the code and its clock
    assert fake.code_for(PHONE) == code
    clock.now += 60
    error = await _problem(verifier.check(PHONE, code))
    assert error.problem is PhoneProblem.NOT_FOUND
    # a new verification can start after that, with a new lifetime
    assert (await verifier.start(PHONE)).status == "pending"
    assert (await verifier.check(PHONE, fake.code_for(PHONE))).approved


async def test_nothing_pending_is_not_found(verifier: TwilioPhoneVerifier) -> None:
    error = await _problem(verifier.check(PHONE, "123456"))
    assert error.problem is PhoneProblem.NOT_FOUND


async def test_an_approved_code_cannot_be_used_again(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    await verifier.start(PHONE)
    code = fake.code_for(PHONE)
    assert (await verifier.check(PHONE, code)).approved
    assert (await _problem(verifier.check(PHONE, code))).problem is PhoneProblem.NOT_FOUND


async def test_the_sixth_send_is_rate_limited(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    for _ in range(5):
        await verifier.start(PHONE)
    error = await _problem(verifier.start(PHONE))
    assert error.problem is PhoneProblem.RATE_LIMITED
    assert error.retry_after == timedelta(minutes=10)
    assert (fake.requests[-1].status, len(fake.sent)) == (429, 5)


async def test_the_sixth_check_is_rate_limited_even_with_the_right_code(
    fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier
) -> None:
    await verifier.start(PHONE)
    code = fake.code_for(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert not (await verifier.check(PHONE, wrong)).approved
    error = await _problem(verifier.check(PHONE, code))
    assert error.problem is PhoneProblem.RATE_LIMITED


async def test_too_many_requests_carries_retry_after(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    fake.fail_next(20429, 429, "Too many requests", retry_after=30)
    error = await _problem(verifier.start(PHONE))
    assert (error.problem, error.retry_after) == (PhoneProblem.RATE_LIMITED, timedelta(seconds=30))


@pytest.mark.parametrize(
    ("code", "status", "problem"),
    [
        (60410, 403, PhoneProblem.FRAUD_BLOCKED),
        (60605, 403, PhoneProblem.FRAUD_BLOCKED),
        (21211, 400, PhoneProblem.INVALID_NUMBER),
        (21614, 400, PhoneProblem.INVALID_NUMBER),
        (60203, 429, PhoneProblem.RATE_LIMITED),
        (60202, 429, PhoneProblem.RATE_LIMITED),
        (20404, 404, PhoneProblem.NOT_FOUND),
        (20500, 500, PhoneProblem.UNAVAILABLE),
        (20503, 503, PhoneProblem.UNAVAILABLE),
        (20003, 401, PhoneProblem.UNAVAILABLE),
    ],
)
async def test_twilio_errors_map_to_phone_problems(
    fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier, code: int, status: int, problem: PhoneProblem
) -> None:
    fake.fail_next(code, status)
    error = await _problem(verifier.start(PHONE))
    assert error.problem is problem
    assert str(code) in str(error)
    # nothing was retried behind the caller's back: the next call goes through
    assert (await verifier.start(PHONE)).status == "pending"


async def test_fraud_blocked_on_check(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    await verifier.start(PHONE)
    fake.fail_next(60410, 403, operation="CreateVerificationCheck")
    assert (await _problem(verifier.check(PHONE, "123456"))).problem is PhoneProblem.FRAUD_BLOCKED


@pytest.mark.parametrize("phone", ["5017122661", "+0123", "+1501712266100000000", "not a number"])
async def test_a_malformed_number_is_invalid(verifier: TwilioPhoneVerifier, phone: str) -> None:
    assert (await _problem(verifier.start(phone))).problem is PhoneProblem.INVALID_NUMBER


async def test_a_landline_is_invalid(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    fake.landlines.add(PHONE)
    assert (await _problem(verifier.start(PHONE))).problem is PhoneProblem.INVALID_NUMBER
    assert fake.sent == []


async def test_an_unreadable_answer_is_unavailable(fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier) -> None:
    fake.fail_next(0, 502, raw_body=b"<html>Bad gateway</html>")
    assert (await _problem(verifier.start(PHONE))).problem is PhoneProblem.UNAVAILABLE
    fake.fail_next(0, 400, raw_body=b"<html>?</html>")
    assert (await _problem(verifier.start(PHONE))).problem is PhoneProblem.UNAVAILABLE


async def test_a_timeout_is_unavailable(fake: FakeTwilioVerify) -> None:
    adapter = _adapter(fake, timeout_s=0.2)
    fake.delay_s = 1.0
    try:
        error = await _problem(adapter.start(PHONE))
    finally:
        fake.delay_s = 0
        await adapter.aclose()
    assert error.problem is PhoneProblem.UNAVAILABLE


async def test_an_unreachable_host_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = TwilioPhoneVerifier(
        account_sid="AC1", auth_token="token", service_sid="VA1", base_url=f"http://127.0.0.1:{port}"
    )
    try:
        assert (await _problem(adapter.check(PHONE, "123456"))).problem is PhoneProblem.UNAVAILABLE
    finally:
        await adapter.aclose()


async def test_an_injected_client_is_used_and_left_open(fake: FakeTwilioVerify) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(fake, client=client)
        assert (await adapter.start(PHONE)).status == "pending"
        await adapter.aclose()
        assert not client.is_closed
    assert fake.requests[-1].authenticated


def test_credentials_are_required() -> None:
    with pytest.raises(ValueError, match="required"):
        TwilioPhoneVerifier(account_sid="AC1", auth_token="", service_sid="VA1")


async def test_neither_the_code_nor_the_phone_nor_the_token_is_logged(
    fake: FakeTwilioVerify, verifier: TwilioPhoneVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await verifier.start(PHONE)
    code = fake.code_for(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    await verifier.check(PHONE, wrong)
    await verifier.check(PHONE, code)
    await _problem(verifier.check(PHONE, code))  # not found
    fake.fail_next(60410, 403, f"The number {PHONE} is blocked")
    await _problem(verifier.start(PHONE))
    fake.fail_next(20500, 500, f"oops for {PHONE}")
    await _problem(verifier.start(PHONE))
    fake.fail_next(20003, 401, f"Authenticate {PHONE}")
    await _problem(verifier.start(PHONE))
    text = caplog.text
    assert "…61" in text  # the last two digits at most
    for secret in (code, wrong, PHONE, PHONE[1:], fake.auth_token):
        assert secret not in text
    for record in caplog.records:
        assert PHONE not in record.getMessage()
