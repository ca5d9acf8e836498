"""Session cookies and the `principal` dependency.

The cookie is `__Host-` prefixed (so it is Secure, host-only, path /), HttpOnly, and SameSite=Lax. It
carries a random token; the server stores only its hash. Routes that need a signed-in caller declare a
`principal: NamedDependency[Principal]` parameter, and an anonymous call gets a 401 problem.
"""

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency

from domain.sessions import staff_access
from ports.usecases.admin_members import record_staff_access
from ports.usecases.auth import Principal, authenticate
from ports.usecases.deps import Deps
from ports.usecases.errors import Forbidden, NotAuthenticated

SESSION_COOKIE = "__Host-tenure_session"


def session_token(request: Request[Any, Any, Any]) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def session_cookie(token: str, *, max_age_s: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
        max_age=max_age_s,
    )


def clear_session_cookie(response: Response[Any]) -> None:
    """Expire the cookie with the same attributes it was set with (a `__Host-` cookie must stay Secure)."""
    response.set_cookie(session_cookie("", max_age_s=0))


async def provide_principal(request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Principal:
    principal = await authenticate(deps, session_token(request))
    if principal is None:
        raise NotAuthenticated()
    return principal


async def provide_staff(request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Principal:
    """Staff routes answer only admins and finance staff who have a second factor enabled; each request they make
    is written to the staff access log first (D148)."""
    principal = await provide_principal(request, deps)
    access = staff_access(principal.role, second_factor_enabled=principal.second_factor)
    if not access.ok:
        raise Forbidden(access.reason)
    query = logged_query(request.query_params.multi_items())
    await record_staff_access(deps, principal, method=request.method, path=f"{request.url.path}{query}")
    return principal


SEARCH_PARAMETERS = frozenset({"q"})
"""Query parameters holding what staff typed to find a person (an email, a name): logged by length only, so the
staff access log holds no member's personal data that erasure would have to find (D153)."""


def logged_query(params: Iterable[tuple[str, str]]) -> str:
    pairs = [(k, f"redacted-{len(v)}" if k in SEARCH_PARAMETERS else v) for k, v in params]
    return f"?{urlencode(pairs)}" if pairs else ""
