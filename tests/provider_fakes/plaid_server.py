"""A local fake of Plaid's Identity Verification API, for tests only (never shipped).

Run it with `async with run_fake_plaid() as fake:`: uvicorn serves the Litestar app on 127.0.0.1 (ephemeral port)
inside the test's event loop; point plaid-python at `fake.base_url` with `fake.client_id` / `fake.secret`.
plaid-python is blocking, so the adapter must call it from a worker thread (it does): a blocking call made on the
loop would deadlock against this server, which shares the loop.

Every request body and every response is validated against Plaid's OpenAPI document
(`../shared/provider-specs/plaid-openapi-2020-09-14.yml`): request bodies against the operation's requestBody
schema, 200 answers against its 200 schema, errors against `PlaidError`, webhook bodies against the webhook's
schema. A request that does not conform is answered 400 `INVALID_REQUEST`; every violation (request or response) is
recorded in `fake.violations`, and `run_fake_plaid()` raises at the end of its block when there are any (pass
`strict=False` to inspect them instead).

HTTP API (POST, JSON bodies; credentials in `PLAID-CLIENT-ID`/`PLAID-SECRET` headers or `client_id`/`secret` in the
body; wrong ones → 400 `INVALID_API_KEYS`):
  /identity_verification/create   a new `active` attempt (with `is_idempotent`, the user's attempt in progress for
                                  the template is returned instead); `user.email_address` is kept
  /identity_verification/retry    a new attempt for the user (strategy reset|incomplete|infer|custom) whose
                                  `previous_attempt_id` is the user's latest; 400 when the user has none
  /identity_verification/get      the attempt; 400 `INVALID_FIELD` for an unknown id (as Plaid answers)
  /webhook_verification_key/get   the public JWK of a signing key (`expired_at` null or a time); unknown kid → 400

Attempts are built from Plaid's published example of `identity_verification/get` with ids, times, statuses, steps
and user data filled in. Test controls (methods of `FakePlaid`):
  complete(attempt_id, outcome, *, user=..., failed_steps=..., at=...)   set the result and the user's data
  signed_webhook(attempt_id, code, *, iat=, kid=, key=, alg=, body=, tamper_body=, ...) → (body bytes, headers)
  expire_key(kid, at)                                  mark a signing key expired (the key endpoint says so)
  fail_next(path, status, error_type, error_code)      answer the next call to `path` with this error
  delay_s                                              answer every API call only after this many seconds
`fake.requests` records each API call (path, JSON body without credentials, status).

Not supported (by design): Link tokens, `user_id`-based (Plaid User) verifications, template configuration, step
by step progress through the hosted flow, document images, watchlist screening, webhook delivery.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import functools
import hashlib
import hmac
import itertools
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import yaml  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar, Request, Response, post
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.provider_fakes.serving import run_app

Json = dict[str, Any]

SPEC_PATH = Path(
    os.environ.get(
        "TENURE_PLAID_OPENAPI",
        Path(__file__).resolve().parents[3] / "shared" / "provider-specs" / "plaid-openapi-2020-09-14.yml",
    )
)
SPEC_URI = "urn:plaid-openapi-2020-09-14"
CLIENT_ID = "fake_plaid_client_0123456789"
SECRET = "fake_plaid_secret_0123456789"
TEMPLATE_ID = "idvtmp_fakeTenure0001"
CURRENT_KID = "kid-current-0001"
EXPIRED_KID = "kid-expired-0001"
API_PATHS = (
    "/identity_verification/create",
    "/identity_verification/retry",
    "/identity_verification/get",
    "/webhook_verification_key/get",
)
STEPS = (
    "accept_tos",
    "verify_sms",
    "kyc_check",
    "documentary_verification",
    "selfie_check",
    "watchlist_screening",
    "risk_check",
)
OUTCOMES = ("success", "failed", "pending_review", "expired", "canceled")
DEFAULT_USER: Json = {
    "given_name": "Leslie",
    "family_name": "Knope",
    "date_of_birth": "1990-05-29",
    "country": "US",
    "id_number": "123456789",
    "id_type": "us_ssn",
}


# --------------------------------------------------------------------------------------------------------------
# The OpenAPI document


@functools.cache
def openapi() -> Json:
    with SPEC_PATH.open("rb") as handle:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document: Json = yaml.load(handle, Loader=loader)
    return document


@functools.cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(openapi()))
    return registry


@functools.cache
def _validator(pointer: str) -> OAS30Validator:
    """A validator for the schema at `pointer` (`#/components/schemas/...`), with every `$ref` resolved."""
    return OAS30Validator({"$ref": f"{SPEC_URI}{pointer}"}, registry=_registry(), format_checker=oas30_format_checker)


def _ref(schema: Json) -> str:
    ref = schema["$ref"]
    assert isinstance(ref, str)
    assert ref.startswith("#/")
    return ref


def request_schema(path: str) -> str:
    operation = openapi()["paths"][path]["post"]
    return _ref(operation["requestBody"]["content"]["application/json"]["schema"])


def response_schema(path: str) -> str:
    operation = openapi()["paths"][path]["post"]
    return _ref(operation["responses"]["200"]["content"]["application/json"]["schema"])


def schema_errors(pointer: str, instance: Any) -> list[str]:
    """Every way `instance` breaks the schema at `pointer` (empty when it conforms)."""
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]


def response_example(path: str) -> Json:
    content = openapi()["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
    example: Json = copy.deepcopy(next(iter(content["examples"].values()))["value"])
    return example


# --------------------------------------------------------------------------------------------------------------
# State


class PlaidError(Exception):
    """Raised by handlers and controls; rendered as Plaid's error body."""

    def __init__(self, status: int, error_type: str, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {
            "error_type": error_type,
            "error_code": error_code,
            "error_message": message,
            "display_message": None,
        }


@dataclass
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    created_at: int
    expired_at: int | None = None
    served: bool = True

    def jwk(self) -> Json:
        numbers = self.private.public_key().public_numbers()
        return {
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
            "created_at": self.created_at,
            "expired_at": self.expired_at,
        }


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    body: Json
    status: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakePlaid:
    client_id: str = CLIENT_ID
    secret: str = SECRET
    template_id: str = TEMPLATE_ID
    clock: Callable[[], float] = time.time
    base_url: str = ""
    delay_s: float = 0.0
    attempts: dict[str, Json] = field(default_factory=dict)
    keys: dict[str, SigningKey] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _failures: dict[str, list[PlaidError]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        now = int(self.clock())
        self.keys[CURRENT_KID] = SigningKey(CURRENT_KID, ec.generate_private_key(ec.SECP256R1()), created_at=now)
        self.keys[EXPIRED_KID] = SigningKey(
            EXPIRED_KID,
            ec.generate_private_key(ec.SECP256R1()),
            created_at=now - 2 * 86_400,
            expired_at=now - 86_400,
        )

    # ---- ids and attempts -----------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}{secrets.token_hex(5)}"

    def _new_attempt(self, client_user_id: str, template_id: str, email: str | None, previous: str | None) -> Json:
        attempt = response_example("/identity_verification/get")
        attempt_id = self.new_id("idv")
        attempt.pop("request_id", None)
        attempt.update(
            id=attempt_id,
            client_user_id=client_user_id,
            created_at=_iso(self.clock()),
            completed_at=None,
            previous_attempt_id=previous,
            shareable_url=f"https://flow.plaid.com/verify/{attempt_id}?key={secrets.token_hex(16)}",
            template={"id": template_id, "version": 1},
            user={
                "phone_number": None,
                "date_of_birth": None,
                "ip_address": None,
                "email_address": email,
                "name": None,
                "address": None,
                "id_number": None,
            },
            status="active",
            steps=dict.fromkeys(STEPS, "waiting_for_prerequisite") | {"accept_tos": "active"},
            documentary_verification=None,
            selfie_check=None,
            kyc_check=None,
            risk_check=None,
            verify_sms=None,
            watchlist_screening_id=None,
            beacon_user_id=None,
            user_id=None,
            redacted_at=None,
            latest_scored_protect_event=None,
        )
        self.attempts[attempt_id] = attempt
        return attempt

    def attempt(self, attempt_id: str) -> Json:
        try:
            return self.attempts[attempt_id]
        except KeyError:
            raise PlaidError(
                400, "INVALID_INPUT", "INVALID_FIELD", "identity_verification_id must be a valid id"
            ) from None

    def _latest(self, client_user_id: str, template_id: str) -> Json | None:
        mine = [
            a
            for a in self.attempts.values()
            if a["client_user_id"] == client_user_id and a["template"]["id"] == template_id
        ]
        return mine[-1] if mine else None

    # ---- test controls --------------------------------------------------------------------------------------

    def complete(
        self,
        attempt_id: str,
        outcome: str = "success",
        *,
        user: Mapping[str, Any] | None = None,
        failed_steps: tuple[str, ...] = ("documentary_verification",),
        at: float | None = None,
    ) -> Json:
        """Finish the attempt with `outcome`. `user` overrides `DEFAULT_USER` (given_name, family_name,
        date_of_birth, country, id_number, id_type; a None value leaves that datum uncollected)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        attempt = self.attempt(attempt_id)
        data = DEFAULT_USER | dict(user or {})
        collected = attempt["user"]
        collected["date_of_birth"] = data["date_of_birth"]
        collected["ip_address"] = "192.0.2.42"
        collected["name"] = (
            {"given_name": data["given_name"], "family_name": data["family_name"]}
            if data["given_name"] and data["family_name"]
            else None
        )
        collected["address"] = (
            {
                "street": "123 Main St.",
                "street2": None,
                "city": "Pawnee",
                "region": None,
                "postal_code": None,
                "country": data["country"],
            }
            if data["country"]
            else None
        )
        collected["id_number"] = {"value": data["id_number"], "type": data["id_type"]} if data["id_number"] else None
        steps = dict.fromkeys(STEPS, "success")
        if outcome == "failed":
            steps.update(dict.fromkeys(failed_steps, "failed"))
        elif outcome == "pending_review":
            steps["watchlist_screening"] = "pending_review"
        elif outcome in ("expired", "canceled"):
            steps.update(
                {"documentary_verification": outcome, "selfie_check": "waiting_for_prerequisite"}
                | dict.fromkeys(("watchlist_screening", "risk_check"), "waiting_for_prerequisite")
            )
        attempt["steps"] = steps
        attempt["status"] = outcome
        attempt["completed_at"] = _iso(self.clock() if at is None else at)
        return attempt

    def expire_key(self, kid: str, at: float) -> None:
        self.keys[kid].expired_at = int(at)

    def fail_next(
        self, path: str, status: int, error_type: str = "API_ERROR", error_code: str = "INTERNAL_SERVER_ERROR"
    ) -> None:
        if path not in API_PATHS:
            raise ValueError(f"unknown path {path}")
        self._failures.setdefault(path, []).append(PlaidError(status, error_type, error_code, "injected by the test"))

    def webhook_body(self, attempt_id: str, code: str = "STATUS_UPDATED") -> bytes:
        body = {
            "webhook_type": "IDENTITY_VERIFICATION",
            "webhook_code": code,
            "identity_verification_id": attempt_id,
            "environment": "sandbox",
        }
        schema = {
            "STATUS_UPDATED": "IdentityVerificationStatusUpdatedWebhook",
            "STEP_UPDATED": "IdentityVerificationStepUpdatedWebhook",
            "RETRIED": "IdentityVerificationRetriedWebhook",
        }.get(code)
        if schema:
            self._check(f"webhook {code}", f"#/components/schemas/{schema}", body)
        return json.dumps(body, separators=(",", ":")).encode()

    def signed_webhook(
        self,
        attempt_id: str,
        code: str = "STATUS_UPDATED",
        *,
        iat: float | None = None,
        kid: str = CURRENT_KID,
        key: str | None = None,
        alg: str = "ES256",
        body: bytes | None = None,
        tamper_body: bool = False,
        omit_kid: bool = False,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """(exact body bytes, headers with `Plaid-Verification`) as Plaid sends them.

        Negative options: `kid` names an unknown or expired key (`"unknown"`: signed with a key Plaid never
        served), `key` signs with another kid's key than the header names, `alg="HS256"` signs with HMAC using
        the public JWK as the secret (algorithm confusion), `alg="none"` has no signature, `tamper_body` changes
        the body after signing, `iat` sets the issue time, `omit_kid` leaves the kid out of the header."""
        raw = body if body is not None else self.webhook_body(attempt_id, code)
        claims: Json = {
            "iat": int(self.clock()) if iat is None else iat,
            "request_body_sha256": hashlib.sha256(raw).hexdigest(),
        } | dict(extra_claims or {})
        header: Json = {"alg": alg, "typ": "JWT"}
        if not omit_kid:
            header["kid"] = kid
        signer = self.keys.get(key or kid)
        if signer is None:  # a key Plaid never served
            signer = SigningKey(
                kid, ec.generate_private_key(ec.SECP256R1()), created_at=int(self.clock()), served=False
            )
        if alg == "ES256":
            token = jwt.encode(claims, signer.private, algorithm="ES256", headers=header)
        else:
            signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
            if alg == "none":
                signature = b""
            else:
                secret = json.dumps(signer.jwk(), sort_keys=True).encode()
                signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            token = f"{signing_input}.{_b64(signature)}"
        if tamper_body:
            raw = raw.replace(b"}", b',"tampered":true}', 1)
        return raw, {"Plaid-Verification": token, "Content-Type": "application/json"}

    # ---- the API ----------------------------------------------------------------------------------------------

    def _check(self, where: str, pointer: str, instance: Any) -> list[str]:
        errors = schema_errors(pointer, instance)
        self.violations.extend(f"{where}: {error}" for error in errors)
        return errors

    def _authenticate(self, headers: Mapping[str, str], body: Json) -> None:
        client_id = headers.get("plaid-client-id") or body.get("client_id")
        secret = headers.get("plaid-secret") or body.get("secret")
        if not (
            isinstance(client_id, str)
            and isinstance(secret, str)
            and hmac.compare_digest(client_id, self.client_id)
            and hmac.compare_digest(secret, self.secret)
        ):
            raise PlaidError(400, "INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided")

    def handle(self, path: str, headers: Mapping[str, str], body: Json) -> Json:
        self._authenticate(headers, body)
        failures = self._failures.get(path)
        if failures:
            raise failures.pop(0)
        if path == "/identity_verification/create":
            return self._create(body)
        if path == "/identity_verification/retry":
            return self._retry(body)
        if path == "/identity_verification/get":
            return copy.deepcopy(self.attempt(body["identity_verification_id"]))
        if path == "/webhook_verification_key/get":
            return self._key(body["key_id"])
        raise PlaidError(404, "INVALID_REQUEST", "NOT_FOUND", f"unknown path {path}")

    def _create(self, body: Json) -> Json:
        template_id = body["template_id"]
        client_user_id = body.get("client_user_id")
        if template_id != self.template_id:
            raise PlaidError(400, "INVALID_INPUT", "INVALID_FIELD", "template_id must be a valid template")
        if not client_user_id:
            raise PlaidError(400, "INVALID_REQUEST", "MISSING_FIELDS", "client_user_id is required")
        if body.get("is_idempotent"):
            latest = self._latest(client_user_id, template_id)
            if latest is not None and latest["status"] == "active":
                return copy.deepcopy(latest)
        email = (body.get("user") or {}).get("email_address")
        return copy.deepcopy(self._new_attempt(client_user_id, template_id, email, None))

    def _retry(self, body: Json) -> Json:
        template_id, client_user_id = body["template_id"], body["client_user_id"]
        if template_id != self.template_id:
            raise PlaidError(400, "INVALID_INPUT", "INVALID_FIELD", "template_id must be a valid template")
        latest = self._latest(client_user_id, template_id)
        if latest is None:
            raise PlaidError(400, "INVALID_INPUT", "INVALID_FIELD", "no identity verification to retry")
        if body["strategy"] == "custom" and not body.get("steps"):
            raise PlaidError(400, "INVALID_REQUEST", "MISSING_FIELDS", "steps is required for a custom retry")
        if latest["status"] == "active":
            latest["status"] = "canceled"
            latest["completed_at"] = _iso(self.clock())
        email = (body.get("user") or {}).get("email_address") or latest["user"]["email_address"]
        return copy.deepcopy(self._new_attempt(client_user_id, template_id, email, latest["id"]))

    def _key(self, kid: str) -> Json:
        key = self.keys.get(kid)
        if key is None or not key.served:
            raise PlaidError(400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID", "invalid key_id provided")
        return {"key": key.jwk()}


_SECRET_FIELDS = ("client_id", "secret")


def create_app(fake: FakePlaid) -> Litestar:
    async def serve(path: str, request: Request[Any, Any, Any]) -> Response[bytes]:
        if fake.delay_s:
            await asyncio.sleep(fake.delay_s)
        request_id = secrets.token_hex(8)
        raw = await request.body()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            status, answer = 400, PlaidError(400, "INVALID_REQUEST", "INVALID_BODY", "body must be a JSON object").body
        elif errors := fake._check(f"request {path}", request_schema(path), body):
            status = 400
            answer = PlaidError(400, "INVALID_REQUEST", "INVALID_FIELD", "; ".join(errors)[:500]).body
        else:
            try:
                answer, status = fake.handle(path, request.headers, body), 200
            except PlaidError as exc:
                answer, status = exc.body, exc.status
        answer = answer | {"request_id": request_id}
        fake._check(
            f"response {path} {status}",
            response_schema(path) if status == 200 else "#/components/schemas/PlaidError",
            answer,
        )
        recorded = {k: v for k, v in body.items() if k not in _SECRET_FIELDS} if isinstance(body, dict) else {}
        fake.requests.append(RecordedRequest(path=path, body=recorded, status=status))
        return Response(
            content=json.dumps(answer).encode(),
            status_code=status,
            media_type="application/json",
            headers={"Plaid-Request-Id": request_id},
        )

    def handler_for(api_path: str) -> Any:
        async def handler(request: Request[Any, Any, Any]) -> Response[bytes]:
            return await serve(api_path, request)

        return post(api_path, name=api_path.strip("/").replace("/", "_"), status_code=200)(handler)

    handlers = [handler_for(api_path) for api_path in API_PATHS]
    return Litestar(route_handlers=handlers, openapi_config=None, debug=False)


@contextlib.asynccontextmanager
async def run_fake_plaid(
    *,
    client_id: str = CLIENT_ID,
    secret: str = SECRET,
    template_id: str = TEMPLATE_ID,
    clock: Callable[[], float] = time.time,
    strict: bool = True,
    startup_timeout: float = 10.0,
) -> AsyncIterator[FakePlaid]:
    """Serve a fresh fake on 127.0.0.1 (ephemeral port) in the current event loop for the `with` block. With
    `strict`, any request or response that broke Plaid's OpenAPI document fails the block at its end."""
    fake = FakePlaid(client_id=client_id, secret=secret, template_id=template_id, clock=clock)
    async with run_app(create_app(fake), name="Plaid", startup_timeout=startup_timeout) as base_url:
        fake.base_url = base_url
        yield fake
    if strict and fake.violations:
        raise AssertionError(
            "the fake Plaid saw traffic that breaks Plaid's OpenAPI document:\n" + "\n".join(fake.violations)
        )
