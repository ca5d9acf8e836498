"""HTTP behaviour every route shares: health, problem documents for every error, request ids, OpenAPI."""

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from litestar import Litestar, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import BASE_URL, open_client

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:tenure:problem:{code}"
    assert body["title"]
    assert body["requestId"] == response.headers["x-request-id"]
    return body


async def readiness_of(settings: Settings) -> Any:
    async with AsyncTestClient(create_app(settings), base_url=BASE_URL) as client:
        return await client.get("/health/ready")


async def test_liveness(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_on_real_postgres_and_redis(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert {c["component"]: c["ok"] for c in body["components"]} == {
        "database": True,
        "migrations": True,
        "clock": True,
        "queue": True,
    }


async def test_not_ready_names_the_database_when_its_url_points_nowhere(test_settings: Settings) -> None:
    settings = msgspec.structs.replace(test_settings, database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    body = assert_problem(await readiness_of(settings), 503, "not_ready")
    assert "database" in body["detail"]
    failing = {c["component"] for c in body["components"] if not c["ok"]}
    assert "database" in failing
    assert "queue" not in failing


async def test_not_ready_names_the_migrations_when_the_schema_is_behind(
    test_settings: Settings, fresh_database: str
) -> None:
    body = assert_problem(
        await readiness_of(msgspec.structs.replace(test_settings, database_url=fresh_database)), 503, "not_ready"
    )
    assert body["detail"] == "not ready: migrations"


async def test_not_ready_names_the_queue_when_redis_is_unreachable(test_settings: Settings) -> None:
    settings = msgspec.structs.replace(test_settings, redis_url="redis://127.0.0.1:1/0")
    body = assert_problem(await readiness_of(settings), 503, "not_ready")
    assert body["detail"] == "not ready: queue"


async def test_unknown_route_is_a_problem_document(client: AsyncTestClient[Litestar]) -> None:
    body = assert_problem(await client.get("/api/does-not-exist"), 404, "not_found")
    assert body["instance"] == "/api/does-not-exist"


async def test_wrong_method_is_a_problem_document(client: AsyncTestClient[Litestar]) -> None:
    assert_problem(await client.delete("/health"), 405, "method_not_allowed")


PROBE_CALLS: Counter[str] = Counter()


class Transfer(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    amount_cents: Annotated[int, msgspec.Meta(ge=1, le=10_000_000_00)]
    memo: Annotated[str, msgspec.Meta(max_length=140)] = ""


@pytest.fixture
def probe_app(app: Litestar) -> Litestar:
    """The real app plus two probe routes: one with a typed body, one that fails unexpectedly."""

    @post("/_probe/transfer", operation_id="probeTransfer", status_code=200)
    async def transfer(data: JSONBody[Transfer]) -> Transfer:
        PROBE_CALLS["transfer"] += 1
        return data

    @post("/_probe/crash", operation_id="probeCrash")
    async def crash() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.register(transfer)
    app.register(crash)
    return app


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b'{"amountCents": 100', "malformed_body", None),
        (b"not json at all", "malformed_body", None),
        (b"", "malformed_body", None),
        (b'{"amountCents": "100"}', "validation_failed", "$.amountCents"),
        (b'{"amountCents": 1.5}', "validation_failed", "$.amountCents"),
        (b'{"amountCents": 100, "status": "PAID"}', "validation_failed", None),
        (b'{"amountCents": -5}', "validation_failed", "$.amountCents"),
        (b'{"amountCents": 100, "memo": "' + b"x" * 500 + b'"}', "validation_failed", "$.memo"),
        (b"[]", "validation_failed", None),
        (b"{}", "validation_failed", None),
    ],
)
async def test_bad_input_is_a_400_problem_and_the_handler_never_runs(
    probe_app: Litestar, body: bytes, code: str, field: str | None
) -> None:
    calls_before = PROBE_CALLS["transfer"]
    async with open_client(probe_app) as client:
        response = await client.post("/_probe/transfer", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, 400, code)
    assert PROBE_CALLS["transfer"] == calls_before, "the handler must not run on bad input"
    if code == "validation_failed":
        assert problem["errors"][0]["source"] == "body"
        assert problem["errors"][0]["field"] == field


async def test_good_input_passes(probe_app: Litestar) -> None:
    async with open_client(probe_app) as client:
        response = await client.post("/_probe/transfer", json={"amountCents": 100, "memo": "ok"})
    assert response.status_code == 200
    assert response.json() == {"amountCents": 100, "memo": "ok"}


async def test_an_oversized_body_is_a_413_problem(probe_app: Litestar, test_settings: Settings) -> None:
    huge = b'{"amountCents": 1, "memo": "' + b"x" * (test_settings.max_request_body_bytes + 10) + b'"}'
    async with open_client(probe_app) as client:
        response = await client.post("/_probe/transfer", content=huge, headers={"content-type": "application/json"})
    assert_problem(response, 413, "payload_too_large")


async def test_an_unsafe_request_without_the_csrf_token_is_refused(probe_app: Litestar) -> None:
    calls_before = PROBE_CALLS["transfer"]
    async with open_client(probe_app, csrf=False) as client:
        response = await client.post("/_probe/transfer", json={"amountCents": 100})
    assert_problem(response, 403, "forbidden")
    assert PROBE_CALLS["transfer"] == calls_before


async def test_security_headers_are_on_every_response(client: AsyncTestClient[Litestar]) -> None:
    for response in (await client.get("/health"), await client.get("/api/nope"), await client.get("/dashboard")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["cache-control"] == "no-store"
    for path in ("/health", "/api/nope"):  # JSON only: nothing may load
        assert "default-src 'none'" in (await client.get(path)).headers["content-security-policy"]
    app_page = (await client.get("/dashboard")).headers["content-security-policy"]
    assert "default-src 'self'" in app_page, "the web app loads its own scripts and styles, nothing else"
    assert "unsafe-inline" not in app_page
    assert "frame-ancestors 'none'" in app_page


async def test_cors_answers_only_allow_listed_origins(test_settings: Settings) -> None:
    settings = msgspec.structs.replace(test_settings, cors_allow_origins="https://app.tenure.test")
    async with open_client(create_app(settings), csrf=False) as client:
        preflight = {"access-control-request-method": "POST", "access-control-request-headers": "x-csrftoken"}
        allowed = await client.options("/api/auth/sign-in", headers={"origin": "https://app.tenure.test", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "https://app.tenure.test"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        evil = await client.options("/api/auth/sign-in", headers={"origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in evil.headers
        simple = await client.get("/health", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers


async def test_an_unexpected_error_is_a_500_problem_without_internals(probe_app: Litestar) -> None:
    async with open_client(probe_app) as client:
        response = await client.post("/_probe/crash")
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert "detail" not in body


async def test_a_well_formed_request_id_is_echoed_and_a_bad_one_replaced(client: AsyncTestClient[Litestar]) -> None:
    supplied = "req-0123456789abcdef"
    assert (await client.get("/health", headers={"x-request-id": supplied})).headers["x-request-id"] == supplied
    replaced = (await client.get("/health", headers={"x-request-id": "bad id\twith spaces"})).headers["x-request-id"]
    assert replaced != "bad id\twith spaces"
    assert len(replaced) == 32
    first = (await client.get("/health")).headers["x-request-id"]
    second = (await client.get("/health")).headers["x-request-id"]
    assert first != second


async def test_openapi_document_is_complete(client: AsyncTestClient[Litestar]) -> None:
    docs = await client.get("/schema")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    schema = (await client.get("/schema/openapi.json")).json()
    operations = [op for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert operations
    assert all(op.get("operationId") for op in operations), "every route needs an operation_id"
    assert "503" in schema["paths"]["/health/ready"]["get"]["responses"]


async def test_the_web_app_answers_page_paths_and_never_api_ones(test_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Tenure app</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('app')")
    settings = msgspec.structs.replace(test_settings, web_dir=str(tmp_path))
    async with open_client(create_app(settings), csrf=False) as client:
        for path in ("/", "/dashboard", "/join?cancelled=1", "/staff/members/123"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert "Tenure app" in page.text
            assert page.headers["content-type"].startswith("text/html")
        asset = await client.get("/assets/index-abc123.js")
        assert asset.status_code == 200
        assert "max-age=31536000" in asset.headers["cache-control"], "hashed assets are cached"
        for path in ("/api/nope", "/assets/missing.js", "/sandbox/nope", "/healthz-not", "/schemas"):
            assert (await client.get(path)).status_code == 404, path
        assert_problem(await client.get("/api/nope"), 404, "not_found")


async def test_without_a_built_web_app_the_api_still_serves(test_settings: Settings, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(test_settings, web_dir=str(tmp_path / "missing"))
    async with open_client(create_app(settings), csrf=False) as client:
        assert (await client.get("/health")).status_code == 200
        assert_problem(await client.get("/dashboard"), 404, "not_found")
