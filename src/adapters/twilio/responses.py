"""What both Twilio adapters read from an answer, and how they show a number in a log line."""

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx


def masked(phone: str) -> str:
    """The phone as it may appear in logs: its last two digits only."""
    digits = [c for c in phone if c.isdigit()]
    return "…" + "".join(digits[-2:])


def retry_after(response: httpx.Response) -> timedelta | None:
    """The Retry-After header, in seconds or as an HTTP date; None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - datetime.now(UTC), timedelta(0))


def error_code(response: httpx.Response) -> int | None:
    """Twilio's numeric error code from a JSON error body, if there is one."""
    try:
        data = response.json()
    except ValueError:
        return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None
