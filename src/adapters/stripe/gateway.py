"""`PaymentGateway` over the stripe SDK (async methods, `stripe.HTTPXClient`).

Shapes follow the API version stripe-python pins: an invoice's subscription is at
`parent.subscription_details.subscription`, its payments hang off `invoice_payments` (→ payment intent → latest
charge), the billing period is on the subscription items and the paid time is `status_transitions.paid_at`.
A charge's `refunds` are only present when expanded; a payment-mode Checkout Session gets its payment intent when
it is paid (until then `payment_intent` is null).

No automatic network retries (`max_network_retries=0`): callers retry with the same idempotency key when they get
`ComponentUnavailable`. Neither the API key nor any card data is ever logged or put into an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import stripe

from adapters.stripe import objects
from adapters.stripe.objects import Json, id_of, money, required_time, time_of
from domain.money import Money
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
PURPOSE_KEY = "purpose"
DEFAULT_PURPOSE = "joining"
RETENTION_PURPOSE = "retention"
RETENTION_PRODUCT_NAME = "Retention prepayment"
T = TypeVar("T")


def _dict(obj: Any) -> Json:
    data: Json = obj.to_dict()
    return data


class StripePaymentGateway:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout_s: float = 10,
        dunning_retry_days: int | None = None,
        dunning_terminal_action: str = "unknown",
    ) -> None:
        """`dunning_retry_days` / `dunning_terminal_action`: the account's subscription-retry settings as the
        operator states them (see `dunning_settings`); None / "unknown" when not stated."""
        if dunning_retry_days is not None and dunning_retry_days < 0:
            raise ValueError("dunning_retry_days must not be negative")
        self._dunning = DunningSettings(retry_window_days=dunning_retry_days, terminal_action=dunning_terminal_action)
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base or stripe.DEFAULT_API_BASE},
            max_network_retries=0,
            http_client=self._http,
        )

    def __repr__(self) -> str:  # never show the key
        return "StripePaymentGateway()"

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # ---- error mapping ----------------------------------------------------------------------------------

    async def _call(self, what: str, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            log.warning("stripe %s unavailable: %s", what, type(exc).__name__)
            raise ComponentUnavailable(COMPONENT, f"{what}: {type(exc).__name__}") from exc
        except stripe.StripeError as exc:
            status = exc.http_status
            if status is None or status >= 500 or status == 429:
                log.warning("stripe %s unavailable: status %s", what, status)
                raise ComponentUnavailable(COMPONENT, f"{what}: status {status}") from exc
            code = exc.code if isinstance(exc.code, str) else None
            message = exc.user_message or type(exc).__name__
            raise PaymentProviderError(f"{what}: {message}", status=status, code=code) from exc

    # ---- mapping ----------------------------------------------------------------------------------------

    async def _session(self, raw: Json) -> CheckoutSession:
        metadata = raw.get("metadata") or {}
        total = raw.get("amount_total")
        return CheckoutSession(
            id=raw["id"],
            url=raw.get("url"),
            status=raw.get("status") or "open",
            payment_status=raw.get("payment_status") or "unpaid",
            membership_id=metadata.get(objects.MEMBERSHIP_KEY),
            customer_id=id_of(raw.get("customer")),
            subscription_id=id_of(raw.get("subscription")),
            invoice_id=id_of(raw.get("invoice")),
            amount_total=money(total, raw.get("currency")) if total is not None else None,
            expires_at=required_time(raw["expires_at"]),
            purpose=metadata.get(PURPOSE_KEY) or DEFAULT_PURPOSE,
            payment_intent_id=id_of(raw.get("payment_intent")),
            paid_at=await self._session_paid_at(raw),
        )

    async def _session_paid_at(self, session: Json) -> datetime | None:
        """A paid payment-mode session: when its payment intent's (latest, succeeded) charge was made.

        Uses `payment_intent.latest_charge` when the session was fetched with it expanded, else reads the payment
        intent. Subscription-mode sessions have no payment intent of their own (the invoice has the paid time).
        """
        if session.get("mode") != "payment" or session.get("payment_status") != "paid":
            return None
        intent = session.get("payment_intent")
        if intent is None:
            return None
        if not isinstance(intent, dict) or isinstance(intent.get("latest_charge"), str):
            intent = _dict(
                await self._call(
                    "get payment intent",
                    self._client.v1.payment_intents.retrieve_async(
                        str(id_of(intent)), params={"expand": ["latest_charge"]}
                    ),
                )
            )
        charge = intent.get("latest_charge")
        if intent.get("status") != "succeeded" or not isinstance(charge, dict) or charge.get("status") != "succeeded":
            return None
        return required_time(charge["created"])

    async def _invoice(self, raw: Json) -> ProviderInvoice:
        parent = raw.get("parent") or {}
        details = parent.get("subscription_details") or {}
        currency = raw.get("currency")
        transitions = raw.get("status_transitions") or {}
        intent_id, charge_id = await self._payment_of(raw)
        return ProviderInvoice(
            id=raw["id"],
            subscription_id=id_of(details.get("subscription")),
            customer_id=id_of(raw.get("customer")),
            status=raw["status"],
            amount_due=money(raw.get("amount_due"), currency),
            amount_paid=money(raw.get("amount_paid"), currency),
            created_at=required_time(raw["created"]),
            # Automatically charged invoices have no due_date: they fall due when finalized.
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

    async def _payment_of(self, invoice: Json) -> tuple[str | None, str | None]:
        """invoice → invoice_payments → payment intent → latest charge.

        Uses the expanded `payments` list when the invoice was fetched with it, else lists the invoice payments.
        Of several payments the paid one wins, then the default one, then the newest.
        """
        expanded = invoice.get("payments")
        if isinstance(expanded, dict) and isinstance(expanded.get("data"), list) and not expanded.get("has_more"):
            rows: list[Json] = expanded["data"]
        else:
            listed = await self._call(
                "list invoice payments",
                self._client.v1.invoice_payments.list_async(params={"invoice": invoice["id"], "limit": 100}),
            )
            rows = [_dict(p) for p in listed.data]
        rows = [r for r in rows if (r.get("payment") or {}).get("payment_intent")]
        if not rows:
            return None, None
        best = max(rows, key=lambda r: (r.get("status") == "paid", bool(r.get("is_default")), r.get("created") or 0))
        intent_id = id_of(best["payment"]["payment_intent"])
        if intent_id is None:
            return None, None
        intent = _dict(
            await self._call("get payment intent", self._client.v1.payment_intents.retrieve_async(intent_id))
        )
        return intent_id, id_of(intent.get("latest_charge"))

    # ---- checkout ---------------------------------------------------------------------------------------

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
        remainder = joining_fee.cents - monthly_dues.cents
        if monthly_dues.cents <= 0 or remainder < 0:
            raise ValueError("joining fee must be at least the (positive) monthly dues")
        currency = monthly_dues.currency.lower()
        metadata = {objects.MEMBERSHIP_KEY: membership_id}
        line_items: list[Json] = [
            {
                "price_data": {
                    "currency": currency,
                    "unit_amount": monthly_dues.cents,
                    "recurring": {"interval": "month"},
                    "product_data": {"name": "Monthly dues"},
                },
                "quantity": 1,
            }
        ]
        if remainder > 0:
            line_items.append(
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": remainder,
                        "product_data": {"name": "Joining fee (beyond the first month's dues)"},
                    },
                    "quantity": 1,
                }
            )
        params: Any = {
            "mode": "subscription",
            "payment_method_types": ["card"],
            "customer_email": customer_email,
            "client_reference_id": membership_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "line_items": line_items,
        }
        session = await self._call(
            "create checkout session",
            self._client.v1.checkout.sessions.create_async(params=params, options={"idempotency_key": idempotency_key}),
        )
        return await self._session(_dict(session))

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
            raise ValueError("the retention prepayment must be positive")
        metadata = {objects.MEMBERSHIP_KEY: membership_id, PURPOSE_KEY: RETENTION_PURPOSE}
        params: Any = {
            "mode": "payment",
            "payment_method_types": ["card"],
            "customer": customer_id,
            "client_reference_id": membership_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "line_items": [
                {
                    "price_data": {
                        "currency": amount.currency.lower(),
                        "unit_amount": amount.cents,
                        "product_data": {"name": RETENTION_PRODUCT_NAME},
                    },
                    "quantity": 1,
                }
            ],
        }
        session = await self._call(
            "create retention checkout session",
            self._client.v1.checkout.sessions.create_async(params=params, options={"idempotency_key": idempotency_key}),
        )
        return await self._session(_dict(session))

    async def get_checkout_session(self, session_id: str) -> CheckoutSession:
        session = await self._call(
            "get checkout session",
            self._client.v1.checkout.sessions.retrieve_async(
                session_id, params={"expand": ["payment_intent.latest_charge"]}
            ),
        )
        return await self._session(_dict(session))

    async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> CheckoutSession:
        session = await self._call(
            "expire checkout session",
            self._client.v1.checkout.sessions.expire_async(session_id, options={"idempotency_key": idempotency_key}),
        )
        return await self._session(_dict(session))

    # ---- invoices ---------------------------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> ProviderInvoice:
        invoice = await self._call(
            "get invoice", self._client.v1.invoices.retrieve_async(invoice_id, params={"expand": ["payments"]})
        )
        return await self._invoice(_dict(invoice))

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
        params: Any = {"limit": limit}
        if subscription_id:
            params["subscription"] = subscription_id
        if customer_id:
            params["customer"] = customer_id
        if created_after is not None:
            params["created"] = {"gte": int(created_after.timestamp())}
        if starting_after:
            params["starting_after"] = starting_after
        params["expand"] = ["data.payments"]
        page = await self._call("list invoices", self._client.v1.invoices.list_async(params=params))
        items = [await self._invoice(_dict(i)) for i in page.data]
        return Page(
            items=tuple(items),
            has_more=bool(page.has_more),
            next_cursor=items[-1].id if items and page.has_more else None,
        )

    # ---- subscriptions ----------------------------------------------------------------------------------

    async def get_subscription(self, subscription_id: str) -> ProviderSubscription:
        sub = await self._call("get subscription", self._client.v1.subscriptions.retrieve_async(subscription_id))
        return objects.subscription(_dict(sub))

    async def _update_subscription(
        self, what: str, subscription_id: str, params: Any, key: str
    ) -> ProviderSubscription:
        sub = await self._call(
            what,
            self._client.v1.subscriptions.update_async(
                subscription_id, params=params, options={"idempotency_key": key}
            ),
        )
        return objects.subscription(_dict(sub))

    async def set_cancel_at_period_end(
        self, subscription_id: str, *, on: bool, idempotency_key: str
    ) -> ProviderSubscription:
        return await self._update_subscription(
            "set cancel at period end", subscription_id, {"cancel_at_period_end": on}, idempotency_key
        )

    async def pause_collection(
        self, subscription_id: str, *, idempotency_key: str, behavior: str = "void"
    ) -> ProviderSubscription:
        return await self._update_subscription(
            "pause collection", subscription_id, {"pause_collection": {"behavior": behavior}}, idempotency_key
        )

    async def resume_collection(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription:
        return await self._update_subscription(
            "resume collection", subscription_id, {"pause_collection": ""}, idempotency_key
        )

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription:
        sub = await self._call(
            "cancel subscription",
            self._client.v1.subscriptions.cancel_async(subscription_id, options={"idempotency_key": idempotency_key}),
        )
        return objects.subscription(_dict(sub))

    async def restart_subscription(
        self, previous_subscription_id: str, *, billing_cycle_anchor: datetime, membership_id: str, idempotency_key: str
    ) -> ProviderSubscription:
        """`POST /v1/subscriptions` for the previous subscription's customer, prices (quantities) and default card,
        anchored at `billing_cycle_anchor` with `proration_behavior=none`: Stripe bills nothing for the span up to
        the anchor, then the full dues at the anchor and monthly from it. Stripe requires the anchor to be in the
        future and no later than one interval from now (else a 400, `PaymentProviderError`).

        A retry with the same key sends the same parameters (the previous subscription has ended and no longer
        changes), so Stripe replays the first response instead of creating a second subscription."""
        if billing_cycle_anchor.tzinfo is None:
            raise ValueError("billing_cycle_anchor must be an aware datetime")
        previous = _dict(
            await self._call(
                "get subscription to restart", self._client.v1.subscriptions.retrieve_async(previous_subscription_id)
            )
        )
        customer_id = id_of(previous.get("customer"))
        items: list[Json] = []
        for item in (previous.get("items") or {}).get("data") or []:
            price_id = id_of(item.get("price"))
            if price_id is not None:
                items.append({"price": price_id, "quantity": int(item.get("quantity") or 1)})
        if customer_id is None or not items:
            raise PaymentProviderError(f"restart subscription: {previous_subscription_id} has no customer or price")
        params: Any = {
            "customer": customer_id,
            "items": items,
            "billing_cycle_anchor": int(billing_cycle_anchor.timestamp()),
            "proration_behavior": "none",
            "payment_behavior": "allow_incomplete",
            "metadata": {objects.MEMBERSHIP_KEY: membership_id},
        }
        card = id_of(previous.get("default_payment_method"))
        if card is not None:
            params["default_payment_method"] = card
        sub = await self._call(
            "restart subscription",
            self._client.v1.subscriptions.create_async(params=params, options={"idempotency_key": idempotency_key}),
        )
        return objects.subscription(_dict(sub))

    # ---- refunds, portal, events ------------------------------------------------------------------------

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
        params: Any = {"charge": charge_id} if charge_id else {"payment_intent": payment_intent_id}
        if metadata:
            params["metadata"] = dict(metadata)
        if amount is not None:
            if amount.cents <= 0:
                raise ValueError("refund amount must be positive")
            params["amount"] = amount.cents
        refund = _dict(
            await self._call(
                "create refund",
                self._client.v1.refunds.create_async(params=params, options={"idempotency_key": idempotency_key}),
            )
        )
        return objects.refund(refund)

    async def create_billing_portal_link(
        self, *, customer_id: str, return_url: str, idempotency_key: str
    ) -> PortalLink:
        portal = _dict(
            await self._call(
                "create billing portal session",
                self._client.v1.billing_portal.sessions.create_async(
                    params={"customer": customer_id, "return_url": return_url},
                    options={"idempotency_key": idempotency_key},
                ),
            )
        )
        return PortalLink(id=portal["id"], url=portal["url"])

    # ---- charges, disputes, balance ----------------------------------------------------------------------

    async def get_charge(self, charge_id: str) -> ProviderCharge:
        charge = _dict(
            await self._call(
                "get charge", self._client.v1.charges.retrieve_async(charge_id, params={"expand": ["refunds"]})
            )
        )
        embedded = charge.get("refunds")
        if isinstance(embedded, dict) and isinstance(embedded.get("data"), list) and not embedded.get("has_more"):
            rows: list[Json] = embedded["data"]
        else:  # not expanded, or more refunds than the expansion holds: list them all
            rows = await self._refunds_of(charge["id"])
        currency = charge.get("currency")
        return ProviderCharge(
            id=charge["id"],
            payment_intent_id=id_of(charge.get("payment_intent")),
            amount=money(charge.get("amount"), currency),
            amount_refunded=money(charge.get("amount_refunded"), currency),
            refunds=tuple(objects.refund(r) for r in rows),
            created_at=required_time(charge["created"]),
        )

    async def _refunds_of(self, charge_id: str) -> list[Json]:
        rows: list[Json] = []
        params: Any = {"charge": charge_id, "limit": 100}
        while True:
            page = await self._call("list refunds", self._client.v1.refunds.list_async(params=params))
            rows += [_dict(r) for r in page.data]
            if not page.has_more or not page.data:
                return rows
            params = {**params, "starting_after": rows[-1]["id"]}

    async def get_dispute(self, dispute_id: str) -> ProviderDispute:
        dispute = _dict(await self._call("get dispute", self._client.v1.disputes.retrieve_async(dispute_id)))
        return objects.dispute(dispute)

    async def list_balance_transactions(
        self, *, created_after: datetime, limit: int = 100, starting_after: str | None = None
    ) -> Page[BalanceTransaction]:
        params: Any = {"created": {"gte": int(created_after.timestamp())}, "limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        page = await self._call(
            "list balance transactions", self._client.v1.balance_transactions.list_async(params=params)
        )
        items = []
        for txn in page.data:
            items.append(objects.balance_transaction(_dict(txn)))
        return Page(
            items=tuple(items),
            has_more=bool(page.has_more),
            next_cursor=items[-1].id if items and page.has_more else None,
        )

    async def dunning_settings(self) -> DunningSettings:
        """The subscription-retry settings as configured for this gateway, not read from Stripe.

        Stripe has no public API to read an account's "Manage failed payments" settings (how long Smart Retries
        or the custom retry schedule keep trying, and whether the subscription is then cancelled, marked unpaid or
        left past due): they exist only in the Dashboard. So the operator states them in our settings, the
        composition root passes them to the constructor (`dunning_retry_days`, `dunning_terminal_action`), and
        start-up checks them against our grace period (DOMAIN.md: the provider's dunning must never end a
        subscription before our grace ends). `None` / "unknown" means the operator did not state them.
        """
        return self._dunning

    async def list_events(
        self,
        *,
        created_after: datetime,
        types: Sequence[str] = (),
        limit: int = 100,
        starting_after: str | None = None,
    ) -> Page[ProviderEvent]:
        params: Any = {"created": {"gte": int(created_after.timestamp())}, "limit": limit}
        if types:
            params["types"] = list(types)
        if starting_after:
            params["starting_after"] = starting_after
        page = await self._call("list events", self._client.v1.events.list_async(params=params))
        items = []
        for event in page.data:
            raw = _dict(event)
            obj = (raw.get("data") or {}).get("object") or {}
            items.append(
                ProviderEvent(
                    id=raw["id"], type=raw["type"], created_at=required_time(raw["created"]), object_id=obj.get("id")
                )
            )
        return Page(
            items=tuple(items),
            has_more=bool(page.has_more),
            next_cursor=items[-1].id if items and page.has_more else None,
        )
