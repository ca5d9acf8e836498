"""`SmsSender` over Twilio Programmable Messaging (REST API 2010-04-01), with httpx (async).

`POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth (account SID, auth token), a
form body: `To`, `Body`, `From` (our number) or `MessagingServiceSid`, and `StatusCallback` when the message asks
for delivery reports. Twilio answers 201 with the Message resource; we keep its `sid` (``SM…``) and `status`.

Errors (Twilio's error body is JSON: `code`, `message`, `more_info`, `status`):
- 21211 (invalid `To`), 21614 (not a mobile number), 21612 (cannot route to this number), 21408 (the country is
  not enabled for us) → `invalid_number`; 21610 (the recipient replied STOP) → `invalid_number` as well, with a
  detail that says so: the number works but must not be texted until they opt back in;
- 30450 (blocked by Twilio's SMS pumping protection) → `fraud_blocked`;
- code 20429 or HTTP 429 → `rate_limited` (with `Retry-After` when Twilio gives one, in seconds);
- timeouts, network errors, 5xx, an unreadable answer, and any other refusal (bad credentials, a bad `From`: our
  configuration, not the member's number) → `unavailable`.
Twilio has no idempotency key for Messages: a send that timed out may still have been sent, so callers should not
retry blindly. Log lines carry the HTTP status, Twilio's code and the last two digits of the number; never the
message body, the full number or the auth token.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from adapters.twilio.responses import error_code, masked, retry_after
from ports.outbound.sms import PhoneProblem, PhoneProviderError, SmsAccepted, SmsMessage

log = logging.getLogger(__name__)
API_VERSION = "2010-04-01"
DEFAULT_BASE_URL = "https://api.twilio.com"
MAX_BODY_CHARS = 1600
INVALID_NUMBER_CODES = frozenset({21211, 21408, 21612, 21614})
OPTED_OUT_CODE = 21610
FRAUD_CODES = frozenset({30450})
RATE_LIMIT_CODE = 20429


class TwilioSmsSender:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("a Twilio account SID and auth token are required")
        if bool(from_number) == bool(messaging_service_sid):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        self._account_sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._sender: tuple[str, str] = (
            ("From", from_number) if from_number else ("MessagingServiceSid", messaging_service_sid or "")
        )
        self._url = f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=self._timeout)

    def __repr__(self) -> str:  # never show the token
        return f"TwilioSmsSender(account_sid={self._account_sid!r})"

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(self, message: SmsMessage) -> SmsAccepted:
        if not message.body:
            raise ValueError("an SMS needs a body")
        if len(message.body) > MAX_BODY_CHARS:
            raise ValueError(f"an SMS body is at most {MAX_BODY_CHARS} characters")
        if not message.to:
            raise ValueError("an SMS needs a recipient")
        form = {"To": message.to, "Body": message.body, self._sender[0]: self._sender[1]}
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        to = masked(message.to)
        try:
            response = await self._client.post(
                self._url,
                data=form,
                auth=self._auth,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
            )
        except (httpx.ConnectTimeout, httpx.ConnectError, httpx.PoolTimeout) as exc:  # never reached Twilio
            log.warning("twilio send to %s unavailable: %s", to, type(exc).__name__)
            raise PhoneProviderError(PhoneProblem.UNAVAILABLE, f"twilio: {type(exc).__name__}") from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # Sent (maybe wholly) but unanswered: Twilio may have accepted it. Messages have no idempotency key,
            # so a resend could text twice: the caller must not retry blindly.
            log.warning("twilio send to %s: outcome unknown (%s)", to, type(exc).__name__)
            raise PhoneProviderError(PhoneProblem.OUTCOME_UNKNOWN, f"twilio: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:  # DNS, protocol errors before anything was sent
            log.warning("twilio send to %s unavailable: %s", to, type(exc).__name__)
            raise PhoneProviderError(PhoneProblem.UNAVAILABLE, f"twilio: {type(exc).__name__}") from None
        if response.status_code in (200, 201):
            return _accepted(response, to)
        raise _refusal(response, to)


def _accepted(response: httpx.Response, to: str) -> SmsAccepted:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    sid = data.get("sid") if isinstance(data, dict) else None
    status = data.get("status") if isinstance(data, dict) else None
    if not isinstance(sid, str) or not sid or len(sid) > 64:
        log.warning("twilio send to %s answered %s without a message sid", to, response.status_code)
        raise PhoneProviderError(PhoneProblem.UNAVAILABLE, "twilio: unreadable response")
    status = status if isinstance(status, str) and status else "queued"
    log.info("twilio accepted %s for %s: %s", sid, to, status)
    return SmsAccepted(provider_id=sid, status=status)


def _refusal(response: httpx.Response, to: str) -> PhoneProviderError:
    status, code = response.status_code, error_code(response)
    where = f"twilio: status {status} code {code}"
    if code == RATE_LIMIT_CODE or status == 429:
        log.info("twilio send to %s rate limited: status %s code %s", to, status, code)
        return PhoneProviderError(
            PhoneProblem.RATE_LIMITED, f"{where}: too many messages", retry_after=retry_after(response)
        )
    if status >= 500 or code is None:
        log.warning("twilio send to %s unavailable: status %s code %s", to, status, code)
        return PhoneProviderError(PhoneProblem.UNAVAILABLE, where)
    if code in INVALID_NUMBER_CODES:
        log.info("twilio send to %s refused the number: code %s", to, code)
        return PhoneProviderError(PhoneProblem.INVALID_NUMBER, f"{where}: that number cannot receive texts")
    if code == OPTED_OUT_CODE:
        log.info("twilio send to %s refused: the recipient opted out", to)
        return PhoneProviderError(
            PhoneProblem.INVALID_NUMBER, f"{where}: the recipient has opted out of texts (replied STOP)"
        )
    if code in FRAUD_CODES:
        log.warning("twilio send to %s blocked as likely fraud: code %s", to, code)
        return PhoneProviderError(PhoneProblem.FRAUD_BLOCKED, f"{where}: blocked as likely SMS fraud")
    log.error("twilio refused a send to %s: status %s code %s (configuration?)", to, status, code)
    return PhoneProviderError(PhoneProblem.UNAVAILABLE, where)
