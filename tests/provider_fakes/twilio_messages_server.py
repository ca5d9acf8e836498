"""A local fake of Twilio's Programmable Messaging API, for tests only (never shipped).

Run it with `async with run_fake_twilio_messages() as fake:`: uvicorn serves a Litestar app on 127.0.0.1
(ephemeral port) inside the test's event loop; point `TwilioSmsSender` at `fake.base_url` with `fake.account_sid`
and `fake.auth_token` (and `fake.from_number`). `FakeTwilioMessages` also works without the server (its `create`
and signing helpers are plain methods).

HTTP API:
  POST /2010-04-01/Accounts/{AccountSid}/Messages.json   form: To, Body, From or MessagingServiceSid,
        StatusCallback (optional). Basic auth (account SID, auth token): wrong → 401 code 20003; another account
        in the path → 404 code 20404; no `To` → 400 21604; no `Body` → 400 21602; neither `From` nor
        `MessagingServiceSid` → 400 21603; a `To` that is not E.164 → 400 21211; a body over 1600 characters →
        400 21617. Success: 201 with a Message resource (sid ``SM`` + 32 hex, status ``queued``, or
        ``accepted`` through a messaging service).

Test controls:
  fail_next(code, status=400, *, retry_after=None)   answer the next send with this Twilio error
  garbage_next(status=201)                            answer the next send with a body that is not JSON
  delay_s                                             answer every send only after this many seconds
  status_callback(sid, status, *, url=None, auth_token=None, error_code=None) → (url, body, headers)
      a status callback exactly as Twilio would post it, signed with the real `twilio_signature`
  await deliver_status(sid, status, *, url=None, client=None, ...) → httpx.Response   POST it to `url`
`fake.messages` holds each accepted message (`FakeMessage`); `fake.requests` each call (status and Twilio code).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from litestar import Litestar, Request, Response, post

from adapters.twilio.signatures import twilio_signature
from tests.provider_fakes.serving import run_app

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake_twilio_auth_token_0123456789"
FROM_NUMBER = "+15005550006"
MESSAGING_SERVICE_SID = "MG" + "0" * 31 + "2"
E164 = re.compile(r"\+[1-9]\d{6,14}")
MAX_BODY_CHARS = 1600
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    30450: "Message delivery blocked by SMS Pumping Protection",
}


@dataclass
class FakeMessage:
    sid: str
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    status: str
    date_created: datetime


@dataclass(frozen=True)
class RecordedRequest:
    account_sid: str
    status: int
    code: int | None
    """Twilio's error code, None on success. Neither the body nor the number is kept here."""


@dataclass
class _Failure:
    status: int
    code: int | None
    retry_after: int | None = None
    garbage: bool = False


class TwilioError(Exception):
    def __init__(self, status: int, code: int, *, retry_after: int | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.retry_after = status, code, retry_after

    @property
    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": ERROR_MESSAGES.get(self.code, "Error"),
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass
class FakeTwilioMessages:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    from_number: str = FROM_NUMBER
    messaging_service_sid: str = MESSAGING_SERVICE_SID
    base_url: str = ""
    delay_s: float = 0.0
    messages: list[FakeMessage] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)

    # ---- test controls --------------------------------------------------------------------------------------

    def fail_next(self, code: int, status: int = 400, *, retry_after: int | None = None) -> None:
        self._failures.append(_Failure(status=status, code=code, retry_after=retry_after))

    def garbage_next(self, status: int = 201) -> None:
        self._failures.append(_Failure(status=status, code=None, garbage=True))

    def message(self, sid: str) -> FakeMessage:
        for message in self.messages:
            if message.sid == sid:
                return message
        raise KeyError(sid)

    def status_callback(
        self,
        sid: str,
        status: str,
        *,
        url: str | None = None,
        auth_token: str | None = None,
        error_code: int | None = None,
    ) -> tuple[str, bytes, dict[str, str]]:
        """(url, form body, headers) of the status callback Twilio would post for message `sid` now in `status`,
        signed with `auth_token` (default: the fake's) over `url` (default: the message's StatusCallback)."""
        message = self.message(sid)
        target = url or message.status_callback
        if not target:
            raise ValueError("the message has no StatusCallback and no url was given")
        message.status = status
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.from_ or self.from_number,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = twilio_signature(auth_token or self.auth_token, target, params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1",
        }
        return target, urlencode(params).encode(), headers

    async def deliver_status(
        self,
        sid: str,
        status: str,
        *,
        url: str | None = None,
        auth_token: str | None = None,
        error_code: int | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """POST the signed status callback to its URL (through `client` when given) and return the answer."""
        target, body, headers = self.status_callback(sid, status, url=url, auth_token=auth_token, error_code=error_code)
        if client is not None:
            return await client.post(target, content=body, headers=headers)
        async with httpx.AsyncClient(timeout=10) as own:
            return await own.post(target, content=body, headers=headers)

    # ---- the API ----------------------------------------------------------------------------------------------

    def _authenticate(self, authorization: str | None) -> None:
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise TwilioError(401, 20003) from None
        if not (
            scheme.lower() == "basic"
            and hmac.compare_digest(user.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        ):
            raise TwilioError(401, 20003)

    def create(self, account_sid: str, form: Mapping[str, str]) -> dict[str, Any]:
        """Validate a create-message form and store the message; raise `TwilioError` as Twilio would."""
        if account_sid != self.account_sid:
            raise TwilioError(404, 20404)
        if self._failures:
            failure = self._failures[0]
            if not failure.garbage:
                self._failures.pop(0)
                raise TwilioError(failure.status, failure.code or 20500, retry_after=failure.retry_after)
        to, body = form.get("To"), form.get("Body")
        from_, service = form.get("From") or None, form.get("MessagingServiceSid") or None
        if not to:
            raise TwilioError(400, 21604)
        if not body:
            raise TwilioError(400, 21602)
        if not from_ and not service:
            raise TwilioError(400, 21603)
        if not E164.fullmatch(to):
            raise TwilioError(400, 21211)
        if len(body) > MAX_BODY_CHARS:
            raise TwilioError(400, 21617)
        now = datetime.now(UTC)
        message = FakeMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            body=body,
            from_=from_,
            messaging_service_sid=service,
            status_callback=form.get("StatusCallback") or None,
            status="accepted" if service and not from_ else "queued",
            date_created=now,
        )
        self.messages.append(message)
        return self._resource(message)

    def _resource(self, message: FakeMessage) -> dict[str, Any]:
        stamp = format_datetime(message.date_created)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": message.body,
            "date_created": stamp,
            "date_sent": None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": message.status,
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}/Media.json"},
            "to": message.to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json",
        }

    async def handle(self, account_sid: str, authorization: str | None, raw: bytes) -> Response[bytes]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        try:
            self._authenticate(authorization)
            if self._failures and self._failures[0].garbage:
                failure = self._failures.pop(0)
                self.requests.append(RecordedRequest(account_sid, failure.status, None))
                return Response(content=b"<html>oops</html>", status_code=failure.status, media_type="text/html")
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            answer, status, headers = self.create(account_sid, form), 201, {}
            code = None
        except TwilioError as exc:
            answer, status, code = exc.body, exc.status, exc.code
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
        self.requests.append(RecordedRequest(account_sid, status, code))
        return Response(
            content=json.dumps(answer).encode(), status_code=status, media_type="application/json", headers=headers
        )


def create_app(fake: FakeTwilioMessages) -> Litestar:
    @post("/2010-04-01/Accounts/{account_sid:str}/Messages.json", status_code=201)
    async def create_message(request: Request[Any, Any, Any]) -> Response[bytes]:
        account_sid = str(request.path_params["account_sid"])
        return await fake.handle(account_sid, request.headers.get("authorization"), await request.body())

    return Litestar(route_handlers=[create_message], openapi_config=None, debug=False)


@contextlib.asynccontextmanager
async def run_fake_twilio_messages(
    *,
    account_sid: str = ACCOUNT_SID,
    auth_token: str = AUTH_TOKEN,
    startup_timeout: float = 10.0,
) -> AsyncIterator[FakeTwilioMessages]:
    """Serve a fresh fake on 127.0.0.1 (ephemeral port) in the current event loop for the `with` block."""
    fake = FakeTwilioMessages(account_sid=account_sid, auth_token=auth_token)
    async with run_app(create_app(fake), name="Twilio", startup_timeout=startup_timeout) as base_url:
        fake.base_url = base_url
        yield fake
