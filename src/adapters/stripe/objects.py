"""Stripe-shaped JSON objects → the payment port's values. Pure functions, shared by the real gateway and the
sandbox provider (which stores its objects in Stripe's shape), so both read Stripe objects the same way."""

from datetime import UTC, datetime
from typing import Any

from domain.money import Money
from ports.outbound.payments import BalanceTransaction, ProviderDispute, ProviderRefund, ProviderSubscription

Json = dict[str, Any]
MEMBERSHIP_KEY = "membership_id"


def time_of(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def required_time(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def id_of(value: Any) -> str | None:
    """An id field that may have been expanded into an object."""
    if value is None:
        return None
    if isinstance(value, dict):
        return str(value["id"])
    return str(value)


def money(cents: Any, currency: Any) -> Money:
    return Money(cents=int(cents or 0), currency=str(currency or "usd").upper())


def refund(raw: Json) -> ProviderRefund:
    return ProviderRefund(
        id=raw["id"],
        amount=money(raw.get("amount"), raw.get("currency")),
        status=raw.get("status") or "pending",
        charge_id=id_of(raw.get("charge")),
        payment_intent_id=id_of(raw.get("payment_intent")),
        created_at=required_time(raw["created"]),
        metadata={str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
    )


def subscription(raw: Json) -> ProviderSubscription:
    """The period comes from the subscription items (Stripe moved it there from the subscription)."""
    items = (raw.get("items") or {}).get("data") or []
    starts = [i["current_period_start"] for i in items if i.get("current_period_start") is not None]
    ends = [i["current_period_end"] for i in items if i.get("current_period_end") is not None]
    pause = raw.get("pause_collection")
    return ProviderSubscription(
        id=raw["id"],
        status=raw["status"],
        customer_id=id_of(raw.get("customer")),
        cancel_at_period_end=bool(raw.get("cancel_at_period_end")),
        cancel_at=time_of(raw.get("cancel_at")),
        current_period_start=time_of(min(starts)) if starts else None,
        current_period_end=time_of(min(ends)) if ends else None,
        collection_paused=bool(pause),
        pause_behavior=pause.get("behavior") if pause else None,
        ended_at=time_of(raw.get("ended_at")),
        membership_id=(raw.get("metadata") or {}).get(MEMBERSHIP_KEY),
    )


def dispute(raw: Json) -> ProviderDispute:
    return ProviderDispute(
        id=raw["id"],
        charge_id=id_of(raw.get("charge")),
        payment_intent_id=id_of(raw.get("payment_intent")),
        amount=money(raw.get("amount"), raw.get("currency")),
        status=raw["status"],
        created_at=required_time(raw["created"]),
    )


def balance_transaction(raw: Json) -> BalanceTransaction:
    currency = raw.get("currency")
    return BalanceTransaction(
        id=raw["id"],
        type=raw["type"],
        amount=money(raw.get("amount"), currency),
        fee=money(raw.get("fee"), currency),
        net=money(raw.get("net"), currency),
        source_id=id_of(raw.get("source")),
        created_at=required_time(raw["created"]),
    )
