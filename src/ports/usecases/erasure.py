"""Erasing a member's personal data on their request (issue 11, DOMAIN.md §9: personal data lives in erasable
rows; ledger, tax and audit records are kept for their retention period).

A request is honoured by the daily `accounts.erase_requested` job once nothing is in flight: no live membership
(a cancellation at period end is scheduled when the request is made; a winner's membership stays live until the
ACH return window has passed) and no payout that is not final. Erasing keeps the account row (payments, payouts and
audit chains refer to it) but replaces the email with a placeholder, drops every credential, session, passkey,
linked identity and staff note, forgets the addresses and user agents in its sessions and security events, blanks
the profile, and keeps of the identity check only what stops one person winning twice (the keyed fingerprint;
never a name or number). A paid winner's bank and tax details stay sealed for tax retention.
"""

import contextlib
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from domain.payouts import PayoutStatus
from ports.outbound.profiles import Profile
from ports.outbound.tasks import Payload
from ports.usecases import memberships, profiles
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import NotFound, Refused
from ports.usecases.roles import AUDIT_ENTITY

ERASE_TASK = "accounts.erase_requested"
BATCH = 200
FINAL_PAYOUTS = frozenset({PayoutStatus.COMPLETED, PayoutStatus.CANCELLED})


def placeholder_email(account_id: UUID) -> str:
    return f"erased-{account_id.hex}@erased.invalid"


async def request_erasure(deps: Deps, principal: Principal) -> datetime:
    """Record the request (when first asked) and end a membership in the queue at its period's end, so nothing
    is charged after the period the member already paid for. A membership that is pending, already ending or a
    winner's is left to run its course; the erasure job waits for it."""
    requested_at = await profiles.request_deletion(deps, principal)
    with contextlib.suppress(NotFound, Refused):  # no membership in the queue, or its end is already scheduled
        await memberships.cancel_at_period_end(deps, principal)
    return requested_at


async def erase_account(deps: Deps, account_id: UUID) -> str:
    """Erase one account's personal data if nothing is in flight: `erased`, `waiting_for_membership`,
    `waiting_for_payout` or `not_requested`."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await uow.accounts.get(account_id, for_update=True)
        profile = await uow.profiles.get(account_id, for_update=True)
        if account is None or profile is None or profile.deletion_requested_at is None or account.status == "erased":
            return "not_requested"
        if await uow.accounts.has_live_membership(account.id):
            return "waiting_for_membership"
        payouts = await uow.payouts.of_account(account.id)
        if any(p.status not in FINAL_PAYOUTS for p in payouts):
            return "waiting_for_payout"
        await uow.accounts.erase(account.id, placeholder_email=placeholder_email(account.id))
        await uow.profiles.save(
            Profile(account_id=account.id, deletion_requested_at=profile.deletion_requested_at), at=now
        )
        await uow.sessions.revoke_all(account.id, at=now)
        await uow.backup_codes.replace_all(account.id, [], at=now)
        await uow.notes.erase(account.id)
        for passkey in await uow.passkeys.list_for(account.id):
            await uow.passkeys.delete(account.id, passkey.id)
        for identity in await uow.identities.list_for(account.id):
            await uow.identities.delete(account.id, identity.id)
        stored = await uow.kyc.get(account.id, for_update=True)
        if stored is not None:
            record = replace(stored.record, date_of_birth=None, country=None, name_digest=None)
            await uow.kyc.save(replace(stored, record=record, failure_reasons=(), verification_url=None), at=now)
        await uow.kyc.forget_vote_reasons(account.id)
        await uow.notifications.erase(account.id)
        for payout in payouts:
            if payout.status is PayoutStatus.CANCELLED:  # no money moved: nothing for tax to keep
                await uow.payouts.erase_details(UUID(payout.payout_id))
        await uow.security_log.forget_client_data(account.id)
        await record_audit(
            uow,
            entity_type=AUDIT_ENTITY,
            entity_id=str(account.id),
            actor="system",
            action="personal_data_erased",
            at=now,
            before={"requested_at": profile.deletion_requested_at.isoformat()},
            reason="the member asked for their personal data to be erased",
        )
        await uow.security_log.record("personal_data_erased", at=now, account_id=account.id)  # no address kept
        await uow.commit()
    return "erased"


async def erase_requested(deps: Deps, payload: Payload) -> dict[str, int]:
    """Daily: honour every pending erasure request whose account has nothing in flight."""
    del payload
    outcomes: dict[str, int] = {}
    after: UUID | None = None
    while True:
        async with deps.uow() as uow:
            batch = await uow.profiles.deletion_requests(after=after, limit=BATCH)
        for account_id in batch:
            outcome = await erase_account(deps, account_id)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if len(batch) < BATCH:
            return outcomes
        after = batch[-1]
