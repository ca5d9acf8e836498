"""The Litestar application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

from adapters.sandbox.kyc import SandboxIdentityVerifier
from adapters.sandbox.payments import SandboxPaymentGateway
from entrypoints.bootstrap import Container, build_container
from entrypoints.http.admin import AdminController, ExportController
from entrypoints.http.admin_actions import MemberActionController
from entrypoints.http.admin_rules import RulesAdminController
from entrypoints.http.announcements import AnnouncementAdminController
from entrypoints.http.auth import AuthController
from entrypoints.http.business_rules import BusinessRulesController
from entrypoints.http.dashboard import DashboardController, EligibilityController
from entrypoints.http.health import HealthController
from entrypoints.http.kyc import KycController, KycReviewController
from entrypoints.http.metrics import HTTP_METRICS, MetricsController
from entrypoints.http.notifications import NotificationController
from entrypoints.http.openid import OpenIdController
from entrypoints.http.passkeys import PasskeyController
from entrypoints.http.payouts import MyPayoutController, PayoutAdminController
from entrypoints.http.problems import exception_handlers
from entrypoints.http.profiles import ProfileController
from entrypoints.http.queue import MyQueueController, public_queue_router
from entrypoints.http.request_id import add_request_id_header, bind_request_context
from entrypoints.http.rounds import MyRoundEntryController
from entrypoints.http.sandbox import SANDBOX_STATE_KEY, create_sandbox_router
from entrypoints.http.sandbox_kyc import SANDBOX_KYC_STATE_KEY, create_sandbox_kyc_router
from entrypoints.http.security_headers import security_headers
from entrypoints.http.sessions import provide_principal, provide_staff
from entrypoints.http.settings import SettingsController
from entrypoints.http.strict_body import validate_body_strictly
from entrypoints.http.subscriptions import BillingController, SubscriptionController
from entrypoints.http.web_app import create_web_app_routers
from entrypoints.http.webhooks import WebhookController
from entrypoints.logging import configure_logging
from entrypoints.settings import Settings, load_settings
from ports.usecases.deps import Deps

CSRF_COOKIE = "__Host-csrftoken"
CSRF_HEADER = "x-csrftoken"


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

    sandbox_routes = [create_sandbox_router()] if isinstance(container.deps.payments, SandboxPaymentGateway) else []
    if isinstance(container.deps.kyc, SandboxIdentityVerifier):
        sandbox_routes.append(create_sandbox_kyc_router())
    # Public caching and rate limits are shared by every API process through Redis when there is one; the embedded
    # default (one process) keeps them in memory.
    stores: dict[str, Store] | None = (
        {
            name: RedisStore(container.redis, namespace=f"{settings.queue_name}:{name}")
            for name in ("rate_limit", "response_cache")
        }
        if container.redis is not None
        else None
    )
    app = Litestar(
        stores=stores,
        state=State({"metrics_token": settings.metrics_token}),
        route_handlers=[
            *sandbox_routes,
            HealthController,
            AuthController,
            PasskeyController,
            OpenIdController,
            AdminController,
            ExportController,
            MemberActionController,
            RulesAdminController,
            ProfileController,
            SettingsController,
            NotificationController,
            SubscriptionController,
            BillingController,
            KycController,
            KycReviewController,
            BusinessRulesController,
            MyQueueController,
            MyRoundEntryController,
            MyPayoutController,
            PayoutAdminController,
            AnnouncementAdminController,
            public_queue_router(),
            DashboardController,
            EligibilityController,
            WebhookController,
            MetricsController,
            *create_web_app_routers(settings.web_dir),
        ],
        dependencies={
            "deps": Provide(provide_deps, sync_to_thread=False),
            "principal": Provide(provide_principal),
            "staff": Provide(provide_staff),
        },
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=CSRF_COOKIE,
            cookie_secure=True,
            cookie_httponly=False,
            cookie_samesite="lax",
            cookie_path="/",
            header_name=CSRF_HEADER,
            exclude=[r"^/api/webhooks/"],  # signature-authenticated; anchored so nothing else slips through
        ),
        cors_config=CORSConfig(
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["content-type", CSRF_HEADER, "x-request-id"],
            expose_headers=["x-request-id", "retry-after"],
        )
        if settings.cors_origins
        else None,
        exception_handlers=exception_handlers,
        middleware=[bind_request_context, HTTP_METRICS.middleware],
        before_send=[add_request_id_header, security_headers(always_hsts=settings.is_production)],
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
    if isinstance(container.deps.payments, SandboxPaymentGateway):
        app.state[SANDBOX_STATE_KEY] = container.deps.payments
    if isinstance(container.deps.kyc, SandboxIdentityVerifier):
        app.state[SANDBOX_KYC_STATE_KEY] = container.deps.kyc
    return app
