"""The notification core: domain events → (recipient, channel, template) → one delivery each, at most once.

Flow: the outbox dispatcher hands each member event to `on_member_event`, which applies the channel policy
(`domain.preferences.deliveries_for` with the member's stored preferences, bounced-email and verified-phone
flags) and enqueues one `notify.deliver` job per (event id, recipient, channel), keyed by that triple. The job
first records the delivery (insert-or-skip on a unique key) and takes a short lease on it; only the lease holder
sends, then records the outcome. A job that runs twice, or ten times at once, therefore sends once: email
through the `EmailSender` port (which dedupes by the same key), in-app as one feed row (unique per event and
account), SMS recorded as skipped until the SMS provider arrives. Sending never happens inside a transaction.

The in-app feed use cases (`/api/notifications`) are here too: every query is scoped to the caller's account,
so another member's notification id is simply not found.
"""

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.events import EVENT_TYPES, MANDATORY_EVENTS, Channel, DeliveryKey, MemberEvent
from domain.preferences import DEFAULT_PREFERENCES, deliveries_for
from ports.outbound.email import EmailMessage, EmailRejected
from ports.outbound.notifications import DeliveryStatus, FeedPosition, Notification
from ports.outbound.outbox import OutboxMessage
from ports.outbound.profiles import Profile
from ports.outbound.sms import PhoneProblem, PhoneProviderError, SmsMessage
from ports.outbound.tasks import Payload
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound
from ports.usecases.notification_templates import Rendered, render

logger = logging.getLogger(__name__)

DELIVER_TASK = "notify.deliver"
RECIPIENT_KEY = "accountId"
"""The payload key of a member event that names the member (account id) it is addressed to."""

LEASE = timedelta(seconds=90)
"""How long one attempt holds the right to send; longer than the task timeout, so a live attempt keeps it."""

SMS_LIMIT = 160
"""One SMS segment: texts say what happened and send the member to the app, never more (no secrets, no amounts)."""
SMS_CALLBACK_PATH = "/api/webhooks/twilio"

MEMBER_EVENT_NAMES: tuple[str, ...] = tuple(
    sorted(name for name, cls in EVENT_TYPES.items() if issubclass(cls, MemberEvent))
)
"""Every event addressed to a member (staff notices such as `round.opened` have no member recipient)."""

STAFF_EVENT_NAMES: tuple[str, ...] = tuple(
    sorted(name for name, cls in EVENT_TYPES.items() if not issubclass(cls, MemberEvent))
)
"""Staff alerts: they go to every active staff account's in-app feed (and its email)."""
STAFF_ALERT_LIMIT = 200
"""Staff accounts one alert reaches (a real team is far smaller)."""

FEED_MAX_LIMIT = 100
FEED_DEFAULT_LIMIT = 20


def _recipient(payload: dict[str, Any]) -> UUID | None:
    raw = payload.get(RECIPIENT_KEY)
    try:
        return UUID(str(raw)) if raw else None
    except ValueError:
        return None


def delivery_key(payload: Payload) -> str:
    """The job's dedupe key: `f"{event_id}:{recipient}:{channel}"`."""
    return DeliveryKey(
        event_id=str(payload["eventId"]),
        recipient_id=str(payload["accountId"]),
        channel=Channel(str(payload["channel"])),
    ).text


async def on_member_event(deps: Deps, message: OutboxMessage) -> None:
    """Outbox handler: decide the channels for the event's member and enqueue one delivery job per channel."""
    recipient = _recipient(message.payload)
    if recipient is None:
        logger.warning("member event without a recipient", extra={"outbox_id": str(message.id)})
        return
    async with deps.uow() as uow:
        account = await uow.accounts.get(recipient)
        if account is None:
            return  # erased meanwhile: nobody to tell
        preferences = await uow.notification_preferences.get(recipient) or DEFAULT_PREFERENCES
        profile = await uow.profiles.get(recipient)
    channels = deliveries_for(
        message.event_name,
        preferences=preferences,
        email_bounced=profile.email_bounced if profile else False,
        phone_verified=profile is not None and profile.phone_verified_at is not None,
    )
    for channel in channels:
        payload: dict[str, Any] = {"eventId": str(message.id), "accountId": str(recipient), "channel": channel.value}
        await deps.tasks.enqueue(DELIVER_TASK, payload, key=delivery_key(payload))


async def deliver_notification(deps: Deps, payload: Payload) -> str:
    """Job: deliver one (event, recipient, channel) at most once; returns what happened (for the job log)."""
    event_id, channel = str(payload["eventId"]), Channel(str(payload["channel"]))
    account_id = UUID(str(payload["accountId"]))
    key = DeliveryKey(event_id=event_id, recipient_id=str(account_id), channel=channel)
    now = deps.clock.now()
    async with deps.uow() as uow:
        message = await uow.outbox.get(UUID(event_id))
        account = await uow.accounts.get(account_id)
        if message is None or account is None:
            return "gone"
        log = uow.notification_deliveries
        await log.ensure(
            event_id=event_id, account_id=account_id, channel=channel, event_name=message.event_name, at=now
        )
        leased = await log.lease(event_id=event_id, account_id=account_id, channel=channel, at=now, until=now + LEASE)
        profile = await uow.profiles.get(account_id) if channel is Channel.SMS else None
        await uow.commit()
    if not leased:
        return "duplicate"

    rendered = render(message.event_name, message.payload)
    status, provider_id, detail = DeliveryStatus.SENT, None, None
    bounced = False
    try:
        if channel is Channel.EMAIL:
            if deps.email is None:
                raise RuntimeError("email is not configured")
            try:
                provider_id = await deps.email.send(
                    EmailMessage(
                        to=account.email,
                        subject=rendered.subject,
                        text=rendered.text,
                        template=rendered.template,
                        idempotency_key=key.text,
                    )
                )
            except EmailRejected:  # final: a replayed job does not knock on a bounced address again
                status, detail, bounced = DeliveryStatus.SKIPPED, "rejected: the address bounced", True
        elif channel is Channel.SMS:
            status, provider_id, detail = await _text(deps, profile, rendered)
    except Exception as exc:
        async with deps.uow() as uow:
            await uow.notification_deliveries.finish(
                event_id=event_id,
                account_id=account_id,
                channel=channel,
                status=DeliveryStatus.FAILED,
                at=deps.clock.now(),
                detail=f"{type(exc).__name__}: {exc}",
            )
            await uow.commit()
        raise

    async with deps.uow() as uow:
        if channel is Channel.IN_APP:  # the feed row and the delivery record commit together
            await uow.notifications.add(
                account_id=account_id,
                event_id=event_id,
                event_name=message.event_name,
                title=rendered.subject,
                body=rendered.text,
                at=now,
            )
        await uow.notification_deliveries.finish(
            event_id=event_id,
            account_id=account_id,
            channel=channel,
            status=status,
            at=deps.clock.now(),
            provider_message_id=provider_id,
            detail=detail,
        )
        if channel is Channel.EMAIL:
            await _set_bounced(uow, account_id, bounced=bounced, at=now)
        await uow.commit()
    if bounced and message.event_name in MANDATORY_EVENTS:
        # §11: an always-on notice whose email bounced goes by SMS (to a verified phone; the job checks).
        fallback: dict[str, Any] = {"eventId": event_id, "accountId": str(account_id), "channel": Channel.SMS.value}
        await deps.tasks.enqueue(DELIVER_TASK, fallback, key=delivery_key(fallback))
    return str(status)


async def on_staff_event(deps: Deps, message: OutboxMessage) -> None:
    """Outbox handler: a staff alert goes to every active staff account, in-app and by email."""
    async with deps.uow() as uow:
        staff = await uow.accounts.staff_ids(limit=STAFF_ALERT_LIMIT)
    for account_id in staff:
        for channel in (Channel.IN_APP, Channel.EMAIL):
            payload: dict[str, Any] = {
                "eventId": str(message.id),
                "accountId": str(account_id),
                "channel": channel.value,
            }
            await deps.tasks.enqueue(DELIVER_TASK, payload, key=delivery_key(payload))


async def _set_bounced(uow: UnitOfWork, account_id: UUID, *, bounced: bool, at: datetime) -> None:
    """Mail to this address bounced (optional mail stops, mandatory notices add SMS: §11, `channels_for`), or a
    later email got through (so it works again: a full mailbox is not forever)."""
    profile = await uow.profiles.get(account_id, for_update=bounced)
    if profile is None and bounced:
        profile = Profile(account_id=account_id)
    if profile is not None and profile.email_bounced != bounced:
        await uow.profiles.save(replace(profile, email_bounced=bounced), at=at)


def sms_text(rendered: Rendered) -> str:
    """The text of a notice: its subject and a pointer to the app, within one segment where possible."""
    text = f"Tenure: {rendered.subject}. Sign in to Tenure for details."
    if len(text) <= SMS_LIMIT:
        return text
    return f"Tenure: {rendered.subject}"[: SMS_LIMIT - 1] + "…"


async def _text(deps: Deps, profile: Profile | None, rendered: Rendered) -> tuple[DeliveryStatus, str | None, str]:
    """Send one SMS to a verified phone. A refusal is recorded (not retried); an outage raises so the job retries."""
    if profile is None or not profile.phone or profile.phone_verified_at is None:
        return DeliveryStatus.SKIPPED, None, "skipped: no verified phone"
    if deps.sms is None:
        return DeliveryStatus.SKIPPED, None, "skipped: sms is not configured"
    callback = deps.billing.public_url.rstrip("/") + SMS_CALLBACK_PATH
    try:
        accepted = await deps.sms.send(SmsMessage(to=profile.phone, body=sms_text(rendered), status_callback=callback))
    except PhoneProviderError as exc:
        if exc.problem is PhoneProblem.UNAVAILABLE or exc.problem is PhoneProblem.RATE_LIMITED:
            raise  # never reached the provider: the job retries
        if exc.problem is PhoneProblem.OUTCOME_UNKNOWN:
            # Maybe sent: a final state, so no retry or replay can text twice (the feed and email carry it).
            return DeliveryStatus.SKIPPED, None, "unconfirmed: the provider did not answer; not resent"
        return DeliveryStatus.FAILED, None, f"refused: {exc.problem.value}"
    return DeliveryStatus.SENT, accepted.provider_id, f"accepted: {accepted.status}"


# The in-app feed ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedPage:
    items: Sequence[Notification]
    next_cursor: str | None


def encode_cursor(position: FeedPosition) -> str:
    raw = f"{position.created_at.isoformat()}|{position.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> FeedPosition:
    """Raise `InvalidInput` for anything that is not a cursor we issued."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return FeedPosition(created_at=created_at, id=UUID(ident))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is not valid", ["cursor_invalid"]) from None


async def feed(deps: Deps, principal: Principal, *, cursor: str | None, limit: int = FEED_DEFAULT_LIMIT) -> FeedPage:
    if not 1 <= limit <= FEED_MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {FEED_MAX_LIMIT}", ["limit_out_of_range"])
    after = decode_cursor(cursor) if cursor else None
    async with deps.uow() as uow:
        rows = list(await uow.notifications.page(principal.account_id, limit=limit + 1, after=after))
    more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(FeedPosition(created_at=items[-1].created_at, id=items[-1].id)) if more else None
    return FeedPage(items=items, next_cursor=next_cursor)


async def mark_read(deps: Deps, principal: Principal, notification_id: UUID) -> None:
    async with deps.uow() as uow:
        if not await uow.notifications.mark_read(principal.account_id, notification_id, at=deps.clock.now()):
            raise NotFound()
        await uow.commit()


async def mark_all_read(deps: Deps, principal: Principal) -> int:
    async with deps.uow() as uow:
        count = await uow.notifications.mark_all_read(principal.account_id, at=deps.clock.now())
        await uow.commit()
    return count


async def unread_count(deps: Deps, principal: Principal) -> int:
    async with deps.uow() as uow:
        return await uow.notifications.unread_count(principal.account_id)
