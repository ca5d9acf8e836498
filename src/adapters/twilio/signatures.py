"""Twilio request signatures (`X-Twilio-Signature`), verified ourselves, for message status callbacks.

Twilio's documented algorithm for a form POST (application/x-www-form-urlencoded): take the full URL Twilio
requested (scheme, host, path and query string, exactly as configured in the callback), append each POST
parameter's name and value with the parameters sorted by name (case-sensitive, byte order), HMAC-SHA1 the result
with the account's auth token, base64 the digest. Here a name sent several times contributes each of its values in
sorted order (Twilio's own helpers do the same); status callbacks never repeat a name.

Choices:
- the URL is the public URL of our status-callback route as configured (`public_url`), never the URL the request
  claims to have reached (a proxy's Host header is not evidence);
- Twilio has signed some requests with the URL as configured and some with the scheme's default port spelled out
  (or removed): its helpers check both forms, and so do we (only the *default* port, 443/80, is added or removed;
  any other port is part of the URL as configured);
- any of `auth_tokens` may match: while the secondary auth token is promoted both are live;
- comparisons are constant-time (`hmac.compare_digest`); the body is signed as received and decoded once;
- JSON bodies (Twilio's `bodySHA256` variant) are not used by Messaging status callbacks and are refused.

Twilio sends no timestamp, so there is no replay window: the inbox key `"{MessageSid}:{MessageStatus}"` makes a
replay of a status already seen a no-op.
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ports.outbound.webhooks import InvalidSignature, VerifiedMessage

HEADER = "x-twilio-signature"
FORM = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 64 * 1024
_DEFAULT_PORTS = {"https": 443, "http": 80}
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
_STATUS = re.compile(r"[a-z_-]{1,40}")

Params = Mapping[str, str | list[str]] | Iterable[tuple[str, str]]


def _pairs(params: Params) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        pairs: list[tuple[str, str]] = []
        for name, value in params.items():
            if isinstance(value, str):
                pairs.append((name, value))
            else:
                pairs.extend((name, item) for item in value)
        return pairs
    return list(params)


def signing_string(url: str, params: Params) -> str:
    """The text Twilio signs: the URL, then each name and value in order of name (then value)."""
    return url + "".join(name + value for name, value in sorted(_pairs(params)))


def twilio_signature(auth_token: str, url: str, params: Params) -> str:
    """The `X-Twilio-Signature` Twilio sends for a form POST of `params` to `url`, signed with `auth_token`.

    `params` maps names to a value or a list of values (or is a sequence of name/value pairs, as decoded)."""
    digest = hmac.new(auth_token.encode(), signing_string(url, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> tuple[str, ...]:
    """`url` as configured, and the same URL with its scheme's default port added (or removed if present)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default is None or not parts.hostname:
        return (url,)
    try:
        port = parts.port
    except ValueError:
        return (url,)
    host = parts.netloc.rpartition(":")[0] if port is not None else parts.netloc
    if port is None:
        other = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))
    elif port == default:
        other = urlunsplit(parts._replace(netloc=host))
    else:
        return (url,)
    return (url, other)


def signature_matches(signature: str, *, auth_tokens: Sequence[str], url: str, params: Params) -> bool:
    """Whether `signature` is Twilio's for these params at `url` (either port form) under any of the tokens."""
    pairs = _pairs(params)
    given = signature.strip().encode("ascii", "replace")
    matched = False
    for token in auth_tokens:
        for variant in url_variants(url):
            # no early exit: every candidate is computed and compared
            matched |= hmac.compare_digest(twilio_signature(token, variant, pairs).encode(), given)
    return matched


def _header(headers: Mapping[str, str], wanted: str) -> str | None:
    for name, value in headers.items():
        if name.lower() == wanted:
            return value
    return None


def _form(body: bytes, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    content_type = _header(headers, "content-type")
    if content_type is not None and content_type.split(";")[0].strip().lower() != FORM:
        raise InvalidSignature("the body is not form-encoded")
    if len(body) > MAX_BODY_BYTES:
        raise InvalidSignature("the body is too large")
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidSignature("the body is not form-encoded") from None


class TwilioWebhookVerifier:
    """`WebhookVerifier` for Twilio Messaging status callbacks posted to `public_url`."""

    provider = "twilio"

    def __init__(self, *, public_url: str, auth_tokens: Sequence[str]) -> None:
        tokens = tuple(token for token in auth_tokens if token)
        if not tokens:
            raise ValueError("at least one Twilio auth token is required")
        parts = urlsplit(public_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("the public URL of the Twilio callback route must be an absolute http(s) URL")
        self._url = public_url
        self._tokens = tokens

    def __repr__(self) -> str:  # never show a token
        return f"TwilioWebhookVerifier(public_url={self._url!r})"

    async def verify(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> VerifiedMessage:
        return self.check(body, headers)

    def check(self, body: bytes, headers: Mapping[str, str]) -> VerifiedMessage:
        """The verification itself: pure computation, no I/O (Twilio signs no time, so `now` plays no part)."""
        signature = _header(headers, HEADER)
        if not signature or not signature.strip():
            raise InvalidSignature("missing X-Twilio-Signature header")
        params = _form(body, headers)
        if not signature_matches(signature, auth_tokens=self._tokens, url=self._url, params=params):
            raise InvalidSignature("no signature matches")
        return _message(params)


def _only(params: list[tuple[str, str]], name: str) -> str:
    values = [value for key, value in params if key == name]
    if len(values) != 1 or not values[0]:
        raise InvalidSignature(f"a signed body without a single {name}")
    return values[0]


def _message(params: list[tuple[str, str]]) -> VerifiedMessage:
    sid, status = _only(params, "MessageSid"), _only(params, "MessageStatus")
    if not _SID.fullmatch(sid):
        raise InvalidSignature("a signed body whose MessageSid is not a Twilio id")
    if not _STATUS.fullmatch(status):
        raise InvalidSignature("a signed body whose MessageStatus is malformed")
    return VerifiedMessage(key=f"{sid}:{status}", type=f"sms.{status}", subject=sid)
