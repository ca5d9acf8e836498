"""`PhoneVerifier` over Twilio Verify v2, with plain async httpx.

The twilio SDK's HTTP client is blocking, so this adapter speaks the two form-encoded calls itself
(`POST /v2/Services/{ServiceSid}/Verifications` and `.../VerificationCheck`, HTTP basic auth with the account
sid and auth token) and never stalls the event loop. Nothing is retried here: the caller retries on
`unavailable`, and a hidden retry of a send would text the member twice.

Twilio's error numbers become the port's `PhoneProblem`s; anything unknown, a 5xx, a timeout or an unreadable
body is `unavailable`. Log lines and error details carry the operation, HTTP status and Twilio's error number
only: never the code, never the auth token, never the full phone number (at most its last two digits), and never
Twilio's error message (it quotes the number).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx

from adapters.twilio.responses import error_code, masked
from adapters.twilio.responses import retry_after as retry_after_of
from ports.outbound.sms import PhoneProblem, PhoneProviderError, VerificationChecked, VerificationStarted

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://verify.twilio.com"
CODE_LIFETIME = timedelta(minutes=10)
"""A Verify code (and so its send/check counters) lives this long: when Twilio says "too many" without a
Retry-After, a new verification can be started once the current one has lapsed."""

INVALID_NUMBER_CODES = frozenset({60200, 21211, 21614, 60205})
"""Invalid parameter, invalid `To`, not a mobile number, SMS not supported on a landline."""
RATE_LIMITED_CODES = frozenset({60203, 60202, 20429})
"""Max send attempts, max check attempts, too many requests."""
FRAUD_BLOCKED_CODES = frozenset({60410, 60605})
"""Number/prefix blocked for fraud (SMS pumping), geo permissions block the destination."""
NOT_FOUND_CODES = frozenset({20404})


class TwilioPhoneVerifier:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        service_sid: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not account_sid or not auth_token or not service_sid:
            raise ValueError("a Twilio account sid, auth token and Verify service sid are required")
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._timeout = httpx.Timeout(timeout_s)
        self._client = client if client is not None else httpx.AsyncClient(timeout=self._timeout)
        self._owns_client = client is None
        root = f"{base_url.rstrip('/')}/v2/Services/{service_sid}"
        self._verifications_url = f"{root}/Verifications"
        self._check_url = f"{root}/VerificationCheck"

    def __repr__(self) -> str:  # never show the auth token
        return "TwilioPhoneVerifier()"

    async def aclose(self) -> None:
        """Close the HTTP client if this adapter created it (an injected client belongs to the caller)."""
        if self._owns_client:
            await self._client.aclose()

    async def start(self, phone: str) -> VerificationStarted:
        data = await self._post("start", self._verifications_url, {"To": phone, "Channel": "sms"}, phone)
        sid, status = data.get("sid"), data.get("status")
        if not isinstance(sid, str) or not sid or not isinstance(status, str):
            log.warning("twilio verify start for %s: response without sid/status", masked(phone))
            raise PhoneProviderError(PhoneProblem.UNAVAILABLE, "start: unreadable response")
        log.info("twilio verify started for %s: %s", masked(phone), status)
        return VerificationStarted(provider_id=sid, status=status)

    async def check(self, phone: str, code: str) -> VerificationChecked:
        data = await self._post("check", self._check_url, {"To": phone, "Code": code}, phone)
        status = data.get("status")
        if not isinstance(status, str):
            log.warning("twilio verify check for %s: response without status", masked(phone))
            raise PhoneProviderError(PhoneProblem.UNAVAILABLE, "check: unreadable response")
        log.info("twilio verify check for %s: %s", masked(phone), status)
        return VerificationChecked(approved=status == "approved", status=status)

    async def _post(self, what: str, url: str, form: dict[str, str], phone: str) -> dict[str, Any]:
        try:
            response = await self._client.post(url, data=form, auth=self._auth, timeout=self._timeout)
        except httpx.RequestError as exc:  # connect/read timeouts, refused, reset, DNS, protocol errors
            log.warning("twilio verify %s for %s unavailable: %s", what, masked(phone), type(exc).__name__)
            raise PhoneProviderError(PhoneProblem.UNAVAILABLE, f"{what}: {type(exc).__name__}") from None
        if response.is_success:
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                log.warning("twilio verify %s for %s: unreadable %s body", what, masked(phone), response.status_code)
                raise PhoneProviderError(PhoneProblem.UNAVAILABLE, f"{what}: unreadable response")
            return data
        raise self._refusal(what, response, phone)

    @staticmethod
    def _refusal(what: str, response: httpx.Response, phone: str) -> PhoneProviderError:
        status = response.status_code
        code = error_code(response)
        detail = f"{what}: status {status} twilio {code}"
        problem: PhoneProblem
        retry_after: timedelta | None = None
        if status >= 500:
            problem = PhoneProblem.UNAVAILABLE
        elif status == 429 or code in RATE_LIMITED_CODES:
            problem = PhoneProblem.RATE_LIMITED
            retry_after = retry_after_of(response)
            if retry_after is None and code in (60202, 60203):
                retry_after = CODE_LIFETIME
        elif code in INVALID_NUMBER_CODES:
            problem = PhoneProblem.INVALID_NUMBER
        elif code in FRAUD_BLOCKED_CODES:
            problem = PhoneProblem.FRAUD_BLOCKED
        elif code in NOT_FOUND_CODES or status == 404:
            problem = PhoneProblem.NOT_FOUND
        else:  # bad credentials, an unknown refusal, an unreadable error body: not the member's doing
            log.error("twilio verify %s for %s refused: %s", what, masked(phone), detail)
            return PhoneProviderError(PhoneProblem.UNAVAILABLE, detail)
        log.info("twilio verify %s for %s refused: %s → %s", what, masked(phone), detail, problem.value)
        return PhoneProviderError(problem, detail, retry_after=retry_after)
