"""`/api/auth`: sign-up, email verification, sign-in and sign-out, sessions.

Responses to sign-up, resend and reset requests are identical whether or not the email has an account.
"""

import ipaddress
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
import segno
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from entrypoints.http.schemas import Problem
from entrypoints.http.sessions import clear_session_cookie, session_cookie, session_token
from ports.usecases import auth, credentials, phone
from ports.usecases.auth import Client, NewSession, Principal
from ports.usecases.authenticators import PasskeyAnswer
from ports.usecases.deps import Deps

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class SignUp(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    email: Email
    password: Password


class EmailOnly(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    email: Email


class VerifyEmail(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    email: Email
    code: Code


class PasskeyAssertion(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    challenge_id: UUID
    credential: dict[str, Any]


class SignIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    email: Email
    password: Password
    second_factor: Code | None = None
    passkey: PasskeyAssertion | None = None
    """A passkey as the second factor (challenge from `POST /api/auth/passkeys/sign-in/options`)."""


class StepUp(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    password: Password
    second_factor: Code | None = None


class CodeOnly(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    code: Code


class PhoneOut(msgspec.Struct, rename="camel", kw_only=True):
    phone_last2: str
    verified_at: datetime | None


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    current_password: Password
    new_password: Password
    second_factor: Code | None = None


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    email: Email
    code: Code
    new_password: Password


class TotpEnrolmentOut(msgspec.Struct, rename="camel", kw_only=True):
    secret: str
    provisioning_uri: str
    qr_svg_data_uri: str


class BackupCodes(msgspec.Struct, rename="camel", kw_only=True):
    backup_codes: list[str]


class Accepted(msgspec.Struct, rename="camel", kw_only=True):
    status: str = "accepted"
    detail: str


class SessionInfo(msgspec.Struct, rename="camel", kw_only=True):
    account_id: UUID
    email: str
    role: str
    second_factor: bool
    session_id: UUID
    authenticated_at: datetime


class SessionItem(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    current: bool
    created_at: datetime
    last_seen_at: datetime
    user_agent: str | None
    ip: str | None


class SessionList(msgspec.Struct, rename="camel", kw_only=True):
    items: list[SessionItem]


class Revoked(msgspec.Struct, rename="camel", kw_only=True):
    revoked: int


ACCEPTED_SIGN_UP = "If the address can be used, a verification code is on its way."
ACCEPTED_RESEND = "If the address has an unverified account, a new code is on its way."
ACCEPTED_RESET = "If the address has an account, a reset code is on its way."


def client_address(host: str | None) -> str | None:
    """The address throttling counts against: IPv6 clients by their /64 (one customer's whole prefix), so a
    single host cannot dodge the limit by rotating through its addresses."""
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_of(request: Request[Any, Any, Any]) -> Client:
    return Client(
        ip=client_address(request.client.host if request.client else None),
        user_agent=request.headers.get("user-agent"),
    )


def info(principal: Principal) -> SessionInfo:
    return SessionInfo(
        account_id=principal.account_id,
        email=principal.email,
        role=str(principal.role),
        second_factor=principal.second_factor,
        session_id=principal.session_id,
        authenticated_at=principal.authenticated_at,
    )


def cookie_for(deps: Deps, session: NewSession) -> Cookie:
    assert deps.auth is not None
    max_age = int(deps.auth.session_policy.absolute(session.principal.role).total_seconds())
    return session_cookie(session.token, max_age_s=max_age)


PROBLEMS = {
    400: ResponseSpec(Problem, description="Malformed or invalid body"),
    401: ResponseSpec(Problem, description="Not signed in, or wrong credentials"),
    403: ResponseSpec(Problem, description="CSRF token missing or not allowed"),
    422: ResponseSpec(Problem, description="The input breaks a rule (e.g. a weak password)"),
    429: ResponseSpec(Problem, description="Too many attempts; see Retry-After"),
}


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @get("/csrf", operation_id="primeCsrf", status_code=HTTP_204_NO_CONTENT, summary="Set the CSRF cookie")
    async def csrf(self) -> None:
        """The SPA calls this once; the response sets the `__Host-csrftoken` cookie to echo in `X-CSRFToken`."""

    @post("/sign-up", operation_id="signUp", status_code=HTTP_202_ACCEPTED, responses=PROBLEMS)
    async def sign_up(
        self, request: Request[Any, Any, Any], data: JSONBody[SignUp], deps: NamedDependency[Deps]
    ) -> Accepted:
        await auth.sign_up(deps, email=data.email, password=data.password, client=client_of(request))
        return Accepted(detail=ACCEPTED_SIGN_UP)

    @post("/verify-email", operation_id="verifyEmail", status_code=HTTP_204_NO_CONTENT, responses=PROBLEMS)
    async def verify_email(
        self, request: Request[Any, Any, Any], data: JSONBody[VerifyEmail], deps: NamedDependency[Deps]
    ) -> None:
        await auth.verify_email(deps, email=data.email, code=data.code, client=client_of(request))

    @post("/verify-email/resend", operation_id="resendVerification", status_code=HTTP_202_ACCEPTED, responses=PROBLEMS)
    async def resend(self, data: JSONBody[EmailOnly], deps: NamedDependency[Deps]) -> Accepted:
        await auth.resend_verification(deps, email=data.email)
        return Accepted(detail=ACCEPTED_RESEND)

    @post("/sign-in", operation_id="signIn", status_code=200, responses=PROBLEMS)
    async def sign_in(
        self, request: Request[Any, Any, Any], data: JSONBody[SignIn], deps: NamedDependency[Deps]
    ) -> Response[SessionInfo]:
        new = await auth.sign_in(
            deps,
            email=data.email,
            password=data.password,
            second_factor=data.second_factor,
            passkey=PasskeyAnswer(challenge_id=data.passkey.challenge_id, credential=data.passkey.credential)
            if data.passkey
            else None,
            client=client_of(request),
            replaces_token=session_token(request),
        )
        return Response(info(new.principal), cookies=[cookie_for(deps, new)])

    @post("/step-up", operation_id="stepUp", status_code=200, responses=PROBLEMS)
    async def step_up(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[StepUp],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> Response[SessionInfo]:
        """Confirm the password (and second factor, if enabled) before a sensitive change. The session is
        replaced by a fresh one (new cookie)."""
        session = await credentials.step_up(
            deps, principal, password=data.password, second_factor=data.second_factor, client=client_of(request)
        )
        return Response(info(session.principal), cookies=[cookie_for(deps, session)])

    @post(
        "/phone/start",
        operation_id="startPhoneVerification",
        status_code=HTTP_202_ACCEPTED,
        responses={**PROBLEMS, 503: ResponseSpec(Problem, description="The SMS provider is unavailable; retry")},
    )
    async def start_phone(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PhoneOut:
        """Text a code to the phone on my profile (capped per phone, per address; every send counts)."""
        state = await phone.start_phone_verification(deps, principal, client=client_of(request).ip)
        return PhoneOut(phone_last2=(state.phone or "")[-2:], verified_at=state.verified_at)

    @post(
        "/phone/verify",
        operation_id="verifyPhone",
        status_code=200,
        responses={**PROBLEMS, 503: ResponseSpec(Problem, description="The SMS provider is unavailable; retry")},
    )
    async def verify_phone(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CodeOnly],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> PhoneOut:
        """Confirm the texted code: from then on (and until the number changes) the phone may receive SMS."""
        state = await phone.confirm_phone(deps, principal, data.code, client=client_of(request).ip)
        return PhoneOut(phone_last2=(state.phone or "")[-2:], verified_at=state.verified_at)

    @post("/totp/enrolment", operation_id="startTotpEnrolment", status_code=200, responses=PROBLEMS)
    async def start_totp(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> TotpEnrolmentOut:
        enrolment = await credentials.start_totp_enrolment(deps, principal)
        qr = segno.make(enrolment.provisioning_uri, error="m")
        return TotpEnrolmentOut(
            secret=enrolment.secret,
            provisioning_uri=enrolment.provisioning_uri,
            qr_svg_data_uri=qr.svg_data_uri(scale=4),
        )

    @post("/totp/confirm", operation_id="confirmTotp", status_code=200, responses=PROBLEMS)
    async def confirm_totp(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CodeOnly],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> Response[BackupCodes]:
        """Enable TOTP. The 10 backup codes are shown once; the session is rotated and others end."""
        enabled = await credentials.confirm_totp(deps, principal, code=data.code, client=client_of(request))
        return Response(BackupCodes(backup_codes=enabled.backup_codes), cookies=[cookie_for(deps, enabled.session)])

    @post("/totp/disable", operation_id="disableTotp", status_code=HTTP_204_NO_CONTENT, responses=PROBLEMS)
    async def disable_totp(
        self, data: JSONBody[CodeOnly], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> None:
        await credentials.disable_totp(deps, principal, code=data.code)

    @post("/backup-codes", operation_id="regenerateBackupCodes", status_code=200, responses=PROBLEMS)
    async def backup_codes(
        self, data: JSONBody[CodeOnly], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> BackupCodes:
        """New backup codes (the old ones stop working); needs a current TOTP or backup code."""
        return BackupCodes(backup_codes=await credentials.regenerate_backup_codes(deps, principal, code=data.code))

    @post("/password/change", operation_id="changePassword", status_code=200, responses=PROBLEMS)
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasswordChange],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> Response[SessionInfo]:
        session = await credentials.change_password(
            deps,
            principal,
            current=data.current_password,
            new=data.new_password,
            second_factor=data.second_factor,
            client=client_of(request),
        )
        return Response(info(session.principal), cookies=[cookie_for(deps, session)])

    @post(
        "/password/reset/request",
        operation_id="requestPasswordReset",
        status_code=HTTP_202_ACCEPTED,
        responses=PROBLEMS,
    )
    async def request_reset(
        self, request: Request[Any, Any, Any], data: JSONBody[EmailOnly], deps: NamedDependency[Deps]
    ) -> Accepted:
        await credentials.request_password_reset(deps, email=data.email, client=client_of(request))
        return Accepted(detail=ACCEPTED_RESET)

    @post(
        "/password/reset/confirm",
        operation_id="confirmPasswordReset",
        status_code=HTTP_204_NO_CONTENT,
        responses=PROBLEMS,
    )
    async def confirm_reset(
        self, request: Request[Any, Any, Any], data: JSONBody[PasswordReset], deps: NamedDependency[Deps]
    ) -> None:
        await credentials.reset_password(
            deps, email=data.email, code=data.code, new_password=data.new_password, client=client_of(request)
        )

    @post("/sign-out", operation_id="signOut", status_code=HTTP_204_NO_CONTENT, responses=PROBLEMS)
    async def sign_out(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> Response[None]:
        await auth.sign_out(deps, principal)
        response: Response[None] = Response(None, status_code=HTTP_204_NO_CONTENT)
        clear_session_cookie(response)
        return response

    @get("/session", operation_id="getSession", responses=PROBLEMS)
    async def session(self, principal: NamedDependency[Principal]) -> SessionInfo:
        return info(principal)

    @get("/sessions", operation_id="listSessions", responses=PROBLEMS)
    async def sessions(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> SessionList:
        live = await auth.list_sessions(deps, principal)
        return SessionList(
            items=[
                SessionItem(
                    id=s.id,
                    current=s.id == principal.session_id,
                    created_at=s.created_at,
                    last_seen_at=s.last_seen_at,
                    user_agent=s.user_agent,
                    ip=s.ip,
                )
                for s in live
            ]
        )

    @delete(
        "/sessions/{session_id:uuid}",
        operation_id="revokeSession",
        status_code=HTTP_204_NO_CONTENT,
        responses={**PROBLEMS, 404: ResponseSpec(Problem, description="No such session of mine")},
    )
    async def revoke(
        self, session_id: FromPath[UUID], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> None:
        await auth.revoke_session(deps, principal, session_id)

    @post("/sessions/revoke-others", operation_id="revokeOtherSessions", status_code=200, responses=PROBLEMS)
    async def revoke_others(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> Revoked:
        return Revoked(revoked=await auth.revoke_other_sessions(deps, principal))
