"""`/api/profiles/me`: my profile, my data export and my deletion request. There is no route with a member id:
a member can only ever address their own data."""

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from entrypoints.http.schemas import Problem
from entrypoints.http.settings import PreferenceItem, preference_items
from ports.outbound.profiles import Profile
from ports.usecases import erasure, profiles
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Line = Annotated[str, msgspec.Meta(max_length=200)]
State = Annotated[str, msgspec.Meta(min_length=1, max_length=8)]
Zip = Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AddressIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    line1: Line
    line2: Line | None = None
    city: Line
    state: State
    zip: Zip


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """Only these fields can be set; anything else in the body is refused with 400 and nothing changes."""

    legal_first_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    legal_last_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    date_of_birth: date | msgspec.UnsetType | None = msgspec.UNSET
    address: AddressIn | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    time_zone: TimeZone | msgspec.UnsetType | None = msgspec.UNSET


class AddressOut(msgspec.Struct, rename="camel", kw_only=True):
    line1: str | None
    line2: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None


class ProfileOut(msgspec.Struct, rename="camel", kw_only=True):
    email: str
    legal_first_name: str | None
    legal_last_name: str | None
    date_of_birth: date | None
    address: AddressOut | None
    phone: str | None
    phone_verified: bool
    time_zone: str | None
    deletion_requested_at: datetime | None
    updated_at: datetime | None


class DeletionRequested(msgspec.Struct, rename="camel", kw_only=True):
    status: str = "accepted"
    requested_at: datetime
    detail: str


class ExportAccount(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    email: str
    email_verified_at: datetime | None
    role: str
    status: str
    second_factor_enabled: bool
    created_at: datetime


class ExportSession(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    created_at: datetime
    last_seen_at: datetime
    authenticated_at: datetime
    user_agent: str | None
    ip: str | None


class ExportNotification(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    event_name: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class ExportSecurityEvent(msgspec.Struct, rename="camel", kw_only=True):
    kind: str
    at: datetime
    ip: str | None
    user_agent: str | None
    detail: str | None


class DataExport(msgspec.Struct, rename="camel", kw_only=True):
    exported_at: datetime
    account: ExportAccount
    profile: ProfileOut
    sessions: list[ExportSession]
    notification_preferences: list[PreferenceItem]
    notifications: list[ExportNotification]
    security_events: list[ExportSecurityEvent]


DELETION_DETAIL = (
    "Your request is recorded. A membership in the queue ends at the end of the period you paid for; your personal"
    " data is erased once nothing is in flight. Payment, tax and audit records are kept as the law requires."
)

PROBLEMS = {
    400: ResponseSpec(Problem, description="Malformed body, wrong types or a field that cannot be set"),
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="CSRF token missing"),
    422: ResponseSpec(Problem, description="A value breaks a rule (under 18, non-US state, bad phone, ...)"),
}
READ_PROBLEMS = {401: PROBLEMS[401]}


def profile_out(email: str, profile: Profile) -> ProfileOut:
    a = profile.address
    return ProfileOut(
        email=email,
        legal_first_name=profile.legal_first_name,
        legal_last_name=profile.legal_last_name,
        date_of_birth=profile.date_of_birth,
        address=AddressOut(
            line1=a.line1, line2=a.line2, city=a.city, state=a.region, zip=a.postal_code, country=a.country
        )
        if a
        else None,
        phone=profile.phone,
        phone_verified=profile.phone_verified_at is not None,
        time_zone=profile.time_zone,
        deletion_requested_at=profile.deletion_requested_at,
        updated_at=profile.updated_at,
    )


class ProfileController(Controller):
    path = "/api/profiles/me"
    tags = ["profiles"]

    @get("/", operation_id="getMyProfile", responses=READ_PROBLEMS)
    async def get_profile(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> ProfileOut:
        view = await profiles.get_profile(deps, principal)
        return profile_out(view.email, view.profile)

    @patch("/", operation_id="updateMyProfile", responses=PROBLEMS)
    async def update_profile(
        self, data: JSONBody[ProfilePatch], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> ProfileOut:
        """Set any of the listed fields; absent fields stay, `null` clears. Changing the phone unverifies it."""
        changes: dict[str, Any] = {
            name: getattr(data, name)
            for name in ("legal_first_name", "legal_last_name", "date_of_birth", "phone", "time_zone")
            if getattr(data, name) is not msgspec.UNSET
        }
        if isinstance(data.address, AddressIn):
            a = data.address
            changes["address"] = profiles.AddressInput(
                line1=a.line1, line2=a.line2, city=a.city, state=a.state, zip_code=a.zip
            )
        elif data.address is None:
            changes["address"] = None
        update = profiles.ProfileUpdate(**changes)
        view = await profiles.update_profile(deps, principal, update)
        return profile_out(view.email, view.profile)

    @get("/export", operation_id="exportMyData", responses=READ_PROBLEMS)
    async def export(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> DataExport:
        """Everything we hold about me, as JSON. Password hashes, second-factor secrets and session tokens are
        never included."""
        found = await profiles.export_my_data(deps, principal)
        account = found.account
        return DataExport(
            exported_at=found.exported_at,
            account=ExportAccount(
                id=account.id,
                email=account.email,
                email_verified_at=account.email_verified_at,
                role=account.role,
                status=account.status,
                second_factor_enabled=account.totp_enabled_at is not None,
                created_at=account.created_at,
            ),
            profile=profile_out(account.email, found.profile),
            sessions=[
                ExportSession(
                    id=s.id,
                    created_at=s.created_at,
                    last_seen_at=s.last_seen_at,
                    authenticated_at=s.authenticated_at,
                    user_agent=s.user_agent,
                    ip=s.ip,
                )
                for s in found.sessions
            ],
            notification_preferences=preference_items(found.notification_preferences),
            notifications=[
                ExportNotification(
                    id=n.id,
                    event_name=n.event_name,
                    title=n.title,
                    body=n.body,
                    created_at=n.created_at,
                    read_at=n.read_at,
                )
                for n in found.notifications
            ],
            security_events=[
                ExportSecurityEvent(kind=e.kind, at=e.at, ip=e.ip, user_agent=e.user_agent, detail=e.detail)
                for e in found.security_events
            ],
        )

    @post(
        "/deletion-request",
        operation_id="requestMyDeletion",
        status_code=HTTP_202_ACCEPTED,
        responses={401: PROBLEMS[401], 403: PROBLEMS[403]},
    )
    async def request_deletion(
        self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> DeletionRequested:
        """Ask for my account to be erased: a membership in the queue ends at its period's end, and my personal data
        is erased once nothing is in flight (no live membership, no open payout)."""
        requested_at = await erasure.request_erasure(deps, principal)
        return DeletionRequested(requested_at=requested_at, detail=DELETION_DETAIL)
