"""`/api/settings`: my notification preferences (event group × channel) and my security overview."""

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from domain.events import Channel
from domain.preferences import EventGroup
from entrypoints.http.schemas import Problem
from ports.usecases import settings
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps


class PreferenceItem(msgspec.Struct, rename="camel", kw_only=True):
    group: EventGroup
    channel: Channel
    enabled: bool
    locked: bool
    """Always sent on this channel (DOMAIN.md §11): shown on and disabled."""


class PreferenceList(msgspec.Struct, rename="camel", kw_only=True):
    items: list[PreferenceItem]


class PreferenceChangeIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    group: EventGroup
    channel: Channel
    enabled: bool


class PreferenceChanges(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    changes: Annotated[list[PreferenceChangeIn], msgspec.Meta(min_length=1, max_length=64)]


class SecurityOverview(msgspec.Struct, rename="camel", kw_only=True):
    second_factor_enabled: bool
    live_sessions: int
    last_sign_in_at: datetime | None


def preference_items(switches: list[settings.PreferenceSwitch]) -> list[PreferenceItem]:
    return [PreferenceItem(group=s.group, channel=s.channel, enabled=s.enabled, locked=s.locked) for s in switches]


UNAUTHORIZED = ResponseSpec(Problem, description="Not signed in")
PROBLEMS = {
    400: ResponseSpec(Problem, description="Malformed body, unknown group or channel, or an unknown field"),
    401: UNAUTHORIZED,
    403: ResponseSpec(Problem, description="CSRF token missing"),
    422: ResponseSpec(Problem, description="An always-on notification cannot be switched off (code preference_locked)"),
}


class SettingsController(Controller):
    path = "/api/settings"
    tags = ["settings"]

    @get("/notifications", operation_id="getNotificationSettings", responses={401: UNAUTHORIZED})
    async def notifications(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> PreferenceList:
        """Every event group × channel with whether it is on and whether a rule keeps it on."""
        return PreferenceList(items=preference_items(await settings.notification_settings(deps, principal)))

    @put("/notifications", operation_id="updateNotificationSettings", responses=PROBLEMS)
    async def update_notifications(
        self, data: JSONBody[PreferenceChanges], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PreferenceList:
        """Apply the listed switches together; if any switches a locked channel off, none is applied."""
        changes = [settings.PreferenceChange(group=c.group, channel=c.channel, enabled=c.enabled) for c in data.changes]
        return PreferenceList(
            items=preference_items(await settings.change_notification_settings(deps, principal, changes))
        )

    @get("/security", operation_id="getSecuritySettings", responses={401: UNAUTHORIZED})
    async def security_overview(
        self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> SecurityOverview:
        found = await settings.security_settings(deps, principal)
        return SecurityOverview(
            second_factor_enabled=found.second_factor_enabled,
            live_sessions=found.live_sessions,
            last_sign_in_at=found.last_sign_in_at,
        )
