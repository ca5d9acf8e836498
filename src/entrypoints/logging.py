"""Structured logging: structlog renders both our records and the standard library's (uvicorn, SAQ,
SQLAlchemy) as JSON in production or readable lines in development, with the request id bound per request."""

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from entrypoints.settings import Settings

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {"password", "secret", "token", "authorization", "cookie", "otp", "code", "tin", "account_number", "card"}
)


def _redact(_logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Defence in depth: a key that names a secret never reaches the log sink with its value."""
    for key in list(event_dict):
        if any(word in key.lower() for word in SENSITIVE_KEYS):
            event_dict[key] = REDACTED
    return event_dict


def _drop_color_message(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.pop("color_message", None)  # uvicorn's ANSI duplicate of the message
    return event_dict


def configure_logging(settings: Settings) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        _redact,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler._tenure = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_tenure", False)]:
        root.removeHandler(old)  # reconfiguring replaces our handler only, never others' (e.g. pytest's)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "saq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # SAQ logs every enqueue at INFO (one line per webhook); its warnings and errors are what operators need.
    logging.getLogger("saq").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
