"""The Dockerfile and docker-compose.yml are checked here, since no Docker engine runs in CI: their health checks
hit real routes and commands, their commands exist, every variable they set is a known setting, and the
compose environment, filled in, is a valid production configuration."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from entrypoints.cli.main import cli
from entrypoints.http.app import create_app
from entrypoints.settings import SECRET_FIELDS, describe, env_name, load_settings

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"^\$\{(?P<name>\w+):(?P<op>[?-])(?P<text>[^}]*)\}$")
PLAUSIBLE = {
    "TENURE_PUBLIC_URL": "https://tenure.example.org",
    "TENURE_LAUNCH_DATE": "2026-03-01",
    "TENURE_SECRET_KEY": "s" * 48,
    "TENURE_PAYOUT_DATA_KEY": "p" * 48,
    "TENURE_METRICS_TOKEN": "m" * 32,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def get_routes() -> set[str]:
    app = create_app(load_settings({}))
    return {route.path for route in app.routes if "GET" in getattr(route, "methods", set())}


def health_url_path(command: list[str]) -> str:
    found = re.search(r"http://127\.0\.0\.1:8000(/[\w/-]*)", " ".join(command))
    assert found, command
    return found.group(1)


def known_settings() -> set[str]:
    return {name for name, _, _ in describe()}


def test_compose_runs_the_services_a_migration_the_api_and_the_worker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    for name in ("migrate", "api", "worker"):
        assert services[name]["build"] == "."
        assert services[name]["command"][0] in cli.commands, f"{name} runs a real `tenure` command"
    assert services["migrate"]["command"] == ["migrate", "up"]
    assert "up" in cli.commands["migrate"].commands  # type: ignore[attr-defined]
    assert services["api"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["worker"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "migrate" not in services["migrate"]["depends_on"]
    workers = services["api"]["command"][services["api"]["command"].index("--workers") + 1]
    assert int(workers) >= 2, "the API runs several processes"
    assert services["worker"]["stop_grace_period"] == "30s", "longer than TENURE_SHUTDOWN_GRACE_S (25 s)"


def test_compose_health_checks_use_real_routes_and_commands(compose: dict[str, Any], get_routes: set[str]) -> None:
    services = compose["services"]
    assert health_url_path(services["api"]["healthcheck"]["test"]) == "/health/ready"
    assert "/health/ready" in get_routes
    worker_check = services["worker"]["healthcheck"]["test"]
    assert worker_check[1:4] == ["python", "-m", "entrypoints.cli.main"]
    assert worker_check[4] in cli.commands
    assert worker_check[4] == "health"
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


def test_compose_environment_is_a_valid_production_configuration(compose: dict[str, Any]) -> None:
    environment = compose["x-tenure"]["environment"]
    assert set(environment) <= known_settings(), set(environment) - known_settings()
    filled: dict[str, str] = {}
    for name, raw in environment.items():
        placeholder = PLACEHOLDER.match(str(raw))
        if placeholder is None:
            assert name not in {env_name(f) for f in SECRET_FIELDS if f not in {"database_url", "redis_url"}}, (
                f"{name}: a secret is never written into the compose file"
            )
            filled[name] = str(raw)
        else:
            assert placeholder["name"] == name
            filled[name] = PLAUSIBLE.get(name, "" if placeholder["op"] == "-" else "x-from-the-environment")
    settings = load_settings(filled)
    assert settings.is_production
    assert settings.database_url.startswith("postgresql+asyncpg://postgres@postgres:5432/")


def test_the_image_runs_unprivileged_checks_readiness_and_starts_the_api(
    dockerfile: list[str], get_routes: set[str]
) -> None:
    final_stage = dockerfile[max(i for i, line in enumerate(dockerfile) if line.startswith("FROM ")) :]
    assert final_stage[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users == ["tenure"], "the API runs as an unprivileged user"
    healthcheck = next(line for line in final_stage if line.startswith("HEALTHCHECK "))
    assert "/health/ready" in healthcheck
    assert "/health/ready" in get_routes
    assert next(line for line in final_stage if line.startswith("ENTRYPOINT ")) == (
        'ENTRYPOINT ["python", "-m", "entrypoints.cli.main"]'
    )
    assert next(line for line in final_stage if line.startswith("CMD ")) == 'CMD ["serve", "--workers", "2"]'
    environment = " ".join(line for line in final_stage if line.startswith("ENV "))
    for field in SECRET_FIELDS:
        assert env_name(field) not in environment, f"{env_name(field)} is never baked into the image"


def test_the_image_copies_what_exists_and_installs_from_the_lock(dockerfile: list[str]) -> None:
    for line in dockerfile:
        if line.startswith("COPY ") and "--from=" not in line:
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), source
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert makefile_uv
    assert f"uv=={makefile_uv.group(1)}" in " ".join(dockerfile), "the image and `make` use the same uv"
    assert any("uv sync --frozen --no-dev" in line for line in dockerfile), "runtime dependencies from uv.lock only"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for never in (".git", ".venv", ".env", "var"):
        assert never in ignored
