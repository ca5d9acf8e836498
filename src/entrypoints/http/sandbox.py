"""`/sandbox/*`: the hosted pages and development controls of the offline sandbox payment provider.

Only for the embedded default (providers == "sandbox"); never registered otherwise. Wiring, in `create_app`:

    if settings.providers == "sandbox":
        route_handlers.append(create_sandbox_router())
    ...
    app.state.sandbox_payments = gateway  # the SandboxPaymentGateway the container built (SANDBOX_STATE_KEY)

Pages (HTML, the stand-ins for Stripe Checkout, the hosted invoice page and the billing portal):
  GET  /sandbox/checkout/{session_id}          amount, "Pay" and "Decline" forms
  POST /sandbox/checkout/{session_id}/pay      completes it, 303 to success_url ({CHECKOUT_SESSION_ID} filled in)
  POST /sandbox/checkout/{session_id}/decline  the page again with the card error; nothing changes
  GET  /sandbox/invoices/{invoice_id}          the hosted invoice page, with "Pay" while the invoice is open
  POST /sandbox/invoices/{invoice_id}/pay      pays it (a form: 303 back to the page; JSON: the invoice)
  GET  /sandbox/portal/{customer_id}           the customer's subscriptions and a "Return" link
JSON controls (development, tests, scripts):
  POST /sandbox/subscriptions/{subscription_id}/advance   {"outcome": "paid" | "failed" | "requires_action"}

Every post is CSRF-checked like the rest of the API: the forms carry the token (`_csrf_token`), JSON calls send
the `x-csrftoken` header.
"""

from html import escape
from typing import Any, Literal

import msgspec
from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.utils.scope.state import ScopeState

from adapters.sandbox.payments import SandboxPaymentGateway
from entrypoints.http.problems import ProblemKind, problem
from ports.outbound.payments import PaymentProviderError, ProviderInvoice

SANDBOX_STATE_KEY = "sandbox_payments"
# What the pages need: their own forms (and the redirect after them, which browsers check against form-action).
# `create_app`'s security-headers hook must let this through for /sandbox/ (it sets the API policy otherwise).
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
REFUSED = "payment_provider_refused"


def provide_sandbox_payments(state: State) -> SandboxPaymentGateway:
    gateway = state.get(SANDBOX_STATE_KEY)
    if not isinstance(gateway, SandboxPaymentGateway):
        raise NotFoundException(detail="the sandbox payment provider is not enabled")
    return gateway


class AdvanceRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    outcome: Literal["paid", "failed", "requires_action"] = "paid"


class InvoiceState(msgspec.Struct, rename="camel", kw_only=True):
    id: str
    status: str
    subscription_id: str | None
    amount_due_cents: int
    amount_paid_cents: int
    currency: str
    billing_reason: str | None
    attempt_count: int
    charge_id: str | None


class AdvanceResult(msgspec.Struct, rename="camel", kw_only=True):
    subscription_id: str
    subscription_status: str
    invoice: InvoiceState | None


def _invoice_state(invoice: ProviderInvoice) -> InvoiceState:
    return InvoiceState(
        id=invoice.id,
        status=invoice.status,
        subscription_id=invoice.subscription_id,
        amount_due_cents=invoice.amount_due.cents,
        amount_paid_cents=invoice.amount_paid.cents,
        currency=invoice.amount_due.currency,
        billing_reason=invoice.billing_reason,
        attempt_count=invoice.attempt_count,
        charge_id=invoice.charge_id,
    )


def _amount(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d} {currency.upper()}"


def _page(title: str, body: str, *, status: int = 200) -> Response[str]:
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Tenure sandbox payments</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }}
.notice {{ border: 2px solid #8a6d00; padding: .5rem 1rem; }}
[role=alert] {{ border: 2px solid #b00020; padding: .5rem 1rem; }}
button {{ font-size: 1rem; padding: .5rem 1.25rem; margin-right: .5rem; }}
</style>
</head>
<body>
<main>
<p class="notice">Sandbox: no real card is charged and no money moves.</p>
<h1>{escape(title)}</h1>
{body}
</main>
</body>
</html>
"""
    return Response(html, status_code=status, media_type=MediaType.HTML, headers={"content-security-policy": PAGE_CSP})


def _refused_page(exc: PaymentProviderError) -> Response[str]:
    status = 404 if exc.status == 404 else 409
    return _page("Not available", f'<p role="alert">{escape(str(exc))}</p>', status=status)


def _refused_problem(request: Request[Any, Any, Any], exc: PaymentProviderError) -> Response[Any]:
    status = 404 if exc.status == 404 else 409 if exc.status == 400 else exc.status or 400
    kind = ProblemKind(status, REFUSED, "The sandbox payment provider refused the request")
    return problem(request, kind, detail=str(exc), providerCode=exc.code)


def _csrf_token(request: Request[Any, Any, Any]) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


def _csrf_field(token: str) -> str:
    return f'<input type="hidden" name="_csrf_token" value="{escape(token)}">'


def _checkout_page(
    session: dict[str, Any], *, token: str, error: str | None = None, status: int = 200
) -> Response[str]:
    session_id = escape(session["id"])
    amount = _amount(int(session["amount_total"] or 0), session["currency"])
    purpose = (session.get("metadata") or {}).get("purpose")
    what = (
        "Retention prepayment (one payment)"
        if session["mode"] == "payment"
        else "Joining fee (includes the first month's dues), then monthly dues"
    )
    parts = [f"<p>{escape(what)}</p>", f'<p>Amount due today: <strong id="amount">{escape(amount)}</strong></p>']
    if session.get("customer_email"):
        parts.append(f"<p>Email: {escape(session['customer_email'])}</p>")
    if error:
        parts.append(f'<p role="alert" id="error">{escape(error)}</p>')
    if session["status"] == "open":
        parts.append(
            f"""<form method="post" action="/sandbox/checkout/{session_id}/pay">{_csrf_field(token)}
<button type="submit">Pay {escape(amount)}</button>
</form>
<form method="post" action="/sandbox/checkout/{session_id}/decline">{_csrf_field(token)}
<button type="submit">Decline (simulate a declined card)</button>
</form>"""
        )
    else:
        parts.append(f"<p>This checkout is {escape(session['status'])}.</p>")
    if session.get("cancel_url") and session["status"] == "open":
        parts.append(f'<p><a href="{escape(session["cancel_url"])}">Cancel and go back</a></p>')
    title = "Sandbox checkout" + (f" ({purpose})" if purpose else "")
    return _page(title, "\n".join(parts), status=status)


def _success_url(session: dict[str, Any]) -> str:
    return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])


@get("/checkout/{session_id:str}", cache=False)
async def checkout_page(
    request: Request[Any, Any, Any], session_id: FromPath[str], sandbox_payments: NamedDependency[SandboxPaymentGateway]
) -> Response[str]:
    try:
        session = await sandbox_payments.checkout_details(session_id)
    except PaymentProviderError as exc:
        return _refused_page(exc)
    return _checkout_page(session, token=_csrf_token(request))


@post("/checkout/{session_id:str}/pay", status_code=HTTP_303_SEE_OTHER)
async def pay_checkout(
    request: Request[Any, Any, Any], session_id: FromPath[str], sandbox_payments: NamedDependency[SandboxPaymentGateway]
) -> Response[str] | Redirect:
    try:
        await sandbox_payments.complete_checkout(session_id)
        session = await sandbox_payments.checkout_details(session_id)
    except PaymentProviderError as exc:
        try:
            session = await sandbox_payments.checkout_details(session_id)
        except PaymentProviderError:
            return _refused_page(exc)
        return _checkout_page(session, token=_csrf_token(request), error=str(exc), status=409)
    return Redirect(_success_url(session), status_code=HTTP_303_SEE_OTHER)


@post("/checkout/{session_id:str}/decline", status_code=200)
async def decline_checkout(
    request: Request[Any, Any, Any], session_id: FromPath[str], sandbox_payments: NamedDependency[SandboxPaymentGateway]
) -> Response[str]:
    try:
        await sandbox_payments.decline_checkout(session_id)
        session = await sandbox_payments.checkout_details(session_id)
    except PaymentProviderError as exc:
        return _refused_page(exc)
    return _checkout_page(
        session, token=_csrf_token(request), error="Your card was declined. Nothing was charged; you can try again."
    )


@get("/invoices/{invoice_id:str}", cache=False)
async def invoice_page(
    request: Request[Any, Any, Any], invoice_id: FromPath[str], sandbox_payments: NamedDependency[SandboxPaymentGateway]
) -> Response[str]:
    token = _csrf_token(request)
    try:
        invoice = await sandbox_payments.invoice_details(invoice_id)
    except PaymentProviderError as exc:
        return _refused_page(exc)
    amount = _amount(int(invoice["amount_due"]), invoice["currency"])
    parts = [
        f"<p>Invoice {escape(invoice.get('number') or invoice['id'])}: "
        f'<strong id="amount">{escape(amount)}</strong></p>',
        f'<p>Status: <span id="status">{escape(invoice["status"])}</span></p>',
    ]
    if invoice["status"] == "open":
        parts.append(
            f"""<form method="post" action="/sandbox/invoices/{escape(invoice["id"])}/pay">{_csrf_field(token)}
<button type="submit">Pay {escape(amount)}</button>
</form>"""
        )
    return _page("Sandbox invoice", "\n".join(parts))


@post("/invoices/{invoice_id:str}/pay", status_code=200)
async def pay_invoice(
    request: Request[Any, Any, Any], invoice_id: FromPath[str], sandbox_payments: NamedDependency[SandboxPaymentGateway]
) -> Response[Any]:
    """A form post (from the hosted invoice page) is answered with a 303 back to it; anything else with JSON."""
    is_form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    try:
        invoice = await sandbox_payments.pay_invoice(invoice_id)
    except PaymentProviderError as exc:
        return _refused_page(exc) if is_form else _refused_problem(request, exc)
    if is_form:
        return Redirect(f"/sandbox/invoices/{invoice_id}", status_code=HTTP_303_SEE_OTHER)
    return Response(_invoice_state(invoice))


@get("/portal/{customer_id:str}", cache=False)
async def portal_page(
    customer_id: FromPath[str], sandbox_payments: NamedDependency[SandboxPaymentGateway]
) -> Response[str]:
    try:
        details = await sandbox_payments.portal_details(customer_id)
    except PaymentProviderError as exc:
        return _refused_page(exc)
    customer = details["customer"]
    rows = []
    for sub in details["subscriptions"]:
        item = sub["items"]["data"][0]
        dues = _amount(int(item["price"]["unit_amount"]), sub["currency"])
        note = " (cancels at the period end)" if sub.get("cancel_at_period_end") else ""
        rows.append(f"<li>Monthly dues {escape(dues)}: {escape(sub['status'])}{escape(note)}</li>")
    parts = [f"<p>Customer: {escape(customer.get('email') or customer['id'])}</p>"]
    parts.append(f"<ul>{''.join(rows)}</ul>" if rows else "<p>No subscriptions.</p>")
    if details["return_url"]:
        parts.append(f'<p><a id="return" href="{escape(details["return_url"])}">Return</a></p>')
    return _page("Sandbox billing portal", "\n".join(parts))


@post("/subscriptions/{subscription_id:str}/advance", status_code=200)
async def advance_subscription(
    request: Request[Any, Any, Any],
    subscription_id: FromPath[str],
    data: JSONBody[AdvanceRequest],
    sandbox_payments: NamedDependency[SandboxPaymentGateway],
) -> Response[Any]:
    try:
        invoice = await sandbox_payments.advance_subscription(subscription_id, data.outcome)
        subscription = await sandbox_payments.get_subscription(subscription_id)
    except PaymentProviderError as exc:
        return _refused_problem(request, exc)
    return Response(
        AdvanceResult(
            subscription_id=subscription.id,
            subscription_status=subscription.status,
            invoice=_invoice_state(invoice) if invoice is not None else None,
        )
    )


def create_sandbox_router() -> Router:
    """The `/sandbox` routes; the gateway comes from `app.state.sandbox_payments`."""
    return Router(
        path="/sandbox",
        route_handlers=[
            checkout_page,
            pay_checkout,
            decline_checkout,
            invoice_page,
            pay_invoice,
            portal_page,
            advance_subscription,
        ],
        dependencies={"sandbox_payments": Provide(provide_sandbox_payments, sync_to_thread=False)},
        include_in_schema=False,
        tags=["sandbox"],
    )
