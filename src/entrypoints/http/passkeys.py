"""`/api/auth/passkeys`: register, list, rename and delete passkeys; passwordless sign-in and step-up with one.

Each ceremony is two calls: `.../options` stores a single-use challenge and answers `{challengeId, publicKey}`
(pass `publicKey` to `navigator.credentials.create()` or `.get()` after decoding its base64url fields); the second
call sends back `{challengeId, credential}` with the browser's result as JSON (`PublicKeyCredential.toJSON()`).
The sign-in options also serve a passkey as the second factor of a password sign-in (`passkey` in the body of
`POST /api/auth/sign-in`).
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from entrypoints.http.auth import PROBLEMS, SessionInfo, client_of, cookie_for, info
from entrypoints.http.schemas import Problem
from entrypoints.http.sessions import session_token
from ports.outbound.passkeys import Passkey
from ports.usecases import passkeys
from ports.usecases.auth import Principal
from ports.usecases.authenticators import Ceremony, PasskeyAnswer
from ports.usecases.deps import Deps

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]

PASSKEY_PROBLEMS = {
    **PROBLEMS,
    404: ResponseSpec(Problem, description="Passkeys are not enabled, or no such passkey of mine"),
}


class CeremonyOut(msgspec.Struct, rename="camel", kw_only=True):
    challenge_id: UUID
    public_key: dict[str, Any]
    """PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON."""


class PasskeyAnswerIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    challenge_id: UUID
    credential: dict[str, Any]
    """The browser's PublicKeyCredential as JSON."""

    def answer(self) -> PasskeyAnswer:
        return PasskeyAnswer(challenge_id=self.challenge_id, credential=self.credential)


class Registration(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    challenge_id: UUID
    credential: dict[str, Any]
    name: Name | None = None


class Rename(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    name: Name


class PasskeyOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool
    """Synced across the member's devices (a backup-eligible, backed-up credential)."""


class PasskeyList(msgspec.Struct, rename="camel", kw_only=True):
    items: list[PasskeyOut]


def ceremony_out(ceremony: Ceremony) -> CeremonyOut:
    return CeremonyOut(challenge_id=ceremony.challenge_id, public_key=ceremony.options)


def passkey_out(p: Passkey) -> PasskeyOut:
    return PasskeyOut(id=p.id, name=p.name, created_at=p.created_at, last_used_at=p.last_used_at, backed_up=p.backed_up)


class PasskeyController(Controller):
    path = "/api/auth/passkeys"
    tags = ["auth"]

    @post("/registration/options", operation_id="startPasskeyRegistration", status_code=200, responses=PASSKEY_PROBLEMS)
    async def registration_options(
        self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> CeremonyOut:
        """Options for `navigator.credentials.create()`; needs a recent sign-in or step-up."""
        return ceremony_out(await passkeys.start_registration(deps, principal))

    @post("/", operation_id="registerPasskey", status_code=HTTP_201_CREATED, responses=PASSKEY_PROBLEMS)
    async def register(
        self, data: JSONBody[Registration], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PasskeyOut:
        created = await passkeys.finish_registration(
            deps, principal, challenge_id=data.challenge_id, credential=data.credential, name=data.name
        )
        return passkey_out(created)

    @get("/", operation_id="listPasskeys", responses=PASSKEY_PROBLEMS)
    async def list_mine(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> PasskeyList:
        return PasskeyList(items=[passkey_out(p) for p in await passkeys.list_passkeys(deps, principal)])

    @patch(
        "/{passkey_id:uuid}", operation_id="renamePasskey", status_code=HTTP_204_NO_CONTENT, responses=PASSKEY_PROBLEMS
    )
    async def rename(
        self,
        passkey_id: FromPath[UUID],
        data: JSONBody[Rename],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> None:
        await passkeys.rename_passkey(deps, principal, passkey_id, data.name)

    @delete(
        "/{passkey_id:uuid}", operation_id="deletePasskey", status_code=HTTP_204_NO_CONTENT, responses=PASSKEY_PROBLEMS
    )
    async def remove(
        self, passkey_id: FromPath[UUID], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> None:
        """Needs a recent sign-in; refused (403) when it is the last way to sign in, or a staff account's last
        second factor."""
        await passkeys.delete_passkey(deps, principal, passkey_id)

    @post("/sign-in/options", operation_id="startPasskeySignIn", status_code=200, responses=PASSKEY_PROBLEMS)
    async def sign_in_options(self, request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> CeremonyOut:
        """A challenge for a discoverable passkey: passwordless sign-in, or the second factor of a password
        sign-in."""
        return ceremony_out(await passkeys.start_assertion(deps, client=client_of(request)))

    @post("/sign-in", operation_id="signInWithPasskey", status_code=200, responses=PASSKEY_PROBLEMS)
    async def sign_in(
        self, request: Request[Any, Any, Any], data: JSONBody[PasskeyAnswerIn], deps: NamedDependency[Deps]
    ) -> Response[SessionInfo]:
        """The passkey must verify its user (PIN or biometric); the session counts as second-factor."""
        new = await passkeys.sign_in(
            deps, data.answer(), client=client_of(request), replaces_token=session_token(request)
        )
        return Response(info(new.principal), cookies=[cookie_for(deps, new)])

    @post("/step-up/options", operation_id="startPasskeyStepUp", status_code=200, responses=PASSKEY_PROBLEMS)
    async def step_up_options(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> CeremonyOut:
        return ceremony_out(await passkeys.start_step_up(deps, principal))

    @post("/step-up", operation_id="stepUpWithPasskey", status_code=200, responses=PASSKEY_PROBLEMS)
    async def step_up(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasskeyAnswerIn],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> Response[SessionInfo]:
        """Re-authenticate with one of my passkeys; the session is replaced by a fresh one (new cookie)."""
        new = await passkeys.step_up(deps, principal, data.answer(), client=client_of(request))
        return Response(info(new.principal), cookies=[cookie_for(deps, new)])
