"""A local fake of Twilio Verify v2 (SMS verifications), for tests only (never shipped).

Run it with `async with run_fake_twilio_verify() as fake:`: uvicorn serves a Litestar app on 127.0.0.1 (ephemeral
port) inside the test's event loop; point the adapter at `fake.base_url` with `fake.account_sid`,
`fake.auth_token` and `fake.service_sid`. Nothing is ever sent to Twilio.

Every request's form parameters are checked against the operation's `application/x-www-form-urlencoded` schema in
Twilio's OpenAPI document (`../shared/provider-specs/twilio-verify-v2.json`): unknown names, missing required ones
and wrong types are violations. Every answer is validated against the operation's response schema
(`verify.v2.service.verification` / `verify.v2.service.verification_check`) or, for errors, Twilio's error object.
Violations are recorded in `fake.violations`; with `strict` (the default) `run_fake_twilio_verify()` raises at the
end of its block when there are any.

HTTP API (POST, form-encoded, HTTP basic auth `account_sid:auth_token`; wrong or missing → 401 code 20003):
  /v2/Services/{ServiceSid}/Verifications      To (E.164) and Channel (sms|call|email|whatsapp|sna; only sms is
      sent) → 201. A pending verification for the same To is re-sent with the same code; the 6th send of one
      verification → 429 code 60203. A malformed To → 400 60200; a number in `fake.landlines` → 400 60205.
  /v2/Services/{ServiceSid}/VerificationCheck  To (or VerificationSid) and Code → 200 `pending` (wrong code) or
      `approved` (the verification is then used up). After 5 checks → 429 60202. Nothing pending for the number,
      or its code older than 10 minutes (by `clock`) → 404 code 20404.
  An unknown ServiceSid → 404 20404.

Test controls (attributes and methods of `FakeTwilioVerify`):
  code_for(phone)                       the code last texted to `phone` (KeyError when none)
  sent                                  every (phone, code) texted, in order
  fail_next(code, status=..., ...)      answer the next API request with this Twilio error (or a raw body)
  landlines                             numbers that answer 60205 (SMS not supported on a landline)
  delay_s                               answer every request only after this many seconds
  clock                                 the time source (seconds), injectable to expire codes
`fake.requests` records each call (operation, form parameters with `Code` redacted, status, whether the basic
auth matched).

Not supported (by design): channels other than sms actually delivering, custom codes, PSD2 amount/payee, SNA,
fetching or canceling a verification by sid, rate-limit buckets, Twilio's messaging API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from litestar import Litestar, Request, Response, post
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.provider_fakes.serving import run_app

Json = dict[str, Any]

SPEC_PATH = Path(
    os.environ.get(
        "TENURE_TWILIO_VERIFY_OPENAPI",
        Path(__file__).resolve().parents[3] / "shared" / "provider-specs" / "twilio-verify-v2.json",
    )
)
SPEC_URI = "urn:twilio-verify-v2"
ACCOUNT_SID = "AC" + "abcdef" * 5 + "ab"  # no digits: a code can never appear in it by chance
AUTH_TOKEN = "fake_twilio_auth_token_0123456789"
SERVICE_SID = "VA" + "fedcba" * 5 + "fe"
CREATE_PATH = "/v2/Services/{ServiceSid}/Verifications"
CHECK_PATH = "/v2/Services/{ServiceSid}/VerificationCheck"
OPERATIONS = {"CreateVerification": CREATE_PATH, "CreateVerificationCheck": CHECK_PATH}
CODE_LIFETIME_S = 600
MAX_SENDS = 5
MAX_CHECKS = 5
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
FORM = "application/x-www-form-urlencoded"


# --------------------------------------------------------------------------------------------------------------
# The OpenAPI document


@functools.cache
def openapi() -> Json:
    document: Json = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return document


@functools.cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(openapi()))
    return registry


@functools.cache
def _validator(pointer: str) -> OAS30Validator:
    """A validator for the schema at `pointer` (a JSON pointer into the document), every `$ref` resolved."""
    return OAS30Validator({"$ref": f"{SPEC_URI}{pointer}"}, registry=_registry(), format_checker=oas30_format_checker)


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def operation(path: str) -> Json:
    op: Json = openapi()["paths"][path]["post"]
    return op


def request_schema(path: str) -> Json:
    """The form-encoded request body schema of the operation (inline in Twilio's document)."""
    schema: Json = operation(path)["requestBody"]["content"][FORM]["schema"]
    return schema


def response_schema(path: str) -> str:
    """Pointer to the success response schema (`#/components/schemas/verify.v2.service.…`)."""
    responses = operation(path)["responses"]
    status = "201" if "201" in responses else "200"
    ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
    assert isinstance(ref, str)
    assert ref.startswith("#/components/schemas/")
    return ref


def error_schema() -> str:
    """Pointer to Twilio's error object (declared inline on CreateVerification's 429)."""
    return f"#/paths/{_escape(CREATE_PATH)}/post/responses/429/content/application~1json/schema"


def schema_errors(pointer: str, instance: Any) -> list[str]:
    """Every way `instance` breaks the schema at `pointer` (empty when it conforms)."""
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]


def form_errors(path: str, form: Mapping[str, list[str]]) -> list[str]:
    """Unknown, missing or repeated parameter names, and values that are not of the declared type."""
    schema = request_schema(path)
    properties: Json = schema.get("properties", {})
    errors = [f"{name}: required" for name in schema.get("required", ()) if name not in form]
    for name, values in form.items():
        declared = properties.get(name)
        if declared is None:
            errors.append(f"{name}: not a parameter of {operation(path)['operationId']}")
            continue
        if len(values) != 1:
            errors.append(f"{name}: given {len(values)} times")
        kind = declared.get("type")
        for value in values:
            if kind == "boolean" and value not in ("true", "false"):
                errors.append(f"{name}: not a boolean")
            pattern = declared.get("pattern")
            if pattern and not re.search(pattern, value):
                errors.append(f"{name}: does not match {pattern}")
    return errors


# --------------------------------------------------------------------------------------------------------------
# State


class TwilioError(Exception):
    """Raised by handlers and controls; rendered as Twilio's error object."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        retry_after: int | None = None,
        raw_body: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.raw_body = raw_body
        self.body: Json = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }


@dataclass
class Verification:
    sid: str
    to: str
    channel: str
    code: str
    created_at: float
    updated_at: float
    status: str = "pending"
    sends: list[tuple[float, str]] = field(default_factory=list)
    """(time, attempt sid) of each send."""
    checks: int = 0


@dataclass(frozen=True)
class RecordedRequest:
    operation: str
    form: dict[str, str]
    """Parameter names and values as sent (repeated names keep the last value); `Code` is redacted."""
    status: int
    authenticated: bool


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class FakeTwilioVerify:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    service_sid: str = SERVICE_SID
    clock: Callable[[], float] = time.time
    base_url: str = ""
    delay_s: float = 0.0
    landlines: set[str] = field(default_factory=set)
    verifications: dict[str, Verification] = field(default_factory=dict)
    """By sid."""
    sent: list[tuple[str, str]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _failures: list[tuple[str | None, TwilioError]] = field(default_factory=list)

    # ---- test controls --------------------------------------------------------------------------------------

    def code_for(self, phone: str) -> str:
        """The code last texted to `phone`."""
        for to, code in reversed(self.sent):
            if to == phone:
                return code
        raise KeyError("no code was sent to that number")

    def fail_next(
        self,
        code: int,
        status: int = 400,
        message: str = "injected by the test",
        *,
        operation: str | None = None,
        retry_after: int | None = None,
        raw_body: bytes | None = None,
    ) -> None:
        """Answer the next request (to `operation` — `CreateVerification` or `CreateVerificationCheck` — or to
        either) with this Twilio error; `raw_body` replaces the JSON error body (e.g. an HTML 502 page)."""
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation}")
        self._failures.append(
            (operation, TwilioError(status, code, message, retry_after=retry_after, raw_body=raw_body))
        )

    def pending_for(self, phone: str) -> Verification | None:
        """The number's live verification, if any (one older than 10 minutes is marked expired)."""
        for verification in reversed(list(self.verifications.values())):
            if verification.to == phone and verification.status == "pending":
                if self.clock() - verification.created_at >= CODE_LIFETIME_S:
                    verification.status = "expired"
                    return None
                return verification
        return None

    # ---- the API ----------------------------------------------------------------------------------------------

    def _authenticated(self, headers: Mapping[str, str]) -> bool:
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)

    def _injected(self, name: str) -> TwilioError | None:
        for index, (wanted, error) in enumerate(self._failures):
            if wanted is None or wanted == name:
                del self._failures[index]
                return error
        return None

    def handle(self, name: str, service_sid: str, form: dict[str, str]) -> tuple[int, Json]:
        if service_sid != self.service_sid:
            raise TwilioError(404, 20404, f"The requested resource /Services/{service_sid} was not found")
        if name == "CreateVerification":
            return 201, self._create(form)
        return 200, self._check(form)

    def _create(self, form: dict[str, str]) -> Json:
        to, channel = form.get("To", ""), form.get("Channel", "")
        if not E164.match(to):
            raise TwilioError(400, 60200, "Invalid parameter `To`")
        if channel not in ("sms", "call", "email", "whatsapp", "sna"):
            raise TwilioError(400, 60200, "Invalid parameter: Channel")
        if to in self.landlines:
            raise TwilioError(400, 60205, "SMS is not supported by landline phone number")
        now = self.clock()
        verification = self.pending_for(to)
        if verification is None:
            code = f"{secrets.randbelow(10**6):06d}"
            verification = Verification(
                sid=_sid("VE"), to=to, channel=channel, code=code, created_at=now, updated_at=now
            )
            self.verifications[verification.sid] = verification
        elif len(verification.sends) >= MAX_SENDS:
            raise TwilioError(429, 60203, "Max send attempts reached")
        verification.sends.append((now, _sid("VL")))
        verification.channel = channel
        verification.updated_at = now
        self.sent.append((to, verification.code))
        return self._verification(verification)

    def _check(self, form: dict[str, str]) -> Json:
        code = form.get("Code")
        if not code:
            raise TwilioError(400, 60200, "Invalid parameter: Code")
        if "VerificationSid" in form:
            verification = self.verifications.get(form["VerificationSid"])
            if verification is not None and self.pending_for(verification.to) is not verification:
                verification = None
        elif "To" in form:
            verification = self.pending_for(form["To"])
        else:
            raise TwilioError(400, 60200, "Either a 'To' number or 'VerificationSid' must be specified")
        if verification is None:
            resource = f"/Services/{self.service_sid}/VerificationCheck"
            raise TwilioError(404, 20404, f"The requested resource {resource} was not found")
        if verification.checks >= MAX_CHECKS:
            raise TwilioError(429, 60202, "Max check attempts reached")
        verification.checks += 1
        verification.updated_at = self.clock()
        if hmac.compare_digest(code, verification.code):
            verification.status = "approved"
        return self._verification_check(verification)

    def _verification(self, v: Verification) -> Json:
        return {
            "sid": v.sid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": v.to,
            "channel": v.channel,
            "status": v.status,
            "valid": v.status == "approved",
            "date_created": _iso(v.created_at),
            "date_updated": _iso(v.updated_at),
            "lookup": {},
            "amount": None,
            "payee": None,
            "send_code_attempts": [
                {"time": _iso(at), "channel": v.channel.upper(), "attempt_sid": attempt} for at, attempt in v.sends
            ],
            "sna": None,
            "url": f"https://verify.twilio.com/v2/Services/{self.service_sid}/Verifications/{v.sid}",
        }

    def _verification_check(self, v: Verification) -> Json:
        return {
            "sid": v.sid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": v.to,
            "channel": v.channel,
            "status": v.status,
            "valid": v.status == "approved",
            "amount": None,
            "payee": None,
            "sna_attempts_error_codes": [],
            "date_created": _iso(v.created_at),
            "date_updated": _iso(v.updated_at),
        }

    def _record_violations(self, where: str, errors: list[str]) -> None:
        self.violations.extend(f"{where}: {error}" for error in errors)


def create_app(fake: FakeTwilioVerify) -> Litestar:
    async def serve(name: str, service_sid: str, request: Request[Any, Any, Any]) -> Response[bytes]:
        if fake.delay_s:
            await asyncio.sleep(fake.delay_s)
        path = OPERATIONS[name]
        raw = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True) if content_type == FORM else {}
        form = {key: values[-1] for key, values in parsed.items()}
        authenticated = fake._authenticated(request.headers)
        headers: dict[str, str] = {}
        body: bytes | None = None
        try:
            if content_type != FORM:
                fake._record_violations(f"request {name}", [f"content type {content_type!r}, not {FORM}"])
                raise TwilioError(400, 60200, "Invalid parameter")
            if errors := form_errors(path, parsed):
                fake._record_violations(f"request {name}", errors)
                raise TwilioError(400, 60200, "Invalid parameter: " + "; ".join(errors)[:300])
            if not authenticated:
                raise TwilioError(401, 20003, "Authenticate")
            injected = fake._injected(name)
            if injected is not None:
                raise injected
            status, answer = fake.handle(name, service_sid, form)
            fake._record_violations(f"response {name} {status}", schema_errors(response_schema(path), answer))
        except TwilioError as exc:
            status, answer = exc.status, exc.body
            body = exc.raw_body
            if exc.retry_after is not None:
                headers["Retry-After"] = str(exc.retry_after)
            if body is None:
                fake._record_violations(f"response {name} {status}", schema_errors(error_schema(), answer))
        recorded = {key: ("<redacted>" if key == "Code" else value) for key, value in form.items()}
        fake.requests.append(RecordedRequest(name, recorded, status, authenticated))
        return Response(
            content=body if body is not None else json.dumps(answer).encode(),
            status_code=status,
            media_type="text/html" if body is not None else "application/json",
            headers=headers,
        )

    @post("/v2/Services/{service_sid:str}/Verifications", status_code=201)
    async def create_verification(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await serve("CreateVerification", request.path_params["service_sid"], request)

    @post("/v2/Services/{service_sid:str}/VerificationCheck", status_code=200)
    async def create_verification_check(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await serve("CreateVerificationCheck", request.path_params["service_sid"], request)

    return Litestar(route_handlers=[create_verification, create_verification_check], openapi_config=None, debug=False)


@contextlib.asynccontextmanager
async def run_fake_twilio_verify(
    *,
    account_sid: str = ACCOUNT_SID,
    auth_token: str = AUTH_TOKEN,
    service_sid: str = SERVICE_SID,
    clock: Callable[[], float] = time.time,
    strict: bool = True,
    startup_timeout: float = 10.0,
) -> AsyncIterator[FakeTwilioVerify]:
    """Serve a fresh fake on 127.0.0.1 (ephemeral port) in the current event loop for the `with` block. With
    `strict`, any request or response that broke Twilio's OpenAPI document fails the block at its end."""
    fake = FakeTwilioVerify(account_sid=account_sid, auth_token=auth_token, service_sid=service_sid, clock=clock)
    async with run_app(create_app(fake), name="Twilio Verify", startup_timeout=startup_timeout) as base_url:
        fake.base_url = base_url
        yield fake
    if strict and fake.violations:
        raise AssertionError(
            "the fake Twilio Verify saw traffic that breaks Twilio's OpenAPI document:\n" + "\n".join(fake.violations)
        )
