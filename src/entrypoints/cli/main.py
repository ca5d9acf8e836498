"""`tenure`: one console script for serving, the worker, migrations and operations.

Every command reads the same settings and drives the same use cases as the HTTP API.
"""

import asyncio
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from adapters.sql import migrations
from adapters.sql.engine import ensure_sqlite_directory
from entrypoints.logging import configure_logging
from entrypoints.settings import Settings, SettingsError, describe, load_settings


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
@with_settings
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the API (and, with the in-process backend, run jobs in the same process)."""
    import uvicorn

    from entrypoints.http.app import create_app

    ensure_sqlite_directory(settings.database_url)
    host, port = host or settings.host, port or settings.port
    click.echo(f"Tenure ({settings.env}) on http://{host}:{port} — API docs at http://{host}:{port}/schema")
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
        server_header=False,
    )
    uvicorn.Server(config).run()


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


@cli.command("config")
def show_config() -> None:
    """List every setting (environment variable, type, development default)."""
    for name, kind, default in describe():
        click.echo(f"{name:36} {kind:40} {default}")


if __name__ == "__main__":  # pragma: no cover
    cli()
