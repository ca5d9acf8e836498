from click.testing import CliRunner

from entrypoints.cli.main import cli


def test_a_bad_setting_stops_any_command_with_its_name(monkeypatch) -> None:
    monkeypatch.setenv("TENURE_PORT", "eighty")
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "TENURE_PORT='eighty'" in result.output


def test_worker_explains_that_the_embedded_default_runs_jobs_in_the_web_process(monkeypatch) -> None:
    monkeypatch.delenv("TENURE_QUEUE_BACKEND", raising=False)
    monkeypatch.delenv("TENURE_ENV", raising=False)
    result = CliRunner().invoke(cli, ["worker"])
    assert result.exit_code == 2
    assert "TENURE_QUEUE_BACKEND=saq" in result.output


def test_config_lists_every_setting_without_secrets() -> None:
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 0
    assert "TENURE_DATABASE_URL" in result.output
    assert "TENURE_SECRET_KEY" in result.output
    assert "dev-only-insecure" not in result.output
