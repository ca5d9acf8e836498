"""Twilio request signatures and TwilioWebhookVerifier (status callbacks).

The known vector is Twilio's own worked example; its expected value is computed independently with the twilio
package's `RequestValidator` and also pinned to the literal Twilio publishes for it."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from adapters.twilio.signatures import TwilioWebhookVerifier, signature_matches, twilio_signature, url_variants
from ports.outbound.webhooks import InvalidSignature, VerifiedMessage, WebhookVerifier
from tests.provider_fakes.twilio_messages_server import FakeTwilioMessages

DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
# The signature Twilio publishes for this token, URL and parameters: the "Validate signatures" example of
# https://www.twilio.com/docs/usage/webhooks/webhooks-security (the same literal appears in Twilio's own
# twilio-ruby request-validation code sample, found with the library search tools).
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

PUBLIC_URL = "https://example.org/api/webhooks/twilio"
TOKEN = "token_primary_0123456789abcdef"
OTHER_TOKEN = "token_secondary_0123456789abcd"
SID = "SM" + "ab" * 16
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def callback(
    *,
    url: str = PUBLIC_URL,
    token: str = TOKEN,
    params: dict[str, str] | None = None,
    order: list[str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    fields = params if params is not None else {"MessageSid": SID, "MessageStatus": "delivered", "To": "+15551230000"}
    names = order or list(fields)
    body = urlencode([(name, fields[name]) for name in names]).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(token, url, fields),
    }
    return body, headers


@pytest.fixture
def verifier() -> TwilioWebhookVerifier:
    return TwilioWebhookVerifier(public_url=PUBLIC_URL, auth_tokens=[TOKEN, OTHER_TOKEN])


# ---- the algorithm ------------------------------------------------------------------------------------------


def test_twilios_documented_example() -> None:
    independent = RequestValidator(DOC_TOKEN).compute_signature(DOC_URL, DOC_PARAMS)
    assert twilio_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS) == independent == DOC_SIGNATURE
    assert RequestValidator(DOC_TOKEN).validate(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert signature_matches(DOC_SIGNATURE, auth_tokens=[DOC_TOKEN], url=DOC_URL, params=DOC_PARAMS)


def test_repeated_names_and_pairs_agree_with_the_sdk() -> None:
    class Multi(dict[str, list[str]]):
        def getlist(self, name: str) -> list[str]:
            return self[name]

    params: dict[str, str | list[str]] = {"A": ["2", "1"], "B": "x"}
    expected = RequestValidator(DOC_TOKEN).compute_signature(DOC_URL, Multi(A=["2", "1"], B=["x"]))
    assert twilio_signature(DOC_TOKEN, DOC_URL, params) == expected
    assert twilio_signature(DOC_TOKEN, DOC_URL, [("B", "x"), ("A", "1"), ("A", "2")]) == expected


def test_url_variants_toggle_only_the_default_port() -> None:
    assert url_variants("https://example.org/a?b=1") == ("https://example.org/a?b=1", "https://example.org:443/a?b=1")
    assert url_variants("https://example.org:443/a") == ("https://example.org:443/a", "https://example.org/a")
    assert url_variants("http://example.org/a") == ("http://example.org/a", "http://example.org:80/a")
    assert url_variants("https://example.org:8443/a") == ("https://example.org:8443/a",)


names = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
values = st.text(max_size=20)
param_dicts = st.dictionaries(names, values, min_size=1, max_size=6)
tokens = st.text(min_size=1, max_size=32)
urls = st.sampled_from([PUBLIC_URL, DOC_URL, "https://example.org:8443/x?y=%20z", "http://localhost/cb"])


@given(token=tokens, url=urls, params=param_dicts)
def test_agrees_with_the_sdk(token: str, url: str, params: dict[str, str]) -> None:
    assert twilio_signature(token, url, params) == RequestValidator(token).compute_signature(url, params)


@given(token=tokens, url=urls, params=param_dicts, data=st.data())
def test_any_change_to_a_value_breaks_it(token: str, url: str, params: dict[str, str], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(params)))
    other = data.draw(values.filter(lambda v: v != params[name]))
    signature = twilio_signature(token, url, params)
    assert not signature_matches(signature, auth_tokens=[token], url=url, params=params | {name: other})


@given(token=tokens, url=urls, params=param_dicts, data=st.data())
def test_any_change_to_a_name_breaks_it(token: str, url: str, params: dict[str, str], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(params)))
    renamed = data.draw(names.filter(lambda n: n not in params))
    changed = {renamed if key == name else key: value for key, value in params.items()}
    signature = twilio_signature(token, url, params)
    # a rename that keeps the signed text identical (name+value concatenations colliding) is not a change
    if sorted(k + v for k, v in changed.items()) == sorted(k + v for k, v in params.items()):
        return
    assert not signature_matches(signature, auth_tokens=[token], url=url, params=changed)


@given(token=tokens, params=param_dicts, suffix=st.text(min_size=1, max_size=10))
def test_any_change_to_the_url_breaks_it(token: str, params: dict[str, str], suffix: str) -> None:
    signature = twilio_signature(token, PUBLIC_URL, params)
    assert not signature_matches(signature, auth_tokens=[token], url=PUBLIC_URL + "/" + suffix, params=params)
    assert not signature_matches(signature, auth_tokens=[token], url=PUBLIC_URL.replace("https", "http"), params=params)


@given(token=tokens, other=tokens, params=param_dicts)
def test_another_token_breaks_it(token: str, other: str, params: dict[str, str]) -> None:
    if other == token:
        return
    signature = twilio_signature(token, PUBLIC_URL, params)
    assert not signature_matches(signature, auth_tokens=[other], url=PUBLIC_URL, params=params)


@given(
    params=st.dictionaries(names, values, min_size=2, max_size=6).map(
        lambda d: d | {"MessageSid": SID, "MessageStatus": "sent"}
    ),
    data=st.data(),
)
def test_parameter_order_in_the_body_does_not_matter(params: dict[str, str], data: st.DataObject) -> None:
    verifier = TwilioWebhookVerifier(public_url=PUBLIC_URL, auth_tokens=[TOKEN])
    order = data.draw(st.permutations(list(params)))
    body, headers = callback(params=params, order=order)
    assert verifier.check(body, headers) == VerifiedMessage(key=f"{SID}:sent", type="sms.sent", subject=SID)


# ---- the verifier ---------------------------------------------------------------------------------------------


async def test_a_valid_status_callback_is_verified(verifier: TwilioWebhookVerifier) -> None:
    port: WebhookVerifier = verifier
    assert port.provider == "twilio"
    body, headers = callback()
    message = await port.verify(body, headers, now=NOW)
    assert message == VerifiedMessage(key=f"{SID}:delivered", type="sms.delivered", subject=SID)


async def test_the_fakes_callbacks_verify(verifier: TwilioWebhookVerifier) -> None:
    fake = FakeTwilioMessages(auth_token=TOKEN)
    sid = fake.create(fake.account_sid, {"To": "+15551230000", "Body": "hi", "From": fake.from_number})["sid"]
    _url, body, headers = fake.status_callback(sid, "undelivered", url=PUBLIC_URL, error_code=30003)
    message = await verifier.verify(body, headers, now=NOW)
    assert message == VerifiedMessage(key=f"{sid}:undelivered", type="sms.undelivered", subject=sid)


@pytest.mark.parametrize("token", [TOKEN, OTHER_TOKEN])
def test_either_rotated_token_is_accepted(verifier: TwilioWebhookVerifier, token: str) -> None:
    body, headers = callback(token=token)
    assert verifier.check(body, headers).key == f"{SID}:delivered"


@pytest.mark.parametrize(
    ("signed_url", "configured"),
    [
        ("https://example.org:443/api/webhooks/twilio", PUBLIC_URL),
        (PUBLIC_URL, "https://example.org:443/api/webhooks/twilio"),
    ],
)
def test_the_default_port_may_or_may_not_be_signed(signed_url: str, configured: str) -> None:
    verifier = TwilioWebhookVerifier(public_url=configured, auth_tokens=[TOKEN])
    body, headers = callback(url=signed_url)
    assert verifier.check(body, headers).subject == SID


def test_header_names_are_case_insensitive(verifier: TwilioWebhookVerifier) -> None:
    body, headers = callback()
    lowered = {name.lower(): value for name, value in headers.items()}
    assert verifier.check(body, lowered).subject == SID


def test_no_content_type_is_read_as_a_form(verifier: TwilioWebhookVerifier) -> None:
    body, headers = callback()
    del headers["Content-Type"]
    assert verifier.check(body, headers).subject == SID


def _refused(verifier: TwilioWebhookVerifier, body: bytes, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        verifier.check(body, headers)


def test_missing_or_empty_signature_is_refused(verifier: TwilioWebhookVerifier) -> None:
    body, headers = callback()
    _refused(verifier, body, {"Content-Type": headers["Content-Type"]})
    _refused(verifier, body, headers | {"X-Twilio-Signature": "  "})


def test_a_bad_signature_is_refused(verifier: TwilioWebhookVerifier) -> None:
    body, headers = callback()
    _refused(verifier, body, headers | {"X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})
    _refused(verifier, body, headers | {"X-Twilio-Signature": "not base64 ✓"})
    _refused(verifier, body, headers | {"X-Twilio-Signature": headers["X-Twilio-Signature"][:-2]})


def test_an_unknown_token_or_other_url_is_refused(verifier: TwilioWebhookVerifier) -> None:
    _refused(verifier, *callback(token="someone_elses_token"))
    _refused(verifier, *callback(url="https://evil.example/api/webhooks/twilio"))
    _refused(verifier, *callback(url=PUBLIC_URL + "?x=1"))


def test_an_altered_body_is_refused(verifier: TwilioWebhookVerifier) -> None:
    body, headers = callback()
    _refused(verifier, body.replace(b"delivered", b"failed"), headers)
    _refused(verifier, body + b"&Extra=1", headers)


def test_a_body_that_is_not_a_form_is_refused(verifier: TwilioWebhookVerifier) -> None:
    body, headers = callback()
    _refused(verifier, body, headers | {"Content-Type": "application/json"})
    _refused(verifier, b"\xff\xfe=1", headers)
    _refused(verifier, b"no-equals-sign&&", headers)
    _refused(verifier, b"a=" + b"x" * 70_000, headers)


@pytest.mark.parametrize(
    "params",
    [
        {"MessageStatus": "delivered"},
        {"MessageSid": SID},
        {"MessageSid": "", "MessageStatus": "delivered"},
        {"MessageSid": "not-a-sid", "MessageStatus": "delivered"},
        {"MessageSid": SID, "MessageStatus": "Deliv ered!"},
        {},
    ],
)
def test_a_signed_body_without_a_message_id_or_status_is_refused(
    verifier: TwilioWebhookVerifier, params: dict[str, str]
) -> None:
    _refused(verifier, *callback(params=params))


def test_a_repeated_message_sid_is_refused(verifier: TwilioWebhookVerifier) -> None:
    other = "SM" + "cd" * 16
    pairs = [("MessageSid", SID), ("MessageSid", other), ("MessageStatus", "sent")]
    headers = {"X-Twilio-Signature": twilio_signature(TOKEN, PUBLIC_URL, pairs)}
    _refused(verifier, urlencode(pairs).encode(), headers)


def test_construction_needs_a_token_and_an_absolute_url() -> None:
    with pytest.raises(ValueError, match="token"):
        TwilioWebhookVerifier(public_url=PUBLIC_URL, auth_tokens=[""])
    with pytest.raises(ValueError, match="URL"):
        TwilioWebhookVerifier(public_url="/api/webhooks/twilio", auth_tokens=[TOKEN])
    assert TOKEN not in repr(TwilioWebhookVerifier(public_url=PUBLIC_URL, auth_tokens=[TOKEN]))
