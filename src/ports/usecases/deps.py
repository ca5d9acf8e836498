"""What every use case may depend on: the outbound ports, assembled once by the composition root."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from domain.one_time_codes import CodePolicy
from domain.passwords import PasswordPolicy
from domain.payouts import DEFAULT_POLICY, PayoutPolicy
from domain.rules import ProgramRules
from domain.sessions import SessionPolicy
from ports.outbound.clock import Clock
from ports.outbound.email import EmailSender
from ports.outbound.health import HealthProbe
from ports.outbound.kyc import IdentityVerifier, KycEventDecoder
from ports.outbound.oidc import OpenIdProvider
from ports.outbound.outbox import OutboxMessage
from ports.outbound.passkeys import WebAuthnRelyingParty
from ports.outbound.payments import PaymentEventDecoder, PaymentGateway
from ports.outbound.payout_rail import PayoutRail
from ports.outbound.rate_limit import RateLimiter
from ports.outbound.security import CommonPasswords, PasswordHasher, RandomSource, SecretBox
from ports.outbound.sms import PhoneVerifier, SmsSender
from ports.outbound.tasks import TaskQueue
from ports.outbound.unit_of_work import UnitOfWorkFactory
from ports.outbound.webhooks import WebhookVerifier
from ports.usecases.rules_book import RulesBook

EventHandler = Callable[["Deps", OutboxMessage], Awaitable[None]]
"""Reacts to one dispatched outbox message; must be idempotent (a message may be handled twice)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthServices:
    """Everything authentication needs besides the unit of work, built once by the composition root."""

    hasher: PasswordHasher
    common_passwords: CommonPasswords
    box: SecretBox
    random: RandomSource
    limiter: RateLimiter
    code_key: bytes
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    code_policy: CodePolicy = field(default_factory=CodePolicy)
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    relying_party: WebAuthnRelyingParty | None = None
    """Passkeys, for the RP id and origins in settings; None where passkeys are not offered."""
    openid_providers: Mapping[str, OpenIdProvider] = field(default_factory=dict)
    """Sign-in providers by name ("google"), only those configured."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingConfig:
    """Billing facts that come from settings rather than from the program rules."""

    terms_version: str = "2026-11-01"
    """The current terms and payment authorization a member must accept before checkout."""
    public_url: str = "http://localhost:8000"
    """Where the provider sends the member back after checkout or the billing portal."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutServices:
    """What payouts need besides the unit of work: the box that seals bank and tax numbers (its own key from
    settings), randomness for snapshot salts, and the rails money can leave by."""

    box: SecretBox
    random: RandomSource
    rails: Mapping[str, PayoutRail] = field(default_factory=dict)
    policy: PayoutPolicy = DEFAULT_POLICY


def _default_rules() -> RulesBook:
    return RulesBook.of(ProgramRules())


@dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    uow: UnitOfWorkFactory
    tasks: TaskQueue
    clock: Clock
    probes: Sequence[HealthProbe] = ()
    event_handlers: Mapping[str, Sequence[EventHandler]] = field(default_factory=dict)
    auth: AuthServices | None = None
    email: EmailSender | None = None
    webhook_verifiers: Mapping[str, WebhookVerifier] = field(default_factory=dict)
    payments: PaymentGateway | None = None
    payment_events: PaymentEventDecoder | None = None
    rules: RulesBook = field(default_factory=_default_rules)
    billing: BillingConfig = field(default_factory=BillingConfig)
    kyc: IdentityVerifier | None = None
    kyc_events: KycEventDecoder | None = None
    payouts: PayoutServices | None = None
    phone: PhoneVerifier | None = None
    sms: SmsSender | None = None
    identity_key: bytes = b""
    """The key of the identity fingerprint (keyed HMAC, DOMAIN.md §10), from settings."""
    new_id: Callable[[], UUID] = uuid4
    """Ids for new records; the composition root passes time-ordered UUIDv7 (index locality)."""
