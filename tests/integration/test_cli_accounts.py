"""`tenure accounts …` and `tenure jobs …` against the run's PostgreSQL and Redis, as an operator would use them."""

import asyncio
import uuid

import pytest
from click.testing import CliRunner

from adapters.email.sandbox import SandboxEmailSender
from adapters.sql.engine import create_engine, session_factory
from adapters.system.clock import SystemClock
from entrypoints.cli.main import cli
from entrypoints.settings import Settings
from ports.outbound.email import EmailMessage


@pytest.fixture
def env(test_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENURE_ENV", "test")
    monkeypatch.setenv("TENURE_DATABASE_URL", test_settings.database_url)
    monkeypatch.setenv("TENURE_REDIS_URL", str(test_settings.redis_url))
    monkeypatch.setenv("TENURE_QUEUE_NAME", test_settings.queue_name)


@pytest.mark.usefixtures("env")
def test_create_the_first_admin_then_change_roles() -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    runner = CliRunner()

    weak = runner.invoke(cli, ["accounts", "create-admin", "--email", email, "--password-stdin"], input="password\n")
    assert weak.exit_code == 1
    assert "common" in weak.output

    created = runner.invoke(
        cli, ["accounts", "create-admin", "--email", email, "--password-stdin"], input="a long admin passphrase 1\n"
    )
    assert created.exit_code == 0, created.output
    assert f"created administrator {email}" in created.output

    again = runner.invoke(
        cli, ["accounts", "create-admin", "--email", email, "--password-stdin"], input="a long admin passphrase 1\n"
    )
    assert again.exit_code == 1
    assert "set-role" in again.output

    no_reason = runner.invoke(cli, ["accounts", "set-role", email, "finance"])
    assert no_reason.exit_code == 2, "the reason is required"
    changed = runner.invoke(cli, ["accounts", "set-role", email, "finance", "--reason", "moved to finance"])
    assert changed.exit_code == 0, changed.output
    assert "is now finance" in changed.output

    unknown = runner.invoke(cli, ["accounts", "set-role", "nobody@example.com", "admin", "--reason", "x y z"])
    assert unknown.exit_code == 1


def test_mailbox_shows_the_sandbox_email_of_an_address(env: None, test_settings: Settings) -> None:
    email = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    empty = CliRunner().invoke(cli, ["mailbox", email])
    assert empty.exit_code == 0, empty.output
    assert f"no sandbox email to {email}" in empty.output

    async def send() -> None:
        engine = create_engine(test_settings.database_url)
        box = SandboxEmailSender(session_factory(engine), SystemClock(), production=False)
        await box.send(
            EmailMessage(to=email, subject="Your code", text="code 123456", template="t", idempotency_key=email)
        )
        await engine.dispose()

    asyncio.run(send())
    shown = CliRunner().invoke(cli, ["mailbox", email.upper()])
    assert shown.exit_code == 0, shown.output
    assert "Your code" in shown.output
    assert "code 123456" in shown.output


@pytest.mark.usefixtures("env")
def test_an_operator_runs_a_scheduled_job_now() -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["jobs", "list"])
    assert listed.exit_code == 0
    assert "payments.reconcile" in listed.output
    assert "*/15 * * * *" in listed.output

    swept = runner.invoke(cli, ["jobs", "run", "billing.sweep"])
    assert swept.exit_code == 0, swept.output
    assert swept.output.startswith("billing.sweep: ")

    unknown = runner.invoke(cli, ["jobs", "run", "notify.deliver"])
    assert unknown.exit_code == 2
    assert "not a scheduled job" in unknown.output


def test_queue_verify_finds_a_corrupted_index_and_rebuild_repairs_it(env: None, test_settings: Settings) -> None:
    import asyncpg

    async def corrupt() -> None:
        conn = await asyncpg.connect(test_settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("INSERT INTO queue_counts (level, bucket_start, members) VALUES (4, 0, 1)")
        finally:
            await conn.close()

    runner = CliRunner()
    clean = runner.invoke(cli, ["queue", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "buckets wrong: 0" in clean.output

    asyncio.run(corrupt())
    found = runner.invoke(cli, ["queue", "verify"])
    assert found.exit_code == 1
    assert "buckets wrong: 1" in found.output
    assert "tenure queue rebuild" in found.output

    rebuilt = runner.invoke(cli, ["queue", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilt:" in rebuilt.output
    assert runner.invoke(cli, ["queue", "verify"]).exit_code == 0
