"""`EmailSender` over SMTP with aiosmtplib. Connection failures, timeouts and refusals surface as
`ComponentUnavailable("email", …)`; the detail never carries the recipient, subject or body."""

import logging
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from adapters.email import message_id_for, recipient_hash
from ports.outbound.email import EmailMessage, EmailRejected
from ports.outbound.errors import ComponentUnavailable

logger = logging.getLogger(__name__)


class SmtpEmailSender:
    component = "email"

    def __init__(  # noqa: PLR0917 (the composition root passes the SMTP settings positionally)
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        use_tls: bool,
        sender: str,
        *,
        start_tls: bool | None = None,
        timeout_s: float = 10.0,
        recipient_hash_key: bytes = b"",
    ) -> None:
        """`use_tls` is implicit TLS (port 465); `start_tls` None upgrades when the server offers STARTTLS,
        True requires it."""
        _, address = parseaddr(sender)
        if "@" not in address:
            raise ValueError("the sender must be an email address")
        self._host = host
        self._port = port
        self._username = username or None
        self._password = password or None
        self._use_tls = use_tls
        self._start_tls = False if use_tls else start_tls
        self._sender = sender
        self._domain = address.rpartition("@")[2]
        self._timeout_s = timeout_s
        self._hash_key = recipient_hash_key

    def _mime(self, message: EmailMessage, message_id: str) -> MimeMessage:
        mime = MimeMessage()
        mime["From"] = self._sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Message-ID"] = message_id
        mime["Date"] = formatdate(usegmt=True)
        mime["X-Tenure-Template"] = message.template
        mime.set_content(message.text)
        return mime

    async def send(self, message: EmailMessage) -> str:
        message_id = message_id_for(message.idempotency_key, self._domain)
        mime = self._mime(message, message_id)
        log = {
            "message_id": message_id,
            "template": message.template,
            "recipient": recipient_hash(message.to, self._hash_key),
        }
        try:
            await aiosmtplib.send(
                mime,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._use_tls,
                start_tls=self._start_tls,
                timeout=self._timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # A server reply may quote the recipient: report only the error class and SMTP code, and drop the
            # cause of reply errors so a logged traceback cannot carry it either.
            code = getattr(exc, "code", None)
            detail = type(exc).__name__ + (f" (SMTP {code})" if code is not None else "")
            logger.warning("email send failed", extra={**log, "error": detail})
            if _permanently_refused(exc):
                raise EmailRejected(detail) from None  # the address itself was refused for good: a bounce
            if isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused):
                raise ComponentUnavailable("email", detail) from None
            raise ComponentUnavailable("email", detail) from exc
        logger.info("email sent", extra=log)
        return message_id


def _permanently_refused(exc: Exception) -> bool:
    """A 5xx refusal of the recipient (not of our connection or login): retrying will not change it."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= r.code < 600 for r in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPRecipientRefused) and 500 <= exc.code < 600
