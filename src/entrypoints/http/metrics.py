"""`GET /metrics`: Prometheus text exposition of request, job and program series (issue 11, RELIABILITY.md 14).

Request series come from Litestar's Prometheus middleware (`tenure_requests_total`,
`tenure_request_duration_seconds`, grouped by route template), job series from `adapters.job_metrics`. The program
series are read from the database at each scrape, so every API instance answers the same values: inbox backlog
and lag, reconciliation age and money drift, the fund against the threshold, rounds, stuck payouts, the freeze.
With several worker processes set `PROMETHEUS_MULTIPROC_DIR` (the Dockerfile does) and the per-process series
are summed across them. With `TENURE_METRICS_TOKEN` set, a scrape must bring it as a bearer token.
"""

import hmac
import os
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Gauge, generate_latest, multiprocess

from domain.payouts import PayoutStatus
from ports.usecases.deps import Deps
from ports.usecases.errors import NotAuthenticated
from ports.usecases.operations import program_readings

PROVIDERS = ("stripe", "plaid", "twilio")
OPEN_PAYOUT_STATUSES = tuple(s for s in PayoutStatus if s not in (PayoutStatus.COMPLETED, PayoutStatus.CANCELLED))


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    # Every API process reads the same database: in multiprocess mode the most recent reading is the value.
    return Gauge(name, doc, list(labels), multiprocess_mode="mostrecent")


INBOX_BACKLOG = _gauge("tenure_inbox_backlog", "Provider messages stored but not yet processed", ("provider",))
INBOX_LAG = _gauge(
    "tenure_inbox_lag_seconds", "Age of the oldest unprocessed provider message (0: none)", ("provider",)
)
RECONCILIATION_AGE = _gauge(
    "tenure_reconciliation_age_seconds", "Seconds since the last successful reconciliation run", ("kind",)
)
MONEY_DRIFT = _gauge("tenure_reconciliation_drift_cents", "Last money reconciliation: ledger cash minus the provider's")
FUND = _gauge("tenure_fund_balance_cents", "The reward fund's ledger balance")
THRESHOLD = _gauge("tenure_payout_threshold_cents", "The fund a round needs (the rules in force)")
PAYOUTS_STARTED = _gauge("tenure_payouts_started", "1 once launch + the minimum months has passed")
PAYOUTS_FROZEN = _gauge("tenure_payouts_frozen", "1 while the two-person payouts-frozen switch is on")
LAST_ROUND_AGE = _gauge("tenure_last_round_age_seconds", "Seconds since the last round was evaluated (-1: none yet)")
OPEN_PAYOUTS = _gauge("tenure_payouts_open", "Payouts not yet final", ("status",))
PAYOUT_STUCK = _gauge(
    "tenure_payout_unchanged_seconds", "How long the least recently changed open payout has not changed", ("status",)
)

HTTP_METRICS = PrometheusConfig(
    app_name="tenure", prefix="tenure", group_path=True, exclude_unhandled_paths=True, exclude=["^/metrics"]
)


def _registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


async def refresh_program_series(deps: Deps) -> None:
    found = await program_readings(deps)
    readings = found.readings
    for provider in PROVIDERS:
        INBOX_BACKLOG.labels(provider).set(readings.inbox_backlog.get(provider, 0))
        INBOX_LAG.labels(provider).set(readings.inbox_oldest_s.get(provider, 0.0))
    for kind, age in readings.reconciliation_age_s.items():
        RECONCILIATION_AGE.labels(kind).set(age)
    MONEY_DRIFT.set(readings.money_drift_cents)
    FUND.set(readings.fund_balance_cents)
    THRESHOLD.set(found.payout_threshold_cents)
    PAYOUTS_STARTED.set(int(found.payouts_started))
    PAYOUTS_FROZEN.set(int(readings.payouts_frozen))
    LAST_ROUND_AGE.set(-1 if readings.last_round_age_s is None else readings.last_round_age_s)
    for status in OPEN_PAYOUT_STATUSES:
        open_payouts = readings.open_payouts.get(str(status))
        OPEN_PAYOUTS.labels(str(status)).set(open_payouts.count if open_payouts else 0)
        PAYOUT_STUCK.labels(str(status)).set(open_payouts.oldest_unchanged_s if open_payouts else 0)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["health"]

    @get("/", operation_id="getMetrics", summary="Prometheus metrics", cache=False, include_in_schema=False)
    async def metrics(self, request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Response[bytes]:
        token = request.app.state.get("metrics_token")
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise NotAuthenticated("a metrics token is required")
        await refresh_program_series(deps)
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
