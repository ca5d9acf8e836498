"""`IdentityVerifier` over plaid-python (Identity Verification, API version 2020-09-14).

plaid-python is a blocking client (urllib3): every call runs in a worker thread (`asyncio.to_thread`), so the
event loop keeps serving while Plaid answers. urllib3's own retries are off (`retries=False`): callers retry when
they get `ComponentUnavailable`, and Plaid's create is idempotent per user and template (`is_idempotent`).

Errors: unreachable host, timeouts, 429 and 5xx → `ComponentUnavailable("kyc", …)`; any other refusal (4xx) →
`KycProviderError(status, code=<Plaid error_code>)`. Log lines and error messages carry only the operation,
the HTTP status and Plaid's error type/code: never the client secret, nor a person's name, date of birth,
address or ID number (responses are never logged).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import plaid  # type: ignore[import-untyped]
import urllib3
from plaid.api import plaid_api  # type: ignore[import-untyped]
from plaid.model.identity_verification_create_request import IdentityVerificationCreateRequest  # type: ignore[import-untyped]
from plaid.model.identity_verification_create_request_user import IdentityVerificationCreateRequestUser  # type: ignore[import-untyped]
from plaid.model.identity_verification_get_request import IdentityVerificationGetRequest  # type: ignore[import-untyped]
from plaid.model.identity_verification_request_user import IdentityVerificationRequestUser  # type: ignore[import-untyped]
from plaid.model.identity_verification_retry_request import IdentityVerificationRetryRequest  # type: ignore[import-untyped]
from plaid.model.strategy import Strategy  # type: ignore[import-untyped]

from ports.outbound.errors import ComponentUnavailable
from ports.outbound.kyc import KycProviderError, VerificationFacts, VerificationSession

log = logging.getLogger(__name__)
COMPONENT = "kyc"
PRODUCTION_HOST = "https://production.plaid.com"
SANDBOX_HOST = "https://sandbox.plaid.com"
Json = dict[str, Any]
T = TypeVar("T")


def _plain(value: Any) -> Any:
    """A plaid-python model (or enum model) as plain Python data."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool, dict, list)):
        return value.value
    return value


def _text(value: Any) -> str | None:
    value = _plain(value)
    return value if isinstance(value, str) and value else None


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """Plaid's `error_type` and `error_code` from an error body; nothing else of it is kept."""
    try:
        data = json.loads(body) if isinstance(body, (bytes, str)) else None
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    error_type, error_code = data.get("error_type"), data.get("error_code")
    return (
        error_type if isinstance(error_type, str) else None,
        error_code if isinstance(error_code, str) else None,
    )


class PlaidClient:
    """The plaid-python client with our error mapping; shared by the verifier and the webhook key source."""

    def __init__(
        self,
        client_id: str,
        secret: str,
        *,
        host: str = PRODUCTION_HOST,
        connect_timeout_s: float = 5,
        read_timeout_s: float = 15,
    ) -> None:
        if not client_id or not secret:
            raise ValueError("a Plaid client id and secret are required")
        configuration = plaid.Configuration(host=host, api_key={"clientId": client_id, "secret": secret})
        configuration.retries = False  # the caller retries; a hidden retry would only hide an outage longer
        self._client = plaid.ApiClient(configuration)
        self.api = plaid_api.PlaidApi(self._client)
        self._timeout = (connect_timeout_s, read_timeout_s)

    def __repr__(self) -> str:  # never show the secret
        return "PlaidClient()"

    def close(self) -> None:
        self._client.close()

    async def call(self, what: str, method: Callable[..., T], request: Any) -> T:
        """Run one blocking plaid-python call in a worker thread and map its failures onto the port's errors."""
        try:
            return await asyncio.to_thread(method, request, _request_timeout=self._timeout)
        except plaid.ApiException as exc:
            status = exc.status if isinstance(exc.status, int) else None
            error_type, error_code = _error_fields(exc.body)
            if status is None or status == 429 or status >= 500:
                log.warning("plaid %s unavailable: status %s %s", what, status, error_code)
                raise ComponentUnavailable(COMPONENT, f"{what}: status {status}") from None
            log.info("plaid %s refused: status %s %s %s", what, status, error_type, error_code)
            raise KycProviderError(
                f"{what}: {error_type or 'refused'} {error_code or ''}".strip(), status=status, code=error_code
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # refused, reset, DNS, connect/read timeouts
            log.warning("plaid %s unavailable: %s", what, type(exc).__name__)
            raise ComponentUnavailable(COMPONENT, f"{what}: {type(exc).__name__}") from None
        except plaid.OpenApiException as exc:  # a 200 whose body plaid-python cannot read
            log.warning("plaid %s answered an unreadable response: %s", what, type(exc).__name__)
            raise ComponentUnavailable(COMPONENT, f"{what}: unreadable response") from None


class PlaidIdentityVerifier:
    def __init__(
        self,
        client_id: str,
        secret: str,
        template_id: str,
        *,
        host: str = PRODUCTION_HOST,
        connect_timeout_s: float = 5,
        read_timeout_s: float = 15,
    ) -> None:
        if not template_id:
            raise ValueError("a Plaid identity verification template id is required")
        self._plaid = PlaidClient(
            client_id, secret, host=host, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s
        )
        self._template_id = template_id

    def __repr__(self) -> str:
        return "PlaidIdentityVerifier()"

    async def close(self) -> None:
        self._plaid.close()

    async def start(self, *, client_user_id: str, email: str | None, retry: bool) -> VerificationSession:
        if retry:
            retry_fields: Json = {}
            if email:
                retry_fields["user"] = IdentityVerificationRequestUser(email_address=email)
            retry_request = IdentityVerificationRetryRequest(
                client_user_id=client_user_id,
                template_id=self._template_id,
                strategy=Strategy("reset"),
                is_shareable=True,
                **retry_fields,
            )
            raw = _plain(
                await self._plaid.call(
                    "identity_verification/retry", self._plaid.api.identity_verification_retry, retry_request
                )
            )
        else:
            create_fields: Json = {}
            if email:
                create_fields["user"] = IdentityVerificationCreateRequestUser(email_address=email)
            create_request = IdentityVerificationCreateRequest(
                client_user_id=client_user_id,
                template_id=self._template_id,
                is_shareable=True,
                gave_consent=True,
                is_idempotent=True,
                **create_fields,
            )
            raw = _plain(
                await self._plaid.call(
                    "identity_verification/create", self._plaid.api.identity_verification_create, create_request
                )
            )
        return _session(raw)

    async def get(self, attempt_id: str) -> VerificationFacts:
        request = IdentityVerificationGetRequest(identity_verification_id=attempt_id)
        raw = _plain(
            await self._plaid.call("identity_verification/get", self._plaid.api.identity_verification_get, request)
        )
        return _facts(raw)


def _created_at(raw: Json) -> datetime:
    created = _aware(raw.get("created_at"))
    if created is None:
        raise ComponentUnavailable(COMPONENT, "identity verification without created_at")
    return created


def _session(raw: Json) -> VerificationSession:
    return VerificationSession(
        attempt_id=str(raw["id"]),
        url=_text(raw.get("shareable_url")),
        status=_text(raw.get("status")) or "active",
        created_at=_created_at(raw),
    )


def _facts(raw: Json) -> VerificationFacts:
    user = raw.get("user") or {}
    name = user.get("name") or {}
    address = user.get("address") or {}
    id_number = user.get("id_number") or {}
    steps = raw.get("steps") or {}
    return VerificationFacts(
        attempt_id=str(raw["id"]),
        client_user_id=str(raw.get("client_user_id") or ""),
        status=_text(raw.get("status")) or "active",
        status_at=_aware(raw.get("completed_at")) or _created_at(raw),
        country=_text(address.get("country")),
        failure_reasons=tuple(step for step, status in steps.items() if _plain(status) == "failed"),
        date_of_birth=_date(user.get("date_of_birth")),
        given_name=_text(name.get("given_name")),
        family_name=_text(name.get("family_name")),
        id_number=_text(id_number.get("value")),
    )
