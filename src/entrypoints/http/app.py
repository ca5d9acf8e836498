"""The Litestar application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from entrypoints.bootstrap import Container, build_container
from entrypoints.http.health import HealthController
from entrypoints.http.problems import exception_handlers
from entrypoints.http.request_id import add_request_id_header, bind_request_context
from entrypoints.http.strict_body import validate_body_strictly
from entrypoints.logging import configure_logging
from entrypoints.settings import Settings, load_settings
from ports.usecases.deps import Deps


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> Litestar:
    """Build the API. Tests pass their own `container` (e.g. with a test task table)."""
    settings = settings or (container.settings if container else load_settings())
    configure_logging(settings)
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await container.stop()

    def provide_deps() -> Deps:
        return container.deps

    app = Litestar(
        route_handlers=[HealthController],
        dependencies={"deps": Provide(provide_deps, sync_to_thread=False)},
        exception_handlers=exception_handlers,
        middleware=[bind_request_context],
        before_send=[add_request_id_header],
        before_request=validate_body_strictly,
        lifespan=[lifespan],
        request_max_body_size=settings.max_request_body_bytes,
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="Tenure API",
            version="0.1.0",
            description="Membership rewards program: queue, billing, identity, payouts.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
    )
    app.state.container = container
    return app
