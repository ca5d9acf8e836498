"""Settings from environment variables with the `TENURE_` prefix, typed and validated at start-up.

Three profiles give the defaults: `dev` (the embedded default: SQLite file, in-process jobs, sandbox
providers), `test`, and `production` (PostgreSQL, Redis and real provider credentials required, sandbox
providers refused). Every problem is reported at once, each naming the variable to fix.
"""

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

import msgspec

PREFIX = "TENURE_"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

Profile = Literal["dev", "test", "production"]
QueueBackend = Literal["inprocess", "saq"]
ProviderMode = Literal["sandbox", "live"]
LogFormat = Literal["console", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

DEV_SECRET = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (refused in production)


class SettingsError(ValueError):
    """Raised with one line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    env: Profile = "dev"
    host: str = "localhost"
    port: int = 8000
    public_url: str = "http://localhost:8000"
    web_dir: str = str(PROJECT_ROOT / "web" / "dist")
    """The built web app (`make web`): served at / when its index.html is there."""
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'tenure.db'}"
    db_pool_size: int = 10
    redis_url: str | None = None
    queue_backend: QueueBackend = "inprocess"
    queue_name: str = "tenure"
    worker_concurrency: int = 10
    worker_sweep_s: int = 60
    """How often a worker looks for jobs a dead worker left behind (they are retried once past their timeout)."""
    shutdown_grace_s: int = 25
    providers: ProviderMode = "sandbox"
    secret_key: str = DEV_SECRET
    launch_date: date | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    """Only for tests against a local fake Stripe; production always talks to Stripe itself."""
    stripe_dunning_retry_days: int | None = None
    """The Stripe dashboard's "retry failed payments for N days" setting, stated by the operator (no API)."""
    stripe_dunning_terminal_action: str = "unknown"
    """What Stripe does after the last retry (dashboard): cancel | mark_unpaid | past_due."""
    terms_version: str = "2026-11-01"
    payout_data_key: str | None = None
    """Seals winners' bank account numbers and TINs; required in production, distinct from the secret key, so the
    session secret can rotate without touching bank data (dev derives one from the secret key)."""
    payout_export_dir: str = str(PROJECT_ROOT / "var" / "payout-files")
    """Where the NACHA rail writes ACH files for finance to upload to the bank (keep it off shared storage)."""
    nacha_bank_routing: str | None = None
    """Our bank's ABA routing number (the file's immediate destination and the originating DFI)."""
    nacha_bank_name: str = "OUR BANK"
    nacha_company_id: str | None = None
    """The 10-character company identification the bank assigned (usually "1" + EIN)."""
    nacha_company_name: str = "TENURE"
    plaid_client_id: str | None = None
    plaid_secret: str | None = None
    plaid_idv_template_id: str | None = None
    """The Plaid Identity Verification template (dashboard) used for every verification."""
    plaid_api_base: str = "https://production.plaid.com"
    """Plaid's API host (https://sandbox.plaid.com for Plaid's own sandbox; tests point it at a local fake)."""
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_verify_service_sid: str | None = None
    twilio_previous_auth_token: str | None = None
    """During a rotation: status callbacks signed with the previous auth token are still accepted."""
    twilio_messaging_service_sid: str | None = None
    """Where texts are sent from (a Messaging Service); or `TENURE_TWILIO_FROM_NUMBER`. One is required with live."""
    twilio_from_number: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    """Only for tests against a local fake Twilio (Messages)."""
    twilio_verify_api_base: str = "https://verify.twilio.com"
    """Only for tests against a local fake Twilio Verify."""
    webauthn_rp_id: str | None = None
    """Passkeys' relying-party id: a registrable domain of the site (default: the host of the public URL)."""
    webauthn_origins: str = ""
    """Comma-separated origins passkey ceremonies may come from (default: the public URL's origin)."""
    webauthn_rp_name: str = "Tenure"
    google_client_id: str | None = None
    """Google sign-in is offered only when this and the secret are set."""
    google_client_secret: str | None = None
    google_issuer: str = "https://accounts.google.com"
    """Only for tests (a local fake provider); production talks to Google."""
    metrics_token: str | None = None
    """When set (required in production), `GET /metrics` needs it as a bearer token."""
    cors_allow_origins: str = ""
    forwarded_allow_ips: str = "127.0.0.1"
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    staff_session_idle_minutes: int = 15
    staff_session_absolute_hours: int = 8
    step_up_minutes: int = 10
    """How recent a sign-in must be for sensitive changes (payout and tax details, passkeys, 2FA, money moves)."""
    argon2_memory_kib: int = 65536
    argon2_time_cost: int = 3
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    email_from: str = "Tenure <no-reply@localhost>"
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "console"
    max_request_body_bytes: int = 1_048_576

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def passkey_rp_id(self) -> str:
        return self.webauthn_rp_id or (urlsplit(self.public_url).hostname or "localhost")

    @property
    def passkey_origins(self) -> list[str]:
        listed = [o.strip().rstrip("/") for o in self.webauthn_origins.split(",") if o.strip()]
        if listed:
            return listed
        parts = urlsplit(self.public_url)
        return [f"{parts.scheme}://{parts.netloc}"]

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.cors_allow_origins.split(",") if o.strip()]


PROFILE_DEFAULTS: Mapping[Profile, Mapping[str, Any]] = {
    "dev": {},
    "test": {
        "database_url": "postgresql+asyncpg://postgres@127.0.0.1:5432/tenure_test",
        "redis_url": "redis://127.0.0.1:6379/0",
        "queue_backend": "saq",
        "log_level": "WARNING",
        "argon2_memory_kib": 19456,
        "argon2_time_cost": 2,
    },
    "production": {"queue_backend": "saq", "providers": "live", "log_format": "json", "secret_key": None},
}

LIVE_PROVIDER_FIELDS = (
    "stripe_secret_key",
    "stripe_webhook_secret",
    "plaid_client_id",
    "plaid_secret",
    "plaid_idv_template_id",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_verify_service_sid",
)

SECRET_FIELDS = frozenset(
    {
        "secret_key",
        "payout_data_key",
        "database_url",
        "redis_url",
        "smtp_password",
        "twilio_previous_auth_token",
        "google_client_secret",
        "metrics_token",
        *LIVE_PROVIDER_FIELDS,
    }
)


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _convert(field: str, raw: str, annotation: Any) -> Any:
    if raw == "" and type(None) in getattr(annotation, "__args__", ()):
        return None
    try:
        return msgspec.convert(raw, annotation, strict=False)
    except msgspec.ValidationError as exc:
        shown = "<hidden>" if field in SECRET_FIELDS else repr(raw)
        raise ValueError(f"{env_name(field)}={shown}: {exc}") from None


def _cross_checks(s: Settings) -> list[str]:
    problems: list[str] = []
    if s.stripe_dunning_terminal_action not in {"cancel", "mark_unpaid", "past_due", "unknown"}:
        problems.append(f"{env_name('stripe_dunning_terminal_action')}: one of cancel, mark_unpaid, past_due, unknown")
    if s.is_production and s.stripe_api_base:
        problems.append(f"{env_name('stripe_api_base')}: only for tests; production talks to Stripe itself")
    if not 1 <= s.port <= 65535:
        problems.append(f"{env_name('port')}: must be between 1 and 65535")
    if s.argon2_memory_kib < 19456 or s.argon2_time_cost < 2:
        problems.append(f"{env_name('argon2_memory_kib')}/{env_name('argon2_time_cost')}: at least 19456 KiB and 2")
    if not (0 < s.staff_session_idle_minutes <= s.session_idle_minutes) or not (
        0 < s.staff_session_absolute_hours <= s.session_absolute_hours
    ):
        problems.append(f"{env_name('staff_session_idle_minutes')}: staff timeouts must be positive and no longer")
    if not 1 <= s.step_up_minutes <= 60:
        problems.append(f"{env_name('step_up_minutes')}: must be between 1 and 60")
    if s.db_pool_size < 1 or s.worker_concurrency < 1 or s.worker_sweep_s < 1:
        problems.append(
            f"{env_name('db_pool_size')}/{env_name('worker_concurrency')}/{env_name('worker_sweep_s')}: "
            "must be at least 1"
        )
    if s.queue_backend == "saq" and not s.redis_url:
        problems.append(f"{env_name('redis_url')}: required when {env_name('queue_backend')}=saq")
    if not s.database_url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        problems.append(f"{env_name('database_url')}: must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
    problems.extend(_sign_in_checks(s))
    if s.is_production:
        if not s.database_url.startswith("postgresql+asyncpg://"):
            problems.append(f"{env_name('database_url')}: production requires PostgreSQL (postgresql+asyncpg://)")
        if s.queue_backend != "saq":
            problems.append(f"{env_name('queue_backend')}: production requires saq (Redis)")
        if s.providers != "live":
            problems.append(f"{env_name('providers')}: sandbox providers are refused in production")
        if not s.secret_key or s.secret_key == DEV_SECRET or len(s.secret_key) < 32:
            problems.append(f"{env_name('secret_key')}: production requires a random secret of at least 32 chars")
        if s.launch_date is None:
            problems.append(f"{env_name('launch_date')}: required in production (YYYY-MM-DD)")
        if not s.metrics_token or len(s.metrics_token) < 24:
            problems.append(
                f"{env_name('metrics_token')}: production requires a token of at least 24 characters for /metrics"
            )
        if not s.payout_data_key or len(s.payout_data_key) < 32 or s.payout_data_key == s.secret_key:
            problems.append(
                f"{env_name('payout_data_key')}: production requires a random key of at least 32 chars, "
                "distinct from the secret key"
            )
    if s.providers == "live" and not (s.twilio_messaging_service_sid or s.twilio_from_number):
        problems.append(
            f"{env_name('twilio_messaging_service_sid')} or {env_name('twilio_from_number')}: required with "
            f"{env_name('providers')}=live (where texts are sent from)"
        )
    if s.providers == "live":
        problems.extend(
            f"{env_name(f)}: required with {env_name('providers')}=live"
            for f in LIVE_PROVIDER_FIELDS
            if not getattr(s, f)
        )
    return problems


def _sign_in_checks(s: Settings) -> list[str]:
    """Passkeys only work when every origin is the RP id or a subdomain of it (WebAuthn §5.1.3); Google sign-in
    needs both halves of its client credentials."""
    problems: list[str] = []
    rp_id = s.passkey_rp_id
    for origin in s.passkey_origins:
        parts = urlsplit(origin)
        host = parts.hostname or ""
        if parts.scheme not in {"https", "http"} or not (host == rp_id or host.endswith("." + rp_id)):
            problems.append(f"{env_name('webauthn_origins')}: {origin!r} is not on the RP id {rp_id!r}")
        elif s.is_production and parts.scheme != "https":
            problems.append(f"{env_name('webauthn_origins')}: production origins must be https ({origin!r})")
    if bool(s.google_client_id) != bool(s.google_client_secret):
        problems.append(f"{env_name('google_client_id')}/{env_name('google_client_secret')}: set both or neither")
    if s.is_production and s.google_issuer != "https://accounts.google.com":
        problems.append(f"{env_name('google_issuer')}: only for tests; production talks to Google")
    return problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `environ` (default: the process environment); raise `SettingsError` on any problem."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in msgspec.structs.fields(Settings)}
    problems: list[str] = []

    profile = environ.get(env_name("env"), "dev")
    if profile not in PROFILE_DEFAULTS:
        raise SettingsError([f"{env_name('env')}={profile!r}: must be one of {', '.join(PROFILE_DEFAULTS)}"])
    values: dict[str, Any] = dict(PROFILE_DEFAULTS[profile])  # type: ignore[index]

    for key, raw in environ.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX) :].lower()
        if name not in fields:
            problems.append(f"{key}: unknown setting (known: {', '.join(env_name(f) for f in fields)})")
            continue
        try:
            values[name] = _convert(name, raw, fields[name].type)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingsError(problems)

    settings = Settings(**{k: v for k, v in values.items() if v is not None or fields[k].default is None})
    problems = _cross_checks(settings)
    if problems:
        raise SettingsError(problems)
    return settings


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " | ".join(str(a) for a in get_args(annotation))
    if get_args(annotation):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    return "empty" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def describe() -> list[tuple[str, str, str]]:
    """(variable, type, dev default) rows, for the README's configuration table and `tenure config`."""
    rows = []
    for f in msgspec.structs.fields(Settings):
        default = "<dev-only value>" if f.name == "secret_key" else str(f.default)
        rows.append((env_name(f.name), _type_name(f.type), default.replace(str(PROJECT_ROOT), ".")))
    return rows
