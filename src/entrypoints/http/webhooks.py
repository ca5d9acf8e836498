"""`/api/webhooks/*`: provider callbacks. Authenticated by signature (so exempt from CSRF), stored in the
inbox before the 2xx. An unverifiable message gets a 400 problem and nothing is stored."""

from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from entrypoints.http.schemas import Problem
from ports.usecases.deps import Deps
from ports.usecases.errors import NotFound
from ports.usecases.webhooks import receive_webhook


class Acknowledged(msgspec.Struct, rename="camel", kw_only=True):
    received: bool = True
    duplicate: bool


async def _receive(provider: str, request: Request[Any, Any, Any], deps: Deps) -> Acknowledged:
    verifier = deps.webhook_verifiers.get(provider)
    if verifier is None:
        raise NotFound()
    received = await receive_webhook(deps, verifier, body=await request.body(), headers=request.headers)
    return Acknowledged(duplicate=not received.new)


class WebhookController(Controller):
    path = "/api/webhooks"
    tags = ["webhooks"]

    @post(
        "/stripe",
        operation_id="receiveStripeWebhook",
        status_code=200,
        summary="Stripe events (signed with the endpoint secret)",
        responses={
            400: ResponseSpec(Problem, description="Missing, malformed, stale or wrong signature; nothing stored"),
            404: ResponseSpec(Problem, description="Stripe is not configured"),
            503: ResponseSpec(Problem, description="Could not store the event; Stripe will retry"),
        },
    )
    async def stripe(self, request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Acknowledged:
        return await _receive("stripe", request, deps)

    @post(
        "/plaid",
        operation_id="receivePlaidWebhook",
        status_code=200,
        summary="Plaid identity-verification webhooks (Plaid-Verification JWT, ES256)",
        responses={
            400: ResponseSpec(Problem, description="Missing or invalid Plaid-Verification JWT; nothing stored"),
            404: ResponseSpec(Problem, description="Plaid is not configured"),
            503: ResponseSpec(Problem, description="Could not store the event; Plaid will retry"),
        },
    )
    async def plaid(self, request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Acknowledged:
        return await _receive("plaid", request, deps)

    @post(
        "/twilio",
        operation_id="receiveTwilioStatusCallback",
        status_code=200,
        summary="Twilio SMS status callbacks (form-encoded, X-Twilio-Signature over our public URL)",
        responses={
            400: ResponseSpec(Problem, description="Missing or wrong X-Twilio-Signature; nothing stored"),
            404: ResponseSpec(Problem, description="Twilio is not configured"),
            503: ResponseSpec(Problem, description="Could not store the callback; Twilio will retry"),
        },
    )
    async def twilio(self, request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Acknowledged:
        return await _receive("twilio", request, deps)
