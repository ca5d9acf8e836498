"""Stripe's published example objects (`../shared/provider-specs/stripe-fixtures3.json`) as templates and as
the reference for a shape check.

- `template(object_type)` returns a deep copy of the example object of that type (`"invoice"`,
  `"checkout.session"`, …); the fake Stripe server builds every object it returns from one.
- `shape_problems(obj)` compares an object (or a Stripe list) with the example of its type: every key must
  exist in the example and every value must have the example's JSON type, recursively (null is allowed
  anywhere; where the example is null, an empty dict or an empty list, the example says nothing about the
  contents, so anything is accepted: that is how free-form maps such as `metadata` pass). An event's
  `data.object` is checked against the example of its own type.

The example file is incomplete in a few places that Stripe's API reference (and the typed stripe-python
16.x models) do document; those fields are listed in `DOCUMENTED_EXTRA_FIELDS` and accepted explicitly.
"""

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

FIXTURES_PATH = Path(
    os.environ.get(
        "TENURE_STRIPE_FIXTURES",
        Path(__file__).resolve().parents[3] / "shared" / "provider-specs" / "stripe-fixtures3.json",
    )
)

# object type -> dotted paths (list elements are not named) that Stripe documents but the example omits,
# with the JSON type each must have. Keep this list short and justified.
DOCUMENTED_EXTRA_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    # InvoicePayment.Payment.payment_intent (stripe-python 16.x `_invoice_payment.py`): the link
    # invoice → invoice_payment → payment_intent that replaces `invoice.charge` / `invoice.payment_intent`.
    "invoice_payment": {"payment.payment_intent": ("string",)},
    # PaymentIntent.LastPaymentError.{code,decline_code,message,charge} (stripe-python `_payment_intent.py`).
    "payment_intent": {
        "last_payment_error.code": ("string",),
        "last_payment_error.decline_code": ("string",),
        "last_payment_error.message": ("string",),
        "last_payment_error.charge": ("string",),
    },
}


@functools.cache
def resources() -> dict[str, Any]:
    """All example objects by type, as loaded from the fixtures file."""
    with FIXTURES_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)["resources"]


def template(object_type: str) -> dict[str, Any]:
    """A deep copy of Stripe's example object of `object_type`."""
    try:
        return copy.deepcopy(resources()[object_type])
    except KeyError:
        raise KeyError(f"no Stripe example object of type {object_type!r} in {FIXTURES_PATH}") from None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def shape_problems(obj: Any, object_type: str | None = None) -> list[str]:
    """Differences between `obj` and Stripe's example of its type; `[]` when it conforms.

    `obj` may be a Stripe object (its type is read from `object`) or a list object (`{"object": "list"}`),
    whose elements are each checked.
    """
    if not isinstance(obj, dict):
        return [f"not a JSON object: {json_type(obj)}"]
    kind = object_type or obj.get("object")
    if kind == "list":
        problems = [f"list: unexpected key {key!r}" for key in obj if key not in {"object", "data", "has_more", "url"}]
        for index, item in enumerate(obj.get("data", [])):
            problems += [f"data[{index}]: {p}" for p in shape_problems(item)]
        return problems
    if not isinstance(kind, str) or kind not in resources():
        return [f"no example object for type {kind!r}"]
    reference = resources()[kind]
    problems: list[str] = []
    if kind == "event":
        inner = obj.get("data", {}).get("object")
        envelope = {**obj, "data": {k: v for k, v in obj.get("data", {}).items() if k != "object"}}
        _compare(envelope, {**reference, "data": {}}, kind, "", problems)
        if inner is not None:
            problems += [f"data.object: {p}" for p in shape_problems(inner)]
        return problems
    _compare(obj, reference, kind, "", problems)
    return problems


def _compare(value: Any, reference: Any, kind: str, path: str, problems: list[str]) -> None:
    here = path or "<root>"
    if value is None or reference is None:
        return
    if json_type(value) != json_type(reference):
        problems.append(f"{kind}.{here}: {json_type(value)} where Stripe has {json_type(reference)}")
        return
    if isinstance(reference, dict):
        if not reference:
            return  # a free-form map in the example (metadata, fraud_details, …)
        extras = DOCUMENTED_EXTRA_FIELDS.get(kind, {})
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if key in reference:
                _compare(item, reference[key], kind, child, problems)
            elif child in extras:
                if item is not None and json_type(item) not in extras[child]:
                    problems.append(f"{kind}.{child}: {json_type(item)} where Stripe documents {extras[child]}")
            else:
                problems.append(f"{kind}.{child}: key not in Stripe's example object")
    elif isinstance(reference, list) and reference:
        for item in value:
            _compare(item, reference[0], kind, f"{path}[]", problems)
