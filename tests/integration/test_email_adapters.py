"""The email adapters: SMTP against a real local SMTP server (aiosmtpd), the sandbox mailbox on PostgreSQL.
Neither may ever log a message body or subject: they hold one-time codes (RELIABILITY 24)."""

import asyncio
import itertools
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.email import message_id_for, recipient_hash
from adapters.email.sandbox import SandboxEmailSender
from adapters.email.smtp import SmtpEmailSender
from adapters.sql import models
from adapters.sql.engine import session_factory
from ports.outbound.email import EmailMessage, EmailRejected
from ports.outbound.errors import ComponentUnavailable
from tests.fakes import FakeClock
from tests.helpers import free_port

CODE = "917364"
_keys = itertools.count()


def message(to: str = "ada@example.com", *, key: str | None = None, template: str = "verify-email") -> EmailMessage:
    return EmailMessage(
        to=to,
        subject=f"Your verification code is {CODE}",
        text=f"Enter {CODE} to verify your email. It expires in 10 minutes.",
        template=template,
        idempotency_key=key or f"notify:evt-{next(_keys)}:{to}:email",
    )


class Collector:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


class EphemeralController(Controller):
    """aiosmtpd's controller, listening on a port the OS picks (it would otherwise probe port 0)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Collector]]:
    collector = Collector()
    controller = EphemeralController(collector, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller, collector
    finally:
        controller.stop()


def sender_for(port: int, *, timeout_s: float = 2.0) -> SmtpEmailSender:
    return SmtpEmailSender(
        "127.0.0.1",
        port,
        username=None,
        password=None,
        use_tls=False,
        sender="Tenure <no-reply@tenure.example>",
        timeout_s=timeout_s,
    )


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything our records carry: the rendered message and every extra field (the structured log sink
    renders extras too). The fake server's own logger is not ours and is left out."""
    parts = []
    for record in caplog.records:
        if record.name.startswith("mail.log"):
            continue
        parts.append(record.getMessage())
        parts.extend(f"{k}={v}" for k, v in vars(record).items() if k not in {"msg", "args"})
    return "\n".join(parts)


async def test_smtp_delivers_with_to_subject_and_a_deterministic_message_id(
    smtp_server: tuple[Controller, Collector],
) -> None:
    controller, collector = smtp_server
    sender = sender_for(controller.port)
    msg = message(key="notify:evt-1:ada@example.com:email")
    message_id = await sender.send(msg)

    assert len(collector.received) == 1
    mail_from, rcpt_tos, delivered = collector.received[0]
    assert mail_from == "no-reply@tenure.example"
    assert rcpt_tos == ["ada@example.com"]
    assert delivered["To"] == "ada@example.com"
    assert delivered["Subject"] == msg.subject
    assert delivered["Message-ID"] == message_id
    assert message_id == message_id_for(msg.idempotency_key, "tenure.example")
    assert message_id.startswith("<")
    assert message_id.endswith("@tenure.example>")
    assert CODE in delivered.get_payload(decode=True).decode()  # type: ignore[union-attr]


async def test_smtp_retried_send_carries_the_same_message_id(smtp_server: tuple[Controller, Collector]) -> None:
    controller, collector = smtp_server
    sender = sender_for(controller.port)
    msg = message()
    first = await sender.send(msg)
    second = await sender.send(msg)
    other = await sender.send(message())
    assert first == second != other
    assert [m["Message-ID"] for _, _, m in collector.received] == [first, first, other]


async def test_smtp_unreachable_server_is_component_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sender = sender_for(free_port())
    with pytest.raises(ComponentUnavailable) as info:
        await sender.send(message())
    assert info.value.component == "email"
    assert "ada@example.com" not in str(info.value)
    assert CODE not in all_log_text(caplog)


async def test_smtp_a_server_that_never_answers_is_component_unavailable() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never sends a greeting
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        sender = sender_for(silent.getsockname()[1], timeout_s=0.3)
        with pytest.raises(ComponentUnavailable) as info:
            await sender.send(message())
    assert info.value.component == "email"
    assert "Timeout" in info.value.detail


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("550 5.1.1 <bob@example.com>: user unknown", EmailRejected),  # for good: a bounce
        ("450 4.2.1 <bob@example.com>: mailbox busy", ComponentUnavailable),  # for now: retry later
    ],
)
async def test_smtp_a_refused_recipient_is_reported_without_the_address(
    smtp_server: tuple[Controller, Collector], reply: str, error: type[Exception]
) -> None:
    controller, collector = smtp_server

    async def refuse(_server: Any, _session: Any, _envelope: Any, _address: str, _options: Any) -> str:
        return reply

    collector.handle_RCPT = refuse  # type: ignore[attr-defined]
    with pytest.raises(error) as info:
        await sender_for(controller.port).send(message("bob@example.com"))
    assert type(info.value) is error
    assert "bob@example.com" not in str(info.value)
    assert info.value.__cause__ is None
    assert collector.received == []


async def test_smtp_logs_never_hold_the_body_subject_or_address(
    smtp_server: tuple[Controller, Collector], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    controller, collector = smtp_server
    msg = message("grace@example.com")
    message_id = await sender_for(controller.port).send(msg)
    assert len(collector.received) == 1

    ours = [r for r in caplog.records if r.name.startswith("adapters.email")]
    assert ours, "the adapter logs each send"
    assert getattr(ours[-1], "message_id", None) == message_id
    assert getattr(ours[-1], "template", None) == "verify-email"
    assert getattr(ours[-1], "recipient", None) == recipient_hash("grace@example.com")
    text = all_log_text(caplog)
    assert CODE not in text
    assert msg.subject not in text
    assert "grace@example.com" not in text


# --- the sandbox mailbox, on this run's PostgreSQL database ---


@pytest.fixture
def sandbox(engine: AsyncEngine) -> SandboxEmailSender:
    return SandboxEmailSender(session_factory(engine), FakeClock(), production=False)


async def rows_for(engine: AsyncEngine, key: str) -> int:
    async with session_factory(engine)() as session:
        count = await session.scalar(
            select(func.count()).select_from(models.SandboxEmail).where(models.SandboxEmail.idempotency_key == key)
        )
    return int(count or 0)


async def test_sandbox_stores_a_message_and_latest_for_reads_it_back(
    sandbox: SandboxEmailSender, engine: AsyncEngine
) -> None:
    msg = message("lin@example.com")
    message_id = await sandbox.send(msg)
    stored = await sandbox.latest_for("lin@example.com")
    assert stored is not None
    assert str(stored.id) == message_id
    assert (stored.to, stored.subject, stored.text, stored.template, stored.idempotency_key) == (
        msg.to,
        msg.subject,
        msg.text,
        msg.template,
        msg.idempotency_key,
    )
    assert await rows_for(engine, msg.idempotency_key) == 1
    assert await sandbox.latest_for("nobody@example.com") is None


async def test_sandbox_stores_once_per_idempotency_key_even_when_sent_concurrently(
    sandbox: SandboxEmailSender, engine: AsyncEngine
) -> None:
    msg = message("mei@example.com")
    ids = await asyncio.gather(*(sandbox.send(msg) for _ in range(8)))
    assert len(set(ids)) == 1
    assert await sandbox.send(msg) == ids[0]
    assert await rows_for(engine, msg.idempotency_key) == 1


async def test_sandbox_latest_for_picks_the_newest_and_filters_by_template(engine: AsyncEngine) -> None:
    clock = FakeClock()
    sandbox = SandboxEmailSender(session_factory(engine), clock, production=False)
    to = "noor@example.com"
    await sandbox.send(message(to, template="verify-email"))
    clock.advance(timedelta(minutes=1))
    newest_reset = await sandbox.send(message(to, template="password-reset"))
    clock.advance(timedelta(minutes=1))
    newest_verify = await sandbox.send(message(to, template="verify-email"))

    latest = await sandbox.latest_for(to)
    assert latest is not None
    assert str(latest.id) == newest_verify
    reset = await sandbox.latest_for(to, template="password-reset")
    assert reset is not None
    assert str(reset.id) == newest_reset
    assert await sandbox.latest_for(to, template="no-such-template") is None


async def test_sandbox_logs_never_hold_the_body_or_subject(
    sandbox: SandboxEmailSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    msg = message("olu@example.com")
    message_id = await sandbox.send(msg)
    ours = [r for r in caplog.records if r.name.startswith("adapters.email")]
    assert [getattr(r, "message_id", None) for r in ours] == [message_id]
    text = all_log_text(caplog)
    assert CODE not in text
    assert msg.subject not in text
    assert "olu@example.com" not in text


def test_sandbox_is_refused_in_production(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError, match="refused in production"):
        SandboxEmailSender(session_factory(engine), FakeClock(), production=True)
