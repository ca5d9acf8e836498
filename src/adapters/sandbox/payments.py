"""`PaymentGateway` for the embedded default: an offline sandbox that behaves like Stripe (refused in production).

State lives in the `sandbox_payment_objects` table (one row per object, Stripe-shaped JSON in `data`, `seq` for
creation order), so it survives restarts. Objects follow the shapes `adapters.stripe.gateway` reads: an invoice's
subscription is at `parent.subscription_details.subscription`, its payments are in `payments` (→ payment intent →
`latest_charge`), billing periods are on the subscription items, the paid time is `status_transitions.paid_at`.
Monthly periods are counted from the billing cycle anchor (the joining payment, or the anchor a restarted
subscription was given), clamped to the month's last day.

Nothing here applies an event to our own state. Every state change records Stripe-shaped events; after the change
is committed each event is signed like Stripe (`stripe-signature: t=<unix>,v1=<hmac-sha256 of "t.body">`) and
handed to `deliver(body, headers)`, which the composition root wires to `ports.usecases.webhooks.receive_webhook`
(the same inbox → job → use-case path as Stripe's webhooks). An event whose delivery raised stays pending
(`pending_webhooks` = 1) and is sent again by `deliver_pending()`, as Stripe retries.

Controls that the hosted pages, tests and the CLI use in place of a card holder or Stripe's billing engine:
`complete_checkout`, `decline_checkout`, `expire_checkout`, `advance_subscription`, `pay_invoice`, `refund`,
`open_dispute`, `close_dispute`. Mutations are serialised by an `asyncio.Lock` (one process) and each runs in one
database transaction. Idempotency keys are stored with a fingerprint of the request: a replay returns the first
response, a key reused for another request is refused (`idempotency_error`), as Stripe does.
"""

from __future__ import annotations

import asyncio
import calendar
import collections
import copy
import hashlib
import hmac
import json
import logging
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import stripe
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sql import models
from adapters.sql.unit_of_work import database_unavailable
from adapters.stripe import objects
from adapters.stripe.objects import Json, money, required_time, time_of
from domain.money import Money
from ports.outbound.clock import Clock
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.payments import (
    BalanceTransaction,
    CheckoutSession,
    DunningSettings,
    Page,
    PaymentProviderError,
    PortalLink,
    ProviderCharge,
    ProviderDispute,
    ProviderEvent,
    ProviderInvoice,
    ProviderRefund,
    ProviderSubscription,
)

log = logging.getLogger(__name__)

COMPONENT = "payments"
Deliver = Callable[[bytes, dict[str, str]], Awaitable[None]]
T = TypeVar("T")

PURPOSE_KEY = "purpose"
RETENTION_PURPOSE = "retention"
API_VERSION: str = stripe.api_version
CHECKOUT_TTL = timedelta(hours=24)
RETRY_AFTER_S = 3 * 86400  # when a failed invoice would be retried (reported only; the sandbox never retries)
PROCESSING_FEE_PERCENT_BPS = 290  # 2.9 % + 30 ¢, Stripe's standard card pricing
PROCESSING_FEE_FIXED = 30
DISPUTE_FEE = 1500
PAUSE_BEHAVIORS = ("void", "keep_as_draft", "mark_uncollectible")
OUTCOMES = ("paid", "failed", "requires_action")
PRIVATE = "_sandbox"  # our own bookkeeping inside an object; never leaves the sandbox
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


def add_months(timestamp: int, months: int) -> int:
    """The same day of month `months` later, clamped to that month's last day (Stripe's monthly billing)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Stripe-Signature` header value for `body` (HMAC-SHA256 over `f"{t}.{body}"`, hex)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _public(obj: Json) -> Json:
    """A deep copy without our private bookkeeping, as Stripe would show the object."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k != PRIVATE}


def _missing(kind: str, object_id: str) -> PaymentProviderError:
    return PaymentProviderError(f"No such {kind}: '{object_id}'", status=404, code="resource_missing")


def _refused(message: str, code: str | None = None) -> PaymentProviderError:
    return PaymentProviderError(message, status=400, code=code)


def _list(data: list[Json], url: str) -> Json:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def _page(items: list[T], ids: list[str], limit: int, starting_after: str | None) -> Page[T]:
    """One newest-first page of `items` (whose ids are `ids`, in the same order)."""
    if limit < 1 or limit > 100:
        raise ValueError("limit must be between 1 and 100")
    start = 0
    if starting_after is not None:
        if starting_after not in ids:
            raise _missing("object", starting_after)
        start = ids.index(starting_after) + 1
    chunk = items[start : start + limit]
    has_more = start + limit < len(items)
    return Page(items=tuple(chunk), has_more=has_more, next_cursor=ids[start + len(chunk) - 1] if has_more else None)


class _Tx:
    """The objects one mutation reads and writes, inside one database transaction."""

    def __init__(self, session: AsyncSession, now: int, idempotency_key: str | None) -> None:
        self.session = session
        self.now = now
        self.idempotency_key = idempotency_key
        self._rows: dict[str, models.SandboxPaymentObject] = {}
        self._objects: dict[str, Json] = {}
        self._new: list[str] = []
        self._dirty: set[str] = set()
        self.events: list[Json] = []

    async def find(self, object_id: str, kind: str | None = None) -> Json | None:
        obj = self._objects.get(object_id)
        if obj is None:
            row = await self.session.get(models.SandboxPaymentObject, object_id)
            if row is None:
                return None
            self._rows[object_id] = row
            obj = self._objects[object_id] = copy.deepcopy(row.data)
        if kind is not None and obj.get("object") != kind:
            return None
        return obj

    async def get(self, object_id: str, kind: str) -> Json:
        obj = await self.find(object_id, kind)
        if obj is None:
            raise _missing(kind.replace("_", " ").replace(".", " "), object_id)
        return obj

    def put(self, obj: Json) -> Json:
        """Store a new object or mark a loaded one changed; returns it."""
        object_id = obj["id"]
        if object_id not in self._objects:
            self._objects[object_id] = obj
            self._new.append(object_id)
        self._dirty.add(object_id)
        return obj

    def emit(self, event_type: str, obj: Json) -> None:
        event: Json = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": {"object": _public(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": self.idempotency_key},
            "type": event_type,
        }
        self.put(event)
        self.events.append(event)

    async def write(self) -> None:
        seq = None
        for object_id in self._new:
            if object_id in self._rows:
                continue
            if seq is None:
                top = await self.session.scalar(select(func.max(models.SandboxPaymentObject.seq)))
                seq = int(top or 0)
            seq += 1
            obj = self._objects[object_id]
            self.session.add(
                models.SandboxPaymentObject(id=object_id, kind=obj["object"], data=copy.deepcopy(obj), seq=seq)
            )
        for object_id in self._dirty:
            row = self._rows.get(object_id)
            if row is not None:
                row.data = copy.deepcopy(self._objects[object_id])  # a new value, so the change is detected
        await self.session.flush()


class SandboxPaymentGateway:
    """The offline payment provider. See the module docstring; construct it once per process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        production: bool,
        webhook_secret: str,
        deliver: Deliver,
        base_url: str,
    ) -> None:
        if production:
            raise RuntimeError("the sandbox payment provider cannot run in production")
        if not webhook_secret:
            raise ValueError("a webhook signing secret is required")
        self._sessions = sessions
        self._clock = clock
        self._secret = webhook_secret
        self._deliver = deliver
        self._base_url = base_url.rstrip("/")
        self._lock = asyncio.Lock()
        self._outgoing: collections.deque[str] = collections.deque()
        self._draining = False

    def __repr__(self) -> str:  # never show the secret
        return "SandboxPaymentGateway()"

    # ---- plumbing ---------------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    async def _mutate(
        self,
        what: str,
        change: Callable[[_Tx], Awaitable[Json]],
        *,
        idempotency_key: str | None = None,
        params: Json | None = None,
    ) -> Json:
        """Run `change` in one transaction (serialised), store the idempotency record, then deliver the events.

        Returns the response object (for a replayed idempotency key, the first response)."""
        fingerprint = hashlib.sha256(
            json.dumps({"op": what, "params": params or {}}, sort_keys=True, default=str).encode()
        ).hexdigest()
        async with self._lock:
            try:
                async with self._sessions() as session, session.begin():
                    tx = _Tx(session, self._now(), idempotency_key)
                    record_id = None
                    if idempotency_key is not None:
                        record_id = "idk_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:56]
                        record = await tx.find(record_id, "idempotency_key")
                        if record is not None:
                            if record["fingerprint"] != fingerprint:
                                raise _refused(
                                    "Keys for idempotent requests can only be used with the same parameters they "
                                    "were first used with.",
                                    "idempotency_error",
                                )
                            return copy.deepcopy(record["response"])
                    response = await change(tx)
                    if record_id is not None:
                        tx.put(
                            {
                                "id": record_id,
                                "object": "idempotency_key",
                                "key": idempotency_key,
                                "operation": what,
                                "fingerprint": fingerprint,
                                "created": tx.now,
                                "response": _public(response),
                            }
                        )
                    await tx.write()
            except SQLAlchemyError as exc:
                if database_unavailable(exc):
                    raise ComponentUnavailable(COMPONENT, f"sandbox {what}: {type(exc).__name__}") from exc
                raise
            self._outgoing.extend(event["id"] for event in tx.events)
        await self._drain()
        return _public(response)

    async def _drain(self) -> None:
        """Deliver queued events in order. Re-entrant calls (a `deliver` that mutates the sandbox) only queue:
        the outer drain sends them after the current one."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._outgoing:
                event_id = self._outgoing.popleft()
                await self._deliver_one(event_id)
        finally:
            self._draining = False

    async def _deliver_one(self, event_id: str) -> None:
        event = await self._read(event_id, "event")
        if not event.get("pending_webhooks"):
            return
        body = json.dumps(event, indent=2).encode()  # pretty-printed, as Stripe sends it
        headers = {
            "stripe-signature": sign(self._secret, self._now(), body),
            "content-type": "application/json; charset=utf-8",
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) tenure-sandbox",
        }
        try:
            await self._deliver(body, headers)
        except Exception:  # Stripe keeps the event pending and retries; so do we (deliver_pending)
            log.warning("sandbox payment event not delivered", extra={"event_id": event_id}, exc_info=True)
            return

        try:
            async with self._lock, self._sessions() as session, session.begin():
                tx = _Tx(session, self._now(), None)
                stored = await tx.get(event_id, "event")
                stored["pending_webhooks"] = 0
                tx.put(stored)
                await tx.write()
        except SQLAlchemyError:  # delivered but not marked: a later deliver_pending sends it again (at least once)
            log.warning("sandbox payment event delivered but not marked", extra={"event_id": event_id}, exc_info=True)

    async def deliver_pending(self) -> int:
        """Send again every event whose delivery failed (call at start-up or from the CLI); returns how many
        were delivered now."""
        pending = [e["id"] for e in await self._all("event") if e.get("pending_webhooks")]
        queued = set(self._outgoing)
        self._outgoing.extend(event_id for event_id in pending if event_id not in queued)
        await self._drain()
        still = {e["id"] for e in await self._all("event") if e.get("pending_webhooks")}
        return len([event_id for event_id in pending if event_id not in still])

    async def _read(self, object_id: str, kind: str) -> Json:
        try:
            async with self._sessions() as session:
                row = await session.get(models.SandboxPaymentObject, object_id)
        except SQLAlchemyError as exc:
            if database_unavailable(exc):
                raise ComponentUnavailable(COMPONENT, f"sandbox read: {type(exc).__name__}") from exc
            raise
        if row is None or row.data.get("object") != kind:
            raise _missing(kind.replace("_", " ").replace(".", " "), object_id)
        return copy.deepcopy(row.data)

    async def _find(self, object_id: str | None, kind: str) -> Json | None:
        if object_id is None:
            return None
        try:
            return await self._read(object_id, kind)
        except PaymentProviderError:
            return None

    async def _all(self, kind: str) -> list[Json]:
        """Every object of a kind, oldest first."""
        stmt = (
            select(models.SandboxPaymentObject.data)
            .where(models.SandboxPaymentObject.kind == kind)
            .order_by(models.SandboxPaymentObject.seq)
        )
        try:
            async with self._sessions() as session:
                return [copy.deepcopy(d) for d in (await session.scalars(stmt)).all()]
        except SQLAlchemyError as exc:
            if database_unavailable(exc):
                raise ComponentUnavailable(COMPONENT, f"sandbox read: {type(exc).__name__}") from exc
            raise

    # ---- mapping to the port's DTOs ---------------------------------------------------------------------------

    async def _session_dto(self, raw: Json) -> CheckoutSession:
        metadata = raw.get("metadata") or {}
        total = raw.get("amount_total")
        paid_at = None
        if raw.get("mode") == "payment" and raw.get("payment_status") == "paid":
            intent = await self._find(raw.get("payment_intent"), "payment_intent")
            charge = await self._find(intent.get("latest_charge") if intent else None, "charge")
            if intent and charge and intent["status"] == "succeeded" and charge["status"] == "succeeded":
                paid_at = required_time(charge["created"])
        return CheckoutSession(
            id=raw["id"],
            url=raw.get("url"),
            status=raw["status"],
            payment_status=raw["payment_status"],
            membership_id=metadata.get(objects.MEMBERSHIP_KEY),
            customer_id=raw.get("customer"),
            subscription_id=raw.get("subscription"),
            invoice_id=raw.get("invoice"),
            amount_total=money(total, raw.get("currency")) if total is not None else None,
            expires_at=required_time(raw["expires_at"]),
            purpose=metadata.get(PURPOSE_KEY) or "joining",
            payment_intent_id=raw.get("payment_intent"),
            paid_at=paid_at,
        )

    async def _invoice_dto(self, raw: Json) -> ProviderInvoice:
        details = (raw.get("parent") or {}).get("subscription_details") or {}
        currency = raw.get("currency")
        transitions = raw.get("status_transitions") or {}
        payments = [p for p in raw["payments"]["data"] if (p.get("payment") or {}).get("payment_intent")]
        intent_id = charge_id = None
        if payments:
            best = max(payments, key=lambda p: (p["status"] == "paid", bool(p.get("is_default")), p["created"]))
            intent_id = best["payment"]["payment_intent"]
            intent = await self._find(intent_id, "payment_intent")
            charge_id = intent.get("latest_charge") if intent else None
        return ProviderInvoice(
            id=raw["id"],
            subscription_id=details.get("subscription"),
            customer_id=raw.get("customer"),
            status=raw["status"],
            amount_due=money(raw.get("amount_due"), currency),
            amount_paid=money(raw.get("amount_paid"), currency),
            created_at=required_time(raw["created"]),
            due_at=required_time(raw.get("due_date") or transitions.get("finalized_at") or raw["created"]),
            paid_at=time_of(transitions.get("paid_at")),
            billing_reason=raw.get("billing_reason"),
            payment_intent_id=intent_id,
            charge_id=charge_id,
            period_start=time_of(raw.get("period_start")),
            period_end=time_of(raw.get("period_end")),
            attempt_count=int(raw.get("attempt_count") or 0),
            next_attempt_at=time_of(raw.get("next_payment_attempt")),
            hosted_invoice_url=raw.get("hosted_invoice_url"),
        )

    # ---- object builders (inside a transaction) ---------------------------------------------------------------

    def _balance_transaction(
        self, tx: _Tx, amount: int, *, fee: int, source: str, type_: str, category: str, currency: str
    ) -> Json:
        return tx.put(
            {
                "id": new_id("txn"),
                "object": "balance_transaction",
                "amount": amount,
                "available_on": tx.now + 2 * 86400,
                "created": tx.now,
                "currency": currency,
                "fee": fee,
                "fee_details": [
                    {"amount": fee, "currency": currency, "description": "Stripe processing fees", "type": "stripe_fee"}
                ]
                if fee
                else [],
                "net": amount - fee,
                "reporting_category": category,
                "source": source,
                "status": "pending",
                "type": type_,
            }
        )

    def _charge(self, tx: _Tx, intent: Json, *, succeeded: bool, at: int) -> Json:
        charge_id = new_id("ch")
        charge: Json = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if succeeded else 0,
            "amount_refunded": 0,
            "balance_transaction": None,
            "captured": succeeded,
            "created": at,
            "currency": intent["currency"],
            "customer": intent["customer"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": None if succeeded else "card_declined",
            "failure_message": None if succeeded else "Your card was declined.",
            "livemode": False,
            "metadata": copy.deepcopy(intent["metadata"]),
            "outcome": {
                "network_status": "approved_by_network" if succeeded else "declined_by_network",
                "reason": None if succeeded else "generic_decline",
                "type": "authorized" if succeeded else "issuer_declined",
            },
            "paid": succeeded,
            "payment_intent": intent["id"],
            "refunded": False,
            "refunds": _list([], f"/v1/charges/{charge_id}/refunds"),
            "status": "succeeded" if succeeded else "failed",
        }
        if succeeded:
            amount = intent["amount"]
            fee = (amount * PROCESSING_FEE_PERCENT_BPS + 5_000) // 10_000 + PROCESSING_FEE_FIXED
            txn = self._balance_transaction(
                tx, amount, fee=fee, source=charge_id, type_="charge", category="charge", currency=intent["currency"]
            )
            charge["balance_transaction"] = txn["id"]
        return tx.put(charge)

    def _intent(
        self, tx: _Tx, *, amount: int, currency: str, customer: str | None, description: str, metadata: Json, at: int
    ) -> Json:
        intent_id = new_id("pi")
        return tx.put(
            {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": 0,
                "client_secret": f"{intent_id}_secret_{new_id('s')[2:]}",
                "created": at,
                "currency": currency,
                "customer": customer,
                "description": description,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": metadata,
                "next_action": None,
                "payment_method_types": ["card"],
                "status": "requires_payment_method",
            }
        )

    async def _attempt(self, tx: _Tx, invoice: Json, subscription: Json | None, outcome: str, *, at: int) -> None:
        """One payment attempt on an open invoice, with Stripe's events and the subscription's status."""
        payments = invoice["payments"]["data"]
        if payments:
            intent = await tx.get(payments[-1]["payment"]["payment_intent"], "payment_intent")
            payment = payments[-1]
        else:
            intent = self._intent(
                tx,
                amount=invoice["amount_due"],
                currency=invoice["currency"],
                customer=invoice["customer"],
                description="Subscription creation"
                if invoice["billing_reason"] == "subscription_create"
                else "Subscription update",
                metadata={},
                at=at,
            )
            payment = {
                "id": new_id("inpay"),
                "object": "invoice_payment",
                "amount_paid": None,
                "amount_requested": invoice["amount_due"],
                "created": at,
                "currency": invoice["currency"],
                "invoice": invoice["id"],
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
                "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None},
            }
            payments.append(payment)
        tx.put(intent)
        charge = None
        if outcome == "requires_action":
            intent.update(status="requires_action", next_action={"type": "use_stripe_sdk"}, last_payment_error=None)
        else:
            charge = self._charge(tx, intent, succeeded=outcome == "paid", at=at)
            intent["latest_charge"] = charge["id"]
        if outcome == "paid":
            assert charge is not None
            intent.update(
                status="succeeded", amount_received=intent["amount"], next_action=None, last_payment_error=None
            )
            payment.update(status="paid", amount_paid=intent["amount"])
            payment["status_transitions"]["paid_at"] = at
            invoice.update(
                status="paid",
                amount_paid=invoice["amount_due"],
                amount_remaining=0,
                attempted=True,
                attempt_count=invoice["attempt_count"] + 1,
                next_payment_attempt=None,
            )
            invoice["status_transitions"]["paid_at"] = at
            tx.emit("charge.succeeded", charge)
            tx.emit("payment_intent.succeeded", intent)
            tx.emit("invoice.paid", invoice)
            tx.emit("invoice.payment_succeeded", invoice)
        else:
            invoice.update(
                attempted=True, attempt_count=invoice["attempt_count"] + 1, next_payment_attempt=at + RETRY_AFTER_S
            )
            if outcome == "failed":
                assert charge is not None
                intent.update(
                    status="requires_payment_method",
                    next_action=None,
                    last_payment_error={
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "generic_decline",
                        "message": "Your card was declined.",
                        "charge": charge["id"],
                    },
                )
                tx.emit("charge.failed", charge)
                tx.emit("payment_intent.payment_failed", intent)
                tx.emit("invoice.payment_failed", invoice)
            else:
                tx.emit("payment_intent.requires_action", intent)
                tx.emit("invoice.payment_action_required", invoice)
        tx.put(invoice)
        ended = subscription is not None and subscription["status"] in ("canceled", "incomplete_expired")
        if subscription is not None and not ended and subscription.get("latest_invoice") == invoice["id"]:
            # An ended subscription stays ended when its last invoice is paid late (as in Stripe).
            subscription["status"] = "active" if outcome == "paid" else "past_due"
            tx.put(subscription)

    def _invoice(
        self, tx: _Tx, subscription: Json, customer: Json, lines: list[Json], *, reason: str, created: int
    ) -> Json:
        """A finalized (open) invoice of `subscription`; `lines` are {description, amount, recurring}."""
        invoice_id = new_id("in")
        item = subscription["items"]["data"][0]
        currency = subscription["currency"]
        line_objects = [
            {
                "id": new_id("il"),
                "object": "line_item",
                "amount": line["amount"],
                "currency": currency,
                "description": line["description"],
                "invoice": invoice_id,
                "metadata": {},
                "period": {"start": item["current_period_start"], "end": item["current_period_end"]}
                if line["recurring"]
                else {"start": created, "end": created},
                "quantity": 1,
                "subscription": subscription["id"],
            }
            for line in lines
        ]
        total = sum(line["amount"] for line in lines)
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        tx.put(customer)
        private = subscription[PRIVATE]
        return tx.put(
            {
                "id": invoice_id,
                "object": "invoice",
                "amount_due": total,
                "amount_paid": 0,
                "amount_remaining": total,
                "attempt_count": 0,
                "attempted": False,
                "auto_advance": True,
                "billing_reason": reason,
                "collection_method": "charge_automatically",
                "created": created,
                "currency": currency,
                "customer": customer["id"],
                "customer_email": customer["email"],
                "due_date": None,
                "hosted_invoice_url": f"{self._base_url}/sandbox/invoices/{invoice_id}",
                "lines": _list(line_objects, f"/v1/invoices/{invoice_id}/lines"),
                "livemode": False,
                "metadata": {},
                "next_payment_attempt": created,
                "number": number,
                "parent": {
                    "quote_details": None,
                    "type": "subscription_details",
                    "subscription_details": {
                        "metadata": copy.deepcopy(subscription["metadata"]),
                        "subscription": subscription["id"],
                    },
                },
                # Stripe: the first invoice's period is its creation instant; a renewal's is the period just ended.
                "period_start": created if reason == "subscription_create" else private["previous_period_start"],
                "period_end": created if reason == "subscription_create" else item["current_period_start"],
                "payments": _list([], f"/v1/invoice_payments?invoice={invoice_id}"),
                "status": "open",
                "status_transitions": {
                    "finalized_at": created,
                    "marked_uncollectible_at": None,
                    "paid_at": None,
                    "voided_at": None,
                },
                "subscription": None,  # this API version puts the subscription under `parent`
                "subtotal": total,
                "total": total,
            }
        )

    # ---- checkout ---------------------------------------------------------------------------------------------

    def _checkout(self, tx: _Tx, *, mode: str, amount: int, currency: str, fields: Json) -> Json:
        session_id = new_id("cs_test")
        session: Json = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": None,
            "client_reference_id": None,
            "created": tx.now,
            "currency": currency,
            "customer": None,
            "customer_email": None,
            "expires_at": tx.now + int(CHECKOUT_TTL.total_seconds()),
            "invoice": None,
            "livemode": False,
            "metadata": {},
            "mode": mode,
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": None,
            "ui_mode": "hosted",
            "url": f"{self._base_url}/sandbox/checkout/{session_id}",
        }
        session.update(fields)
        return tx.put(session)

    async def create_joining_checkout(
        self,
        *,
        membership_id: str,
        customer_email: str,
        monthly_dues: Money,
        joining_fee: Money,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        if joining_fee.currency != monthly_dues.currency:
            raise ValueError("joining fee and dues must share a currency")
        if monthly_dues.cents <= 0 or joining_fee.cents < monthly_dues.cents:
            raise ValueError("joining fee must be at least the (positive) monthly dues")
        currency = monthly_dues.currency.lower()
        metadata = {objects.MEMBERSHIP_KEY: membership_id}

        async def change(tx: _Tx) -> Json:
            return self._checkout(
                tx,
                mode="subscription",
                amount=joining_fee.cents,
                currency=currency,
                fields={
                    "cancel_url": cancel_url,
                    "client_reference_id": membership_id,
                    "customer_email": customer_email,
                    "metadata": dict(metadata),
                    "success_url": success_url,
                    PRIVATE: {
                        "idempotency_key": idempotency_key,
                        "dues": monthly_dues.cents,
                        "joining_fee": joining_fee.cents,
                        "subscription_metadata": dict(metadata),
                    },
                },
            )

        params = {
            "membership_id": membership_id,
            "email": customer_email,
            "dues": str(monthly_dues),
            "fee": str(joining_fee),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        raw = await self._mutate("create joining checkout", change, idempotency_key=idempotency_key, params=params)
        return await self._session_dto(raw)

    async def create_retention_checkout(
        self,
        *,
        membership_id: str,
        customer_id: str,
        amount: Money,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        if amount.cents <= 0:
            raise ValueError("the retention amount must be positive")
        metadata = {objects.MEMBERSHIP_KEY: membership_id, PURPOSE_KEY: RETENTION_PURPOSE}

        async def change(tx: _Tx) -> Json:
            await tx.get(customer_id, "customer")
            return self._checkout(
                tx,
                mode="payment",
                amount=amount.cents,
                currency=amount.currency.lower(),
                fields={
                    "cancel_url": cancel_url,
                    "client_reference_id": membership_id,
                    "customer": customer_id,
                    "metadata": dict(metadata),
                    "success_url": success_url,
                    PRIVATE: {"idempotency_key": idempotency_key, "payment_intent_metadata": dict(metadata)},
                },
            )

        params = {
            "membership_id": membership_id,
            "customer": customer_id,
            "amount": str(amount),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        raw = await self._mutate("create retention checkout", change, idempotency_key=idempotency_key, params=params)
        return await self._session_dto(raw)

    async def get_checkout_session(self, session_id: str) -> CheckoutSession:
        return await self._session_dto(await self._read(session_id, "checkout.session"))

    async def checkout_details(self, session_id: str) -> Json:
        """The session as Stripe shows it (for the hosted page: amount, currency, urls, status)."""
        return _public(await self._read(session_id, "checkout.session"))

    async def _open_session(self, tx: _Tx, session_id: str) -> Json:
        session = await tx.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise _refused(
                f"This Checkout Session is {session['status']}.",
                "checkout_session_expired" if session["status"] == "expired" else None,
            )
        return session

    def _expire(self, tx: _Tx, session: Json) -> None:
        session["status"] = "expired"
        session["expires_at"] = min(session["expires_at"], tx.now)
        tx.put(session)
        tx.emit("checkout.session.expired", session)

    async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> CheckoutSession:
        async def change(tx: _Tx) -> Json:
            session = await self._open_session(tx, session_id)
            self._expire(tx, session)
            return session

        raw = await self._mutate(
            "expire checkout", change, idempotency_key=idempotency_key, params={"session": session_id}
        )
        return await self._session_dto(raw)

    # ---- controls: checkout -----------------------------------------------------------------------------------

    async def complete_checkout(self, session_id: str) -> CheckoutSession:
        """The card holder pays on the hosted page. Subscription mode: customer, subscription (period from now, one
        calendar month), first invoice (the joining fee) paid now with its payment intent, charge and balance
        transaction, and Stripe's events ending with `checkout.session.completed`. Payment mode: a payment intent
        and charge. An open session past its `expires_at` expires instead (and this raises)."""

        async def change(tx: _Tx) -> Json:
            session = await self._open_session(tx, session_id)
            if tx.now >= session["expires_at"]:
                self._expire(tx, session)
                return session
            if session["mode"] == "payment":
                await self._complete_payment(tx, session)
            else:
                await self._complete_subscription(tx, session)
            tx.emit("checkout.session.completed", session)
            return session

        raw = await self._mutate("complete checkout", change)
        if raw["status"] == "expired":
            raise _refused("This Checkout Session is expired.", "checkout_session_expired")
        return await self._session_dto(raw)

    async def _customer(self, tx: _Tx, email: str | None) -> Json:
        customer = tx.put(
            {
                "id": new_id("cus"),
                "object": "customer",
                "created": tx.now,
                "email": email,
                "invoice_prefix": secrets.token_hex(4).upper(),
                "livemode": False,
                "metadata": {},
                "name": None,
                "next_invoice_sequence": 1,
            }
        )
        tx.emit("customer.created", customer)
        return customer

    async def _complete_subscription(self, tx: _Tx, session: Json) -> None:
        private = session[PRIVATE]
        at = tx.now
        if session.get("customer"):
            customer = await tx.get(session["customer"], "customer")
        else:
            customer = await self._customer(tx, session.get("customer_email"))
        subscription_id = new_id("sub")
        currency = session["currency"]
        dues, fee = private["dues"], private["joining_fee"]
        item = {
            "id": new_id("si"),
            "object": "subscription_item",
            "created": at,
            "current_period_start": at,
            "current_period_end": add_months(at, 1),
            "metadata": {},
            "price": {
                "id": new_id("price"),
                "object": "price",
                "active": True,
                "currency": currency,
                "nickname": "Monthly dues",
                "recurring": {"interval": "month", "interval_count": 1},
                "type": "recurring",
                "unit_amount": dues,
            },
            "quantity": 1,
            "subscription": subscription_id,
        }
        subscription = self._subscription(
            tx,
            subscription_id,
            customer_id=customer["id"],
            currency=currency,
            items=[item],
            metadata=dict(private["subscription_metadata"]),
            anchor=at,
            status="incomplete",
            default_payment_method=self._card_of(customer["id"]),
        )
        lines = [{"description": "1 × Monthly dues", "amount": dues, "recurring": True}]
        if fee > dues:
            lines.append(
                {
                    "description": "1 × Joining fee (beyond the first month's dues)",
                    "amount": fee - dues,
                    "recurring": False,
                }
            )
        invoice = self._invoice(tx, subscription, customer, lines, reason="subscription_create", created=at)
        subscription["latest_invoice"] = invoice["id"]
        tx.emit("customer.subscription.created", subscription)
        tx.emit("invoice.created", invoice)
        tx.emit("invoice.finalized", invoice)
        await self._attempt(tx, invoice, subscription, "paid", at=at)
        tx.emit("customer.subscription.updated", subscription)
        session.update(
            customer=customer["id"],
            customer_details={"email": customer["email"], "name": customer["name"]},
            invoice=invoice["id"],
            payment_status="paid",
            status="complete",
            subscription=subscription["id"],
        )
        tx.put(session)

    @staticmethod
    def _card_of(customer_id: str) -> str:
        """The id of the customer's card (the sandbox keeps no payment method objects: one card per customer)."""
        return f"pm_{customer_id[4:]}"

    @staticmethod
    def _subscription(
        tx: _Tx,
        subscription_id: str,
        *,
        customer_id: str,
        currency: str,
        items: list[Json],
        metadata: Json,
        anchor: int,
        status: str,
        default_payment_method: str | None,
    ) -> Json:
        """A new subscription starting now. Its first period is the items' (now → the first billing date):
        `anchor` itself when that is in the future (a restart), else one month after it (checkout)."""
        return tx.put(
            {
                "id": subscription_id,
                "object": "subscription",
                "billing_cycle_anchor": anchor,
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "collection_method": "charge_automatically",
                "created": tx.now,
                "currency": currency,
                "customer": customer_id,
                "default_payment_method": default_payment_method,
                "ended_at": None,
                "items": _list(items, f"/v1/subscription_items?subscription={subscription_id}"),
                "latest_invoice": None,
                "livemode": False,
                "metadata": metadata,
                "pause_collection": None,
                "start_date": tx.now,
                "status": status,
                # `periods`: how many months from the anchor the current period ends (add_months(anchor, periods)).
                PRIVATE: {"periods": 0 if anchor > tx.now else 1, "previous_period_start": tx.now},
            }
        )

    async def _complete_payment(self, tx: _Tx, session: Json) -> None:
        intent = self._intent(
            tx,
            amount=session["amount_total"],
            currency=session["currency"],
            customer=session.get("customer"),
            description="Retention prepayment",
            metadata=dict(session[PRIVATE]["payment_intent_metadata"]),
            at=tx.now,
        )
        charge = self._charge(tx, intent, succeeded=True, at=tx.now)
        intent.update(latest_charge=charge["id"], status="succeeded", amount_received=intent["amount"])
        tx.emit("charge.succeeded", charge)
        tx.emit("payment_intent.succeeded", intent)
        session.update(payment_intent=intent["id"], payment_status="paid", status="complete")
        tx.put(session)

    async def decline_checkout(self, session_id: str) -> CheckoutSession:
        """The card is declined on the hosted page: nothing is created, no event, the session stays open."""
        raw = await self._read(session_id, "checkout.session")
        if raw["status"] != "open":
            raise _refused(f"This Checkout Session is {raw['status']}.")
        return await self._session_dto(raw)

    async def expire_checkout(self, session_id: str) -> CheckoutSession:
        """Checkout gives up on the session (as at `expires_at`): `checkout.session.expired`."""

        async def change(tx: _Tx) -> Json:
            session = await self._open_session(tx, session_id)
            self._expire(tx, session)
            return session

        return await self._session_dto(await self._mutate("expire checkout", change))

    # ---- controls: renewals, late payment -------------------------------------------------------------------

    async def advance_subscription(self, subscription_id: str, outcome: str = "paid") -> ProviderInvoice | None:
        """Move the subscription to its next period and bill the dues at the period end. `outcome`: `paid`,
        `failed` (`invoice.payment_failed`, subscription `past_due`) or `requires_action`
        (`invoice.payment_action_required`, `past_due`). With paused collection the invoice is voided (or left a
        draft, or marked uncollectible) and nothing is charged. With cancellation scheduled for the period end the
        subscription ends instead (`customer.subscription.deleted`) and this returns None. Returns the invoice."""
        if outcome not in OUTCOMES:
            raise _refused(f"unknown outcome {outcome!r}")

        async def change(tx: _Tx) -> Json:
            subscription = await tx.get(subscription_id, "subscription")
            if subscription["status"] in ("canceled", "incomplete_expired"):
                raise _refused("A canceled subscription cannot be advanced.")
            item = subscription["items"]["data"][0]
            start = item["current_period_end"]
            if subscription["cancel_at_period_end"]:
                self._end(tx, subscription, at=start)
                return subscription
            private = subscription[PRIVATE]
            anchor = subscription["billing_cycle_anchor"]
            private["previous_period_start"] = item["current_period_start"]
            private["periods"] += 1
            for each in subscription["items"]["data"]:
                each.update(current_period_start=start, current_period_end=add_months(anchor, private["periods"]))
            customer = await tx.get(subscription["customer"], "customer")
            lines = [
                {"description": "1 × Monthly dues", "amount": each["price"]["unit_amount"], "recurring": True}
                for each in subscription["items"]["data"]
            ]
            invoice = self._invoice(tx, subscription, customer, lines, reason="subscription_cycle", created=start)
            subscription["latest_invoice"] = invoice["id"]
            tx.put(subscription)
            tx.emit("invoice.created", invoice)
            pause = (subscription.get("pause_collection") or {}).get("behavior")
            if pause == "keep_as_draft":
                invoice.update(status="draft", next_payment_attempt=None, number=None)
                invoice["status_transitions"]["finalized_at"] = None
            else:
                tx.emit("invoice.finalized", invoice)
            if pause == "void":
                invoice.update(status="void", amount_remaining=0, next_payment_attempt=None)
                invoice["status_transitions"]["voided_at"] = start
                tx.emit("invoice.voided", invoice)
            elif pause == "mark_uncollectible":
                invoice.update(status="uncollectible", next_payment_attempt=None)
                invoice["status_transitions"]["marked_uncollectible_at"] = start
                tx.emit("invoice.marked_uncollectible", invoice)
            elif pause is None:
                await self._attempt(tx, invoice, subscription, outcome, at=start)
            tx.emit("customer.subscription.updated", subscription)
            return invoice

        raw = await self._mutate("advance subscription", change)
        return await self._invoice_dto(raw) if raw["object"] == "invoice" else None

    async def pay_invoice(self, invoice_id: str) -> ProviderInvoice:
        """An open invoice is paid now (the member pays late, or completes the required action); if it is the
        subscription's latest invoice the subscription is active again, unless it has ended (a canceled
        subscription stays canceled, as in Stripe)."""

        async def change(tx: _Tx) -> Json:
            invoice = await tx.get(invoice_id, "invoice")
            if invoice["status"] == "paid":
                raise _refused("Invoice is already paid", "invoice_already_paid")
            if invoice["status"] != "open":
                raise _refused(f"This invoice can't be paid: it is {invoice['status']}.", "invoice_not_editable")
            subscription_id = invoice["parent"]["subscription_details"]["subscription"]
            subscription = await tx.get(subscription_id, "subscription")
            was = subscription["status"]
            await self._attempt(tx, invoice, subscription, "paid", at=tx.now)
            if subscription["status"] != was:
                tx.emit("customer.subscription.updated", subscription)
            return invoice

        return await self._invoice_dto(await self._mutate("pay invoice", change))

    # ---- invoices ---------------------------------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> ProviderInvoice:
        return await self._invoice_dto(await self._read(invoice_id, "invoice"))

    async def list_invoices(
        self,
        *,
        subscription_id: str | None = None,
        customer_id: str | None = None,
        created_after: datetime | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> Page[ProviderInvoice]:
        if (subscription_id is None) == (customer_id is None):
            raise ValueError("exactly one of subscription_id / customer_id is required")
        after = int(created_after.timestamp()) if created_after is not None else None
        rows = []
        for seq, raw in enumerate(await self._all("invoice")):
            if subscription_id is not None and raw["parent"]["subscription_details"]["subscription"] != subscription_id:
                continue
            if customer_id is not None and raw.get("customer") != customer_id:
                continue
            if after is not None and raw["created"] < after:
                continue
            rows.append((raw["created"], seq, raw))
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        ordered = [r[2] for r in rows]
        page = _page(ordered, [r["id"] for r in ordered], limit, starting_after)
        return Page(
            items=tuple([await self._invoice_dto(r) for r in page.items]),
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )

    # ---- subscriptions ----------------------------------------------------------------------------------------

    async def get_subscription(self, subscription_id: str) -> ProviderSubscription:
        return objects.subscription(await self._read(subscription_id, "subscription"))

    async def _update_subscription(
        self, what: str, subscription_id: str, update: Callable[[_Tx, Json], None], key: str, params: Json
    ) -> ProviderSubscription:
        async def change(tx: _Tx) -> Json:
            subscription = await tx.get(subscription_id, "subscription")
            if subscription["status"] == "canceled":
                raise _refused("A canceled subscription can only update its cancellation_details and metadata.")
            update(tx, subscription)
            tx.put(subscription)
            tx.emit("customer.subscription.updated", subscription)
            return subscription

        raw = await self._mutate(what, change, idempotency_key=key, params={"subscription": subscription_id, **params})
        return objects.subscription(raw)

    async def set_cancel_at_period_end(
        self, subscription_id: str, *, on: bool, idempotency_key: str
    ) -> ProviderSubscription:
        def update(tx: _Tx, subscription: Json) -> None:
            subscription["cancel_at_period_end"] = on
            subscription["cancel_at"] = subscription["items"]["data"][0]["current_period_end"] if on else None
            subscription["canceled_at"] = tx.now if on else None
            subscription["cancellation_details"]["reason"] = "cancellation_requested" if on else None

        return await self._update_subscription(
            "set cancel at period end", subscription_id, update, idempotency_key, {"on": on}
        )

    async def pause_collection(
        self, subscription_id: str, *, idempotency_key: str, behavior: str = "void"
    ) -> ProviderSubscription:
        if behavior not in PAUSE_BEHAVIORS:
            raise _refused("Invalid pause_collection[behavior]")

        def update(tx: _Tx, subscription: Json) -> None:
            subscription["pause_collection"] = {"behavior": behavior, "resumes_at": None}

        return await self._update_subscription(
            "pause collection", subscription_id, update, idempotency_key, {"behavior": behavior}
        )

    async def resume_collection(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription:
        def update(tx: _Tx, subscription: Json) -> None:
            subscription["pause_collection"] = None

        return await self._update_subscription("resume collection", subscription_id, update, idempotency_key, {})

    def _end(self, tx: _Tx, subscription: Json, *, at: int) -> None:
        subscription.update(status="canceled", ended_at=at, canceled_at=subscription.get("canceled_at") or at)
        subscription["cancellation_details"]["reason"] = "cancellation_requested"
        tx.put(subscription)
        tx.emit("customer.subscription.deleted", subscription)

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription:
        async def change(tx: _Tx) -> Json:
            subscription = await tx.get(subscription_id, "subscription")
            if subscription["status"] == "canceled":
                raise PaymentProviderError(
                    f"No such subscription: '{subscription_id}' (already canceled)", status=404, code="resource_missing"
                )
            self._end(tx, subscription, at=tx.now)
            return subscription

        raw = await self._mutate(
            "cancel subscription", change, idempotency_key=idempotency_key, params={"subscription": subscription_id}
        )
        return objects.subscription(raw)

    async def restart_subscription(
        self, previous_subscription_id: str, *, billing_cycle_anchor: datetime, membership_id: str, idempotency_key: str
    ) -> ProviderSubscription:
        """A new active subscription for the previous one's customer, prices and card, as Stripe creates it with a
        future `billing_cycle_anchor` and `proration_behavior=none`: its first period runs from now to the anchor
        and nothing is invoiced before it; `advance_subscription` then bills the dues at the anchor and monthly
        from it. `customer.subscription.created`. As Stripe, the anchor must be in the future and no later than
        a month from now."""
        if billing_cycle_anchor.tzinfo is None:
            raise ValueError("billing_cycle_anchor must be an aware datetime")
        anchor = int(billing_cycle_anchor.timestamp())

        async def change(tx: _Tx) -> Json:
            previous = await tx.get(previous_subscription_id, "subscription")
            customer = await tx.get(previous["customer"], "customer")
            if anchor <= tx.now:
                raise _refused(
                    "Invalid timestamp: must be an integer Unix timestamp in the future.", "parameter_invalid_integer"
                )
            natural = add_months(tx.now, 1)
            if anchor > natural:
                raise _refused(f"billing_cycle_anchor cannot be later than next natural billing date ({natural})")
            subscription_id = new_id("sub")
            items = []
            for old in previous["items"]["data"]:
                item = copy.deepcopy(old)  # the same price (id, amount, interval) and quantity
                item.update(
                    id=new_id("si"),
                    created=tx.now,
                    current_period_start=tx.now,
                    current_period_end=anchor,
                    metadata={},
                    subscription=subscription_id,
                )
                items.append(item)
            subscription = self._subscription(
                tx,
                subscription_id,
                customer_id=customer["id"],
                currency=previous["currency"],
                items=items,
                metadata={objects.MEMBERSHIP_KEY: membership_id},
                anchor=anchor,
                status="active",
                default_payment_method=previous.get("default_payment_method"),
            )
            tx.emit("customer.subscription.created", subscription)
            return subscription

        params = {"subscription": previous_subscription_id, "anchor": anchor, "membership_id": membership_id}
        raw = await self._mutate("restart subscription", change, idempotency_key=idempotency_key, params=params)
        return objects.subscription(raw)

    # ---- refunds, disputes ------------------------------------------------------------------------------------

    async def _refund(
        self, tx: _Tx, charge: Json, amount: int | None, reason: str | None, metadata: Json | None = None
    ) -> Json:
        if charge["status"] != "succeeded":
            raise _refused(f"Charge {charge['id']} has not succeeded.")
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise _refused(f"Charge {charge['id']} has already been refunded.", "charge_already_refunded")
        amount = remaining if amount is None else amount
        if amount <= 0 or amount > remaining:
            raise _refused(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                "amount_too_large",
            )
        refund_id = new_id("re")
        txn = self._balance_transaction(
            tx, -amount, fee=0, source=refund_id, type_="refund", category="refund", currency=charge["currency"]
        )
        refund = tx.put(
            {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "balance_transaction": txn["id"],
                "charge": charge["id"],
                "created": tx.now,
                "currency": charge["currency"],
                "metadata": dict(metadata or {}),
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "succeeded",
            }
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        charge["refunds"]["data"].insert(0, _public(refund))
        tx.put(charge)
        tx.emit("charge.refunded", charge)
        tx.emit("refund.created", refund)
        return refund

    async def refund_payment(
        self,
        *,
        charge_id: str | None = None,
        payment_intent_id: str | None = None,
        amount: Money | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> ProviderRefund:
        if (charge_id is None) == (payment_intent_id is None):
            raise ValueError("exactly one of charge_id / payment_intent_id is required")
        if amount is not None and amount.cents <= 0:
            raise ValueError("refund amount must be positive")

        async def change(tx: _Tx) -> Json:
            target = charge_id
            if target is None:
                assert payment_intent_id is not None
                intent = await tx.get(payment_intent_id, "payment_intent")
                target = intent.get("latest_charge")
                if target is None:
                    raise _refused(f"PaymentIntent {payment_intent_id} has no charge to refund.")
            charge = await tx.get(target, "charge")
            if amount is not None and amount.currency.lower() != charge["currency"]:
                raise _refused("The refund currency must be the charge's currency.")
            return await self._refund(
                tx, charge, amount.cents if amount is not None else None, None, dict(metadata or {})
            )

        params = {
            "charge": charge_id,
            "payment_intent": payment_intent_id,
            "amount": str(amount),
            "metadata": dict(metadata or {}),
        }
        raw = await self._mutate("refund", change, idempotency_key=idempotency_key, params=params)
        return objects.refund(raw)

    async def refund(self, charge_id: str, amount: Money | None = None) -> ProviderRefund:
        """Control: a refund made outside our system (the Dashboard); all that remains unless `amount`."""

        async def change(tx: _Tx) -> Json:
            charge = await tx.get(charge_id, "charge")
            return await self._refund(tx, charge, amount.cents if amount is not None else None, "requested_by_customer")

        return objects.refund(await self._mutate("refund", change))

    async def open_dispute(self, charge_id: str, *, amount: Money | None = None) -> ProviderDispute:
        """Control: the card holder disputes the charge; funds and the dispute fee are withdrawn."""

        async def change(tx: _Tx) -> Json:
            charge = await tx.get(charge_id, "charge")
            if not charge["paid"]:
                raise _refused(f"Charge {charge_id} was not paid.")
            cents = charge["amount"] - charge["amount_refunded"] if amount is None else amount.cents
            dispute_id = new_id("dp")
            txn = self._balance_transaction(
                tx,
                -cents,
                fee=DISPUTE_FEE,
                source=dispute_id,
                type_="adjustment",
                category="dispute",
                currency=charge["currency"],
            )
            dispute = tx.put(
                {
                    "id": dispute_id,
                    "object": "dispute",
                    "amount": cents,
                    "balance_transactions": [_public(txn)],
                    "charge": charge_id,
                    "created": tx.now,
                    "currency": charge["currency"],
                    "evidence_details": {"due_by": tx.now + 7 * 86400, "has_evidence": False, "submission_count": 0},
                    "is_charge_refundable": False,
                    "livemode": False,
                    "metadata": {},
                    "payment_intent": charge["payment_intent"],
                    "reason": "fraudulent",
                    "status": "needs_response",
                }
            )
            charge["disputed"] = True
            tx.put(charge)
            tx.emit("charge.dispute.created", dispute)
            return dispute

        return objects.dispute(await self._mutate("open dispute", change))

    async def close_dispute(self, dispute_id: str, *, won: bool) -> ProviderDispute:
        """Control: the dispute is decided; `won` returns the funds and the fee. `charge.dispute.closed`."""

        async def change(tx: _Tx) -> Json:
            dispute = await tx.get(dispute_id, "dispute")
            if dispute["status"] in ("won", "lost"):
                raise _refused(f"Dispute {dispute_id} is already closed.")
            if won:
                txn = self._balance_transaction(
                    tx,
                    dispute["amount"],
                    fee=-DISPUTE_FEE,
                    source=dispute_id,
                    type_="adjustment",
                    category="dispute_reversal",
                    currency=dispute["currency"],
                )
                dispute["balance_transactions"].append(_public(txn))
            dispute["status"] = "won" if won else "lost"
            tx.put(dispute)
            tx.emit("charge.dispute.closed", dispute)
            return dispute

        return objects.dispute(await self._mutate("close dispute", change))

    async def get_charge(self, charge_id: str) -> ProviderCharge:
        raw = await self._read(charge_id, "charge")
        currency = raw.get("currency")
        return ProviderCharge(
            id=raw["id"],
            payment_intent_id=raw.get("payment_intent"),
            amount=money(raw["amount"], currency),
            amount_refunded=money(raw["amount_refunded"], currency),
            refunds=tuple(objects.refund(r) for r in raw["refunds"]["data"]),
            created_at=required_time(raw["created"]),
        )

    async def get_dispute(self, dispute_id: str) -> ProviderDispute:
        return objects.dispute(await self._read(dispute_id, "dispute"))

    async def list_balance_transactions(
        self, *, created_after: datetime, limit: int = 100, starting_after: str | None = None
    ) -> Page[BalanceTransaction]:
        after = int(created_after.timestamp())
        rows = [r for r in await self._all("balance_transaction") if r["created"] >= after]
        rows = [r for _, r in sorted(enumerate(rows), key=lambda p: (p[1]["created"], p[0]), reverse=True)]
        items = [objects.balance_transaction(r) for r in rows]
        return _page(items, [r["id"] for r in rows], limit, starting_after)

    # ---- portal, settings, events -----------------------------------------------------------------------------

    async def create_billing_portal_link(
        self, *, customer_id: str, return_url: str, idempotency_key: str
    ) -> PortalLink:
        async def change(tx: _Tx) -> Json:
            await tx.get(customer_id, "customer")
            return tx.put(
                {
                    "id": new_id("bps"),
                    "object": "billing_portal.session",
                    "created": tx.now,
                    "customer": customer_id,
                    "livemode": False,
                    "return_url": return_url,
                    "url": f"{self._base_url}/sandbox/portal/{customer_id}",
                }
            )

        raw = await self._mutate(
            "create billing portal session",
            change,
            idempotency_key=idempotency_key,
            params={"customer": customer_id, "return_url": return_url},
        )
        return PortalLink(id=raw["id"], url=raw["url"])

    async def portal_details(self, customer_id: str) -> Json:
        """For the portal page: the customer, their subscriptions, and the newest portal session's return url."""
        customer = _public(await self._read(customer_id, "customer"))
        subscriptions = [_public(s) for s in await self._all("subscription") if s["customer"] == customer_id]
        portals = [p for p in await self._all("billing_portal.session") if p["customer"] == customer_id]
        return {
            "customer": customer,
            "subscriptions": subscriptions,
            "return_url": portals[-1]["return_url"] if portals else None,
        }

    async def invoice_details(self, invoice_id: str) -> Json:
        """The invoice as Stripe shows it (for the hosted invoice page)."""
        return _public(await self._read(invoice_id, "invoice"))

    async def dunning_settings(self) -> DunningSettings:
        """The sandbox never retries a failed invoice by itself and never cancels or marks a subscription unpaid:
        an unpaid subscription stays `past_due` until it is paid or we cancel it, so it can never end before our
        grace does."""
        return DunningSettings(retry_window_days=0, terminal_action="past_due")

    async def list_events(
        self,
        *,
        created_after: datetime,
        types: Sequence[str] = (),
        limit: int = 100,
        starting_after: str | None = None,
    ) -> Page[ProviderEvent]:
        after = int(created_after.timestamp())
        wanted = set(types)
        rows = [e for e in await self._all("event") if e["created"] >= after and (not wanted or e["type"] in wanted)]
        rows = [r for _, r in sorted(enumerate(rows), key=lambda p: (p[1]["created"], p[0]), reverse=True)]
        items = [
            ProviderEvent(
                id=e["id"],
                type=e["type"],
                created_at=required_time(e["created"]),
                object_id=e["data"]["object"].get("id"),
            )
            for e in rows
        ]
        return _page(items, [e["id"] for e in rows], limit, starting_after)

    async def events(self, type: str | None = None) -> list[Json]:
        """Every recorded event, oldest first (optionally of one type): for tests and the CLI."""
        return [e for e in await self._all("event") if type is None or e["type"] == type]
