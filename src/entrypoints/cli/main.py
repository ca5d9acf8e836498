"""`tenure`: one console script for serving, the worker, migrations and operations.

Every command reads the same settings and drives the same use cases as the HTTP API.
"""

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import click

from adapters.sql import migrations
from adapters.sql.engine import ensure_sqlite_directory
from domain.sessions import Role
from entrypoints.logging import configure_logging
from entrypoints.settings import Settings, SettingsError, describe, load_settings
from ports.usecases import roles
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, UseCaseError

T = TypeVar("T")


def with_settings(command: Callable[..., Any]) -> Callable[..., Any]:
    """Load settings first; a bad variable ends the command with a message naming it (exit status 2)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            settings = load_settings()
        except SettingsError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
        configure_logging(settings)
        return command(settings, *args, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Tenure: membership rewards program back end."""


@cli.command()
@click.option("--host", default=None, help="Bind address (default: TENURE_HOST).")
@click.option("--port", default=None, type=int, help="Port (default: TENURE_PORT).")
@click.option(
    "--workers",
    default=1,
    type=click.IntRange(1, 64),
    show_default=True,
    help="API processes (needs TENURE_QUEUE_BACKEND=saq: in-process jobs would run once per process).",
)
@with_settings
def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Serve the API (and, with the in-process backend, run jobs in the same process)."""
    import uvicorn

    from entrypoints.http.app import create_app

    if workers > 1 and settings.queue_backend != "saq":
        click.echo("error: --workers > 1 needs TENURE_QUEUE_BACKEND=saq (jobs in a separate `tenure worker`)", err=True)
        sys.exit(2)
    ensure_sqlite_directory(settings.database_url)
    host, port = host or settings.host, port or settings.port
    click.echo(f"Tenure ({settings.env}) on http://{host}:{port} — API docs at http://{host}:{port}/schema")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        "timeout_graceful_shutdown": settings.shutdown_grace_s,
        "server_header": False,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,  # only these proxies may set the client address
    }
    if workers > 1:  # each process builds its own app from the same environment
        _fresh_metrics_directory()
        uvicorn.run("entrypoints.http.app:create_app", factory=True, workers=workers, **options)
        return
    uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()


def _fresh_metrics_directory() -> None:
    """Processes share their Prometheus series through PROMETHEUS_MULTIPROC_DIR, which must start empty."""
    import os
    import shutil
    from pathlib import Path

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


@cli.command()
@with_settings
def health(settings: Settings) -> None:
    """Check what readiness checks (database, migrations, clock, job queue); exit 1 naming what fails. The
    worker's container health check, since a worker serves no HTTP."""
    from entrypoints.bootstrap import build_container
    from ports.usecases.health import check_readiness

    async def go() -> bool:
        container = build_container(settings)
        try:
            result = await check_readiness(container.deps.probes)
        finally:
            await container.stop()
        for component in result.components:
            click.echo(f"{component.component:12} {'ok' if component.ok else 'FAILING: ' + (component.detail or '')}")
        return result.ok

    sys.exit(0 if asyncio.run(go()) else 1)


@cli.command()
@with_settings
def worker(settings: Settings) -> None:
    """Run the SAQ worker (jobs and cron) on Redis."""
    if settings.queue_backend != "saq":
        click.echo(
            "TENURE_QUEUE_BACKEND=inprocess: jobs and cron already run inside `tenure serve`; "
            "set TENURE_QUEUE_BACKEND=saq and TENURE_REDIS_URL to run a separate worker.",
            err=True,
        )
        sys.exit(2)
    from entrypoints.worker.main import run_worker

    asyncio.run(run_worker(settings))


@cli.group()
def migrate() -> None:
    """Database migrations (alembic). `tenure migrate up` brings the schema to the latest revision."""


@migrate.command("up")
@click.argument("revision", default="head")
@with_settings
def migrate_up(settings: Settings, revision: str) -> None:
    """Upgrade to REVISION (default: head)."""
    ensure_sqlite_directory(settings.database_url)
    logging.getLogger("alembic").setLevel(logging.INFO)  # report each step, whatever TENURE_LOG_LEVEL says
    click.echo(f"migrating {settings.env} database to {revision} …")
    migrations.upgrade(settings.database_url, revision)
    click.echo("done")


@migrate.command("down")
@click.argument("revision")
@with_settings
def migrate_down(settings: Settings, revision: str) -> None:
    """Downgrade to REVISION (use `base` for an empty database)."""
    migrations.downgrade(settings.database_url, revision)
    click.echo(f"downgraded to {revision}")


@migrate.command("current")
@with_settings
def migrate_current(settings: Settings) -> None:
    """Show the database's revision."""
    migrations.current(settings.database_url)


@migrate.command("check")
@with_settings
def migrate_check(settings: Settings) -> None:
    """Fail if the ORM models and the migrations disagree (PostgreSQL)."""
    migrations.check(settings.database_url)
    click.echo("no drift: models and migrations agree")


@cli.group()
def accounts() -> None:
    """Staff accounts and roles (audited)."""


def _run_use_case(settings: Settings, call: Callable[[Deps], Awaitable[T]]) -> T:
    """Run one use case against the configured services, printing a clear message for rule violations."""
    from entrypoints.bootstrap import build_container

    async def go() -> T:
        container = build_container(settings)
        await container.start()
        try:
            return await call(container.deps)
        finally:
            await container.stop()

    try:
        return asyncio.run(go())
    except UseCaseError as exc:
        problems = f" ({', '.join(exc.problems)})" if isinstance(exc, InvalidInput) and exc.problems else ""
        click.echo(f"error: {exc.detail or exc}{problems}", err=True)
        sys.exit(1)


@accounts.command("create-admin")
@click.option("--email", required=True, help="The administrator's email address.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting.")
@with_settings
def create_admin(settings: Settings, email: str, password_stdin: bool) -> None:
    """Create the first administrator. They must enrol a second factor before staff routes answer."""
    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else click.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    account = _run_use_case(
        settings, lambda deps: roles.create_admin(deps, email=email, password=password, actor="cli")
    )
    click.echo(f"created administrator {account.email} ({account.id}); enrol TOTP at first sign-in")


@accounts.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in Role]))
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@with_settings
def set_role(settings: Settings, email: str, role: str, reason: str) -> None:
    """Grant or revoke a role. Staff roles are refused to accounts with a live membership."""
    account = _run_use_case(
        settings, lambda deps: roles.set_role(deps, email=email, role=Role(role), actor="cli", reason=reason)
    )
    click.echo(f"{account.email} is now {account.role}; their sessions were ended")


@cli.group()
def queue() -> None:
    """Check or repair the queue's position index."""


@queue.command("verify")
@with_settings
def queue_verify(settings: Settings) -> None:
    """Recount the queue and compare it with the position index (reads everything once; changes nothing)."""
    from ports.usecases import queue as queue_cases

    click.echo("recounting the queue ...")
    check = _run_use_case(settings, queue_cases.verify_index)
    click.echo(f"N stored {check.size_stored}, counted {check.size_counted}; buckets wrong: {check.buckets_wrong}")
    if not check.ok:
        click.echo("the index differs from the memberships: run `tenure queue rebuild`", err=True)
        sys.exit(1)
    click.echo("ok")


@queue.command("rebuild")
@with_settings
def queue_rebuild(settings: Settings) -> None:
    """Recount the position index from the memberships in one transaction (queue moves wait meanwhile)."""
    from ports.usecases import queue as queue_cases

    click.echo("rebuilding the position index ...")
    size = _run_use_case(settings, queue_cases.rebuild_index)
    click.echo(f"rebuilt: {size} memberships in the queue")


@cli.group()
def audit() -> None:
    """Verify the audit hash chains and compute the daily head digest to publish (DOMAIN.md §9)."""


@audit.command("verify")
@with_settings
def audit_verify(settings: Settings) -> None:
    """Verify every chain from its first link (reads only; progress on stderr). Exit 1 if any chain is broken."""
    from domain.errors import AuditError
    from ports.usecases import audit as audit_cases

    def progress(so_far: audit_cases.AuditVerification) -> None:
        click.echo(f"checked {so_far.chains} chains, {so_far.links} links; {len(so_far.breaks)} broken", err=True)

    try:
        result = _run_use_case(settings, lambda deps: audit_cases.verify_audit_chains(deps, on_batch=progress))
    except AuditError as exc:  # a row so damaged it does not even read as a record
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if result.ok:
        click.echo(f"{result.chains} chains, {result.links} links: OK")
        return
    for broken in result.breaks:
        click.echo(f"BROKEN {broken.entity_type} {broken.entity_id} at seq {broken.seq}: {broken.kind}")
    click.echo(f"{result.chains} chains, {result.links} links: {len(result.breaks)} broken", err=True)
    sys.exit(1)


def _yesterday_utc() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


@audit.command("head-digest")
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The UTC day whose closing heads to digest, YYYY-MM-DD (default: yesterday).",
)
@with_settings
def audit_head_digest(settings: Settings, day: datetime | None) -> None:
    """Print the digest over every chain head at the end of DAY (UTC), one line to publish outside the database."""
    from ports.usecases import audit as audit_cases

    on = day.date() if day else _yesterday_utc()
    digest = _run_use_case(settings, lambda deps: audit_cases.audit_head_digest(deps, on))
    click.echo(
        f"tenure-audit-heads/v1 {digest.day.isoformat()} chains={digest.chain_count} sha256={digest.digest.hex()}"
    )


@cli.group()
def rounds() -> None:
    """Payout rounds: run today's evaluation, verify a round's snapshot (DOMAIN.md §7)."""


@rounds.command("evaluate")
@with_settings
def rounds_evaluate(settings: Settings) -> None:
    """Run today's evaluation now, as the 00:30 UTC job does (at most one round a day; recorded either way)."""
    from ports.usecases import rounds as round_cases

    result = _run_use_case(settings, lambda deps: round_cases.evaluate(deps, triggered_by="cli"))
    blockers = f" ({', '.join(result.blockers)})" if result.blockers else ""
    click.echo(f"{result.day.isoformat()}: {result.outcome}{blockers}; {len(result.winners)} payout(s) created")


@rounds.command("verify")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@with_settings
def rounds_verify(settings: Settings, day: datetime) -> None:
    """Verify the round of DAY end to end: its snapshot hashes to the published root, its payouts are its first
    eligible entries, and every audit chain verifies. Exit 1 on any problem."""
    from domain.errors import AuditError
    from ports.usecases import audit as audit_cases
    from ports.usecases import rounds as round_cases

    check = _run_use_case(settings, lambda deps: round_cases.verify_round(deps, day.date()))
    for problem in check.problems:
        click.echo(f"ROUND {check.round_key.isoformat()}: {problem}")
    click.echo(f"round {check.round_key.isoformat()}: {check.entries} entries, {'OK' if check.ok else 'BROKEN'}")
    try:
        chains = _run_use_case(settings, audit_cases.verify_audit_chains)
    except AuditError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for broken in chains.breaks:
        click.echo(f"BROKEN {broken.entity_type} {broken.entity_id} at seq {broken.seq}: {broken.kind}")
    click.echo(f"audit: {chains.chains} chains, {chains.links} links, {'OK' if chains.ok else 'BROKEN'}")
    if not (check.ok and chains.ok):
        sys.exit(1)


@cli.command("sandbox-sms-code")
@click.argument("phone")
@with_settings
def sandbox_sms_code(settings: Settings, phone: str) -> None:
    """Show the verification code the sandbox would have texted to PHONE (E.164) right now (development only)."""
    from adapters.sandbox.phone import SandboxPhoneVerifier
    from adapters.security.crypto import derive_key
    from adapters.system.clock import SystemClock
    from entrypoints.bootstrap import SANDBOX_PHONE_PURPOSE

    if settings.providers != "sandbox" or settings.twilio_verify_service_sid:
        click.echo("texts go through Twilio here: there is no sandbox code", err=True)
        sys.exit(2)
    key = derive_key(settings.secret_key, SANDBOX_PHONE_PURPOSE)
    click.echo(SandboxPhoneVerifier(key, SystemClock(), production=settings.is_production).code_for(phone.strip()))


@cli.command("mailbox")
@click.argument("email")
@click.option("--limit", default=5, show_default=True, help="How many messages, newest first.")
@with_settings
def mailbox(settings: Settings, email: str, limit: int) -> None:
    """Show the sandbox email sent to EMAIL (development and tests: codes arrive here, not in a real inbox)."""
    from adapters.email.sandbox import SandboxEmailSender
    from adapters.sql.engine import create_engine, session_factory
    from adapters.system.clock import SystemClock

    if settings.providers != "sandbox":
        click.echo("TENURE_PROVIDERS=live: email goes to real inboxes, there is no sandbox mailbox", err=True)
        sys.exit(2)

    async def read() -> list[Any]:
        engine = create_engine(settings.database_url)
        try:
            box = SandboxEmailSender(session_factory(engine), SystemClock(), production=settings.is_production)
            return await box.recent_for(email.strip().lower(), limit=limit)
        finally:
            await engine.dispose()

    messages = asyncio.run(read())
    if not messages:
        click.echo(f"no sandbox email to {email}")
    for message in messages:
        click.echo(f"--- {message.sent_at:%Y-%m-%d %H:%M:%S} UTC  [{message.template}]  {message.subject}")
        click.echo(message.text)


@cli.group()
def jobs() -> None:
    """Scheduled jobs (billing sweep, reconciliation, inbox recovery)."""


@jobs.command("list")
def list_jobs() -> None:
    """Every job with its schedule."""
    from ports.usecases.tasks import TASKS

    for name, spec in sorted(TASKS.items()):
        click.echo(f"{name:28} {spec.cron or 'on demand'}")


@jobs.command("run")
@click.argument("name")
@with_settings
def run_job(settings: Settings, name: str) -> None:
    """Run one scheduled job now, in this process (e.g. `payments.reconcile` after a webhook outage)."""
    from ports.usecases.tasks import TASKS

    spec = TASKS.get(name)
    if spec is None or spec.cron is None:
        scheduled = ", ".join(sorted(n for n, s in TASKS.items() if s.cron))
        click.echo(f"error: {name!r} is not a scheduled job; choose one of: {scheduled}", err=True)
        sys.exit(2)
    result = _run_use_case(settings, lambda deps: spec.handler(deps, {}))
    click.echo(f"{name}: {result}")


@cli.command("openapi")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="-", show_default=True)
@with_settings
def openapi(settings: Settings, output: str) -> None:
    """Write the API's OpenAPI document (JSON), as served at /schema/openapi.json. The web app's typed API
    client is generated from it at build time."""
    from pathlib import Path

    import msgspec
    from litestar.serialization import encode_json

    from entrypoints.http.app import create_app

    document = msgspec.json.format(encode_json(create_app(settings).openapi_schema.to_schema()), indent=1)
    if output == "-":
        click.echo(document.decode())
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_bytes(document + b"\n")


@cli.command("config")
def show_config() -> None:
    """List every setting (environment variable, type, development default)."""
    for name, kind, default in describe():
        click.echo(f"{name:36} {kind:40} {default}")


if __name__ == "__main__":  # pragma: no cover
    cli()
