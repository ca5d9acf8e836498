"""Liveness and readiness. Liveness touches nothing; readiness names each failing component."""

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from entrypoints.http.problems import ProblemKind, problem
from entrypoints.http.schemas import ComponentState, Liveness, Problem, ReadinessReport
from ports.usecases.deps import Deps
from ports.usecases.health import check_readiness

NOT_READY = ProblemKind(503, "not_ready", "The service is not ready")


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/", operation_id="getLiveness", summary="Liveness: the process is up", cache=False)
    async def liveness(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/ready",
        operation_id="getReadiness",
        summary="Readiness: database reachable, migrations at head, job queue reachable",
        responses={503: ResponseSpec(Problem, description="Not ready; `detail` names the failing components")},
        cache=False,
    )
    async def readiness(self, request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Response[Any]:
        result = await check_readiness(deps.probes)
        components = [ComponentState(component=c.component, ok=c.ok, detail=c.detail) for c in result.components]
        if result.ok:
            return Response(ReadinessReport(status="ready", components=components))
        return problem(
            request,
            NOT_READY,
            detail="not ready: " + ", ".join(result.failing),
            headers={"Retry-After": "5"},
            components=[{"component": c.component, "ok": c.ok, "detail": c.detail} for c in components],
        )
