"""Every error leaves the API as an RFC 9457 `application/problem+json` document with a stable `code`.

This module is the one place where exceptions (Litestar's own, port errors, domain errors) map to
HTTP statuses. Unexpected exceptions become a 500 problem without internals; the log has the details.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from entrypoints.http.request_id import request_id
from entrypoints.http.strict_body import MalformedBody, UnsupportedMediaType
from ports.outbound.errors import ComponentUnavailable, ConflictError
from ports.outbound.kyc import KycProviderError
from ports.outbound.payments import PaymentProviderError
from ports.outbound.webhooks import InvalidSignature
from ports.usecases.errors import (
    CeremonyExpired,
    EmailNotVerified,
    Forbidden,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    NotOffered,
    Refused,
    SecondFactorRequired,
    StepUpRequired,
    Throttled,
    UseCaseError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tenure:problem:"
RETRY_AFTER_S = "5"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProblemKind:
    status: int
    code: str
    title: str


HTTP_KINDS: Mapping[type[HTTPException], ProblemKind] = {
    MalformedBody: ProblemKind(400, "malformed_body", "The request body is not valid JSON"),
    UnsupportedMediaType: ProblemKind(415, "unsupported_media_type", "Send the body as application/json"),
    ValidationException: ProblemKind(400, "validation_failed", "The request is not valid"),
    NotAuthorizedException: ProblemKind(401, "unauthorized", "Authentication is required"),
    PermissionDeniedException: ProblemKind(403, "forbidden", "This action is not allowed"),
    NotFoundException: ProblemKind(404, "not_found", "Not found"),
    MethodNotAllowedException: ProblemKind(405, "method_not_allowed", "Method not allowed"),
    RequestEntityTooLarge: ProblemKind(413, "payload_too_large", "The request body is too large"),
    TooManyRequestsException: ProblemKind(429, "rate_limited", "Too many requests"),
    ClientException: ProblemKind(400, "bad_request", "The request could not be understood"),
}

PORT_KINDS: Mapping[type[Exception], ProblemKind] = {
    ComponentUnavailable: ProblemKind(503, "service_unavailable", "A dependency is unavailable; retry shortly"),
    ConflictError: ProblemKind(409, "conflict", "The request conflicts with the current state"),
    InvalidSignature: ProblemKind(400, "invalid_signature", "The message signature could not be verified"),
    PaymentProviderError: ProblemKind(409, "provider_refused", "The payment provider refused the request"),
    KycProviderError: ProblemKind(409, "provider_refused", "The identity provider refused the request"),
}

USE_CASE_STATUS: Mapping[type[UseCaseError], int] = {
    InvalidInput: 422,
    InvalidCredentials: 401,
    SecondFactorRequired: 401,
    NotAuthenticated: 401,
    EmailNotVerified: 403,
    Forbidden: 403,
    StepUpRequired: 403,
    InvalidCode: 400,
    NotFound: 404,
    Throttled: 429,
    Refused: 409,
    CeremonyExpired: 400,
    NotOffered: 404,
}

INTERNAL = ProblemKind(500, "internal_error", "Internal server error")


def problem(
    request: Request[Any, Any, Any],
    kind: ProblemKind,
    *,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind.code,
        "title": kind.title,
        "status": kind.status,
        "code": kind.code,
        "instance": request.url.path,
        "requestId": request_id(request.scope),
    }
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extensions.items() if v is not None})
    return Response(body, status_code=kind.status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {}))


def _http_kind(exc: HTTPException) -> ProblemKind:
    for cls in type(exc).__mro__:
        if cls in HTTP_KINDS:
            return HTTP_KINDS[cls]
    code = "client_error" if exc.status_code < 500 else "server_error"
    return ProblemKind(exc.status_code, code, exc.detail or "Error")


def _validation_errors(exc: HTTPException) -> list[dict[str, Any]] | None:
    if not isinstance(exc.extra, list):
        return None
    return [
        {"field": e.get("key"), "source": e.get("source"), "message": e.get("message")}
        for e in exc.extra
        if isinstance(e, dict)
    ] or None


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    kind = _http_kind(exc)
    if kind.status >= 500:
        return handle_unexpected(request, exc)
    detail = exc.detail if exc.detail and exc.detail.lower() != kind.title.lower() else None
    headers = dict(exc.headers or {})
    return problem(request, kind, detail=detail, headers=headers, errors=_validation_errors(exc))


def handle_port_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    kind = next(k for cls, k in PORT_KINDS.items() if isinstance(exc, cls))
    if isinstance(exc, ComponentUnavailable):
        logger.warning("dependency unavailable", extra={"component": exc.component, "detail": exc.detail})
        return problem(request, kind, detail=f"{exc.component} is unavailable", headers={"Retry-After": RETRY_AFTER_S})
    return problem(request, kind)


def handle_use_case_error(request: Request[Any, Any, Any], exc: UseCaseError) -> Response[dict[str, Any]]:
    status = next((code for cls, code in USE_CASE_STATUS.items() if isinstance(exc, cls)), 400)
    title = (type(exc).__doc__ or exc.code).strip().splitlines()[0]
    headers: dict[str, str] = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after.total_seconds())))
    problems = list(exc.problems) if isinstance(exc, InvalidInput | Refused) else None
    detail = exc.detail if exc.detail and exc.detail != title else None
    return problem(request, ProblemKind(status, exc.code, title), detail=detail, headers=headers, problems=problems)


def handle_store_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Redis behind the shared response cache and public rate limit is down: fail fast and retryable (503)."""
    logger.warning("dependency unavailable", extra={"component": "redis", "detail": type(exc).__name__})
    kind = PORT_KINDS[ComponentUnavailable]
    return problem(request, kind, detail="redis is unavailable", headers={"Retry-After": RETRY_AFTER_S})


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error", exc_info=exc)
    return problem(request, INTERNAL)


exception_handlers: dict[type[Exception] | int, Any] = {
    HTTPException: handle_http_exception,
    ComponentUnavailable: handle_port_error,
    ConflictError: handle_port_error,
    InvalidSignature: handle_port_error,
    PaymentProviderError: handle_port_error,
    KycProviderError: handle_port_error,
    UseCaseError: handle_use_case_error,
    RedisConnectionError: handle_store_unavailable,
    RedisTimeoutError: handle_store_unavailable,
    HTTP_500_INTERNAL_SERVER_ERROR: handle_unexpected,
    Exception: handle_unexpected,
}

__all__ = ["PROBLEM_MEDIA_TYPE", "MediaType", "exception_handlers", "problem"]
