"""The alert rules name only series `/metrics` exports, and cover each condition of RELIABILITY.md 14."""

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import entrypoints.http.metrics  # noqa: F401  (registers the program series)
from adapters import job_metrics  # noqa: F401  (registers the job series)

ROOT = Path(__file__).resolve().parents[3]
HTTP_SERIES = {"tenure_requests_total", "tenure_request_duration_seconds", "tenure_requests_in_progress"}
"""Litestar's Prometheus middleware creates these on the first request, with the `tenure` prefix."""


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((ROOT / "ops/prometheus/alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported() -> set[str]:
    """Family names as the registry knows them (counters without `_total`)."""
    return HTTP_SERIES | {family.name for family in REGISTRY.collect()}


def test_every_series_in_a_rule_is_exported() -> None:
    available = exported()
    for rule in rules():
        for series in re.findall(r"\b(tenure_[a-z_]+)\b", rule["expr"]):
            assert series in available or series.removesuffix("_total") in available, (rule["alert"], series)


def test_the_reliability_conditions_each_have_an_alert() -> None:
    by_series = {rule["alert"]: rule["expr"] for rule in rules()}
    needed = {
        "inbox lag": "tenure_inbox_lag_seconds",
        "job failure rate": 'tenure_job_attempts_total{outcome="failed"}',
        "reconciliation drift": "tenure_reconciliation_drift_cents",
        "fund at the threshold but no round": "tenure_payout_threshold_cents",
        "payouts stuck": "tenure_payout_unchanged_seconds",
    }
    for condition, series in needed.items():
        assert any(series in expr for expr in by_series.values()), condition
    for rule in rules():
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]
