"""`GET /metrics` names the series operators alert on (RELIABILITY.md 14, issue 11): requests by route template,
job attempts by task and outcome, and the program readings; a configured token is required."""

import re

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.email.sandbox import SandboxEmailSender
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import BASE_URL
from tests.e2e.test_auth import signed_up_and_verified

pytestmark = pytest.mark.usefixtures("worker")

PROGRAM_SERIES = (
    'tenure_inbox_backlog{provider="stripe"}',
    'tenure_inbox_lag_seconds{provider="plaid"}',
    "tenure_reconciliation_drift_cents",
    "tenure_fund_balance_cents",
    "tenure_payout_threshold_cents 1e+07",
    "tenure_payouts_started",
    "tenure_payouts_frozen 0.0",
    "tenure_last_round_age_seconds",
    'tenure_payouts_open{status="processing"}',
    'tenure_payout_unchanged_seconds{status="approved"}',
)


def value(body: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", body, re.MULTILINE)
    assert match, f"{series} is missing"
    return float(match.group(1))


async def test_metrics_name_requests_jobs_and_the_program(
    client: AsyncTestClient[Litestar], mailbox: SandboxEmailSender
) -> None:
    await signed_up_and_verified(client, mailbox)  # a request per route, and the email job behind it
    assert (await client.get("/api/auth/session")).status_code == 401

    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    for series in PROGRAM_SERIES:
        assert series in body, series
    assert (
        value(body, 'tenure_requests_total{app_name="tenure",method="POST",path="/api/auth/sign-up",status_code="202"}')
        >= 1
    )
    assert (
        value(body, 'tenure_requests_total{app_name="tenure",method="GET",path="/api/auth/session",status_code="401"}')
        >= 1
    )
    assert 'path="/metrics"' not in body, "scrapes are not counted as traffic"
    assert value(body, 'tenure_job_attempts_total{outcome="succeeded",task="email.send_code"}') >= 1
    assert "tenure_job_duration_seconds_bucket" in body
    assert "tenure_request_duration_seconds_bucket" in body


async def test_a_configured_metrics_token_is_required(test_settings: Settings) -> None:
    app = create_app(msgspec.structs.replace(test_settings, metrics_token="scrape-" + "s" * 24))
    async with AsyncTestClient(app, base_url=BASE_URL) as scraper:
        refused = await scraper.get("/metrics")
        assert refused.status_code == 401
        assert "tenure_" not in refused.text
        wrong = await scraper.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = await scraper.get("/metrics", headers={"authorization": "Bearer scrape-" + "s" * 24})
        assert allowed.status_code == 200
        assert "tenure_fund_balance_cents" in allowed.text
