"""`/api/profiles/me`: my legal name, date of birth, US address, phone and time zone; my data export; my
deletion request.

Only these fields are settable (no mass assignment, RELIABILITY 23): the update type simply has no status,
role, tenure, KYC or amount field. Every rule is checked and all problems are reported at once; a refused
update changes nothing. Changing the phone number clears its verification.
"""

import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from functools import cache

from domain.checkout import PostalAddress
from domain.membership import LIVE_STATES
from domain.payouts import SETTLED
from domain.preferences import DEFAULT_PREFERENCES
from domain.profile import ProfileProblem, clean_text, date_of_birth_problems, name_ok, phone_ok, us_address
from domain.rules import ProgramRules
from ports.outbound.accounts import Account, AuthSession
from ports.outbound.notifications import FeedPosition, Notification
from ports.outbound.profiles import Profile, SecurityEventView
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound, Refused
from ports.usecases.settings import PreferenceSwitch, switches

EXPORT_SECURITY_EVENTS = 1000
EXPORT_PAGE = 100
OWN_ACTIVITY = frozenset({"sign_in_succeeded", "signed_out", "sign_up", "email_verified", "deletion_requested"})
"""Security events that were certainly the member's own doing: only these keep IP and user agent in the export
(a failed sign-in may have come from someone else, whose address is not the member's data)."""


class Keep(Enum):
    """Marks a field the update leaves as it is (absent from the request)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressInput:
    line1: str
    line2: str | None
    city: str
    state: str
    zip_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileUpdate:
    """`KEEP` leaves a field unchanged; `None` clears it."""

    legal_first_name: str | Keep | None = KEEP
    legal_last_name: str | Keep | None = KEEP
    date_of_birth: date | Keep | None = KEEP
    address: AddressInput | Keep | None = KEEP
    phone: str | Keep | None = KEEP
    time_zone: str | Keep | None = KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileView:
    email: str
    profile: Profile


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_ok(name: str) -> bool:
    """An IANA zone name this server knows (the list, not a file lookup: no path tricks)."""
    return name in _time_zones()


def _apply(current: Profile, update: ProfileUpdate, *, now: datetime, rules: ProgramRules) -> Profile:
    problems: list[ProfileProblem] = []
    new = current
    if not isinstance(update.legal_first_name, Keep):
        first = clean_text(update.legal_first_name) if update.legal_first_name is not None else None
        if first is not None and not name_ok(first):
            problems.append(ProfileProblem.FIRST_NAME_INVALID)
        new = replace(new, legal_first_name=first)
    if not isinstance(update.legal_last_name, Keep):
        last = clean_text(update.legal_last_name) if update.legal_last_name is not None else None
        if last is not None and not name_ok(last):
            problems.append(ProfileProblem.LAST_NAME_INVALID)
        new = replace(new, legal_last_name=last)
    if not isinstance(update.date_of_birth, Keep):
        if update.date_of_birth is not None:
            problems.extend(date_of_birth_problems(update.date_of_birth, now=now, min_age_years=rules.min_age_years))
        new = replace(new, date_of_birth=update.date_of_birth)
    if not isinstance(update.address, Keep):
        address: PostalAddress | None = None
        if update.address is not None:
            a = update.address
            address, found = us_address(line1=a.line1, line2=a.line2, city=a.city, state=a.state, zip_code=a.zip_code)
            problems.extend(found)
        new = replace(new, address=address)
    if not isinstance(update.phone, Keep):
        phone = update.phone.strip() if update.phone is not None else None
        if phone is not None and not phone_ok(phone):
            problems.append(ProfileProblem.PHONE_INVALID)
        if phone != current.phone:
            new = replace(new, phone=phone, phone_verified_at=None)
    if not isinstance(update.time_zone, Keep):
        zone = update.time_zone.strip() if update.time_zone is not None else None
        if zone is not None and not time_zone_ok(zone):
            problems.append(ProfileProblem.TIME_ZONE_INVALID)
        new = replace(new, time_zone=zone)
    if problems:
        raise InvalidInput("the profile is not acceptable", [str(p) for p in dict.fromkeys(problems)])
    return new


async def get_profile(deps: Deps, principal: Principal) -> ProfileView:
    async with deps.uow() as uow:
        account = await uow.accounts.get(principal.account_id)
        profile = await uow.profiles.get(principal.account_id)
    if account is None:
        raise NotFound()
    return ProfileView(email=account.email, profile=profile or Profile(account_id=principal.account_id))


async def update_profile(
    deps: Deps, principal: Principal, update: ProfileUpdate, *, rules: ProgramRules | None = None
) -> ProfileView:
    """Rules are not in the database yet: the default `ProgramRules` (18+) apply until they are."""
    rules = rules or ProgramRules()
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await uow.accounts.get(principal.account_id)
        if account is None:
            raise NotFound()
        current = await uow.profiles.get(principal.account_id, for_update=True) or Profile(
            account_id=principal.account_id
        )
        new = _apply(current, update, now=now, rules=rules)
        payee = (new.address, new.legal_first_name, new.legal_last_name)
        if payee != (current.address, current.legal_first_name, current.legal_last_name) and await _payout_open(
            uow, principal
        ):
            # A winner's cheque is payable to this name at this address (D116): both stay put while a payout is open.
            raise Refused("your name and address cannot change while your payout is open; contact us", ["payout_open"])
        await uow.profiles.save(new, at=now)
        await uow.commit()
    return ProfileView(email=account.email, profile=replace(new, updated_at=now))


async def _payout_open(uow: UnitOfWork, principal: Principal) -> bool:
    """Whether a payout is open, read under the live membership's lock: a round selecting this member at the same
    moment holds that lock, so the edit lands wholly before the selection or sees its payout."""
    for membership in await uow.billing.memberships_of(principal.account_id):
        if membership.status in LIVE_STATES:
            await uow.billing.get_membership(membership.id, for_update=True)
    return any(p.status not in SETTLED for p in await uow.payouts.of_account(principal.account_id))


async def request_deletion(deps: Deps, principal: Principal) -> datetime:
    """Record that I asked for my account and personal data to be erased; returns when I first asked.

    Only the request is recorded here. The erasure itself (with the retention that ledger, tax and audit
    records need) is a later issue; until then the request is visible to staff and in my export.
    """
    now = deps.clock.now()
    async with deps.uow() as uow:
        current = await uow.profiles.get(principal.account_id, for_update=True) or Profile(
            account_id=principal.account_id
        )
        if current.deletion_requested_at is not None:
            return current.deletion_requested_at
        await uow.profiles.save(replace(current, deletion_requested_at=now), at=now)
        await uow.security_log.record("deletion_requested", at=now, account_id=principal.account_id)
        await uow.commit()
    return now


@dataclass(frozen=True, slots=True, kw_only=True)
class DataExport:
    exported_at: datetime
    account: Account
    profile: Profile
    sessions: list[AuthSession]
    notification_preferences: list[PreferenceSwitch]
    notifications: list[Notification] = field(default_factory=list)
    security_events: list[SecurityEventView] = field(default_factory=list)


async def export_my_data(deps: Deps, principal: Principal) -> DataExport:
    """Everything we hold about me (DOMAIN/API "data export"). Hashes and secrets are left to the caller to omit
    (the HTTP layer renders only safe fields); nothing here is looked up by anything but my account id."""
    me = principal.account_id
    async with deps.uow() as uow:
        account = await uow.accounts.get(me)
        if account is None:
            raise NotFound()
        profile = await uow.profiles.get(me) or Profile(account_id=me)
        sessions = list(await uow.sessions.list_live(me))
        preferences = await uow.notification_preferences.get(me) or DEFAULT_PREFERENCES
        notifications: list[Notification] = []
        page = await uow.notifications.page(me, limit=EXPORT_PAGE, after=None)
        while page:
            notifications.extend(page)
            last = page[-1]
            page = await uow.notifications.page(
                me, limit=EXPORT_PAGE, after=FeedPosition(created_at=last.created_at, id=last.id)
            )
        events = list(await uow.security_events.for_account(me, limit=EXPORT_SECURITY_EVENTS))
    return DataExport(
        exported_at=deps.clock.now(),
        account=account,
        profile=profile,
        sessions=sessions,
        notification_preferences=switches(preferences),
        notifications=notifications,
        security_events=[e if e.kind in OWN_ACTIVITY else replace(e, ip=None, user_agent=None) for e in events],
    )
