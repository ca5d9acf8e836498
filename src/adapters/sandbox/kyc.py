"""`IdentityVerifier` for the embedded default: an offline sandbox that behaves like Plaid Identity Verification
(refused in production).

State lives in the `sandbox_payment_objects` table (kind `identity_verification`, one row per attempt, the JSON
shaped like Plaid's `/identity_verification/get` response, `seq` for creation order), so it survives restarts.

As Plaid does:
- `start` is `/identity_verification/create` with `is_idempotent: true`: a user who already has an attempt gets
  that attempt back (the newest one, whatever its status); only a user's first call creates one. `retry=True` is
  `/identity_verification/retry`: a new attempt for the user (`previous_attempt_id` = the one before).
- an attempt is `active` until it ends: `success`, `failed`, `expired`, `canceled`, or `pending_review` until a
  reviewer approves (`success`) or rejects (`failed`) it. An ended attempt never changes again.
- `completed_at` is set when the attempt leaves `active`; `steps` tells which checks failed.
- every status change is announced by a webhook (`IDENTITY_VERIFICATION` / `STATUS_UPDATED`) that carries only the
  attempt id; the receiver re-reads the attempt. The webhook is signed like Plaid's: the `Plaid-Verification` header
  is an ES256 JWT with `iat` and `request_body_sha256` (hex SHA-256 of the exact body), and its `kid` names a key
  that `verification_key(kid)` returns as Plaid's `/webhook_verification_key/get` does (a JWK). The P-256 key is
  derived from `signing_secret`, so it is the same after a restart.

Webhooks are handed to `deliver(body, headers)` only after the change is committed; the composition root wires it to
`ports.usecases.webhooks.receive_webhook` with the Plaid webhook verifier (the same inbox → job → use-case path as
Plaid's). A delivery that raised is remembered on the attempt and sent again by `deliver_pending()`.

Controls that the hosted page, tests and the CLI use in place of the person being verified and Plaid's reviewers:
`complete(attempt_id, outcome)` with `pass`, `fail`, `review`, `duplicate`, `expire` or `cancel`. `pass` gives a
plausible adult US identity that is the same for every attempt of one user and differs between users; `duplicate`
gives one fixed identity shared by every attempt that chooses it, so its identity fingerprint matches another
person's.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import hashlib
import json
import logging
import secrets
import string
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sql import models
from adapters.sql.unit_of_work import database_unavailable
from ports.outbound.clock import Clock
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.kyc import KycProviderError, VerificationFacts, VerificationSession

log = logging.getLogger(__name__)

COMPONENT = "kyc"
KIND = "identity_verification"
Json = dict[str, Any]
Deliver = Callable[[bytes, dict[str, str]], Awaitable[None]]
Change = Callable[[AsyncSession, datetime], Awaitable[tuple[Json, bool]]]
"""A mutation: (the attempt, whether its status changed and must be announced)."""

OUTCOMES: Final = ("pass", "fail", "review", "duplicate", "expire", "cancel")
REVIEW_OUTCOMES: Final = ("pass", "fail")
"""What a reviewer may decide for an attempt in `pending_review` (Plaid: approve / reject in the Dashboard)."""
STEPS: Final = (
    "accept_tos",
    "verify_sms",
    "kyc_check",
    "documentary_verification",
    "selfie_check",
    "watchlist_screening",
    "risk_check",
)
FAILED_STEP_STATUSES: Final = ("failed", "manually_rejected")
TEMPLATE_ID = "idvtmp_sandbox0000tenure"
TEMPLATE_VERSION = 1
WEBHOOK_HEADER = "plaid-verification"
KEY_CREATED_AT = 1_704_067_200  # 2024-01-01T00:00:00Z: the derived key has no creation moment of its own
PRIVATE = "_sandbox"  # our own bookkeeping inside an attempt; never leaves the sandbox
_ALPHABET = string.ascii_letters + string.digits
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

DATE_OF_BIRTH = "1990-01-15"
ID_NUMBER = "123456789"
ADDRESS: Final[Json] = {
    "street": "123 Main St.",
    "street2": None,
    "city": "Pawnee",
    "region": "IN",
    "postal_code": "46001",
    "country": "US",
}
DUPLICATE_NAME: Final[Json] = {"given_name": "Jordan", "family_name": "Duplicate"}
_GIVEN_NAMES = (
    "Avery",
    "Blake",
    "Casey",
    "Dana",
    "Emerson",
    "Finley",
    "Harper",
    "Jamie",
    "Kendall",
    "Logan",
    "Morgan",
    "Parker",
    "Quinn",
    "Riley",
    "Sawyer",
    "Taylor",
)
_SYLLABLES = tuple(c + v for c in "bdfghklmnprstvwz" for v in "aeio")  # 64


def new_attempt_id() -> str:
    return f"idv_{''.join(secrets.choice(_ALPHABET) for _ in range(14))}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _iso(moment: datetime) -> str:
    """Plaid's timestamp format: ISO 8601, UTC, whole seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def derive_signing_key(signing_secret: bytes) -> ec.EllipticCurvePrivateKey:
    """The sandbox's P-256 webhook key, a pure function of `signing_secret` (HKDF-SHA256 → scalar in [1, n-1])."""
    material = HKDF(
        algorithm=hashes.SHA256(), length=48, salt=b"tenure-sandbox-plaid", info=b"webhook-signing-key-es256"
    ).derive(signing_secret)
    scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _pass_name(client_user_id: str) -> Json:
    """A plausible name that is the same for every attempt of one user and (practically) unique per user."""
    digest = hashlib.sha256(f"sandbox-identity:{client_user_id}".encode()).digest()
    given = _GIVEN_NAMES[digest[0] % len(_GIVEN_NAMES)]
    family = "".join(_SYLLABLES[b % len(_SYLLABLES)] for b in digest[1:5]).capitalize()
    return {"given_name": given, "family_name": family}


def _missing(attempt_id: str) -> KycProviderError:
    return KycProviderError(
        f"identity verification not found: {attempt_id!r}", status=400, code="INVALID_FIELD"
    )  # Plaid answers an unknown id with 400 INVALID_REQUEST / INVALID_FIELD


def _raise_if_unavailable(what: str, exc: SQLAlchemyError) -> None:
    if database_unavailable(exc):
        raise ComponentUnavailable(COMPONENT, f"sandbox {what}: {type(exc).__name__}") from exc


def _public(attempt: Json) -> Json:
    return {k: copy.deepcopy(v) for k, v in attempt.items() if k != PRIVATE}


class SandboxIdentityVerifier:
    """The offline identity-verification provider. See the module docstring; construct it once per process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        production: bool,
        deliver: Deliver,
        base_url: str,
        signing_secret: bytes,
    ) -> None:
        if production:
            raise RuntimeError("the sandbox identity provider cannot run in production")
        if not signing_secret:
            raise ValueError("a webhook signing secret is required")
        self._sessions = sessions
        self._clock = clock
        self._deliver = deliver
        self._base_url = base_url.rstrip("/")
        self._key = derive_signing_key(signing_secret)
        public = self._key.public_key()
        point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self._x, self._y = point[1:33], point[33:65]
        self.kid = str(uuid.UUID(bytes=hashlib.sha256(b"kid:" + point).digest()[:16], version=4))
        """The id of the key the webhooks are signed with (the JWT header's `kid`)."""
        self._lock = asyncio.Lock()
        self._outgoing: collections.deque[tuple[str, int]] = collections.deque()
        self._draining = False

    def __repr__(self) -> str:  # never show the key
        return "SandboxIdentityVerifier()"

    # ---- the port ---------------------------------------------------------------------------------------------

    async def start(self, *, client_user_id: str, email: str | None, retry: bool) -> VerificationSession:
        if not client_user_id:
            raise KycProviderError("client_user_id must be provided", status=400, code="INVALID_FIELD")

        async def change(session: AsyncSession, now: datetime) -> tuple[Json, bool]:
            mine = [a for a in await self._rows(session) if a["client_user_id"] == client_user_id]
            latest = mine[-1] if mine else None
            if latest is not None and not retry:
                return latest, False  # Plaid's create with is_idempotent: the existing attempt
            attempt_id = new_attempt_id()
            attempt: Json = {
                "id": attempt_id,
                "client_user_id": client_user_id,
                "created_at": _iso(now),
                "completed_at": None,
                "previous_attempt_id": latest["id"] if latest is not None else None,
                "shareable_url": f"{self._base_url}/sandbox/kyc/{attempt_id}",
                "template": {"id": TEMPLATE_ID, "version": TEMPLATE_VERSION},
                "user": {
                    "email_address": email,
                    "phone_number": None,
                    "date_of_birth": None,
                    "ip_address": None,
                    "name": None,
                    "address": None,
                    "id_number": None,
                },
                "status": "active",
                "steps": {step: "active" if i == 0 else "waiting_for_prerequisite" for i, step in enumerate(STEPS)},
                "redacted_at": None,
                PRIVATE: {"version": 0, "delivered": 0},
            }
            await self._insert(session, attempt)
            return attempt, False

        attempt = await self._mutate("start", change)
        return VerificationSession(
            attempt_id=attempt["id"],
            url=attempt["shareable_url"],
            status=attempt["status"],
            created_at=_parse_time(attempt["created_at"]),
        )

    async def get(self, attempt_id: str) -> VerificationFacts:
        attempt = await self._read(attempt_id)
        if attempt is None:
            raise _missing(attempt_id)
        return self._facts(attempt)

    # ---- controls ---------------------------------------------------------------------------------------------

    async def complete(self, attempt_id: str, outcome: str) -> VerificationFacts:
        """Control: what the person (or, for an attempt in review, a reviewer) does. Raises `ValueError` for an
        unknown outcome and `KycProviderError` (400) when the attempt has already ended."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")

        async def change(session: AsyncSession, now: datetime) -> tuple[Json, bool]:
            row = await session.get(models.SandboxPaymentObject, attempt_id)
            if row is None or row.kind != KIND:
                raise _missing(attempt_id)
            attempt = copy.deepcopy(row.data)
            status = attempt["status"]
            if status == "pending_review" and outcome in REVIEW_OUTCOMES:
                self._review(attempt, approve=outcome == "pass")
            elif status == "active":
                self._finish(attempt, outcome, await _profile_identity(session, attempt["client_user_id"]))
            else:
                raise KycProviderError(
                    f"identity verification {attempt_id} is {status} and cannot be changed ({outcome})",
                    status=400,
                    code="INVALID_REQUEST",
                )
            attempt["completed_at"] = _iso(now)  # a reviewer's decision moves it too: the status's own time
            attempt[PRIVATE]["version"] += 1
            row.data = attempt  # a new value, so the change is detected
            return attempt, True

        return self._facts(await self._mutate(f"complete ({outcome})", change))

    def _finish(self, attempt: Json, outcome: str, told: _ProfileIdentity) -> None:
        steps = attempt["steps"]
        user = attempt["user"]
        if outcome in ("expire", "cancel"):
            ended = "expired" if outcome == "expire" else "canceled"
            attempt["status"] = ended
            for step, value in steps.items():
                if value in ("active", "waiting_for_prerequisite"):
                    steps[step] = ended
            return
        # A passing person shows documents with the name and birth date they told us (in their profile), so the
        # sandbox does not send every developer to review for a date-of-birth mismatch, and a winner's payee name
        # matches their verified name (§8); without a profile, a per-user name. The duplicate identity is fixed.
        name = DUPLICATE_NAME if outcome == "duplicate" else (told.name or _pass_name(attempt["client_user_id"]))
        born = DATE_OF_BIRTH if outcome == "duplicate" else (told.birth_date or DATE_OF_BIRTH)
        user.update(
            name=dict(name),
            date_of_birth=born,
            address=dict(ADDRESS),
            id_number={"value": ID_NUMBER, "type": "us_ssn"},
            phone_number="+12345678909",
            ip_address="192.0.2.42",
        )
        for step in STEPS:
            steps[step] = "success"
        if outcome == "fail":
            attempt["status"] = "failed"
            steps["documentary_verification"] = "failed"
            steps["selfie_check"] = steps["watchlist_screening"] = steps["risk_check"] = "skipped"
        elif outcome == "review":
            attempt["status"] = "pending_review"
            steps["watchlist_screening"] = "pending_review"
        else:  # pass, duplicate
            attempt["status"] = "success"

    @staticmethod
    def _review(attempt: Json, *, approve: bool) -> None:
        attempt["status"] = "success" if approve else "failed"
        for step, value in attempt["steps"].items():
            if value == "pending_review":
                attempt["steps"][step] = "manually_approved" if approve else "manually_rejected"

    async def details(self, attempt_id: str) -> Json | None:
        """The attempt as Plaid's `/identity_verification/get` shows it (for the hosted page), or None."""
        attempt = await self._read(attempt_id)
        return _public(attempt) if attempt is not None else None

    async def attempts(self, client_user_id: str | None = None) -> list[Json]:
        """Every attempt, oldest first (optionally one user's): for tests and the CLI."""
        try:
            async with self._sessions() as session:
                rows = await self._rows(session)
        except SQLAlchemyError as exc:
            _raise_if_unavailable("read", exc)
            raise
        return [_public(a) for a in rows if client_user_id is None or a["client_user_id"] == client_user_id]

    # ---- webhook signing --------------------------------------------------------------------------------------

    async def verification_key(self, kid: str) -> dict[str, Any]:
        """The public key for `kid` as Plaid's `/webhook_verification_key/get` returns it; `LookupError` for a key
        the sandbox never signed with."""
        if kid != self.kid:
            raise LookupError(f"no webhook verification key {kid!r}")
        return {
            "alg": "ES256",
            "created_at": KEY_CREATED_AT,
            "crv": "P-256",
            "expired_at": None,
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": _b64url(self._x),
            "y": _b64url(self._y),
        }

    def sign(self, body: bytes, *, now: datetime) -> str:
        """The `Plaid-Verification` header for `body`: a compact ES256 JWS."""
        header = {"alg": "ES256", "kid": self.kid, "typ": "JWT"}
        claims = {"iat": int(now.timestamp()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    # ---- delivery ---------------------------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Deliver queued status updates in order; a re-entrant call (a `deliver` that mutates) only queues."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._outgoing:
                attempt_id, version = self._outgoing.popleft()
                await self._deliver_one(attempt_id, version)
        finally:
            self._draining = False

    async def _deliver_one(self, attempt_id: str, version: int) -> None:
        body = json.dumps(
            {
                "webhook_type": "IDENTITY_VERIFICATION",
                "webhook_code": "STATUS_UPDATED",
                "identity_verification_id": attempt_id,
                "environment": "sandbox",
            },
            indent=2,
        ).encode()
        headers = {
            WEBHOOK_HEADER: self.sign(body, now=self._clock.now()),
            "content-type": "application/json",
            "user-agent": "Plaid Verification tenure-sandbox",
        }
        try:
            await self._deliver(body, headers)
        except Exception:  # kept pending; deliver_pending() sends it again
            log.warning("sandbox identity webhook not delivered", extra={"attempt_id": attempt_id}, exc_info=True)
            return
        try:
            async with self._lock, self._sessions() as session, session.begin():
                row = await session.get(models.SandboxPaymentObject, attempt_id)
                if row is not None:
                    attempt = copy.deepcopy(row.data)
                    if attempt[PRIVATE]["delivered"] < version:
                        attempt[PRIVATE]["delivered"] = version
                        row.data = attempt
        except SQLAlchemyError:  # delivered but not marked: deliver_pending sends it again (at least once)
            log.warning("sandbox identity webhook delivered but not marked", extra={"attempt_id": attempt_id})

    async def deliver_pending(self) -> int:
        """Send again the status update of every attempt whose last delivery failed (at start-up or from the CLI);
        returns how many were delivered now."""
        try:
            async with self._sessions() as session:
                rows = await self._rows(session)
        except SQLAlchemyError as exc:
            _raise_if_unavailable("read", exc)
            raise
        pending = [(a["id"], a[PRIVATE]["version"]) for a in rows if a[PRIVATE]["delivered"] < a[PRIVATE]["version"]]
        queued = set(self._outgoing)
        self._outgoing.extend(p for p in pending if p not in queued)
        await self._drain()
        delivered = 0
        for attempt_id, version in pending:
            attempt = await self._read(attempt_id)
            delivered += attempt is not None and attempt[PRIVATE]["delivered"] >= version
        return delivered

    # ---- plumbing ---------------------------------------------------------------------------------------------

    @staticmethod
    def _facts(attempt: Json) -> VerificationFacts:
        user = attempt.get("user") or {}
        name = user.get("name") or {}
        id_number = user.get("id_number") or {}
        dob = user.get("date_of_birth")
        return VerificationFacts(
            attempt_id=attempt["id"],
            client_user_id=attempt["client_user_id"],
            status=attempt["status"],
            status_at=_parse_time(attempt.get("completed_at") or attempt["created_at"]),
            country=(user.get("address") or {}).get("country"),
            failure_reasons=tuple(
                step for step in STEPS if (attempt.get("steps") or {}).get(step) in FAILED_STEP_STATUSES
            ),
            date_of_birth=date.fromisoformat(dob) if dob else None,
            given_name=name.get("given_name"),
            family_name=name.get("family_name"),
            id_number=id_number.get("value"),
        )

    @staticmethod
    async def _rows(session: AsyncSession) -> list[Json]:
        stmt = (
            select(models.SandboxPaymentObject.data)
            .where(models.SandboxPaymentObject.kind == KIND)
            .order_by(models.SandboxPaymentObject.seq, models.SandboxPaymentObject.id)
        )
        return [copy.deepcopy(d) for d in (await session.scalars(stmt)).all()]

    @staticmethod
    async def _insert(session: AsyncSession, attempt: Json) -> None:
        top = await session.scalar(select(func.max(models.SandboxPaymentObject.seq)))
        session.add(
            models.SandboxPaymentObject(id=attempt["id"], kind=KIND, data=copy.deepcopy(attempt), seq=int(top or 0) + 1)
        )

    async def _read(self, attempt_id: str) -> Json | None:
        try:
            async with self._sessions() as session:
                row = await session.get(models.SandboxPaymentObject, attempt_id)
        except SQLAlchemyError as exc:
            _raise_if_unavailable("read", exc)
            raise
        if row is None or row.kind != KIND:
            return None
        return copy.deepcopy(row.data)

    async def _mutate(
        self, what: str, change: Callable[[AsyncSession, datetime], Awaitable[tuple[Json, bool]]]
    ) -> Json:
        """Run `change` in one transaction (serialised); after the commit, deliver the status update it made."""
        async with self._lock:
            try:
                async with self._sessions() as session, session.begin():
                    attempt, changed = await change(session, self._clock.now())
            except SQLAlchemyError as exc:
                _raise_if_unavailable(what, exc)
                raise
            if changed:
                self._outgoing.append((attempt["id"], attempt[PRIVATE]["version"]))
        await self._drain()
        return attempt


@dataclass(frozen=True, slots=True)
class _ProfileIdentity:
    birth_date: str | None = None
    name: Json | None = None


async def _profile_identity(session: AsyncSession, client_user_id: str) -> _ProfileIdentity:
    """The legal name and birth date in the profile of the account the attempt is for (our `client_user_id` is
    the account id); empty when there is no such profile."""
    try:
        account_id = UUID(client_user_id)
    except ValueError:
        return _ProfileIdentity()
    P = models.Profile
    row = (
        await session.execute(
            select(P.date_of_birth, P.legal_first_name, P.legal_last_name).where(P.account_id == account_id)
        )
    ).first()
    if row is None:
        return _ProfileIdentity()
    born, first, last = row
    name = {"given_name": first, "family_name": last} if first and last else None
    return _ProfileIdentity(birth_date=born.isoformat() if born else None, name=name)
