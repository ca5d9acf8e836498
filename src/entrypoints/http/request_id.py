"""Request ids: taken from a well-formed `X-Request-ID` header or generated, echoed on every response
(including errors and unknown routes) and bound to the log context of the request."""

import re
import uuid
from typing import Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")


def request_id(scope: Scope | dict[str, Any]) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        supplied = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == HEADER.encode()), "")
        state["request_id"] = supplied if _WELL_FORMED.match(supplied) else uuid.uuid4().hex
    return str(state["request_id"])


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """`before_send` hook: runs for every response the app sends, even a 404 on an unknown route."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[HEADER] = request_id(scope)


def bind_request_context(app: ASGIApp) -> ASGIApp:
    """Middleware: every log line written while handling the request carries its id, method and path."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        with structlog.contextvars.bound_contextvars(
            request_id=request_id(scope), method=scope.get("method"), path=scope.get("path")
        ):
            await app(scope, receive, send)

    return middleware
