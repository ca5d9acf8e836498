"""Stripe webhook signatures, verified ourselves (RELIABILITY 1).

`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`: HMAC-SHA256 with the endpoint secret over
`f"{t}.{raw body}"`. Any one `v1` may match (Stripe sends several while a secret rolls). The timestamp
must be within 300 s of our clock **in either direction**: the SDK alone accepts timestamps from the
future, which would let a captured message be replayed later. The body is used exactly as received; a
re-serialised body fails.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ports.outbound.webhooks import InvalidSignature, VerifiedMessage

TOLERANCE_S = 300
HEADER = "stripe-signature"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            if not value.isdigit():
                raise InvalidSignature("malformed timestamp")
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("the signature header lacks a timestamp or a v1 signature")
    return timestamp, signatures


def expected_signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class StripeWebhookVerifier:
    provider = "stripe"

    def __init__(self, secret: str, *, tolerance_s: int = TOLERANCE_S) -> None:
        if not secret:
            raise ValueError("a Stripe webhook secret is required")
        self._secret = secret
        self._tolerance_s = tolerance_s

    async def verify(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> VerifiedMessage:
        return self.check(body, headers, now=now)

    def check(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> VerifiedMessage:
        """The verification itself: pure computation (HMAC and time), no I/O."""
        header = headers.get(HEADER)
        if not header:
            raise InvalidSignature("missing Stripe-Signature header")
        timestamp, signatures = _parse(header)
        if abs(now.timestamp() - timestamp) > self._tolerance_s:
            raise InvalidSignature("the signature timestamp is outside the tolerance")
        expected = expected_signature(self._secret, timestamp, body)
        if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            raise InvalidSignature("no signature matches")
        try:
            event = json.loads(body.decode("utf-8"))
            key, kind = event["id"], event["type"]
        except (ValueError, KeyError, TypeError):
            raise InvalidSignature("a signed body that is not a Stripe event") from None
        if not isinstance(key, str) or not key.startswith("evt_") or not isinstance(kind, str):
            raise InvalidSignature("a signed body that is not a Stripe event")
        return VerifiedMessage(key=key, type=kind, subject=_customer(event))


def _customer(event: Any) -> str | None:
    """The customer the event's object belongs to (an id or an expanded customer), if it says."""
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    customer = obj.get("customer") if isinstance(obj, dict) else None
    if isinstance(customer, dict):
        customer = customer.get("id")
    return customer if isinstance(customer, str) and len(customer) <= 255 else None
