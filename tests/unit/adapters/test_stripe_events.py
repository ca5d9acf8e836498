"""StripeEventDecoder: what a stored Stripe event body is about, and refusal of anything that is not one."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.stripe.events import StripeEventDecoder
from ports.outbound.payments import PaymentEventDecoder, PaymentEventRef

CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z
DECODER: PaymentEventDecoder = StripeEventDecoder()


def event(obj: dict[str, Any], *, type_: str = "invoice.paid", **envelope: Any) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": CREATED,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        **envelope,
    }


def decode(body: dict[str, Any] | list[Any] | str) -> PaymentEventRef:
    return DECODER.decode(body if isinstance(body, str) else json.dumps(body, indent=2))


@pytest.mark.parametrize(
    ("type_", "obj", "customer"),
    [
        ("invoice.paid", {"object": "invoice", "id": "in_1", "customer": "cus_1"}, "cus_1"),
        (
            "checkout.session.completed",
            {"object": "checkout.session", "id": "cs_test_1", "customer": {"id": "cus_2", "object": "customer"}},
            "cus_2",
        ),
        ("checkout.session.expired", {"object": "checkout.session", "id": "cs_test_2", "customer": None}, None),
        ("customer.subscription.deleted", {"object": "subscription", "id": "sub_1", "customer": "cus_3"}, "cus_3"),
        ("charge.refunded", {"object": "charge", "id": "ch_1", "customer": "cus_4", "amount_refunded": 100}, "cus_4"),
        ("charge.succeeded", {"object": "charge", "id": "ch_2", "customer": None}, None),
        ("refund.created", {"object": "refund", "id": "re_1", "charge": "ch_1", "customer": "cus_5"}, "cus_5"),
        ("charge.dispute.created", {"object": "dispute", "id": "dp_1", "charge": "ch_1"}, None),
        ("customer.updated", {"object": "customer", "id": "cus_6"}, "cus_6"),
    ],
)
def test_decodes_what_the_event_is_about(type_: str, obj: dict[str, Any], customer: str | None) -> None:
    ref = decode(event(obj, type_=type_))
    assert ref == PaymentEventRef(
        id="evt_1",
        type=type_,
        object_kind=obj["object"],
        object_id=obj["id"],
        customer_id=customer,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert ref.created_at.tzinfo is UTC


VALID = event({"object": "invoice", "id": "in_1", "customer": "cus_1"})


def without(path: str) -> dict[str, Any]:
    body = json.loads(json.dumps(VALID))
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    del node[last]
    return body


def replaced(path: str, value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(VALID))
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    node[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "not JSON"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ("null", "not a JSON object"),
        ('"evt_1"', "not a JSON object"),
        (replaced("object", "invoice"), "its object is 'invoice'"),
        (without("object"), "its object is None"),
        (without("id"), "id must be"),
        (replaced("id", ""), "id must be"),
        (replaced("id", 7), "id must be"),
        (without("type"), "type must be"),
        (replaced("type", None), "type must be"),
        (without("created"), "created must be an integer"),
        (replaced("created", "1767225600"), "created must be an integer"),
        (replaced("created", 1.5), "created must be an integer"),
        (replaced("created", True), "created must be an integer"),
        (replaced("created", 10**20), "out of range"),
        (without("data"), "data.object must be an object"),
        (replaced("data", []), "data.object must be an object"),
        (without("data.object"), "data.object must be an object"),
        (replaced("data.object", "in_1"), "data.object must be an object"),
        (without("data.object.object"), "data.object.object must be"),
        (without("data.object.id"), "data.object.id must be"),
        (replaced("data.object.id", None), "data.object.id must be"),
        (replaced("data.object.customer", 42), "data.object.customer must be"),
        (replaced("data.object.customer", {"object": "customer"}), "data.object.customer.id must be"),
    ],
)
def test_refuses_what_is_not_a_stripe_event(body: dict[str, Any] | str, message: str) -> None:
    with pytest.raises(ValueError, match="not a Stripe event") as refused:
        decode(body)
    assert message in str(refused.value)
