"""The offline phone providers: codes derived (never stored or logged), valid for their window and the next,
refused in production; texts counted, never shown."""

import logging
from datetime import UTC, datetime

import pytest

from adapters.sandbox.phone import WINDOW, SandboxPhoneVerifier, SandboxSmsSender
from ports.outbound.sms import PhoneProblem, PhoneProviderError, SmsMessage
from tests.fakes import FakeClock

PHONE = "+15551234567"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC))


async def test_the_code_of_now_or_the_window_before_is_accepted(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = SandboxPhoneVerifier(b"k" * 32, clock, production=False)
    await sandbox.start(PHONE)
    code = sandbox.code_for(PHONE)
    assert len(code) == 6
    assert code.isdigit()
    assert code not in caplog.text, "the code is never logged"
    assert PHONE not in caplog.text
    assert (await sandbox.check(PHONE, code)).approved
    clock.advance(WINDOW)
    assert (await sandbox.check(PHONE, code)).approved, "a code lives into the next window"
    clock.advance(WINDOW)
    assert not (await sandbox.check(PHONE, code)).approved
    assert sandbox.code_for("+15557654321") != sandbox.code_for(PHONE)
    other_key = SandboxPhoneVerifier(b"x" * 32, clock, production=False)
    assert other_key.code_for(PHONE) != sandbox.code_for(PHONE)


async def test_a_number_that_is_not_e164_is_refused(clock: FakeClock) -> None:
    with pytest.raises(PhoneProviderError) as refused:
        await SandboxPhoneVerifier(b"k" * 32, clock, production=False).start("555-1234")
    assert refused.value.problem is PhoneProblem.INVALID_NUMBER


def test_the_sandbox_refuses_production(clock: FakeClock) -> None:
    with pytest.raises(RuntimeError, match="production"):
        SandboxPhoneVerifier(b"k" * 32, clock, production=True)
    with pytest.raises(RuntimeError, match="production"):
        SandboxSmsSender(production=True)


async def test_texts_are_counted_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sender = SandboxSmsSender(production=False)
    accepted = await sender.send(SmsMessage(to=PHONE, body="Tenure: your payment failed."))
    assert accepted.provider_id.startswith("SM")
    assert sender.sent == 1
    assert "payment failed" not in caplog.text
    assert PHONE not in caplog.text
