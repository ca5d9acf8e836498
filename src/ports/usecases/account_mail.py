"""Emailing one-time codes. The code is sealed (authenticated encryption) from the moment it is issued
until this job opens it to write the email, so neither the outbox table nor the job queue holds it in
clear. Sending happens in a job, never inside a database transaction."""

import base64
from typing import Any
from uuid import UUID

from domain.one_time_codes import CodePurpose
from ports.outbound.email import EmailMessage
from ports.outbound.outbox import OutboxMessage
from ports.outbound.tasks import Payload
from ports.usecases.deps import Deps

SEND_CODE_TASK = "email.send_code"

TEMPLATES: dict[CodePurpose, tuple[str, str]] = {
    CodePurpose.EMAIL_VERIFICATION: (
        "Your Tenure verification code",
        "Your Tenure verification code is {code}.\n\nIt expires in {minutes} minutes. "
        "If you did not sign up for Tenure, ignore this email.",
    ),
    CodePurpose.PASSWORD_RESET: (
        "Reset your Tenure password",
        "Your Tenure password reset code is {code}.\n\nIt expires in {minutes} minutes. "
        "If you did not ask to reset your password, ignore this email: your password is unchanged.",
    ),
}


async def on_code_issued(deps: Deps, message: OutboxMessage) -> None:
    """Outbox handler: schedule the email (one job per issued code)."""
    await deps.tasks.enqueue(SEND_CODE_TASK, {"outboxId": str(message.id)})


def send_code_key(payload: Payload) -> str:
    return str(payload["outboxId"])


async def send_code_email(deps: Deps, payload: Payload) -> Any:
    if deps.auth is None or deps.email is None:
        raise RuntimeError("email and authentication services are not configured")
    outbox_id = UUID(str(payload["outboxId"]))
    async with deps.uow() as uow:
        message = await uow.outbox.get(outbox_id)
        account = await uow.accounts.get(UUID(message.aggregate_id)) if message else None
    if message is None or account is None:
        return None  # the account was erased meanwhile: nothing to send
    purpose = CodePurpose(message.payload["purpose"])
    sealed = base64.b64decode(message.payload["sealedCode"])
    code = deps.auth.box.open(sealed, context=f"code:{account.id}:{purpose}").decode()
    subject, body = TEMPLATES[purpose]
    minutes = int(deps.auth.code_policy.ttl.total_seconds() // 60)
    return await deps.email.send(
        EmailMessage(
            to=account.email,
            subject=subject,
            text=body.format(code=code, minutes=minutes),
            template=f"code.{purpose}",
            idempotency_key=f"{outbox_id}:email",
        )
    )
