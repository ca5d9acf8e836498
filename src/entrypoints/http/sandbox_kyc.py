"""`/sandbox/kyc/*`: the hosted page of the offline sandbox identity-verification provider (the stand-in for Plaid's
hosted verification flow, its `shareable_url`).

Only for the embedded default (providers == "sandbox"); never registered otherwise. Wiring, in `create_app`:

    if settings.providers == "sandbox":
        route_handlers.append(create_sandbox_kyc_router())
    ...
    app.state.sandbox_kyc = verifier  # the SandboxIdentityVerifier the container built (SANDBOX_KYC_STATE_KEY)

  GET  /sandbox/kyc/{attempt_id}            the attempt's status and, while it can change, one form per outcome
  POST /sandbox/kyc/{attempt_id}/{outcome}  pass | fail | review | duplicate | expire | cancel: 303 back to the page

Every post is CSRF-checked like the rest of the API: the forms carry the token (`_csrf_token`). The pages need the
`PAGE_CSP` policy that `entrypoints.http.sandbox` defines for all of `/sandbox/`.
"""

from html import escape
from typing import Any

from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.utils.scope.state import ScopeState

from adapters.sandbox.kyc import OUTCOMES, REVIEW_OUTCOMES, SandboxIdentityVerifier
from entrypoints.http.sandbox import PAGE_CSP
from ports.outbound.kyc import KycProviderError

SANDBOX_KYC_STATE_KEY = "sandbox_kyc"

BUTTONS = (
    ("pass", "Pass", "a verified adult US identity"),
    ("fail", "Fail", "the document check fails"),
    ("review", "Needs review", "the watchlist screening needs a reviewer"),
    ("duplicate", "Duplicate identity", "verified, with the identity every duplicate shares"),
    ("expire", "Expire", "the session times out"),
    ("cancel", "Cancel", "the person leaves the verification"),
)
REVIEW_BUTTONS = (
    ("pass", "Approve", "a reviewer approves the verification"),
    ("fail", "Reject", "a reviewer rejects the verification"),
)
STATUS_TEXT = {
    "active": "In progress: choose what happens.",
    "success": "Verified.",
    "failed": "Verification failed.",
    "pending_review": "Waiting for a reviewer.",
    "expired": "This verification session expired.",
    "canceled": "This verification session was canceled.",
}
assert {outcome for outcome, _, _ in BUTTONS} == set(OUTCOMES)
assert {outcome for outcome, _, _ in REVIEW_BUTTONS} == set(REVIEW_OUTCOMES)


def provide_sandbox_kyc(state: State) -> SandboxIdentityVerifier:
    verifier = state.get(SANDBOX_KYC_STATE_KEY)
    if not isinstance(verifier, SandboxIdentityVerifier):
        raise NotFoundException(detail="the sandbox identity provider is not enabled")
    return verifier


def _csrf_token(request: Request[Any, Any, Any]) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


def _page(title: str, body: str, *, status: int = 200) -> Response[str]:
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Tenure sandbox identity verification</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }}
.notice {{ border: 2px solid #8a6d00; padding: .5rem 1rem; }}
[role=alert] {{ border: 2px solid #b00020; padding: .5rem 1rem; }}
form {{ margin: .5rem 0; }}
button {{ font-size: 1rem; padding: .5rem 1.25rem; margin-right: .5rem; }}
</style>
</head>
<body>
<main>
<p class="notice">Sandbox: no identity document is checked and no personal data leaves this computer.</p>
<h1>{escape(title)}</h1>
{body}
</main>
</body>
</html>
"""
    return Response(html, status_code=status, media_type=MediaType.HTML, headers={"content-security-policy": PAGE_CSP})


def _not_found(attempt_id: str) -> Response[str]:
    message = f"There is no identity verification {attempt_id}."
    return _page("Not available", f'<p role="alert">{escape(message)}</p>', status=404)


def _attempt_page(attempt: dict[str, Any], *, token: str, error: str | None = None, status: int = 200) -> Response[str]:
    attempt_id = escape(attempt["id"])
    state = str(attempt["status"])
    parts = [
        f"<p>Attempt <code>{attempt_id}</code></p>",
        f'<p>Status: <strong id="status">{escape(state)}</strong>. {escape(STATUS_TEXT.get(state, ""))}</p>',
    ]
    failed = [step for step, value in (attempt.get("steps") or {}).items() if value in ("failed", "manually_rejected")]
    if failed:
        parts.append(f'<p id="failure-reasons">Failed checks: {escape(", ".join(failed))}</p>')
    if error:
        parts.append(f'<p role="alert" id="error">{escape(error)}</p>')
    buttons = BUTTONS if state == "active" else REVIEW_BUTTONS if state == "pending_review" else ()
    if buttons:
        field = f'<input type="hidden" name="_csrf_token" value="{escape(token)}">'
        parts.append('<section aria-labelledby="choose"><h2 id="choose">Simulate an outcome</h2>')
        for outcome, label, description in buttons:
            described = f"describe-{outcome}"
            parts.append(
                f'<form method="post" action="/sandbox/kyc/{attempt_id}/{outcome}">{field}'
                f'<button type="submit" aria-describedby="{described}">{escape(label)}</button> '
                f'<span id="{described}">{escape(description)}</span></form>'
            )
        parts.append("</section>")
    return _page("Sandbox identity verification", "\n".join(parts), status=status)


@get("/{attempt_id:str}", cache=False)
async def verification_page(
    request: Request[Any, Any, Any], attempt_id: FromPath[str], sandbox_kyc: NamedDependency[SandboxIdentityVerifier]
) -> Response[str]:
    attempt = await sandbox_kyc.details(attempt_id)
    if attempt is None:
        return _not_found(attempt_id)
    return _attempt_page(attempt, token=_csrf_token(request))


@post("/{attempt_id:str}/{outcome:str}", status_code=HTTP_303_SEE_OTHER)
async def complete_verification(
    request: Request[Any, Any, Any],
    attempt_id: FromPath[str],
    outcome: FromPath[str],
    sandbox_kyc: NamedDependency[SandboxIdentityVerifier],
) -> Response[str] | Redirect:
    if outcome not in OUTCOMES:
        return _page("Not available", f'<p role="alert">Unknown outcome: {escape(outcome)}.</p>', status=404)
    try:
        await sandbox_kyc.complete(attempt_id, outcome)
    except KycProviderError as exc:
        attempt = await sandbox_kyc.details(attempt_id)
        if attempt is None:
            return _not_found(attempt_id)
        return _attempt_page(attempt, token=_csrf_token(request), error=str(exc), status=409)
    return Redirect(f"/sandbox/kyc/{attempt_id}", status_code=HTTP_303_SEE_OTHER)


def create_sandbox_kyc_router() -> Router:
    """The `/sandbox/kyc` routes; the verifier comes from `app.state.sandbox_kyc`."""
    return Router(
        path="/sandbox/kyc",
        route_handlers=[verification_page, complete_verification],
        dependencies={"sandbox_kyc": Provide(provide_sandbox_kyc, sync_to_thread=False)},
        include_in_schema=False,
        tags=["sandbox"],
    )
