"""A local fake of Stripe's HTTP API for subscription billing, for tests only (never shipped).

Run it with `async with run_fake_stripe() as fake:`: uvicorn serves the Litestar app on 127.0.0.1 (ephemeral
port) inside the test's event loop; point the stripe SDK at `fake.base_url` with `fake.api_key`. Because the
server shares the loop, call the SDK's `*_async` methods (with `stripe.HTTPXClient()`), never the blocking ones.

Every object is a deep copy of Stripe's published example of its type (`stripe_fixtures.template`) with ids,
amounts, statuses, timestamps and relations filled in, so shapes follow the API version of the fixtures:
the invoice's subscription is at `parent.subscription_details.subscription` (top-level `invoice.subscription`
stays null as in the example), an invoice has no `charge`/`payment_intent` (invoice → `invoice_payments` →
payment intent → `latest_charge`), billing periods are on the subscription **items**, paid time is
`status_transitions.paid_at`.

HTTP API (`/v1`, form-encoded bodies with Stripe's `a[b][0][c]=` nesting; `Authorization: Bearer <key>` or
basic auth with the key as user; any `Stripe-Version` accepted; every POST needs an `Idempotency-Key`, replays
of a key return the stored response, a key reused with other parameters gets 400 `idempotency_error`):
  customers               POST /v1/customers, GET /v1/customers/{id}
  prices                  POST /v1/prices, GET /v1/prices/{id}
  checkout sessions       POST /v1/checkout/sessions (mode=subscription, or mode=payment with one-time prices and
                          optional payment_intent_data[metadata|description]; line_items with `price` or
                          `price_data`), GET /v1/checkout/sessions/{id}, POST /v1/checkout/sessions/{id}/expire
  subscriptions           POST /v1/subscriptions (customer, items[][price|quantity] of monthly prices, a future
                          billing_cycle_anchor within a month, proration_behavior=none, payment_behavior,
                          default_payment_method, metadata: active at once, first period now → anchor, no invoice
                          before the anchor; customer.subscription.created); GET /v1/subscriptions/{id};
                          POST /v1/subscriptions/{id} (cancel_at_period_end, pause_collection[behavior] or "" to
                          resume, metadata); DELETE /v1/subscriptions/{id}
  invoices                GET /v1/invoices/{id}; GET /v1/invoices (customer, subscription, status, created);
                          POST /v1/invoices/{id}/pay (succeeds)
  invoice payments        GET /v1/invoice_payments?invoice=…, GET /v1/invoice_payments/{id}
  payment intents, charges, disputes   GET …/{id} (a charge's `refunds` list only with `expand[]=refunds`, as
                          in Stripe: its first 10 refunds, newest first, `has_more` beyond)
  refunds                 POST /v1/refunds (charge or payment_intent, optional amount/reason/metadata),
                          GET /v1/refunds (charge, payment_intent, created), GET /v1/refunds/{id}
  billing portal          POST /v1/billing_portal/sessions
  events                  GET /v1/events (type, types[], created[gt|gte|lt|lte]), GET /v1/events/{id}
  balance transactions    GET /v1/balance_transactions (type, source, created), GET /v1/balance_transactions/{id}
Lists are `{"object": "list", "data": [...], "has_more", "url"}`, newest first, with `limit` (default 10,
max 100), `starting_after`, `ending_before`. `expand[]` replaces id strings at the given paths (and
`payments` on an invoice). Errors use Stripe's `{"error": {"type", "message", "code"?, "param"?}}`.

Test controls: methods of `FakeStripe`, also reachable as `POST /_test/<path>` with a JSON body of the same
keyword arguments (no auth, no idempotency key). Each records the events listed, in Stripe's order:
  complete_checkout(cs, paid_at=, email=, name=)   /_test/checkout/sessions/{id}/complete
      subscription mode: [customer.created] customer.subscription.created (incomplete), invoice.created,
      invoice.finalized, charge.succeeded, payment_intent.succeeded, invoice.paid, invoice.payment_succeeded,
      customer.subscription.updated (active), checkout.session.completed
      payment mode: (a payment intent with the session's payment_intent_data, a succeeded charge and its
      balance transaction; no customer is created for a guest) charge.succeeded, payment_intent.succeeded,
      checkout.session.completed
  decline_checkout(cs)                             …/decline   (nothing: Checkout shows the error, session open)
  expire_checkout(cs)                              …/expire    checkout.session.expired
  advance_subscription(sub, outcome, paid_at=)     /_test/subscriptions/{id}/advance
      invoice.created, invoice.finalized, then paid: charge.succeeded, payment_intent.succeeded, invoice.paid,
      invoice.payment_succeeded | failed: charge.failed, payment_intent.payment_failed, invoice.payment_failed |
      requires_action: payment_intent.requires_action, invoice.payment_action_required; then
      customer.subscription.updated. Paused: invoice.voided / a draft / invoice.marked_uncollectible.
      Scheduled cancellation: customer.subscription.deleted at the period end instead.
  pay_invoice(in, paid_at=)                        /_test/invoices/{id}/pay     (late truth) paid events
  retry_invoice(in, outcome, at=)                  /_test/invoices/{id}/retry   another failed/action attempt
  void_invoice(in)                                 /_test/invoices/{id}/void    invoice.voided
  refund_charge(ch, amount=, reason=)              /_test/charges/{id}/refund   charge.refunded, refund.created
  create_dispute(ch, amount=, reason=)             /_test/charges/{id}/dispute  charge.dispute.created
  close_dispute(dp, won=)                          /_test/disputes/{id}/close   charge.dispute.closed
  cancel_subscription(sub, at=)                    /_test/subscriptions/{id}/cancel  customer.subscription.deleted
  send_stale_subscription_updated(sub)             /_test/subscriptions/{id}/stale_update
      customer.subscription.updated, recorded now, carrying the last state before cancellation
Events (`fake.events(type)`, `GET /v1/events`) carry a snapshot of the object in `data.object`, the fake's
`api_version` and `created` from `fake.clock`; object timestamps follow the simulated billing timeline
(periods, `paid_at`). Webhooks: `signed_webhook(event)` → (exact body bytes, headers with
`Stripe-Signature: t=…,v1=…`; options: secret, timestamp, timestamp_offset, extra_secrets for several v1),
`bad_webhook(event, kind)` for wrong_secret / stale / future / missing_header / reserialised / tampered /
no_v1, `deliver(event, url)` to POST one, `GET /_test/events/{id}/webhook` for the same over HTTP.
`fake.requests` records every API request (method, path, decoded params, idempotency key, status).

Not supported (by design): setup mode checkout, invoice creation in payment mode, trials, coupons/discounts,
taxes, prorations, credit notes, subscription creation outside checkout without a billing cycle anchor,
payment method objects and their attachment (a customer's one card is the id `pm_<customer id without cus_>`),
Stripe's automatic retries/dunning (the test decides each attempt), test clocks, search endpoints,
`previous_attributes` on events (the example event has none), Connect, API v2, rate limiting, and any
webhook delivery the test does not trigger itself.
"""

import base64
import calendar
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import stripe
from litestar import Litestar, Request, Response, route
from litestar.enums import HttpMethod

from tests.provider_fakes.serving import run_app
from tests.provider_fakes.stripe_fixtures import template

API_KEY = "sk_test_fake_tenure_0123456789"
WEBHOOK_SECRET = "whsec_fake_tenure_0123456789"
API_VERSION = stripe.api_version  # the version stripe-python pins; reported in events
PROCESSING_FEE_PERCENT = 2.9
PROCESSING_FEE_FIXED = 30
DISPUTE_FEE = 1500
Json = dict[str, Any]


class StripeError(Exception):
    """Raised by handlers and controls; rendered as Stripe's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"error": {"type": type_, "message": message}}
        if code:
            self.body["error"]["code"] = code
            self.body["error"]["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["error"]["param"] = param


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


# --------------------------------------------------------------------------------------------------------------
# Stripe's form encoding: a=1&b[c]=2&d[0][e]=3&f[]=x


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_stripe_params(raw: str) -> Json:
    """Decode Stripe's nested form encoding into dicts and lists (`[0]`/`[]` make lists)."""
    root: Json = {}
    append_counts: dict[tuple[str, ...], int] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(key)
        if not match:
            raise StripeError(400, f"Invalid parameter name: {key}", code="parameter_invalid_string")
        tokens = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])]
        for position, token in enumerate(tokens):
            if token == "":
                if position != len(tokens) - 1:
                    raise StripeError(400, f"Unsupported parameter name: {key} (use indexes)")
                prefix = tuple(tokens[:position])
                tokens[position] = str(append_counts.get(prefix, 0))
                append_counts[prefix] = append_counts.get(prefix, 0) + 1
        node = root
        for token in tokens[:-1]:
            child = node.setdefault(token, {})
            if not isinstance(child, dict):
                raise StripeError(400, f"Invalid parameter: {key} mixes a value and a hash", param=tokens[0])
            node = child
        if isinstance(node.get(tokens[-1]), dict):
            raise StripeError(400, f"Invalid parameter: {key} mixes a value and a hash", param=tokens[0])
        node[tokens[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _flag(value: Any, param: str) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise StripeError(400, f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=param)


def _integer(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param) from None


def _metadata(current: Json, update: Any) -> Json:
    """Stripe's metadata update: keys merge, an empty value deletes a key, `metadata=""` clears all."""
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise StripeError(400, "Invalid hash", code="parameter_invalid_string", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def add_months(timestamp: int, months: int = 1) -> int:
    """The same day of month `months` later (clipped to the month's last day), as Stripe bills monthly."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def period_end_after(anchor: int, moment: int) -> int:
    """The first monthly billing date counted from `anchor` that is after `moment`: Stripe keeps the anchor's
    day of month (an anchor on the 31st bills Jan 31, Feb 28, Mar 31, ...)."""
    months = 1
    while add_months(anchor, months) <= moment:
        months += 1
    return add_months(anchor, months)


# --------------------------------------------------------------------------------------------------------------
# The fake


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: Json
    idempotency_key: str | None
    stripe_version: str | None
    status: int


@dataclass
class _StoredResponse:
    fingerprint: str
    status: int
    body: bytes
    request_id: str


_ALPHABET = string.ascii_letters + string.digits


@dataclass
class FakeStripe:
    """State and behaviour of the fake; tests hold it to drive scenarios and inspect what the app did."""

    api_key: str = API_KEY
    webhook_secret: str = WEBHOOK_SECRET
    api_version: str = API_VERSION
    clock: Callable[[], float] = time.time
    base_url: str = "http://127.0.0.1"
    objects: dict[str, Json] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _order: dict[str, int] = field(default_factory=dict)
    _seq: Iterator[int] = field(default_factory=itertools.count)
    _idempotency: dict[str, _StoredResponse] = field(default_factory=dict)
    _history: dict[str, list[Json]] = field(default_factory=dict)
    _request_context: tuple[str | None, str | None] = (None, None)
    _session_lines: dict[str, list[Json]] = field(default_factory=dict)
    _session_subscription_metadata: dict[str, Json] = field(default_factory=dict)
    outage: bool = False
    """While true every API call answers 503, as Stripe does during an incident (tests of RELIABILITY 13)."""
    _session_intent_data: dict[str, Json] = field(default_factory=dict)

    # ---- basics ---------------------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"

    def _store(self, obj: Json) -> Json:
        if obj["id"] not in self._order:
            self._order[obj["id"]] = next(self._seq)
        self.objects[obj["id"]] = obj
        if obj.get("object") == "subscription":
            self._history.setdefault(obj["id"], []).append(copy.deepcopy(obj))
        return obj

    def get(self, object_id: str, kind: str | None = None) -> Json:
        """A deep copy of a stored object (raises `StripeError` 404 if there is none of that type)."""
        return copy.deepcopy(self._live(object_id, kind))

    def _live(self, object_id: str, kind: str | None = None) -> Json:
        obj = self.objects.get(object_id)
        if obj is None or (kind is not None and obj.get("object") != kind):
            raise missing((kind or "object").replace("_", " ").replace(".", " "), object_id)
        return obj

    def all_objects(self, kind: str | None = None) -> list[Json]:
        """Stored objects (deep copies), oldest first; of one `object` type if given."""
        found = [o for o in self.objects.values() if kind is None or o.get("object") == kind]
        return copy.deepcopy(sorted(found, key=lambda o: self._order[o["id"]]))

    def events(self, type: str | None = None) -> list[Json]:
        """Recorded events, oldest first, optionally of one type."""
        return [e for e in self.all_objects("event") if type is None or e["type"] == type]

    def last_event(self, type: str) -> Json:
        matching = self.events(type)
        if not matching:
            raise LookupError(f"no {type} event recorded")
        return matching[-1]

    def _emit(self, event_type: str, obj: Json) -> Json:
        event = template("event")
        request_id, idempotency_key = self._request_context
        event.update(
            id=self.new_id("evt"),
            api_version=self.api_version,
            created=self.now(),
            data={"object": copy.deepcopy(obj)},
            livemode=False,
            pending_webhooks=1,
            request={"id": request_id, "idempotency_key": idempotency_key},
            type=event_type,
        )
        return self._store(event)

    # ---- relations ------------------------------------------------------------------------------------------

    def invoice_payments_of(self, invoice_id: str) -> list[Json]:
        return [p for p in self.all_objects("invoice_payment") if p["invoice"] == invoice_id]

    def refunds_of(self, charge_id: str) -> list[Json]:
        return [r for r in self.all_objects("refund") if r["charge"] == charge_id]

    def charge_of_invoice(self, invoice_id: str) -> Json | None:
        """invoice → default invoice payment → payment intent → latest charge (None before any attempt)."""
        for payment in reversed(self.invoice_payments_of(invoice_id)):
            intent = self._live(payment["payment"]["payment_intent"], "payment_intent")
            if intent["latest_charge"]:
                return self.get(intent["latest_charge"], "charge")
        return None

    # ---- object builders ------------------------------------------------------------------------------------

    def create_customer(self, *, email: str | None = None, name: str | None = None, **extra: Any) -> Json:
        customer = template("customer")
        customer.update(
            id=self.new_id("cus"),
            created=self.now(),
            discount=None,
            email=email,
            name=name,
            phone=extra.get("phone"),
            description=extra.get("description"),
            metadata=_metadata({}, extra.get("metadata", {})),
            invoice_prefix="".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
            next_invoice_sequence=1,
            shipping=None,
        )
        self._store(customer)
        self._emit("customer.created", customer)
        return self.get(customer["id"])

    def create_price(
        self,
        unit_amount: int,
        *,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        product: str | None = None,
        nickname: str | None = None,
    ) -> Json:
        """A price (recurring when `interval` is given, one-time otherwise)."""
        price = template("price")
        price.update(
            id=self.new_id("price"),
            created=self.now(),
            currency=currency,
            custom_unit_amount=None,
            nickname=nickname,
            product=product or self.new_id("prod"),
            recurring=(
                {
                    "interval": interval,
                    "interval_count": interval_count,
                    "meter": None,
                    "usage_type": "licensed",
                    "trial_period_days": None,
                }
                if interval
                else None
            ),
            transform_quantity=None,
            type="recurring" if interval else "one_time",
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
        )
        return copy.deepcopy(self._store(price))

    def _price_from_line(self, line: Json, index: int) -> Json:
        if "price" in line:
            return self.get(line["price"], "price")
        data = line.get("price_data")
        if not isinstance(data, dict):
            raise StripeError(400, "Each line item needs `price` or `price_data`", param=f"line_items[{index}]")
        if "unit_amount" not in data or "currency" not in data:
            raise StripeError(
                400, "Missing required param: unit_amount.", code="parameter_missing", param=f"line_items[{index}]"
            )
        recurring = data.get("recurring") or {}
        product = data.get("product") or self.new_id("prod")
        return self.create_price(
            _integer(data["unit_amount"], f"line_items[{index}][price_data][unit_amount]"),
            currency=data["currency"],
            interval=recurring.get("interval"),
            interval_count=_integer(recurring.get("interval_count", 1), "interval_count"),
            product=product,
            nickname=(data.get("product_data") or {}).get("name"),
        )

    def create_checkout_session(self, params: Json) -> Json:
        mode = params.get("mode")
        if mode not in {"subscription", "payment"}:
            raise StripeError(400, "This fake supports only `mode=subscription` and `mode=payment`.", param="mode")
        if mode == "payment" and "subscription_data" in params:
            raise StripeError(400, "You can not pass `subscription_data` in `payment` mode.", param="subscription_data")
        if mode == "subscription" and "payment_intent_data" in params:
            raise StripeError(
                400, "You can not pass `payment_intent_data` in `subscription` mode.", param="payment_intent_data"
            )
        raw_lines = params.get("line_items")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise StripeError(400, "Missing required param: line_items.", code="parameter_missing", param="line_items")
        if "success_url" not in params:
            raise StripeError(
                400, "Missing required param: success_url.", code="parameter_missing", param="success_url"
            )
        lines = []
        for index, line in enumerate(raw_lines):
            price = self._price_from_line(line, index)
            quantity = _integer(line.get("quantity", 1), f"line_items[{index}][quantity]")
            lines.append({"price": price["id"], "quantity": quantity, "amount": price["unit_amount"] * quantity})
        prices = [self._live(line["price"]) for line in lines]
        if mode == "subscription" and not any(p["recurring"] for p in prices):
            raise StripeError(400, "You must specify at least one recurring price in `subscription` mode.")
        if mode == "payment" and any(p["recurring"] for p in prices):
            raise StripeError(
                400,
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode "
                "or use only one-time prices.",
                param="line_items",
            )
        intent_data = params.get("payment_intent_data") or {}
        if not isinstance(intent_data, dict):
            raise StripeError(400, "Invalid hash", param="payment_intent_data")
        if len({p["currency"] for p in prices}) != 1:
            raise StripeError(400, "All prices must be in the same currency.", param="line_items")
        customer = params.get("customer")
        if customer:
            self._live(customer, "customer")
        created = self.now()
        total = sum(line["amount"] for line in lines)
        session = template("checkout.session")
        session_id = f"cs_test_{''.join(secrets.choice(_ALPHABET) for _ in range(58))}"
        session.update(
            id=session_id,
            after_expiration=None,
            amount_subtotal=total,
            amount_total=total,
            automatic_tax={"enabled": False, "liability": None, "status": None, "provider": None},
            cancel_url=params.get("cancel_url"),
            client_reference_id=params.get("client_reference_id"),
            collected_information=None,
            consent=None,
            consent_collection=None,
            created=created,
            currency=prices[0]["currency"],
            currency_conversion=None,
            custom_text={
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            customer=customer,
            customer_creation="if_required" if mode == "payment" and not customer else None,
            customer_details=None,
            customer_email=params.get("customer_email"),
            expires_at=_integer(params.get("expires_at", created + 24 * 3600), "expires_at"),
            invoice=None,
            invoice_creation=(
                {
                    "enabled": False,
                    "invoice_data": {
                        "account_tax_ids": None,
                        "custom_fields": None,
                        "description": None,
                        "footer": None,
                        "issuer": None,
                        "metadata": {},
                        "rendering_options": None,
                    },
                }
                if mode == "payment"
                else None
            ),
            locale=params.get("locale"),
            managed_payments=None,
            metadata=_metadata({}, params.get("metadata", {})),
            mode=mode,
            payment_intent=None,  # payment mode: created when the customer pays (API versions since 2022-08-01)
            payment_method_collection="always",
            payment_method_configuration_details=None,
            payment_method_types=list(params.get("payment_method_types") or ["card"]),
            payment_status="unpaid",
            permissions=None,
            saved_payment_method_options=None,
            shipping_address_collection=None,
            shipping_cost=None,
            status="open",
            subscription=None,
            success_url=params["success_url"],
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            ui_mode="hosted",
            url=f"{self.base_url}/_test/checkout/sessions/{session_id}",
            adaptive_pricing={"enabled": False},
            discounts=[],
            wallet_options=None,
        )
        self._store(session)
        subscription_data = params.get("subscription_data") or {}
        self._session_lines[session_id] = lines
        self._session_subscription_metadata[session_id] = _metadata({}, subscription_data.get("metadata", {}))
        self._session_intent_data[session_id] = {
            "metadata": _metadata({}, intent_data.get("metadata", {})),
            "description": intent_data.get("description"),
        }
        return self.get(session_id)

    def _open_session(self, session_id: str) -> Json:
        session = self._live(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeError(
                400,
                f"This Checkout Session is {session['status']}.",
                code="checkout_session_expired" if session["status"] == "expired" else None,
            )
        return session

    def _subscription_item(self, subscription_id: str, line: Json, start: int, end: int) -> Json:
        price = self.get(line["price"], "price")
        plan = copy.deepcopy(template("subscription_item")["plan"])
        plan.update(
            id=price["id"],
            active=True,
            amount=price["unit_amount"],
            amount_decimal=str(price["unit_amount"]),
            billing_scheme="per_unit",
            created=price["created"],
            currency=price["currency"],
            interval=price["recurring"]["interval"],
            interval_count=price["recurring"]["interval_count"],
            livemode=False,
            metadata={},
            nickname=price["nickname"],
            product=price["product"],
            tiers_mode=None,
            transform_usage=None,
            usage_type="licensed",
        )
        item = template("subscription_item")
        item.update(
            id=self.new_id("si"),
            billing_thresholds=None,
            created=start,
            current_period_start=start,
            current_period_end=end,
            metadata={},
            plan=plan,
            price=price,
            quantity=line["quantity"],
            subscription=subscription_id,
        )
        return item

    def _new_subscription(
        self,
        customer_id: str,
        lines: list[Json],
        metadata: Json,
        start: int,
        *,
        anchor: int | None = None,
        default_payment_method: str | None = None,
    ) -> Json:
        """An active subscription from `start`; its first period ends at `anchor` (a future billing cycle anchor)
        or one month after `start` (then the anchor is `start`)."""
        subscription = template("subscription")
        subscription_id = self.new_id("sub")
        end = add_months(start) if anchor is None else anchor
        items = [
            self._subscription_item(subscription_id, line, start, end)
            for line in lines
            if self._live(line["price"])["recurring"]
        ]
        subscription.update(
            id=subscription_id,
            automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
            billing_cycle_anchor=start if anchor is None else anchor,
            billing_cycle_anchor_config=None,
            billing_mode={"type": "classic", "flexible": None},
            billing_schedules=[],
            billing_thresholds=None,
            cancel_at=None,
            cancel_at_period_end=False,
            canceled_at=None,
            cancellation_details={"comment": None, "feedback": None, "reason": None},
            created=start,
            currency=items[0]["price"]["currency"],
            customer=customer_id,
            default_payment_method=default_payment_method,
            ended_at=None,
            invoice_settings={
                "account_tax_ids": None,
                "issuer": {"type": "self"},
                "custom_fields": None,
                "description": None,
                "footer": None,
            },
            items={
                "data": items,
                "has_more": False,
                "object": "list",
                "url": f"/v1/subscription_items?subscription={subscription_id}",
            },
            latest_invoice=None,
            managed_payments=None,
            metadata=metadata,
            next_pending_invoice_item_invoice=None,
            pause_collection=None,
            pending_invoice_item_interval=None,
            pending_update=None,
            start_date=start,
            status="active",
            transfer_data=None,
            trial_end=None,
            trial_settings={"end_behavior": {"missing_payment_method": "create_invoice"}},
            trial_start=None,
        )
        return subscription

    def _new_invoice(self, subscription: Json, lines: list[Json], *, reason: str, created: int) -> Json:
        """A finalized (open) invoice of `subscription` with one line per entry of `lines`."""
        invoice = template("invoice")
        invoice_id = self.new_id("in")
        customer = self._live(subscription["customer"], "customer")
        items_by_price = {item["price"]["id"]: item for item in subscription["items"]["data"]}
        line_objects = []
        for line in lines:
            price = self._live(line["price"], "price")
            item = items_by_price.get(price["id"]) if price["recurring"] else None
            line_object = template("line_item")
            details = {
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
            }
            if item:
                parent = {
                    "invoice_item_details": None,
                    "type": "subscription_item_details",
                    "subscription_item_details": {**details, "invoice_item": None, "subscription_item": item["id"]},
                }
                period = {"start": item["current_period_start"], "end": item["current_period_end"]}
            else:
                parent = {
                    "subscription_item_details": None,
                    "type": "invoice_item_details",
                    "invoice_item_details": {**details, "invoice_item": self.new_id("ii")},
                }
                period = {"start": created, "end": created}
            line_object.update(
                id=self.new_id("il"),
                amount=line["amount"],
                currency=price["currency"],
                description=f"{line['quantity']} × {price['nickname'] or price['product']}",
                discountable=True,
                invoice=invoice_id,
                metadata={},
                parent=parent,
                period=period,
                pretax_credit_amounts=[],
                pricing={"type": "price_details", "unit_amount_decimal": price["unit_amount_decimal"]},
                quantity=line["quantity"],
                quantity_decimal=str(line["quantity"]),
                subscription=subscription["id"],
                subtotal=line["amount"],
                taxes=[],
            )
            line_objects.append(line_object)
        total = sum(line["amount"] for line in lines)
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        first_item = subscription["items"]["data"][0]
        invoice.update(
            id=invoice_id,
            account_name="Tenure (fake Stripe)",
            amount_due=total,
            amount_overpaid=0,
            amount_paid=0,
            amount_remaining=total,
            attempt_count=0,
            attempted=False,
            auto_advance=True,
            automatic_tax={
                "enabled": False,
                "liability": None,
                "status": None,
                "disabled_reason": None,
                "provider": None,
            },
            billing_reason=reason,
            created=created,
            currency=subscription["currency"],
            customer=customer["id"],
            customer_email=customer["email"],
            customer_name=customer["name"],
            customer_shipping=None,
            due_date=None,
            effective_at=created,
            from_invoice=None,
            hosted_invoice_url=f"{self.base_url}/_test/hosted/invoices/{invoice_id}",
            invoice_pdf=f"{self.base_url}/_test/hosted/invoices/{invoice_id}/pdf",
            last_finalization_error=None,
            lines={
                "data": line_objects,
                "has_more": False,
                "object": "list",
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            metadata={},
            next_payment_attempt=created,
            number=number,
            parent={
                "quote_details": None,
                "type": "subscription_details",
                "subscription_details": {
                    "metadata": copy.deepcopy(subscription["metadata"]),
                    "subscription": subscription["id"],
                },
            },
            period_end=created if reason == "subscription_create" else first_item["current_period_start"],
            period_start=created if reason == "subscription_create" else self._previous_period_start(subscription),
            shipping_cost=None,
            shipping_details=None,
            status="open",
            status_transitions={
                "finalized_at": created,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            subscription=None,  # as in the example object: the subscription is under `parent` in this version
            subtotal=total,
            subtotal_excluding_tax=total,
            total=total,
            total_excluding_tax=total,
            total_pretax_credit_amounts=[],
            total_taxes=[],
            webhooks_delivered_at=created,
        )
        return invoice

    def _previous_period_start(self, subscription: Json) -> int:
        for snapshot in reversed(self._history.get(subscription["id"], [])):
            start = snapshot["items"]["data"][0]["current_period_start"]
            if start != subscription["items"]["data"][0]["current_period_start"]:
                return start
        return subscription["start_date"]

    def _payment_attempt(self, invoice: Json, *, outcome: str, at: int) -> Json:
        """Charge the invoice's amount: a payment intent (reused per invoice), a charge, and on success the
        balance transaction; returns the payment intent. `outcome`: paid | failed | requires_action."""
        payments = self.invoice_payments_of(invoice["id"])
        if payments:
            intent = self._live(payments[-1]["payment"]["payment_intent"], "payment_intent")
            payment = self._live(payments[-1]["id"], "invoice_payment")
        else:
            intent = self._new_payment_intent(
                invoice["amount_due"],
                currency=invoice["currency"],
                customer=invoice["customer"],
                description="Subscription creation"
                if invoice["billing_reason"] == "subscription_create"
                else "Subscription update",
                metadata={},
                at=at,
            )
            intent_id = intent["id"]
            payment = template("invoice_payment")
            payment.update(
                id=self.new_id("inpay"),
                amount_paid=None,
                amount_requested=invoice["amount_due"],
                created=at,
                currency=invoice["currency"],
                invoice=invoice["id"],
                is_default=True,
                livemode=False,
                payment={"type": "payment_intent", "payment_intent": intent_id},
                status="open",
                status_transitions={"canceled_at": None, "paid_at": None},
            )
            self._store(payment)
        if outcome == "requires_action":
            intent.update(status="requires_action", next_action={"type": "use_stripe_sdk"}, last_payment_error=None)
            return intent
        charge = self._new_charge(intent, succeeded=outcome == "paid", at=at)
        intent["latest_charge"] = charge["id"]
        if outcome == "paid":
            intent.update(
                status="succeeded", amount_received=intent["amount"], next_action=None, last_payment_error=None
            )
            payment.update(status="paid", amount_paid=intent["amount"])
            payment["status_transitions"]["paid_at"] = at
        else:
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
        return intent

    def _new_payment_intent(
        self, amount: int, *, currency: str, customer: str | None, description: str | None, metadata: Json, at: int
    ) -> Json:
        """A stored payment intent awaiting its payment method (the card the customer will use)."""
        intent = template("payment_intent")
        intent_id = self.new_id("pi")
        intent.update(
            id=intent_id,
            amount=amount,
            amount_received=0,
            automatic_payment_methods=None,
            canceled_at=None,
            client_secret=f"{intent_id}_secret_{self.new_id('s')[2:]}",
            created=at,
            currency=currency,
            customer=customer,
            description=description,
            last_payment_error=None,
            latest_charge=None,
            managed_payments=None,
            metadata=copy.deepcopy(metadata),
            next_action=None,
            payment_method=self._card_of(customer) if customer else self.new_id("pm"),
            payment_method_configuration_details=None,
            processing=None,
            shipping=None,
            status="requires_payment_method",
            transfer_data=None,
        )
        return self._store(intent)

    @staticmethod
    def _card_of(customer_id: str) -> str:
        """The id of the customer's card (the fake has no payment method objects: one card per customer)."""
        return f"pm_{customer_id[4:]}"

    def _new_charge(self, intent: Json, *, succeeded: bool, at: int) -> Json:
        charge = template("charge")
        charge_id = self.new_id("ch")
        outcome = {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else "generic_decline",
            "seller_message": "Payment complete."
            if succeeded
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if succeeded else "issuer_declined",
        }
        charge.update(
            id=charge_id,
            amount=intent["amount"],
            amount_captured=intent["amount"] if succeeded else 0,
            amount_refunded=0,
            balance_transaction=None,
            calculated_statement_descriptor="TENURE",
            captured=succeeded,
            created=at,
            currency=intent["currency"],
            customer=intent["customer"],
            description=intent["description"],
            disputed=False,
            failure_code=None if succeeded else "card_declined",
            failure_message=None if succeeded else "Your card was declined.",
            metadata=copy.deepcopy(intent["metadata"]),
            outcome=outcome,
            paid=succeeded,
            payment_intent=intent["id"],
            payment_method=intent["payment_method"],
            receipt_url=f"{self.base_url}/_test/hosted/receipts/{charge_id}",
            refunded=False,
            shipping=None,
            source=None,
            status="succeeded" if succeeded else "failed",
            transfer_data=None,
        )
        del charge["refunds"]  # only with `expand[]=refunds` (see `_expand_path`), as Stripe does
        if succeeded:
            fee = round(intent["amount"] * PROCESSING_FEE_PERCENT / 100) + PROCESSING_FEE_FIXED
            txn = self._balance_transaction(
                intent["amount"],
                fee=fee,
                source=charge_id,
                type_="charge",
                category="charge",
                at=at,
                description=intent["description"],
            )
            charge["balance_transaction"] = txn["id"]
        return self._store(charge)

    def _balance_transaction(
        self, amount: int, *, fee: int, source: str, type_: str, category: str, at: int, description: str | None
    ) -> Json:
        txn = template("balance_transaction")
        txn.update(
            id=self.new_id("txn"),
            amount=amount,
            available_on=at + 2 * 86400,
            created=at,
            currency="usd",
            description=description,
            exchange_rate=None,
            fee=fee,
            fee_details=[
                {
                    "amount": fee,
                    "application": None,
                    "currency": "usd",
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else [],
            net=amount - fee,
            reporting_category=category,
            source=source,
            status="pending",
            type=type_,
            balance_type="payments",
        )
        return self._store(txn)

    def _mark_paid(self, invoice: Json, paid_at: int) -> None:
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            attempted=True,
            next_payment_attempt=None,
        )
        invoice["attempt_count"] += 1
        invoice["status_transitions"]["paid_at"] = paid_at

    # ---- controls: checkout ---------------------------------------------------------------------------------

    def complete_checkout(
        self,
        session_id: str,
        *,
        paid_at: int | None = None,
        email: str = "member@example.com",
        name: str | None = "Test Member",
    ) -> Json:
        """The customer pays: customer (unless given), subscription, first invoice paid at `paid_at`, payment
        intent, charge, balance transaction, and the events Stripe sends. Returns the completed session."""
        session = self._open_session(session_id)
        at = self.now() if paid_at is None else paid_at
        if session["mode"] == "payment":
            return self._complete_payment_checkout(session, at=at, email=email, name=name)
        if session["customer"]:
            customer = self._live(session["customer"], "customer")
        else:
            customer = self._live(self.create_customer(email=session["customer_email"] or email, name=name)["id"])
        lines = self._session_lines[session_id]
        subscription = self._new_subscription(
            customer["id"],
            lines,
            self._session_subscription_metadata[session_id],
            at,
            default_payment_method=self._card_of(customer["id"]),
        )
        # Stripe's order: the subscription starts `incomplete` with its first invoice, the payment succeeds,
        # the invoice is paid, the subscription turns `active`, and the session completes last.
        subscription["status"] = "incomplete"
        invoice = self._new_invoice(subscription, lines, reason="subscription_create", created=at)
        subscription["latest_invoice"] = invoice["id"]
        self._store(subscription)
        self._store(invoice)
        self._emit("customer.subscription.created", subscription)
        self._emit("invoice.created", invoice)
        self._emit("invoice.finalized", invoice)
        self._attempt(invoice, subscription, "paid", at=at)
        self._emit("customer.subscription.updated", self._store(subscription))
        session.update(
            customer=customer["id"],
            invoice=invoice["id"],
            payment_status="paid",
            status="complete",
            subscription=subscription["id"],
            customer_details=self._customer_details(customer["email"], customer["name"]),
        )
        self._emit("checkout.session.completed", session)
        return self.get(session_id)

    @staticmethod
    def _customer_details(email: str | None, name: str | None) -> Json:
        return {
            "address": copy.deepcopy(template("customer")["address"]),
            "email": email,
            "name": name,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
            "business_name": None,
            "individual_name": None,
        }

    def _complete_payment_checkout(self, session: Json, *, at: int, email: str, name: str | None) -> Json:
        """Payment mode: the card is charged for the session's total at `at` (a payment intent with the
        session's `payment_intent_data`, a succeeded charge, its balance transaction)."""
        customer = self._live(session["customer"], "customer") if session["customer"] else None
        intent_data = self._session_intent_data[session["id"]]
        intent = self._new_payment_intent(
            session["amount_total"],
            currency=session["currency"],
            customer=customer["id"] if customer else None,
            description=intent_data["description"],
            metadata=intent_data["metadata"],
            at=at,
        )
        charge = self._new_charge(intent, succeeded=True, at=at)
        intent.update(
            latest_charge=charge["id"],
            status="succeeded",
            amount_received=intent["amount"],
            payment_method_types=list(session["payment_method_types"]),
        )
        session.update(
            payment_intent=intent["id"],
            payment_status="paid",
            status="complete",
            customer_details=self._customer_details(
                customer["email"] if customer else session["customer_email"] or email,
                customer["name"] if customer else name,
            ),
        )
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent)
        self._emit("checkout.session.completed", session)
        return self.get(session["id"])

    def decline_checkout(self, session_id: str) -> Json:
        """The card is declined on the hosted page: Checkout shows the error and creates nothing (no customer,
        subscription or event); the session stays open for another try."""
        self._open_session(session_id)
        return self.get(session_id)

    def expire_checkout(self, session_id: str) -> Json:
        session = self._open_session(session_id)
        session["status"] = "expired"
        session["expires_at"] = min(session["expires_at"], self.now())
        self._emit("checkout.session.expired", session)
        return self.get(session_id)

    # ---- controls: renewals and late payment ----------------------------------------------------------------

    def advance_subscription(self, subscription_id: str, outcome: str = "paid", *, paid_at: int | None = None) -> Json:
        """Move the subscription to its next period (from the current period end to the next monthly date counted
        from `billing_cycle_anchor`, whose day of month it keeps) and bill it. `outcome`: `paid` (at `paid_at`,
        default the period start), `failed` (`invoice.payment_failed`, subscription `past_due`) or `requires_action`
        (`invoice.payment_action_required`, `past_due`). Returns the renewal invoice.

        With `pause_collection` the renewal invoice is voided (`void`), left as a draft (`keep_as_draft`) or
        marked uncollectible (`mark_uncollectible`) and nothing is charged. If cancellation was scheduled for
        the period end, the subscription ends instead (`customer.subscription.deleted`) and the canceled
        subscription is returned."""
        if outcome not in {"paid", "failed", "requires_action"}:
            raise StripeError(400, f"unknown outcome {outcome!r}")
        subscription = self._live(subscription_id, "subscription")
        if subscription["status"] in {"canceled", "incomplete_expired"}:
            raise StripeError(400, "A canceled subscription cannot be advanced.")
        start = subscription["items"]["data"][0]["current_period_end"]
        if subscription["cancel_at_period_end"]:
            return self.cancel_subscription(subscription_id, at=start)
        end = period_end_after(subscription["billing_cycle_anchor"], start)
        for item in subscription["items"]["data"]:
            item.update(current_period_start=start, current_period_end=end)
        self._store(subscription)
        lines = [
            {
                "price": item["price"]["id"],
                "quantity": item["quantity"],
                "amount": item["price"]["unit_amount"] * item["quantity"],
            }
            for item in subscription["items"]["data"]
        ]
        invoice = self._new_invoice(subscription, lines, reason="subscription_cycle", created=start)
        subscription["latest_invoice"] = invoice["id"]
        self._store(invoice)
        self._emit("invoice.created", invoice)
        pause = (subscription["pause_collection"] or {}).get("behavior")
        if pause == "keep_as_draft":
            invoice.update(status="draft", next_payment_attempt=None, number=None)
            invoice["status_transitions"]["finalized_at"] = None
        else:
            self._emit("invoice.finalized", invoice)
        if pause == "void":
            invoice.update(status="void", amount_remaining=0, next_payment_attempt=None)
            invoice["status_transitions"]["voided_at"] = start
            self._emit("invoice.voided", invoice)
        elif pause == "mark_uncollectible":
            invoice.update(status="uncollectible", next_payment_attempt=None)
            invoice["status_transitions"]["marked_uncollectible_at"] = start
            self._emit("invoice.marked_uncollectible", invoice)
        elif pause is None:
            self._attempt(invoice, subscription, outcome, at=start if paid_at is None else paid_at)
        self._emit("customer.subscription.updated", self._store(subscription))
        return self.get(invoice["id"])

    def _attempt(self, invoice: Json, subscription: Json | None, outcome: str, *, at: int) -> None:
        """One payment attempt on an open invoice, with its events and the subscription's status."""
        intent = self._payment_attempt(invoice, outcome=outcome, at=at)
        if outcome == "paid":
            self._mark_paid(invoice, at)
            self._emit("charge.succeeded", self._live(intent["latest_charge"]))
            self._emit("payment_intent.succeeded", intent)
            self._emit("invoice.paid", invoice)
            self._emit("invoice.payment_succeeded", invoice)
        else:
            invoice.update(
                attempted=True, attempt_count=invoice["attempt_count"] + 1, next_payment_attempt=at + 3 * 86400
            )
            if outcome == "failed":
                self._emit("charge.failed", self._live(intent["latest_charge"]))
                self._emit("payment_intent.payment_failed", intent)
                self._emit("invoice.payment_failed", invoice)
            else:
                self._emit("payment_intent.requires_action", intent)
                self._emit("invoice.payment_action_required", invoice)
        ended = subscription is not None and subscription["status"] in {"canceled", "incomplete_expired"}
        if subscription is not None and not ended and subscription["latest_invoice"] == invoice["id"]:
            # An ended subscription stays ended when its last invoice is paid late (as in Stripe).
            subscription["status"] = "active" if outcome == "paid" else "past_due"

    def retry_invoice(self, invoice_id: str, outcome: str = "failed", *, at: int | None = None) -> Json:
        """Another attempt on an open invoice (Stripe's smart retry, or the member retrying): `failed`,
        `requires_action` or `paid` (the same as `pay_invoice`). Returns the invoice."""
        if outcome == "paid":
            return self.pay_invoice(invoice_id, paid_at=at)
        if outcome not in {"failed", "requires_action"}:
            raise StripeError(400, f"unknown outcome {outcome!r}")
        invoice = self._open_invoice(invoice_id)
        self._attempt(invoice, None, outcome, at=self.now() if at is None else at)
        return self.get(invoice_id)

    def void_invoice(self, invoice_id: str) -> Json:
        """Void an open invoice (`invoice.voided`); the subscription's status is left as it is."""
        invoice = self._open_invoice(invoice_id)
        invoice.update(status="void", amount_remaining=0, next_payment_attempt=None)
        invoice["status_transitions"]["voided_at"] = self.now()
        self._emit("invoice.voided", invoice)
        return self.get(invoice_id)

    def _open_invoice(self, invoice_id: str) -> Json:
        invoice = self._live(invoice_id, "invoice")
        if invoice["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] != "open":
            raise StripeError(
                400, f"This invoice can't be paid: it is {invoice['status']}.", code="invoice_not_editable"
            )
        return invoice

    def pay_invoice(self, invoice_id: str, *, paid_at: int | None = None) -> Json:
        """An open invoice is paid (later): the charge succeeds, the invoice is paid at `paid_at` (default
        now) and, if it is the subscription's latest invoice, the subscription is active again (unless it has
        ended: a canceled subscription stays canceled)."""
        invoice = self._open_invoice(invoice_id)
        subscription = self._live(invoice["parent"]["subscription_details"]["subscription"], "subscription")
        was = subscription["status"]
        self._attempt(invoice, subscription, "paid", at=self.now() if paid_at is None else paid_at)
        if subscription["status"] != was:
            self._emit("customer.subscription.updated", self._store(subscription))
        return self.get(invoice_id)

    # ---- controls: refunds and disputes ---------------------------------------------------------------------

    def refund_charge(
        self, charge_id: str, amount: int | None = None, *, reason: str | None = None, metadata: Json | None = None
    ) -> Json:
        """Refund all that remains (default) or `amount` of a succeeded charge: `charge.refunded` and
        `refund.created`. Returns the refund."""
        charge = self._live(charge_id, "charge")
        if charge["status"] != "succeeded":
            raise StripeError(400, f"Charge {charge_id} has not succeeded.", param="charge")
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeError(400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded")
        amount = remaining if amount is None else amount
        if amount <= 0 or amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        at = self.now()
        refund = template("refund")
        refund_id = self.new_id("re")
        txn = self._balance_transaction(
            -amount, fee=0, source=refund_id, type_="refund", category="refund", at=at, description="REFUND FOR CHARGE"
        )
        refund.update(
            id=refund_id,
            amount=amount,
            balance_transaction=txn["id"],
            charge=charge_id,
            created=at,
            currency=charge["currency"],
            customer=charge["customer"],
            metadata=_metadata({}, metadata or {}),
            payment_intent=charge["payment_intent"],
            payment_method=charge["payment_method"],
            reason=reason,
            status="succeeded",
        )
        self._store(refund)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self._emit("charge.refunded", charge)
        self._emit("refund.created", refund)
        return self.get(refund_id)

    def create_dispute(self, charge_id: str, *, amount: int | None = None, reason: str = "fraudulent") -> Json:
        """The cardholder disputes the charge: funds and a dispute fee are withdrawn; `charge.dispute.created`."""
        charge = self._live(charge_id, "charge")
        if not charge["paid"]:
            raise StripeError(400, f"Charge {charge_id} was not paid.")
        amount = charge["amount"] - charge["amount_refunded"] if amount is None else amount
        at = self.now()
        dispute = template("dispute")
        dispute_id = self.new_id("dp")
        txn = self._balance_transaction(
            -amount,
            fee=DISPUTE_FEE,
            source=dispute_id,
            type_="adjustment",
            category="dispute",
            at=at,
            description="Chargeback withdrawal",
        )
        evidence_details = {
            "due_by": at + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "enhanced_eligibility": {},
        }
        dispute.update(
            id=dispute_id,
            amount=amount,
            balance_transactions=[copy.deepcopy(txn)],
            charge=charge_id,
            created=at,
            currency=charge["currency"],
            evidence_details=evidence_details,
            is_charge_refundable=False,
            metadata={},
            payment_intent=charge["payment_intent"],
            reason=reason,
            status="needs_response",
            enhanced_eligibility_types=[],
        )
        self._store(dispute)
        charge["disputed"] = True
        self._emit("charge.dispute.created", dispute)
        return self.get(dispute_id)

    def close_dispute(self, dispute_id: str, *, won: bool) -> Json:
        """The dispute is decided: `won` returns the funds and fee; `charge.dispute.closed`."""
        dispute = self._live(dispute_id, "dispute")
        if dispute["status"] in {"won", "lost"}:
            raise StripeError(400, f"Dispute {dispute_id} is already closed.")
        if won:
            txn = self._balance_transaction(
                dispute["amount"],
                fee=-DISPUTE_FEE,
                source=dispute_id,
                type_="adjustment",
                category="dispute_reversal",
                at=self.now(),
                description="Chargeback reversal",
            )
            dispute["balance_transactions"].append(copy.deepcopy(txn))
        dispute["status"] = "won" if won else "lost"
        self._emit("charge.dispute.closed", dispute)
        return self.get(dispute_id)

    # ---- subscriptions over the API -------------------------------------------------------------------------

    def create_subscription(self, params: Json) -> Json:
        """`POST /v1/subscriptions` with a future `billing_cycle_anchor` and `proration_behavior=none`: active at
        once, its first period from now to the anchor, nothing invoiced before the anchor (the next
        `advance_subscription` bills the full dues at the anchor, then monthly from it);
        `customer.subscription.created`."""
        customer_id = params.get("customer")
        if not customer_id:
            raise StripeError(400, "Missing required param: customer.", code="parameter_missing", param="customer")
        if self.objects.get(customer_id, {}).get("object") != "customer":
            raise missing("customer", customer_id, "customer")
        raw_items = params.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            raise StripeError(400, "Missing required param: items.", code="parameter_missing", param="items")
        lines = []
        for index, raw in enumerate(raw_items):
            param = f"items[{index}][price]"
            if not isinstance(raw, dict) or not raw.get("price"):
                raise StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)
            price = self.objects.get(raw["price"])
            if price is None or price.get("object") != "price":
                raise missing("price", raw["price"], param)
            if not price["recurring"] or price["recurring"]["interval"] != "month":
                raise StripeError(
                    400, f"The price specified ({price['id']}) is not a monthly recurring price.", param=param
                )
            quantity = _integer(raw.get("quantity", 1), f"items[{index}][quantity]")
            if quantity < 1:
                raise StripeError(400, "Invalid quantity: must be at least 1", param=f"items[{index}][quantity]")
            lines.append({"price": price["id"], "quantity": quantity, "amount": price["unit_amount"] * quantity})
        if len({self._live(line["price"])["currency"] for line in lines}) != 1:
            raise StripeError(400, "All prices must be in the same currency.", param="items")
        if params.get("proration_behavior") != "none" or "billing_cycle_anchor" not in params:
            raise StripeError(
                400,
                "This fake creates subscriptions only with a `billing_cycle_anchor` and `proration_behavior=none` "
                "(no invoice before the anchor).",
                param="proration_behavior",
            )
        behavior = params.get("payment_behavior", "allow_incomplete")
        if behavior not in {"allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"}:
            raise StripeError(400, f"Invalid payment_behavior: {behavior}", param="payment_behavior")
        now = self.now()
        anchor = _integer(params["billing_cycle_anchor"], "billing_cycle_anchor")
        if anchor <= now:
            raise StripeError(
                400,
                "Invalid timestamp: must be an integer Unix timestamp in the future.",
                code="parameter_invalid_integer",
                param="billing_cycle_anchor",
            )
        natural = add_months(now)
        if anchor > natural:
            raise StripeError(
                400,
                f"billing_cycle_anchor cannot be later than next natural billing date ({natural}) for plan",
                param="billing_cycle_anchor",
            )
        card = params.get("default_payment_method") or None
        if card is not None and not (isinstance(card, str) and card.startswith("pm_")):
            raise missing("payment_method", str(card), "default_payment_method")
        subscription = self._new_subscription(
            customer_id,
            lines,
            _metadata({}, params.get("metadata", {})),
            now,
            anchor=anchor,
            default_payment_method=card,
        )
        self._store(subscription)
        self._emit("customer.subscription.created", subscription)
        return self.get(subscription["id"])

    # ---- controls: subscription changes ---------------------------------------------------------------------

    def update_subscription(self, subscription_id: str, params: Json) -> Json:
        subscription = self._live(subscription_id, "subscription")
        if subscription["status"] == "canceled":
            raise StripeError(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
                param="cancel_at_period_end",
            )
        if "cancel_at_period_end" in params:
            flag = _flag(params["cancel_at_period_end"], "cancel_at_period_end")
            subscription["cancel_at_period_end"] = flag
            subscription["cancel_at"] = subscription["items"]["data"][0]["current_period_end"] if flag else None
            subscription["canceled_at"] = self.now() if flag else None
        if "pause_collection" in params:
            pause = params["pause_collection"]
            if pause == "":
                subscription["pause_collection"] = None
            elif isinstance(pause, dict) and pause.get("behavior") in {"keep_as_draft", "mark_uncollectible", "void"}:
                resumes_at = pause.get("resumes_at")
                subscription["pause_collection"] = {
                    "behavior": pause["behavior"],
                    "resumes_at": _integer(resumes_at, "pause_collection[resumes_at]") if resumes_at else None,
                }
            else:
                raise StripeError(400, "Invalid pause_collection[behavior]", param="pause_collection[behavior]")
        if "metadata" in params:
            subscription["metadata"] = _metadata(subscription["metadata"], params["metadata"])
        self._emit("customer.subscription.updated", self._store(subscription))
        return self.get(subscription_id)

    def cancel_subscription(self, subscription_id: str, *, at: int | None = None) -> Json:
        """Cancel now (as `DELETE /v1/subscriptions/{id}` or the end of a scheduled cancellation):
        `customer.subscription.deleted`."""
        subscription = self._live(subscription_id, "subscription")
        if subscription["status"] == "canceled":
            raise StripeError(
                400, f"No such subscription: '{subscription_id}' (already canceled)", code="resource_missing"
            )
        when = self.now() if at is None else at
        subscription.update(status="canceled", ended_at=when, canceled_at=subscription["canceled_at"] or when)
        subscription["cancellation_details"]["reason"] = "cancellation_requested"
        self._store(subscription)
        self._emit("customer.subscription.deleted", subscription)
        return self.get(subscription_id)

    def send_stale_subscription_updated(self, subscription_id: str) -> Json:
        """Record a `customer.subscription.updated` now whose object is the last state *before* cancellation
        (status not canceled), as when Stripe delivers an older event late. Returns the event."""
        self._live(subscription_id, "subscription")
        for snapshot in reversed(self._history[subscription_id]):
            if snapshot["status"] != "canceled":
                return copy.deepcopy(self._emit("customer.subscription.updated", snapshot))
        raise StripeError(400, "the subscription has no state before cancellation")

    # ---- webhooks -------------------------------------------------------------------------------------------

    @staticmethod
    def webhook_body(event: Json) -> bytes:
        """The exact body Stripe would POST (pretty-printed JSON, as Stripe sends it)."""
        return json.dumps(event, indent=2).encode()

    def signed_webhook(
        self,
        event: Json | str,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        timestamp_offset: int = 0,
        extra_secrets: Iterable[str] = (),
    ) -> tuple[bytes, dict[str, str]]:
        """(body, headers) for delivering `event` (or an event id): `Stripe-Signature: t=…,v1=…` over
        `f"{t}.{body}"` with `secret` (default the fake's), one more `v1` per entry of `extra_secrets`
        (as while a secret rolls), at `timestamp` (default the wall clock) + `timestamp_offset` seconds."""
        if isinstance(event, str):
            event = self.get(event, "event")
        body = self.webhook_body(event)
        t = (int(time.time()) if timestamp is None else timestamp) + timestamp_offset
        signatures = [_sign(s, t, body) for s in (secret or self.webhook_secret, *extra_secrets)]
        header = ",".join([f"t={t}", *(f"v1={sig}" for sig in signatures)])
        return body, {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": header,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }

    def bad_webhook(self, event: Json | str, kind: str) -> tuple[bytes, dict[str, str]]:
        """A delivery that must be refused. `kind`: wrong_secret | stale (10 min old) | future (10 min
        ahead) | missing_header | reserialised (body re-encoded after signing) | tampered (a byte changed) |
        no_v1 (only a `v0` scheme)."""
        if kind == "wrong_secret":
            return self.signed_webhook(event, secret="whsec_not_the_right_one")
        if kind == "stale":
            return self.signed_webhook(event, timestamp_offset=-600)
        if kind == "future":
            return self.signed_webhook(event, timestamp_offset=600)
        body, headers = self.signed_webhook(event)
        if kind == "missing_header":
            del headers["Stripe-Signature"]
        elif kind == "reserialised":
            body = json.dumps(json.loads(body), separators=(",", ":")).encode()
        elif kind == "tampered":
            body = body.replace(b'"livemode": false', b'"livemode": true ', 1)
        elif kind == "no_v1":
            headers["Stripe-Signature"] = headers["Stripe-Signature"].replace("v1=", "v0=")
        else:
            raise ValueError(f"unknown bad webhook kind {kind!r}")
        return body, headers

    async def deliver(self, event: Json | str, url: str, **signing: Any) -> httpx.Response:
        """POST one signed event to `url` (a loopback URL of the app under test)."""
        body, headers = self.signed_webhook(event, **signing)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, content=body, headers=headers)


def _sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# HTTP: routing, auth, idempotency, lists, expand

Handler = Callable[[FakeStripe, dict[str, str], Json], Json]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def endpoint(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        ROUTES.append((method, regex, handler))
        return handler

    return register


def list_response(fake: FakeStripe, items: list[Json], params: Json, url: str) -> Json:
    """Stripe's list envelope over `items`, newest first, with limit/starting_after/ending_before/created."""
    created = params.get("created")
    if isinstance(created, dict):
        bounds = {op: _integer(value, f"created[{op}]") for op, value in created.items()}
        checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        items = [i for i in items if all(checks[op](i["created"], v) for op, v in bounds.items() if op in checks)]
    elif created is not None:
        items = [i for i in items if i["created"] == _integer(created, "created")]
    items = sorted(items, key=lambda o: (o["created"], fake._order[o["id"]]), reverse=True)
    limit = _integer(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
    ids = [i["id"] for i in items]
    if params.get("starting_after"):
        if params["starting_after"] not in ids:
            raise missing("object", params["starting_after"], "starting_after")
        items = items[ids.index(params["starting_after"]) + 1 :]
        page, has_more = items[:limit], len(items) > limit
    elif params.get("ending_before"):
        if params["ending_before"] not in ids:
            raise missing("object", params["ending_before"], "ending_before")
        items = items[: ids.index(params["ending_before"])]
        page, has_more = items[-limit:], len(items) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": copy.deepcopy(page), "has_more": has_more, "url": url}


def expand(fake: FakeStripe, obj: Json, paths: list[str]) -> Json:
    """Replace id strings by the objects at each dotted path (`data.` prefixes apply to list items)."""
    for path in paths:
        _expand_path(fake, obj, path.split("."))
    return obj


def _expand_path(fake: FakeStripe, node: Any, parts: list[str]) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "data" and isinstance(node.get("data"), list):
        for item in node["data"]:
            _expand_path(fake, item, rest)
        return
    if head == "payments" and node.get("object") == "invoice" and not rest:
        node["payments"] = {
            "object": "list",
            "data": fake.invoice_payments_of(node["id"]),
            "has_more": False,
            "url": f"/v1/invoices/{node['id']}/payments",
        }
        return
    if head == "refunds" and node.get("object") == "charge" and not rest:
        refunds = list_response(fake, fake.refunds_of(node["id"]), {}, f"/v1/charges/{node['id']}/refunds")
        node["refunds"] = refunds
        return
    value = node.get(head)
    if isinstance(value, str) and value in fake.objects:
        node[head] = value = fake.get(value)
    _expand_path(fake, value, rest)


def _retrieve(kind: str) -> Handler:
    def handler(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
        return fake.get(path["id"], kind)

    return handler


for _kind, _pattern in [
    ("customer", "/v1/customers/{id}"),
    ("price", "/v1/prices/{id}"),
    ("checkout.session", "/v1/checkout/sessions/{id}"),
    ("subscription", "/v1/subscriptions/{id}"),
    ("invoice", "/v1/invoices/{id}"),
    ("invoice_payment", "/v1/invoice_payments/{id}"),
    ("payment_intent", "/v1/payment_intents/{id}"),
    ("charge", "/v1/charges/{id}"),
    ("refund", "/v1/refunds/{id}"),
    ("dispute", "/v1/disputes/{id}"),
    ("event", "/v1/events/{id}"),
    ("balance_transaction", "/v1/balance_transactions/{id}"),
]:
    endpoint("GET", _pattern)(_retrieve(_kind))


@endpoint("POST", "/v1/customers")
def _create_customer(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    return fake.create_customer(
        **{k: params[k] for k in ("email", "name", "phone", "description", "metadata") if k in params}
    )


@endpoint("POST", "/v1/prices")
def _create_price(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    recurring = params.get("recurring") or {}
    if "currency" not in params or "unit_amount" not in params:
        raise StripeError(400, "Missing required param: currency or unit_amount.", code="parameter_missing")
    return fake.create_price(
        _integer(params["unit_amount"], "unit_amount"),
        currency=params["currency"],
        interval=recurring.get("interval"),
        interval_count=_integer(recurring.get("interval_count", 1), "interval"),
        product=params.get("product"),
        nickname=params.get("nickname"),
    )


@endpoint("POST", "/v1/checkout/sessions")
def _create_session(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    return fake.create_checkout_session(params)


@endpoint("POST", "/v1/checkout/sessions/{id}/expire")
def _expire_session(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    return fake.expire_checkout(path["id"])


@endpoint("POST", "/v1/subscriptions")
def _create_subscription(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    return fake.create_subscription(params)


@endpoint("POST", "/v1/subscriptions/{id}")
def _update_subscription(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    return fake.update_subscription(path["id"], params)


@endpoint("DELETE", "/v1/subscriptions/{id}")
def _cancel_subscription(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    fake.get(path["id"], "subscription")
    return fake.cancel_subscription(path["id"])


@endpoint("GET", "/v1/invoices")
def _list_invoices(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    items = fake.all_objects("invoice")
    if params.get("customer"):
        items = [i for i in items if i["customer"] == params["customer"]]
    if params.get("subscription"):
        items = [i for i in items if i["parent"]["subscription_details"]["subscription"] == params["subscription"]]
    if params.get("status"):
        items = [i for i in items if i["status"] == params["status"]]
    return list_response(fake, items, params, "/v1/invoices")


@endpoint("POST", "/v1/invoices/{id}/pay")
def _pay_invoice(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    return fake.pay_invoice(path["id"])


@endpoint("GET", "/v1/invoice_payments")
def _list_invoice_payments(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    items = fake.all_objects("invoice_payment")
    if params.get("invoice"):
        items = [p for p in items if p["invoice"] == params["invoice"]]
    payment = params.get("payment")
    if isinstance(payment, dict) and payment.get("payment_intent"):
        items = [p for p in items if p["payment"].get("payment_intent") == payment["payment_intent"]]
    return list_response(fake, items, params, "/v1/invoice_payments")


@endpoint("POST", "/v1/refunds")
def _create_refund(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    charge_id = params.get("charge")
    if not charge_id and params.get("payment_intent"):
        charge_id = fake.get(params["payment_intent"], "payment_intent")["latest_charge"]
        if not charge_id:
            raise StripeError(400, "This PaymentIntent has no charge to refund.", param="payment_intent")
    if not charge_id:
        raise StripeError(400, "One of `charge` or `payment_intent` is required.", code="parameter_missing")
    amount = _integer(params["amount"], "amount") if "amount" in params else None
    return fake.refund_charge(charge_id, amount, reason=params.get("reason"), metadata=params.get("metadata"))


@endpoint("GET", "/v1/refunds")
def _list_refunds(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    items = fake.all_objects("refund")
    for key in ("charge", "payment_intent"):
        if params.get(key):
            items = [r for r in items if r[key] == params[key]]
    return list_response(fake, items, params, "/v1/refunds")


@endpoint("POST", "/v1/billing_portal/sessions")
def _create_portal_session(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    if "customer" not in params:
        raise StripeError(400, "Missing required param: customer.", code="parameter_missing", param="customer")
    fake.get(params["customer"], "customer")
    portal = template("billing_portal.session")
    portal_id = fake.new_id("bps")
    portal.update(
        id=portal_id,
        configuration=params.get("configuration", "bpc_fake_default"),
        created=fake.now(),
        customer=params["customer"],
        flow=None,
        livemode=False,
        locale=params.get("locale"),
        return_url=params.get("return_url"),
        url=f"{fake.base_url}/_test/hosted/billing_portal/{portal_id}",
    )
    return copy.deepcopy(fake._store(portal))


@endpoint("GET", "/v1/events")
def _list_events(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    items = fake.all_objects("event")
    types = params.get("types") or ([params["type"]] if params.get("type") else [])
    if types:
        patterns = [re.compile("^" + re.escape(t).replace(r"\*", ".*") + "$") for t in types]
        items = [e for e in items if any(p.match(e["type"]) for p in patterns)]
    return list_response(fake, items, params, "/v1/events")


@endpoint("GET", "/v1/balance_transactions")
def _list_balance_transactions(fake: FakeStripe, path: dict[str, str], params: Json) -> Json:
    items = fake.all_objects("balance_transaction")
    for key in ("type", "source", "currency"):
        if params.get(key):
            items = [t for t in items if t[key] == params[key]]
    return list_response(fake, items, params, "/v1/balance_transactions")


def _find_route(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    for route_method, regex, handler in ROUTES:
        match = regex.match(path)
        if match and route_method == method:
            return handler, match.groupdict()
    raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")


def _authorized(fake: FakeStripe, authorization: str | None) -> None:
    if not authorization:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    scheme, _, credential = authorization.partition(" ")
    key = credential.strip()
    if scheme.lower() == "basic":
        with contextlib.suppress(ValueError):
            key = base64.b64decode(credential).decode().split(":", 1)[0]
    if not hmac.compare_digest(key, fake.api_key):
        raise StripeError(401, f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}")


def _json(status: int, body: Json, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=json.dumps(body, indent=2).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers or {},
    )


async def _serve_api(fake: FakeStripe, request: Request[Any, Any, Any], method: str, path: str) -> Response[bytes]:
    request_id = fake.new_id("req")
    headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("stripe-version") or fake.api_version}
    idempotency_key = request.headers.get("idempotency-key")
    params: Json = {}
    status = 500
    if fake.outage:
        body = {"error": {"type": "api_error", "message": "Stripe is temporarily unavailable (fake outage)."}}
        return _json(503, body, headers)
    try:
        _authorized(fake, request.headers.get("authorization"))
        raw = (await request.body()).decode() if method == "POST" else request.url.query
        params = parse_stripe_params(raw or "")
        if method == "POST":
            if not idempotency_key:
                raise StripeError(
                    400,
                    "This fake Stripe requires an `Idempotency-Key` header on every POST.",
                    code="idempotency_key_required",
                )
            scope_key = f"{fake.api_key}:{idempotency_key}"
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            stored = fake._idempotency.get(scope_key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{idempotency_key}' if you meant to execute a different request.",
                        type_="idempotency_error",
                    )
                status = stored.status
                return Response(
                    content=stored.body,
                    status_code=stored.status,
                    media_type="application/json",
                    headers={**headers, "Idempotent-Replayed": "true", "Original-Request": stored.request_id},
                )
        handler, path_params = _find_route(method, path)
        fake._request_context = (request_id, idempotency_key)
        try:
            result = handler(fake, path_params, params)
        finally:
            fake._request_context = (None, None)
        expand_paths = params.get("expand") or []
        result = expand(fake, result, expand_paths if isinstance(expand_paths, list) else [expand_paths])
        status, body = 200, result
    except StripeError as error:
        status, body = error.status, error.body
    except Exception as error:  # a bug in the fake: say so in Stripe's shape
        status, body = 500, {"error": {"type": "api_error", "message": f"fake Stripe failed: {error!r}"}}
    finally:
        fake.requests.append(
            RecordedRequest(method, path, params, idempotency_key, request.headers.get("stripe-version"), status)
        )
    encoded = json.dumps(body, indent=2).encode()
    # Like Stripe, keep the result of a request that executed; a refused request (validation, auth, a
    # conflicting key) leaves nothing behind, so a corrected retry with the same key runs.
    if method == "POST" and idempotency_key and status == 200:
        fake._idempotency[f"{fake.api_key}:{idempotency_key}"] = _StoredResponse(
            json.dumps([method, path, params], sort_keys=True), status, encoded, request_id
        )
    return Response(content=encoded, status_code=status, media_type="application/json", headers=headers)


# Test controls over HTTP: POST /_test/<what>/<id>/<action> with an optional JSON body.
CONTROLS: dict[tuple[str, str], Callable[[FakeStripe, str, Json], Json]] = {
    ("checkout/sessions", "complete"): lambda f, i, b: f.complete_checkout(i, **b),
    ("checkout/sessions", "decline"): lambda f, i, b: f.decline_checkout(i),
    ("checkout/sessions", "expire"): lambda f, i, b: f.expire_checkout(i),
    ("subscriptions", "advance"): lambda f, i, b: f.advance_subscription(i, **b),
    ("subscriptions", "cancel"): lambda f, i, b: f.cancel_subscription(i, **b),
    ("subscriptions", "stale_update"): lambda f, i, b: f.send_stale_subscription_updated(i),
    ("invoices", "pay"): lambda f, i, b: f.pay_invoice(i, **b),
    ("invoices", "retry"): lambda f, i, b: f.retry_invoice(i, **b),
    ("invoices", "void"): lambda f, i, b: f.void_invoice(i),
    ("charges", "refund"): lambda f, i, b: f.refund_charge(i, **b),
    ("charges", "dispute"): lambda f, i, b: f.create_dispute(i, **b),
    ("disputes", "close"): lambda f, i, b: f.close_dispute(i, **b),
}
_CONTROL_PATH = re.compile(r"^/_test/(?P<what>[a-z_/]+?)/(?P<id>[A-Za-z0-9_]+)/(?P<action>[a-z_]+)$")


async def _serve_control(fake: FakeStripe, request: Request[Any, Any, Any], method: str, path: str) -> Response[bytes]:
    try:
        event_match = re.match(r"^/_test/events/(?P<id>evt_\w+)/webhook$", path)
        if method == "GET" and path.startswith("/_test/hosted/"):
            page = f"<!doctype html><title>fake Stripe</title><p>Hosted page stand-in: {path[14:]}</p>"
            return Response(content=page.encode(), status_code=200, media_type="text/html")
        if method == "GET" and event_match:
            body, headers = fake.signed_webhook(event_match["id"])
            return _json(200, {"body": body.decode(), "headers": headers})
        match = _CONTROL_PATH.match(path)
        control = CONTROLS.get((match["what"], match["action"])) if match and method == "POST" else None
        if control is None or match is None:
            if method == "GET" and (session := re.match(r"^/_test/checkout/sessions/(cs_\w+)$", path)):
                return _json(200, fake.get(session[1], "checkout.session"))
            raise StripeError(404, f"Unknown test control ({method}: {path}).")
        raw = await request.body()
        arguments = json.loads(raw) if raw.strip() else {}
        return _json(200, control(fake, match["id"], arguments))
    except StripeError as error:
        return _json(error.status, error.body)
    except (TypeError, ValueError) as error:
        return _json(400, {"error": {"type": "invalid_request_error", "message": str(error)}})


def create_app(fake: FakeStripe) -> Litestar:
    """The ASGI app serving `fake`."""

    @route("/{path:path}", http_method=[HttpMethod.GET, HttpMethod.POST, HttpMethod.DELETE])
    async def dispatch(request: Request[Any, Any, Any]) -> Response[bytes]:
        method, path = request.method.upper(), request.url.path
        if path.startswith("/_test/"):
            return await _serve_control(fake, request, method, path)
        return await _serve_api(fake, request, method, path)

    return Litestar(route_handlers=[dispatch], openapi_config=None, debug=False)


@contextlib.asynccontextmanager
async def run_fake_stripe(
    *,
    api_key: str = API_KEY,
    webhook_secret: str = WEBHOOK_SECRET,
    clock: Callable[[], float] = time.time,
    startup_timeout: float = 10.0,
) -> AsyncIterator[FakeStripe]:
    """Serve a fresh fake on 127.0.0.1 (ephemeral port) in the current event loop for the `with` block."""
    fake = FakeStripe(api_key=api_key, webhook_secret=webhook_secret, clock=clock)
    async with run_app(create_app(fake), name="Stripe", startup_timeout=startup_timeout) as base_url:
        fake.base_url = base_url
        yield fake
