"""`tenure accounts …` against the run's PostgreSQL and Redis, as an operator would use it."""

import uuid

import pytest
from click.testing import CliRunner

from entrypoints.cli.main import cli
from entrypoints.settings import Settings


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
