"""Security headers on every response. The API serves JSON only, so its policy forbids everything a page
could load; the web app's pages may load their own scripts and styles and call the API, nothing else; the
interactive API docs under /schema need scripts and get no CSP."""

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

API_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "cache-control": "no-store",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
APP_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
"""The web app (served from this origin): its own scripts, styles and API calls only; no inline script."""
SERVICE_PATHS = ("/api/", "/health", "/metrics", "/assets/")
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(*, always_hsts: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """The `before_send` hook. In production HSTS is always sent: behind a TLS-terminating proxy the ASGI
    scheme may say http although every client connection is https."""

    async def add_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in API_HEADERS.items():
            headers.setdefault(name, value)
        path = str(scope.get("path", ""))
        if path.startswith("/sandbox/"):
            headers.setdefault("content-security-policy", API_CSP)  # dev-only HTML pages set their own policy
        elif path.startswith(SERVICE_PATHS):
            headers["content-security-policy"] = API_CSP
        elif not path.startswith("/schema"):
            headers["content-security-policy"] = APP_CSP
        if always_hsts or scope.get("scheme") == "https":
            headers["strict-transport-security"] = HSTS

    return add_security_headers
