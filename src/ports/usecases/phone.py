"""Verifying a member's phone by SMS code (issue 9): only a verified phone ever receives SMS.

Our own caps come before any provider call: sends per phone and per client address, code checks per account.
Every send counts (a failed provider call too), so nobody can use us to text a number over and over (SMS
pumping costs real money). Provider refusals are told in words; a provider outage is a retryable 503.
"""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.throttle import ThrottlePolicy
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.profiles import Profile
from ports.outbound.sms import PhoneProblem, PhoneProviderError, PhoneVerifier
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, auth_services, count_failure, throttle_check
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidCode, InvalidInput, Refused, Throttled

PHONE_SEND, PHONE_SEND_BY_ACCOUNT, PHONE_SEND_BY_ADDRESS = "phone_send", "phone_send_account", "phone_send_address"
PHONE_CHECK, PHONE_CHECK_BY_ADDRESS = "phone_check", "phone_check_address"
PHONE_POLICIES: dict[str, ThrottlePolicy] = {
    PHONE_SEND: ThrottlePolicy(free_failures=3),
    PHONE_SEND_BY_ACCOUNT: ThrottlePolicy(free_failures=5),
    PHONE_SEND_BY_ADDRESS: ThrottlePolicy(free_failures=20),
    PHONE_CHECK: ThrottlePolicy(free_failures=5),
    PHONE_CHECK_BY_ADDRESS: ThrottlePolicy(free_failures=50),
}
"""Every send counts against the phone (3 free in the window, then back-off), the account (so changing numbers
does not reset it) and the address; wrong codes count against the account and the address."""
PROVIDER_WAIT = timedelta(minutes=1)
"""How long to wait when the provider throttles us without saying for how long."""

PROBLEM_TEXT: dict[PhoneProblem, str] = {
    PhoneProblem.INVALID_NUMBER: "that number cannot receive text messages; check it or use a mobile number",
    PhoneProblem.RATE_LIMITED: "too many codes were sent to that number; wait a while before asking again",
    PhoneProblem.FRAUD_BLOCKED: "texts to that number are blocked by our provider; use another mobile number",
    PhoneProblem.NOT_FOUND: "that code has expired or was used up; ask for a new one",
}


def phone_verifier(deps: Deps) -> PhoneVerifier:
    if deps.phone is None:
        raise RuntimeError("no phone verification provider is configured")
    return deps.phone


def _phone_key(phone: str) -> str:
    """The limiter key of a phone: a digest, so the limiter's store never holds numbers."""
    return hashlib.sha256(b"tenure-phone:" + phone.encode()).hexdigest()


def _refusal(exc: PhoneProviderError) -> Exception:
    if exc.problem is PhoneProblem.UNAVAILABLE:
        return ComponentUnavailable("sms", "the SMS provider did not answer; try again shortly")
    if exc.problem is PhoneProblem.RATE_LIMITED:
        return Throttled(exc.retry_after or PROVIDER_WAIT)
    return Refused(PROBLEM_TEXT[exc.problem], [exc.problem.value])


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneState:
    phone: str | None
    verified_at: datetime | None


async def _unverified_phone(deps: Deps, principal: Principal) -> Profile:
    async with deps.uow() as uow:
        profile = await uow.profiles.get(principal.account_id)
    if profile is None or not profile.phone:
        raise InvalidInput("add a mobile number to your profile first", ["phone_missing"])
    if profile.phone_verified_at is not None:
        raise Refused("this number is already verified", ["phone_already_verified"])
    return profile


async def start_phone_verification(deps: Deps, principal: Principal, *, client: str | None) -> PhoneState:
    """Text a code to the phone on my profile (after our own caps)."""
    profile = await _unverified_phone(deps, principal)
    assert profile.phone is not None
    limiter = auth_services(deps).limiter
    checks = (
        (PHONE_SEND, _phone_key(profile.phone)),
        (PHONE_SEND_BY_ACCOUNT, str(principal.account_id)),
        (PHONE_SEND_BY_ADDRESS, client),
    )
    await throttle_check(limiter, *checks)
    await count_failure(limiter, *checks)
    try:
        await phone_verifier(deps).start(profile.phone)
    except PhoneProviderError as exc:
        raise _refusal(exc) from None
    return PhoneState(phone=profile.phone, verified_at=None)


async def confirm_phone(deps: Deps, principal: Principal, code: str, *, client: str | None = None) -> PhoneState:
    """Check the code I was texted; the phone counts as verified only if it is still the one on my profile."""
    code = code.strip()
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 10):
        raise InvalidInput("the code is the digits from the text message", ["code_invalid"])
    profile = await _unverified_phone(deps, principal)
    assert profile.phone is not None
    limiter = auth_services(deps).limiter
    checks = ((PHONE_CHECK, str(principal.account_id)), (PHONE_CHECK_BY_ADDRESS, client))
    await throttle_check(limiter, *checks)
    try:
        result = await phone_verifier(deps).check(profile.phone, code)
    except PhoneProviderError as exc:
        raise _refusal(exc) from None
    if not result.approved:
        await count_failure(limiter, *checks)
        raise InvalidCode()
    await limiter.success(PHONE_CHECK, str(principal.account_id))
    now = deps.clock.now()
    async with deps.uow() as uow:
        current = await uow.profiles.get(principal.account_id, for_update=True)
        if current is None or current.phone != profile.phone:
            raise Refused("your number changed meanwhile; verify the new one", ["phone_changed"])
        await uow.profiles.save(replace(current, phone_verified_at=now), at=now)
        await record_audit(
            uow,
            entity_type="account",
            entity_id=str(principal.account_id),
            actor=str(principal.account_id),
            action="phone_verified",
            at=now,
            after={"phone_verified": True},
        )
        await uow.commit()
    return PhoneState(phone=profile.phone, verified_at=now)
