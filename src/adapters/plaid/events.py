"""`KycEventDecoder` for Plaid Identity Verification webhook bodies.

The body was verified at intake; this only reads which attempt it is about. Plaid's webhooks carry only the id and
arrive in no guaranteed order, so the processor re-reads the attempt (`identity_verification/get`) itself.
"""

from __future__ import annotations

import json

from ports.outbound.kyc import KycEventRef

WEBHOOK_TYPE = "IDENTITY_VERIFICATION"


class PlaidEventDecoder:
    """Reads a Plaid webhook body into a `KycEventRef`; raises ValueError for anything else."""

    def decode(self, body: str) -> KycEventRef:
        try:
            event = json.loads(body)
        except (TypeError, ValueError):  # JSONDecodeError is a ValueError
            raise ValueError("not a Plaid webhook: the body is not JSON") from None
        if not isinstance(event, dict):
            raise ValueError("not a Plaid webhook: the body is not a JSON object")
        if event.get("webhook_type") != WEBHOOK_TYPE:
            raise ValueError("not an identity verification webhook")
        code = event.get("webhook_code")
        attempt_id = event.get("identity_verification_id")
        if not isinstance(code, str) or not code:
            raise ValueError("not a Plaid webhook: webhook_code must be a non-empty string")
        if not isinstance(attempt_id, str) or not attempt_id:
            raise ValueError("not a Plaid webhook: identity_verification_id must be a non-empty string")
        return KycEventRef(attempt_id=attempt_id, type=f"{WEBHOOK_TYPE}.{code}")
