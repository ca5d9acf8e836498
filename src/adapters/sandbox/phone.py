"""Offline phone providers for the embedded default: nothing is texted, nothing leaves the machine.

The verification code is derived, not stored: HMAC(key, phone, ten-minute window), so the `tenure sandbox-sms-code`
command (with the same settings) shows a developer the code without any table, and the code is never logged.
Texts are counted in the log (length and the number's last two digits), never shown. Both refuse production.
"""

import hashlib
import hmac
import logging
import re
import uuid
from datetime import datetime, timedelta

from ports.outbound.clock import Clock
from ports.outbound.sms import (
    PhoneProblem,
    PhoneProviderError,
    SmsAccepted,
    SmsMessage,
    VerificationChecked,
    VerificationStarted,
)

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=10)
"""A code lives for its window and the next one (like Twilio's 10 minutes, rounded up)."""
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _refuse_production(production: bool) -> None:
    if production:
        raise RuntimeError("the sandbox phone providers are refused in production")


class SandboxPhoneVerifier:
    def __init__(self, key: bytes, clock: Clock, *, production: bool) -> None:
        _refuse_production(production)
        self._key = key
        self._clock = clock

    def code_for(self, phone: str, at: datetime | None = None) -> str:
        """The code a text to ``phone`` would carry at ``at`` (now by default)."""
        window = int((at or self._clock.now()).timestamp() // WINDOW.total_seconds())
        digest = hmac.new(self._key, f"{phone}|{window}".encode(), hashlib.sha256).digest()
        return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"

    async def start(self, phone: str) -> VerificationStarted:
        if not E164.fullmatch(phone):
            raise PhoneProviderError(PhoneProblem.INVALID_NUMBER, "not an E.164 number")
        logger.info("sandbox: a verification code for …%s is ready (tenure sandbox-sms-code)", phone[-2:])
        return VerificationStarted(provider_id=f"VEsandbox{phone[-4:]}", status="pending")

    async def check(self, phone: str, code: str) -> VerificationChecked:
        now = self._clock.now()
        valid = {self.code_for(phone, now), self.code_for(phone, now - WINDOW)}
        approved = any(hmac.compare_digest(code, candidate) for candidate in valid)
        return VerificationChecked(approved=approved, status="approved" if approved else "pending")


class SandboxSmsSender:
    def __init__(self, *, production: bool) -> None:
        _refuse_production(production)
        self.sent = 0

    async def send(self, message: SmsMessage) -> SmsAccepted:
        self.sent += 1
        logger.info("sandbox: a text of %d characters to …%s", len(message.body), message.to[-2:])
        return SmsAccepted(provider_id="SM" + uuid.uuid4().hex, status="queued")  # Twilio's sid shape, unique
