"""Strict request bodies (and NUL-free query strings) for every route.

Litestar converts request data leniently (`"100"` becomes `100`). Members must not be able to smuggle
wrong types past validation, so before any handler runs, this hook decodes the JSON body strictly
against the handler's declared `data` type: malformed JSON, wrong types, unknown fields (Structs use
`forbid_unknown_fields`) and constraint violations become 400 problem documents and change nothing.
"""

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException
from litestar.handlers import HTTPRouteHandler

_NO_BODY = object()


class MalformedBody(ClientException):
    """The body is not JSON at all (truncated, empty, or another format)."""


def _body_type(handler: HTTPRouteHandler) -> Any:
    field = handler.parsed_fn_signature.parameters.get("data")
    return field.annotation if field is not None else _NO_BODY


def _field_path(exc: msgspec.ValidationError) -> str | None:
    message = str(exc)
    return message.rsplit("at `", 1)[1].rstrip("`") if "at `" in message else None


class UnsupportedMediaType(ClientException):
    """A route that takes a JSON body was sent another content type."""

    status_code = 415


def _contains_nul(value: Any) -> bool:
    """Whether any string (or key) in decoded JSON holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


async def validate_body_strictly(request: Request[Any, Any, Any]) -> None:
    if any("\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()):
        raise ValidationException(detail="query parameters must not contain NUL characters")  # as bodies
    target = _body_type(request.route_handler)
    if target is _NO_BODY:
        return
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(detail=f"send application/json, not {content_type or 'nothing'}")
    raw = await request.body()
    try:
        if _contains_nul(msgspec.json.decode(raw)):  # PostgreSQL text cannot hold NUL; nor should we
            raise ValidationException(
                detail="NUL characters are not allowed",
                extra=[{"key": None, "source": "body", "message": "NUL characters are not allowed"}],
            )
        msgspec.json.decode(raw, type=target, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            detail=f"invalid request body: {exc}",
            extra=[{"key": _field_path(exc), "source": "body", "message": str(exc)}],
        ) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(detail=f"the request body is not valid JSON: {exc}") from None
