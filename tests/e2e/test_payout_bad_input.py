"""Bad input on the payout and round routes gets a 4xx problem document, never a 500 (RELIABILITY 26)."""

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

ENTRY = {"position": 1, "memberNumber": 7, "eligible": True, "reasons": []}
PROOF = {"leafIndex": 0, "treeSize": 1, "path": []}


@pytest.mark.parametrize(
    "body",
    [
        {"entry": {**ENTRY, "tenureStart": "2026-01-01T00:00:00"}, "salt": "00" * 32, "proof": PROOF},  # no zone
        {
            "entry": {**ENTRY, "tenureStart": "2026-01-01T00:00:00Z", "reasons": ["kyc"]},
            "salt": "00" * 32,
            "proof": PROOF,
        },  # eligible with a reason
        {"entry": {**ENTRY, "tenureStart": "2026-01-01T00:00:00Z"}, "salt": "zz" * 32, "proof": PROOF},
        {"entry": {**ENTRY, "tenureStart": "2026-01-01T00:00:00Z"}, "salt": "00" * 32, "proof": PROOF, "x": 1},
        {"entry": {**ENTRY, "tenureStart": "2026-01-01T00:00:00Z", "position": 0}, "salt": "00" * 32, "proof": PROOF},
        [],
    ],
)
async def test_a_malformed_inclusion_check_is_a_4xx_problem(client: AsyncTestClient[Litestar], body: Any) -> None:
    response = await client.post("/api/queue/rounds/2026-01-01/check", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/queue/rounds/not-a-date", None),
        ("GET", "/api/queue/rounds?limit=0", None),
        ("GET", "/api/payout/me/not-a-uuid", None),
        ("PUT", "/api/payout/me/01a2139c-731c-7089-90c7-4d173f0fc417/bank-account", {"holderName": 5}),
        ("PUT", "/api/payout/me/01a2139c-731c-7089-90c7-4d173f0fc417/w9", {"tin": "1"}),
    ],
)
async def test_malformed_payout_requests_are_4xx_problems(
    client: AsyncTestClient[Litestar], method: str, path: str, body: Any
) -> None:
    response = await client.request(method, path, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
