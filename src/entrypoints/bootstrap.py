"""The composition root: the one place that turns settings into adapters and use-case dependencies.

HTTP, the worker, the CLI and the tests all build their dependencies here, so they run the same code.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from saq import Worker
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from uuid_utils.compat import uuid7

from adapters.email.sandbox import SandboxEmailSender
from adapters.email.smtp import SmtpEmailSender
from adapters.inprocess.runner import InProcessTaskRunner
from adapters.oidc.provider import GOOGLE_ISSUER, GOOGLE_ISSUER_ALIASES, HttpOpenIdProvider
from adapters.plaid.events import PlaidEventDecoder
from adapters.plaid.verifier import PlaidIdentityVerifier
from adapters.plaid.webhooks import PlaidWebhookKeySource, PlaidWebhookVerifier, UnknownKey, WebhookKeySource
from adapters.rails.manual import ManualTransferRail
from adapters.rails.nacha import NachaFileRail
from adapters.ratelimit.memory import InMemoryRateLimiter
from adapters.ratelimit.redis import RedisRateLimiter
from adapters.sandbox.kyc import SandboxIdentityVerifier
from adapters.sandbox.payments import SandboxPaymentGateway
from adapters.sandbox.phone import SandboxPhoneVerifier, SandboxSmsSender
from adapters.saq.queue import SaqTaskQueue, connect_queue, connect_redis
from adapters.saq.worker import build_worker
from adapters.security.crypto import AesGcmSecretBox, SystemRandom, derive_key
from adapters.security.passwords import Argon2Parameters, Argon2PasswordHasher, ZxcvbnCommonPasswords
from adapters.security.webauthn import PyWebAuthnRelyingParty
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.health import ClockSkewProbe, DatabaseProbe, MigrationsProbe
from adapters.sql.migrations import head_revision
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.stripe.events import StripeEventDecoder
from adapters.stripe.gateway import StripePaymentGateway
from adapters.stripe.signatures import StripeWebhookVerifier
from adapters.system.clock import SystemClock
from adapters.twilio.messages import TwilioSmsSender
from adapters.twilio.signatures import TwilioWebhookVerifier
from adapters.twilio.verify import TwilioPhoneVerifier
from domain.rules import ProgramRules
from domain.sessions import SessionPolicy
from entrypoints.settings import Settings
from ports.outbound.clock import Clock
from ports.outbound.email import EmailSender
from ports.outbound.kyc import IdentityVerifier
from ports.outbound.oidc import OpenIdProvider
from ports.outbound.payments import PaymentGateway
from ports.outbound.payout_rail import PayoutRail
from ports.outbound.rate_limit import RateLimiter
from ports.outbound.sms import PhoneVerifier, SmsSender
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.auth import THROTTLE_POLICIES
from ports.usecases.deps import AuthServices, BillingConfig, Deps, PayoutServices
from ports.usecases.notifications import SMS_CALLBACK_PATH
from ports.usecases.payment_events import check_provider_dunning
from ports.usecases.phone import PHONE_POLICIES
from ports.usecases.program_rules import refresh as refresh_rules
from ports.usecases.rules_book import RulesBook
from ports.usecases.tasks import EVENT_HANDLERS, TASKS, TaskTable
from ports.usecases.webhooks import receive_webhook

logger = logging.getLogger(__name__)

RULES_REFRESH_S = 60.0
"""How often a process re-reads the approved rules versions (a version is approved days before it applies)."""


@dataclass(kw_only=True)
class Container:
    settings: Settings
    deps: Deps
    engine: AsyncEngine
    table: TaskTable
    runner: InProcessTaskRunner | None = None
    saq: SaqTaskQueue | None = None
    redis: Redis | None = None
    _started: bool = field(default=False, repr=False)
    _rules_refresher: "asyncio.Task[None] | None" = field(default=None, repr=False)

    @property
    def shutdown_grace(self) -> timedelta:
        return timedelta(seconds=self.settings.shutdown_grace_s)

    async def start(self) -> None:
        """Open connections lazily; with the in-process backend, also start running jobs in this process.
        Refuses to start when the payment provider's dunning could cancel a member before our grace ends."""
        await self._learn_rules()  # before the dunning check, which must see every version's grace
        if self.deps.payments is not None:
            warning = await check_provider_dunning(self.deps)
            if warning:
                logger.warning(warning)
        for sandbox in (self.deps.payments, self.deps.kyc):
            if isinstance(sandbox, SandboxPaymentGateway | SandboxIdentityVerifier):
                try:  # events a crash kept from reaching the inbox; best effort (the database may be down)
                    await sandbox.deliver_pending()
                except Exception:
                    logger.warning("sandbox provider events could not be re-sent yet", exc_info=True)
        if self.saq is not None:
            await self.saq.queue.connect()
        if self.runner is not None:
            await self.runner.start(self.deps)
        self._rules_refresher = asyncio.create_task(self._keep_rules_fresh(), name="rules-refresh")
        self._started = True

    async def _learn_rules(self) -> None:
        try:
            await refresh_rules(self.deps)
        except Exception:  # the database may be down: keep what is known, the next refresh tries again
            logger.warning("program rules versions could not be read", exc_info=True)

    async def _keep_rules_fresh(self) -> None:
        while True:
            await asyncio.sleep(RULES_REFRESH_S)
            await self._learn_rules()

    async def stop(self) -> None:
        """Release everything; one failing step (e.g. Redis already gone) must not skip the others."""
        if self._rules_refresher is not None:
            self._rules_refresher.cancel()
            self._rules_refresher = None
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if self.runner is not None:
            runner = self.runner
            steps.append(("in-process jobs", lambda: runner.stop(self.shutdown_grace)))
        if self.saq is not None and self._started:
            steps.append(("queue", self.saq.queue.disconnect))
        if self.redis is not None:
            steps.append(("rate limiter", self.redis.aclose))
        for provider in self.deps.auth.openid_providers.values() if self.deps.auth else ():
            if isinstance(provider, HttpOpenIdProvider):
                steps.append((f"{provider.name} sign-in", provider.aclose))
        if isinstance(self.deps.payments, StripePaymentGateway):
            steps.append(("payment provider", self.deps.payments.close))
        steps.append(("database", self.engine.dispose))
        for name, step in steps:
            try:
                await step()
            except Exception:
                logger.warning("shutdown of %s failed", name, exc_info=True)
        self._started = False

    def saq_worker(self) -> Worker[Any]:
        """The SAQ worker for `tenure worker` (only with the saq backend)."""
        if self.saq is None:
            raise RuntimeError("TENURE_QUEUE_BACKEND is not saq: jobs run inside the web process")
        return build_worker(
            self.saq.queue,
            self.table,
            self.deps,
            concurrency=self.settings.worker_concurrency,
            shutdown_grace=self.shutdown_grace,
            sweep_every=timedelta(seconds=self.settings.worker_sweep_s),
        )


def build_container(settings: Settings, *, table: TaskTable = TASKS, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    sessions = session_factory(engine)

    runner: InProcessTaskRunner | None = None
    saq: SaqTaskQueue | None = None
    redis: Redis | None = None
    if settings.queue_backend == "saq":
        assert settings.redis_url is not None  # guaranteed by settings validation
        saq = SaqTaskQueue(connect_queue(settings.redis_url, settings.queue_name), table)
        tasks: SaqTaskQueue | InProcessTaskRunner = saq
    else:
        runner = InProcessTaskRunner(table, concurrency=settings.worker_concurrency, clock=clock.now)
        tasks = runner

    async def wake_outbox() -> None:
        await tasks.enqueue("outbox.dispatch")

    email_hash_key = derive_key(settings.secret_key, "email-hash")

    def uow() -> UnitOfWork:
        return SqlUnitOfWork(sessions, clock=clock, on_events_committed=wake_outbox, email_hash_key=email_hash_key)

    redis = None if settings.queue_backend != "saq" else connect_redis(str(settings.redis_url))
    verifier = StripeWebhookVerifier(stripe_webhook_secret(settings))
    holder: list[Deps] = []

    async def deliver_sandbox_event(body: bytes, headers: dict[str, str]) -> None:
        await receive_webhook(holder[0], verifier, body=body, headers=headers)

    async def deliver_sandbox_kyc_event(body: bytes, headers: dict[str, str]) -> None:
        await receive_webhook(holder[0], kyc_webhooks, body=body, headers=headers)

    identity, kyc_webhooks = build_kyc(settings, sessions, clock, deliver_sandbox_kyc_event)

    deps = Deps(
        uow=uow,
        tasks=tasks,
        clock=clock,
        probes=(DatabaseProbe(engine), MigrationsProbe(engine, head_revision()), ClockSkewProbe(engine, clock), tasks),
        event_handlers=EVENT_HANDLERS,
        auth=build_auth(settings, clock, redis),
        email=build_email(settings, sessions, clock, email_hash_key),
        webhook_verifiers={"stripe": verifier, "plaid": kyc_webhooks, "twilio": build_twilio_webhooks(settings)},
        payments=build_payments(settings, sessions, clock, deliver_sandbox_event),
        payment_events=StripeEventDecoder(),
        rules=RulesBook.of(ProgramRules(launch_date=settings.launch_date)),
        billing=BillingConfig(terms_version=settings.terms_version, public_url=settings.public_url),
        new_id=uuid7,
        kyc=identity,
        kyc_events=PlaidEventDecoder(),
        identity_key=derive_key(settings.secret_key, "identity-fingerprint"),
        payouts=build_payouts(settings, clock),
        phone=build_phone(settings, clock),
        sms=build_sms(settings),
    )
    holder.append(deps)
    container = Container(settings=settings, deps=deps, engine=engine, table=table, runner=runner, saq=saq)
    container.redis = redis
    return container


def build_payments(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    deliver: Callable[[bytes, dict[str, str]], Awaitable[None]],
) -> PaymentGateway:
    """Stripe when a key is configured (always in production), else the offline sandbox provider."""
    if settings.stripe_secret_key:
        return StripePaymentGateway(
            settings.stripe_secret_key,
            api_base=settings.stripe_api_base,
            dunning_retry_days=settings.stripe_dunning_retry_days,
            dunning_terminal_action=settings.stripe_dunning_terminal_action,
        )
    return SandboxPaymentGateway(
        sessions,
        clock,
        production=settings.is_production,
        webhook_secret=stripe_webhook_secret(settings),
        deliver=deliver,
        base_url=settings.public_url,
    )


def build_kyc(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    deliver: Callable[[bytes, dict[str, str]], Awaitable[None]],
) -> tuple[IdentityVerifier, PlaidWebhookVerifier]:
    """Plaid when credentials are configured (always in production), else the offline sandbox; either way the
    webhooks are verified as Plaid's (ES256 JWT), the sandbox serving its own key."""
    if settings.plaid_client_id and settings.plaid_secret and settings.plaid_idv_template_id:
        identity = PlaidIdentityVerifier(
            settings.plaid_client_id,
            settings.plaid_secret,
            settings.plaid_idv_template_id,
            host=settings.plaid_api_base,
        )
        keys: WebhookKeySource = PlaidWebhookKeySource(
            settings.plaid_client_id, settings.plaid_secret, host=settings.plaid_api_base
        )
        return identity, PlaidWebhookVerifier(keys)
    sandbox = SandboxIdentityVerifier(
        sessions,
        clock,
        production=settings.is_production,
        deliver=deliver,
        base_url=settings.public_url,
        signing_secret=derive_key(settings.secret_key, "sandbox-plaid-webhooks"),
    )

    async def sandbox_key(kid: str) -> Any:
        try:
            return await sandbox.verification_key(kid)
        except LookupError as exc:
            raise UnknownKey(kid) from exc

    return sandbox, PlaidWebhookVerifier(sandbox_key)


def stripe_webhook_secret(settings: Settings) -> str:
    """The live endpoint secret, or (sandbox) a secret derived from ours that the sandbox provider signs with."""
    if settings.stripe_webhook_secret:
        return settings.stripe_webhook_secret
    return "whsec_sandbox_" + derive_key(settings.secret_key, "sandbox-stripe-webhooks").hex()


def build_auth(settings: Settings, clock: Clock, redis: Redis | None) -> AuthServices:
    limiter: RateLimiter = (
        RedisRateLimiter(
            redis,
            prefix=f"{settings.queue_name}:throttle",
            policies={**THROTTLE_POLICIES, **PHONE_POLICIES},
            key_secret=derive_key(settings.secret_key, "rate-limit-keys"),
        )
        if redis is not None
        else InMemoryRateLimiter({**THROTTLE_POLICIES, **PHONE_POLICIES}, clock.now)
    )
    return AuthServices(
        hasher=Argon2PasswordHasher(
            Argon2Parameters(memory_kib=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost)
        ),
        common_passwords=ZxcvbnCommonPasswords(),
        box=AesGcmSecretBox(derive_key(settings.secret_key, "secrets-at-rest")),
        random=SystemRandom(),
        limiter=limiter,
        code_key=derive_key(settings.secret_key, "code-digests"),
        session_policy=SessionPolicy(
            member_idle=timedelta(minutes=settings.session_idle_minutes),
            member_absolute=timedelta(hours=settings.session_absolute_hours),
            staff_idle=timedelta(minutes=settings.staff_session_idle_minutes),
            staff_absolute=timedelta(hours=settings.staff_session_absolute_hours),
            step_up_window=timedelta(minutes=settings.step_up_minutes),
        ),
        relying_party=PyWebAuthnRelyingParty(
            rp_id=settings.passkey_rp_id, rp_name=settings.webauthn_rp_name, origins=settings.passkey_origins
        ),
        openid_providers=build_openid_providers(settings),
    )


def build_openid_providers(settings: Settings) -> dict[str, OpenIdProvider]:
    """Google when its client credentials are set; nothing otherwise (the routes then answer 404)."""
    if not (settings.google_client_id and settings.google_client_secret):
        return {}
    return {
        "google": HttpOpenIdProvider(
            name="google",
            issuer=settings.google_issuer,
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
            issuer_aliases=GOOGLE_ISSUER_ALIASES if settings.google_issuer == GOOGLE_ISSUER else frozenset(),
        )
    }


def build_phone(settings: Settings, clock: Clock) -> PhoneVerifier:
    """Twilio Verify when configured (always in production), else the offline sandbox."""
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_verify_service_sid:
        return TwilioPhoneVerifier(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            service_sid=settings.twilio_verify_service_sid,
            base_url=settings.twilio_verify_api_base,
        )
    return SandboxPhoneVerifier(
        derive_key(settings.secret_key, SANDBOX_PHONE_PURPOSE), clock, production=settings.is_production
    )


def build_sms(settings: Settings) -> SmsSender | None:
    """Twilio Messages when configured (always in production), else the offline sandbox."""
    sender = settings.twilio_messaging_service_sid or settings.twilio_from_number
    if settings.twilio_account_sid and settings.twilio_auth_token and sender:
        return TwilioSmsSender(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            from_number=None if settings.twilio_messaging_service_sid else settings.twilio_from_number,
            base_url=settings.twilio_api_base,
        )
    return SandboxSmsSender(production=settings.is_production) if settings.providers == "sandbox" else None


SANDBOX_PHONE_PURPOSE = "sandbox-phone-codes"


def build_twilio_webhooks(settings: Settings) -> TwilioWebhookVerifier:
    """Status callbacks are signed over our public URL with the auth token (the sandbox: a derived one). While a
    token is being rotated, the previous one (`TENURE_TWILIO_PREVIOUS_AUTH_TOKEN`) is accepted too."""
    tokens = [settings.twilio_auth_token or derive_key(settings.secret_key, "sandbox-twilio-token").hex()]
    if settings.twilio_previous_auth_token:
        tokens.append(settings.twilio_previous_auth_token)
    public_url = settings.public_url.rstrip("/") + SMS_CALLBACK_PATH
    return TwilioWebhookVerifier(public_url=public_url, auth_tokens=tokens)


DEV_BANK_ROUTING = "011000015"
"""A checksum-valid routing number (the Federal Reserve's) for files written outside production."""
DEV_COMPANY_ID = "1000000000"


def build_payouts(settings: Settings, clock: Clock) -> PayoutServices:
    """The payout box (its own key) and the rails: a NACHA file export and manual transfers recorded by finance."""
    box = AesGcmSecretBox(derive_key(settings.payout_data_key or settings.secret_key, "payout-details"))
    routing = settings.nacha_bank_routing or DEV_BANK_ROUTING
    company_id = settings.nacha_company_id or DEV_COMPANY_ID
    rails: dict[str, PayoutRail] = {"manual": ManualTransferRail()}
    if settings.nacha_bank_routing or not settings.is_production:
        rails["nacha"] = NachaFileRail(
            box=box,
            export_dir=Path(settings.payout_export_dir),
            immediate_destination=routing,
            immediate_origin=company_id,
            destination_name=settings.nacha_bank_name,
            origin_name=settings.nacha_company_name,
            company_name=settings.nacha_company_name,
            company_id=company_id,
            originating_dfi=routing[:8],
            clock=clock,
        )
    return PayoutServices(box=box, random=SystemRandom(), rails=rails)


def build_email(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock, hash_key: bytes
) -> EmailSender:
    if settings.providers == "sandbox":
        return SandboxEmailSender(sessions, clock, production=settings.is_production, recipient_hash_key=hash_key)
    assert settings.smtp_host is not None  # guaranteed by settings validation
    return SmtpEmailSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_username,
        settings.smtp_password,
        False,
        settings.email_from,
        start_tls=settings.smtp_starttls or None,
        recipient_hash_key=hash_key,
    )
