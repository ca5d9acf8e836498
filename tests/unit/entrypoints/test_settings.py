from datetime import date

import pytest

from entrypoints.settings import DEV_SECRET, SettingsError, describe, load_settings

PRODUCTION = {
    "TENURE_ENV": "production",
    "TENURE_DATABASE_URL": "postgresql+asyncpg://tenure@db/tenure",
    "TENURE_REDIS_URL": "redis://cache:6379/0",
    "TENURE_SECRET_KEY": "x" * 48,
    "TENURE_PAYOUT_DATA_KEY": "p" * 48,
    "TENURE_LAUNCH_DATE": "2026-03-01",
    "TENURE_STRIPE_SECRET_KEY": "sk_live_x",
    "TENURE_STRIPE_WEBHOOK_SECRET": "whsec_x",
    "TENURE_PLAID_CLIENT_ID": "client",
    "TENURE_PLAID_SECRET": "secret",
    "TENURE_PLAID_IDV_TEMPLATE_ID": "idvtmp_1",
    "TENURE_TWILIO_ACCOUNT_SID": "AC1",
    "TENURE_TWILIO_AUTH_TOKEN": "token",
    "TENURE_TWILIO_VERIFY_SERVICE_SID": "VA1",
    "TENURE_TWILIO_MESSAGING_SERVICE_SID": "MG1",
    "TENURE_SMTP_HOST": "smtp.example.org",
    "TENURE_PUBLIC_URL": "https://tenure.example.org",
    "TENURE_METRICS_TOKEN": "m" * 32,
}


def test_the_embedded_default_needs_no_configuration() -> None:
    settings = load_settings({})
    assert settings.env == "dev"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("/var/tenure.db")
    assert settings.queue_backend == "inprocess"
    assert settings.providers == "sandbox"
    assert (settings.host, settings.port) == ("localhost", 8000)


def test_values_are_typed() -> None:
    settings = load_settings({"TENURE_PORT": "9000", "TENURE_LAUNCH_DATE": "2025-03-01"})
    assert settings.port == 9000
    assert settings.launch_date == date(2025, 3, 1)


def test_passkeys_default_to_the_public_url_and_may_list_subdomains() -> None:
    local = load_settings({})
    assert (local.passkey_rp_id, local.passkey_origins) == ("localhost", ["http://localhost:8000"])
    listed = load_settings(
        {
            "TENURE_PUBLIC_URL": "https://app.tenure.example.org/",
            "TENURE_WEBAUTHN_RP_ID": "tenure.example.org",
            "TENURE_WEBAUTHN_ORIGINS": "https://app.tenure.example.org, https://tenure.example.org/",
        }
    )
    assert listed.passkey_rp_id == "tenure.example.org"
    assert listed.passkey_origins == ["https://app.tenure.example.org", "https://tenure.example.org"]


def test_a_complete_production_configuration_loads() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.is_production
    assert settings.queue_backend == "saq"
    assert settings.log_format == "json"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"TENURE_PORT": "eighty"}, "TENURE_PORT"),
        ({"TENURE_PORT": "0"}, "TENURE_PORT"),
        ({"TENURE_QUEUE_BACKEND": "celery"}, "TENURE_QUEUE_BACKEND"),
        ({"TENURE_QUEUE_BACKEND": "saq"}, "TENURE_REDIS_URL"),
        ({"TENURE_DATABASE_URL": "mysql://x"}, "TENURE_DATABASE_URL"),
        ({"TENURE_LAUNCH_DATE": "tomorrow"}, "TENURE_LAUNCH_DATE"),
        ({"TENURE_DATABSE_URL": "typo"}, "TENURE_DATABSE_URL: unknown setting"),
        ({"TENURE_ENV": "staging"}, "TENURE_ENV"),
        ({**PRODUCTION, "TENURE_PAYOUT_DATA_KEY": "x" * 48}, "TENURE_PAYOUT_DATA_KEY"),
        ({"TENURE_WEBAUTHN_ORIGINS": "https://evil.example"}, "TENURE_WEBAUTHN_ORIGINS: 'https://evil.example'"),
        ({"TENURE_WEBAUTHN_RP_ID": "example.org"}, "is not on the RP id 'example.org'"),
        ({"TENURE_GOOGLE_CLIENT_ID": "id.apps.example"}, "TENURE_GOOGLE_CLIENT_ID/TENURE_GOOGLE_CLIENT_SECRET"),
    ],
)
def test_a_bad_variable_is_named_in_the_error(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings(environ)
    assert named in str(excinfo.value)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"TENURE_PROVIDERS": "sandbox"}, "sandbox providers are refused in production"),
        ({"TENURE_DATABASE_URL": "sqlite+aiosqlite:///x.db"}, "production requires PostgreSQL"),
        ({"TENURE_QUEUE_BACKEND": "inprocess"}, "production requires saq"),
        ({"TENURE_SECRET_KEY": DEV_SECRET}, "TENURE_SECRET_KEY"),
        ({"TENURE_SECRET_KEY": "short"}, "TENURE_SECRET_KEY"),
        ({"TENURE_STRIPE_SECRET_KEY": ""}, "TENURE_STRIPE_SECRET_KEY: required"),
        ({"TENURE_PUBLIC_URL": "http://tenure.example.org"}, "production origins must be https"),
        ({"TENURE_GOOGLE_ISSUER": "http://127.0.0.1:9999"}, "TENURE_GOOGLE_ISSUER: only for tests"),
        ({"TENURE_METRICS_TOKEN": ""}, "TENURE_METRICS_TOKEN: production requires a token"),
    ],
)
def test_production_refuses_unsafe_settings(override: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings({**PRODUCTION, **override})
    assert named in str(excinfo.value)


def test_production_lists_every_missing_variable_at_once() -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings({"TENURE_ENV": "production"})
    problems = excinfo.value.problems
    for name in ("TENURE_REDIS_URL", "TENURE_SECRET_KEY", "TENURE_LAUNCH_DATE", "TENURE_PLAID_SECRET"):
        assert any(name in p for p in problems), name


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings({"TENURE_PROVIDERS": "live", "TENURE_STRIPE_SECRET_KEY": "sk_live_abc"})
    assert "TENURE_PLAID_SECRET: required" in str(excinfo.value)
    assert "sk_live_abc" not in str(excinfo.value)
    rows = {name: default for name, _, default in describe()}
    assert rows["TENURE_SECRET_KEY"] == "<dev-only value>"
    assert DEV_SECRET not in str(rows)
