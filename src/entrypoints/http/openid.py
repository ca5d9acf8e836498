"""`/api/auth/oidc/{provider}`: sign-in with Google (OpenID Connect, authorization code + PKCE), linking and
unlinking; `/api/auth/identities` lists what is linked.

`POST .../start` answers the provider's authorization URL for the SPA to navigate to, and sets a short-lived
`__Host-tenure_oidc` cookie that binds the flow to this browser. The provider sends the browser back to
`GET .../callback`, which answers a redirect to the SPA: `/sign-in/callback?result=signed_in` (session cookie set),
`?result=second_factor&pending=ID` (then `POST /api/auth/oidc/second-factor` with a TOTP code or a passkey),
`/settings/security?linked=PROVIDER`, or `?error=REASON` with a reason from `ports.usecases.openid.Refusal`.
"""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_303_SEE_OTHER

from entrypoints.http.auth import PROBLEMS, Code, PasskeyAssertion, SessionInfo, client_of, cookie_for, info
from entrypoints.http.schemas import Problem
from entrypoints.http.sessions import session_token
from ports.usecases import openid
from ports.usecases.auth import Principal, authenticate
from ports.usecases.authenticators import PasskeyAnswer
from ports.usecases.deps import Deps

BINDING_COOKIE = "__Host-tenure_oidc"
BINDING_MAX_AGE_S = 900  # the authorization (10 min) plus the second-factor step (5 min)
SPA_CALLBACK = "/sign-in/callback"
SPA_SECURITY = "/settings/security"

OIDC_PROBLEMS = {**PROBLEMS, 404: ResponseSpec(Problem, description="This sign-in provider is not enabled")}


class StartOut(msgspec.Struct, rename="camel", kw_only=True):
    authorization_url: str


class SecondFactorIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    pending_id: UUID
    code: Code | None = None
    passkey: PasskeyAssertion | None = None


class IdentityOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    provider: str
    email: str | None
    created_at: datetime
    last_used_at: datetime | None


class IdentityList(msgspec.Struct, rename="camel", kw_only=True):
    items: list[IdentityOut]


def binding_cookie(value: str, *, max_age_s: int) -> Cookie:
    """SameSite=Lax: the provider's redirect back is a top-level GET, which Lax cookies accompany."""
    return Cookie(
        key=BINDING_COOKIE, value=value, path="/", secure=True, httponly=True, samesite="lax", max_age=max_age_s
    )


def _public_url(deps: Deps) -> str:
    return deps.billing.public_url.rstrip("/")


def redirect_uri(deps: Deps, provider: str) -> str:
    return f"{_public_url(deps)}/api/auth/oidc/{provider}/callback"


async def _optional_principal(request: Request[Any, Any, Any], deps: Deps) -> Principal | None:
    return await authenticate(deps, session_token(request))


class OpenIdController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post("/oidc/{provider:str}/start", operation_id="startOidcSignIn", status_code=200, responses=OIDC_PROBLEMS)
    async def start(
        self, provider: FromPath[str], request: Request[Any, Any, Any], deps: NamedDependency[Deps]
    ) -> Response[StartOut]:
        """Signed out: sign in (or sign up) with the provider. Signed in (recently): link it to my account."""
        started = await openid.start(
            deps,
            provider,
            redirect_uri=redirect_uri(deps, provider),
            principal=await _optional_principal(request, deps),
            client=client_of(request),
        )
        return Response(
            StartOut(authorization_url=started.authorization_url),
            cookies=[binding_cookie(started.binding_token, max_age_s=BINDING_MAX_AGE_S)],
        )

    @get(
        "/oidc/{provider:str}/callback",
        operation_id="finishOidcSignIn",
        status_code=HTTP_303_SEE_OTHER,
        responses={**OIDC_PROBLEMS, 303: ResponseSpec(None, description="Back to the web app, with the outcome")},
    )
    async def callback(
        self,
        *,
        provider: FromPath[str],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        oauth_state: Annotated[str, QueryParameter(name="state", max_length=512)] = "",
        code: Annotated[str | None, QueryParameter(max_length=2048)] = None,
        error: Annotated[str | None, QueryParameter(max_length=256)] = None,
    ) -> Redirect:
        """Where the provider sends the browser back (not called by the SPA)."""
        base = _public_url(deps)
        try:
            finished = await openid.finish(
                deps,
                provider,
                state=oauth_state,
                code=code,
                error=error,
                redirect_uri=redirect_uri(deps, provider),
                binding_token=request.cookies.get(BINDING_COOKIE),
                principal=await _optional_principal(request, deps),
                client=client_of(request),
                replaces_token=session_token(request),
            )
        except openid.SignInRefused as refused:
            return Redirect(
                f"{base}{SPA_CALLBACK}?{urlencode({'error': refused.reason.value})}",
                status_code=HTTP_303_SEE_OTHER,
                cookies=[binding_cookie("", max_age_s=0)],
            )
        if finished.outcome is openid.Outcome.LINKED:
            return Redirect(
                f"{base}{SPA_SECURITY}?{urlencode({'linked': provider})}",
                status_code=HTTP_303_SEE_OTHER,
                cookies=[binding_cookie("", max_age_s=0)],
            )
        if finished.outcome is openid.Outcome.SECOND_FACTOR_REQUIRED:
            query = urlencode({"result": "second_factor", "pending": str(finished.pending_id)})
            return Redirect(f"{base}{SPA_CALLBACK}?{query}", status_code=HTTP_303_SEE_OTHER)
        assert finished.session is not None
        return Redirect(
            f"{base}{SPA_CALLBACK}?result=signed_in",
            status_code=HTTP_303_SEE_OTHER,
            cookies=[cookie_for(deps, finished.session), binding_cookie("", max_age_s=0)],
        )

    @post("/oidc/second-factor", operation_id="finishOidcSecondFactor", status_code=200, responses=OIDC_PROBLEMS)
    async def second_factor(
        self, request: Request[Any, Any, Any], data: JSONBody[SecondFactorIn], deps: NamedDependency[Deps]
    ) -> Response[SessionInfo]:
        """Complete a provider sign-in into an account with TOTP: a TOTP or backup code, or a passkey."""
        session = await openid.finish_second_factor(
            deps,
            pending_id=data.pending_id,
            binding_token=request.cookies.get(BINDING_COOKIE),
            code=data.code,
            passkey=PasskeyAnswer(challenge_id=data.passkey.challenge_id, credential=data.passkey.credential)
            if data.passkey
            else None,
            client=client_of(request),
            replaces_token=session_token(request),
        )
        return Response(info(session.principal), cookies=[cookie_for(deps, session), binding_cookie("", max_age_s=0)])

    @get("/identities", operation_id="listLinkedIdentities", responses=OIDC_PROBLEMS)
    async def identities(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> IdentityList:
        linked = await openid.list_identities(deps, principal)
        return IdentityList(
            items=[
                IdentityOut(
                    id=i.id, provider=i.provider, email=i.email, created_at=i.created_at, last_used_at=i.last_used_at
                )
                for i in linked
            ]
        )

    @delete(
        "/identities/{identity_id:uuid}",
        operation_id="unlinkIdentity",
        status_code=HTTP_204_NO_CONTENT,
        responses={**OIDC_PROBLEMS, 404: ResponseSpec(Problem, description="No such linked identity of mine")},
    )
    async def unlink(
        self, identity_id: FromPath[UUID], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> None:
        """Needs a recent sign-in; refused (403) when no other way to sign in would remain."""
        await openid.unlink(deps, principal, identity_id)
