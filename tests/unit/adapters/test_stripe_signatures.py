"""RELIABILITY.md 1: a Stripe signature's timestamp must be within 300 s of our clock in either direction (the SDK
alone accepts any future timestamp); the bound is inclusive and checked against a fixed clock here."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.stripe.signatures import TOLERANCE_S, StripeWebhookVerifier, expected_signature
from ports.outbound.webhooks import InvalidSignature

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECRET = "whsec_test_bound"
BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"object": {"customer": "cus_1"}}}).encode()


def headers_at(timestamp: int) -> dict[str, str]:
    return {"stripe-signature": f"t={timestamp},v1={expected_signature(SECRET, timestamp, BODY)}"}


@pytest.mark.parametrize("offset", [-TOLERANCE_S, -1, 0, 1, TOLERANCE_S])
def test_within_the_tolerance_either_way_is_accepted(offset: int) -> None:
    signed_at = int((NOW + timedelta(seconds=offset)).timestamp())
    verified = StripeWebhookVerifier(SECRET).check(BODY, headers_at(signed_at), now=NOW)
    assert verified.key == "evt_1"


@pytest.mark.parametrize("offset", [-TOLERANCE_S - 1, TOLERANCE_S + 1, -86_400, 86_400])
def test_beyond_the_tolerance_either_way_is_refused(offset: int) -> None:
    signed_at = int((NOW + timedelta(seconds=offset)).timestamp())
    with pytest.raises(InvalidSignature, match="tolerance"):
        StripeWebhookVerifier(SECRET).check(BODY, headers_at(signed_at), now=NOW)
