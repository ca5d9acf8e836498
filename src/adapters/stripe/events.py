"""`PaymentEventDecoder` for Stripe event bodies (v1 events, `{"object": "event", "data": {"object": …}}`).

The body was verified at intake; this only reads what the event is about. The processor re-reads the object
from Stripe itself, so nothing else of the snapshot in `data.object` is trusted or returned.

Customer: `data.object.customer` (an id, or an expanded customer object); a customer event is about the customer
itself; objects without a customer field (a dispute, for one) give None.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ports.outbound.payments import PaymentEventRef


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a Stripe event: {where} must be a non-empty string")
    return value


def _customer_id(obj: dict[str, Any], kind: str, object_id: str) -> str | None:
    if kind == "customer":
        return object_id
    customer = obj.get("customer")
    if customer is None:
        return None
    if isinstance(customer, dict):
        return _text(customer.get("id"), "data.object.customer.id")
    return _text(customer, "data.object.customer")


class StripeEventDecoder:
    """Reads a Stripe event body into a `PaymentEventRef`; raises ValueError for anything else."""

    def decode(self, body: str) -> PaymentEventRef:
        try:
            event = json.loads(body)
        except (TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"not a Stripe event: the body is not JSON ({exc})") from None
        if not isinstance(event, dict):
            raise ValueError("not a Stripe event: the body is not a JSON object")
        if event.get("object") != "event":
            raise ValueError(f"not a Stripe event: its object is {event.get('object')!r}")
        event_id = _text(event.get("id"), "id")
        event_type = _text(event.get("type"), "type")
        created = event.get("created")
        if type(created) is not int:  # bool is an int: refuse it too
            raise ValueError("not a Stripe event: created must be an integer unix time")
        try:
            created_at = datetime.fromtimestamp(created, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"not a Stripe event: created {created} is out of range") from None
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise ValueError("not a Stripe event: data.object must be an object")
        kind = _text(obj.get("object"), "data.object.object")
        object_id = _text(obj.get("id"), "data.object.id")
        return PaymentEventRef(
            id=event_id,
            type=event_type,
            object_kind=kind,
            object_id=object_id,
            customer_id=_customer_id(obj, kind, object_id),
            created_at=created_at,
        )
