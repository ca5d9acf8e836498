"""`/api/dashboard`: everything the member home page shows, in one call (API.md).

It composes the same use cases the individual endpoints answer with, so the home page can never disagree with
the page behind each of its cards.
"""

from dataclasses import dataclass

from ports.outbound.notifications import Notification
from ports.usecases import business_rules, kyc, memberships, notifications, queue
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

LATEST_NOTIFICATIONS = 5
HISTORY_ON_HOME = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Dashboard:
    membership: memberships.MembershipStatus
    queue: queue.MyQueue
    next_charge: memberships.NextCharge
    kyc: kyc.KycView
    eligibility: business_rules.MyEligibility
    notifications: tuple[Notification, ...]
    unread: int


async def dashboard(deps: Deps, principal: Principal) -> Dashboard:
    feed = await notifications.feed(deps, principal, cursor=None, limit=LATEST_NOTIFICATIONS)
    return Dashboard(
        membership=await memberships.membership_status(deps, principal),
        queue=await queue.my_queue(deps, principal, history_limit=HISTORY_ON_HOME),
        next_charge=await memberships.next_charge(deps, principal),
        kyc=await kyc.kyc_status(deps, principal),
        eligibility=await business_rules.my_eligibility(deps, principal),
        notifications=tuple(feed.items),
        unread=await notifications.unread_count(deps, principal),
    )
