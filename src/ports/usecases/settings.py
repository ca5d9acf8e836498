"""`/api/settings`: notification preferences per event group × channel, and a security overview.

Preferences start at the DOMAIN.md §11 defaults (D54: email and in-app on, SMS off) and always include the
channels a rule forces (locked). Switching a locked channel off is refused with `PreferenceIsLocked` and changes
nothing, even when other switches in the same request were fine.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import PreferenceLocked
from domain.events import Channel
from domain.preferences import DEFAULT_PREFERENCES, EventGroup, Preferences, locked
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput

SIGN_IN_SUCCEEDED = "sign_in_succeeded"


class PreferenceIsLocked(InvalidInput):
    """This notification is always sent on that channel and cannot be switched off."""

    code = "preference_locked"


@dataclass(frozen=True, slots=True, kw_only=True)
class PreferenceSwitch:
    group: EventGroup
    channel: Channel
    enabled: bool
    locked: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PreferenceChange:
    group: EventGroup
    channel: Channel
    enabled: bool


def switches(preferences: Preferences) -> list[PreferenceSwitch]:
    """Every group × channel, in a stable order (groups and channels as declared)."""
    return [
        PreferenceSwitch(group=g, channel=c, enabled=preferences.enabled(g, c), locked=locked(g, c))
        for g in EventGroup
        for c in Channel
    ]


async def notification_settings(deps: Deps, principal: Principal) -> list[PreferenceSwitch]:
    async with deps.uow() as uow:
        stored = await uow.notification_preferences.get(principal.account_id)
    return switches(stored or DEFAULT_PREFERENCES)


async def change_notification_settings(
    deps: Deps, principal: Principal, changes: Sequence[PreferenceChange]
) -> list[PreferenceSwitch]:
    async with deps.uow() as uow:
        current = await uow.notification_preferences.get(principal.account_id, for_update=True) or DEFAULT_PREFERENCES
        updated = current
        refused: list[str] = []
        for change in changes:
            try:
                updated = updated.with_choice(change.group, change.channel, change.enabled)
            except PreferenceLocked as exc:
                refused.append(f"{exc.group}/{exc.channel}")
        if refused:
            raise PreferenceIsLocked("always-on notifications cannot be switched off", sorted(set(refused)))
        await uow.notification_preferences.save(principal.account_id, updated, at=deps.clock.now())
        await uow.commit()
    return switches(updated)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecuritySettings:
    second_factor_enabled: bool
    live_sessions: int
    last_sign_in_at: datetime | None


async def security_settings(deps: Deps, principal: Principal) -> SecuritySettings:
    async with deps.uow() as uow:
        live = await uow.sessions.list_live(principal.account_id)
        last = await uow.security_events.last(principal.account_id, SIGN_IN_SUCCEEDED)
    return SecuritySettings(
        second_factor_enabled=principal.second_factor, live_sessions=len(live), last_sign_in_at=last
    )
