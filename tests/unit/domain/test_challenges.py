"""Ceremony challenges: single use, exclusive expiry, exact bindings (None ≠ a value), refusal order, lifetimes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.challenges import (
    CHALLENGE_LIFETIME,
    Challenge,
    ChallengeKind,
    ChallengeRefusal,
    Redemption,
    challenge_expiry,
    redeem,
)
from domain.errors import NaiveDatetime

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
ACCOUNT = UUID("00000000-0000-4000-8000-00000000000a")
OTHER_ACCOUNT = UUID("00000000-0000-4000-8000-00000000000b")
SESSION = UUID("00000000-0000-4000-8000-00000000005e")
OTHER_SESSION = UUID("00000000-0000-4000-8000-00000000005f")
CHALLENGE_ID = UUID("00000000-0000-4000-8000-0000000000c0")


def challenge(
    kind: ChallengeKind = ChallengeKind.PASSKEY_STEP_UP,
    *,
    account_id: UUID | None = ACCOUNT,
    session_id: UUID | None = SESSION,
    binding_digest: str | None = None,
    consumed_at: datetime | None = None,
    lifetime: timedelta = timedelta(minutes=5),
) -> Challenge:
    return Challenge(
        id=CHALLENGE_ID,
        kind=kind,
        issued_at=T0,
        expires_at=T0 + lifetime,
        account_id=account_id,
        session_id=session_id,
        binding_digest=binding_digest,
        consumed_at=consumed_at,
    )


def refusal(result: Redemption) -> ChallengeRefusal | None:
    assert result.ok is (result.reason is None)
    return result.reason


class TestLifetimes:
    def test_every_kind_has_its_documented_lifetime(self) -> None:
        assert {kind: CHALLENGE_LIFETIME[kind] for kind in ChallengeKind} == {
            ChallengeKind.PASSKEY_REGISTRATION: timedelta(minutes=5),
            ChallengeKind.PASSKEY_ASSERTION: timedelta(minutes=5),
            ChallengeKind.PASSKEY_STEP_UP: timedelta(minutes=5),
            ChallengeKind.OIDC_AUTHORIZATION: timedelta(minutes=10),
            ChallengeKind.OIDC_SECOND_FACTOR: timedelta(minutes=5),
        }

    def test_expiry_examples(self) -> None:
        assert challenge_expiry(ChallengeKind.PASSKEY_ASSERTION, T0) == datetime(2026, 11, 25, 8, 5, tzinfo=UTC)
        assert challenge_expiry(ChallengeKind.OIDC_AUTHORIZATION, T0) == datetime(2026, 11, 25, 8, 10, tzinfo=UTC)

    @given(kind=st.sampled_from(ChallengeKind), seconds=st.integers(min_value=0, max_value=10**9))
    def test_expiry_is_issue_time_plus_lifetime(self, kind: ChallengeKind, seconds: int) -> None:
        issued = T0 + timedelta(seconds=seconds)
        expiry = challenge_expiry(kind, issued)
        assert expiry - issued == CHALLENGE_LIFETIME[kind]
        assert expiry.utcoffset() == timedelta(0)

    def test_expiry_of_an_offset_instant_is_in_utc(self) -> None:
        issued = datetime(2026, 11, 25, 10, 0, tzinfo=timezone(timedelta(hours=2)))
        expiry = challenge_expiry(ChallengeKind.PASSKEY_REGISTRATION, issued)
        assert expiry == datetime(2026, 11, 25, 8, 5, tzinfo=UTC)
        assert expiry.tzinfo is UTC

    def test_naive_issue_time_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            challenge_expiry(ChallengeKind.PASSKEY_ASSERTION, datetime(2026, 11, 25, 8, 0))

    def test_wire_values(self) -> None:
        assert [k.value for k in ChallengeKind] == [
            "passkey_registration",
            "passkey_assertion",
            "passkey_step_up",
            "oidc_authorization",
            "oidc_second_factor",
        ]


class TestRedeemExamples:
    def test_matching_answer_accepted(self) -> None:
        result = redeem(
            challenge(), kind=ChallengeKind.PASSKEY_STEP_UP, now=T0 + US, account_id=ACCOUNT, session_id=SESSION
        )
        assert result == Redemption(ok=True, reason=None)

    def test_signed_out_ceremony_bound_to_a_browser(self) -> None:
        c = challenge(ChallengeKind.PASSKEY_ASSERTION, account_id=None, session_id=None, binding_digest="d1")
        assert redeem(c, kind=ChallengeKind.PASSKEY_ASSERTION, now=T0, binding_digest="d1").ok
        assert refusal(redeem(c, kind=ChallengeKind.PASSKEY_ASSERTION, now=T0, binding_digest="d2")) is (
            ChallengeRefusal.WRONG_BROWSER
        )
        assert refusal(redeem(c, kind=ChallengeKind.PASSKEY_ASSERTION, now=T0)) is ChallengeRefusal.WRONG_BROWSER

    def test_unknown_challenge(self) -> None:
        assert refusal(redeem(None, kind=ChallengeKind.PASSKEY_ASSERTION, now=T0)) is ChallengeRefusal.UNKNOWN

    def test_expiry_is_exclusive(self) -> None:
        c = challenge()
        args = {"kind": ChallengeKind.PASSKEY_STEP_UP, "account_id": ACCOUNT, "session_id": SESSION}
        assert redeem(c, now=T0 + timedelta(minutes=5) - US, **args).ok
        assert refusal(redeem(c, now=T0 + timedelta(minutes=5), **args)) is ChallengeRefusal.EXPIRED
        assert refusal(redeem(c, now=T0 + timedelta(days=1), **args)) is ChallengeRefusal.EXPIRED

    def test_expiry_compares_instants_not_wall_clocks(self) -> None:
        c = challenge()
        plus_two = timezone(timedelta(hours=2))
        args = {"kind": ChallengeKind.PASSKEY_STEP_UP, "account_id": ACCOUNT, "session_id": SESSION}
        # 10:04 at +02:00 is 08:04 UTC: still within the five minutes.
        assert redeem(c, now=datetime(2026, 11, 25, 10, 4, tzinfo=plus_two), **args).ok
        assert refusal(redeem(c, now=datetime(2026, 11, 25, 10, 5, tzinfo=plus_two), **args)) is (
            ChallengeRefusal.EXPIRED
        )

    @pytest.mark.parametrize(
        ("challenge_binding", "answer_binding", "expected"),
        [
            ({"account_id": ACCOUNT}, {"account_id": None}, ChallengeRefusal.WRONG_ACCOUNT),
            ({"account_id": None}, {"account_id": ACCOUNT}, ChallengeRefusal.WRONG_ACCOUNT),
            ({"account_id": ACCOUNT}, {"account_id": OTHER_ACCOUNT}, ChallengeRefusal.WRONG_ACCOUNT),
            ({"session_id": SESSION}, {"session_id": None}, ChallengeRefusal.WRONG_SESSION),
            ({"session_id": None}, {"session_id": SESSION}, ChallengeRefusal.WRONG_SESSION),
            ({"session_id": SESSION}, {"session_id": OTHER_SESSION}, ChallengeRefusal.WRONG_SESSION),
            ({"binding_digest": "d1"}, {"binding_digest": None}, ChallengeRefusal.WRONG_BROWSER),
            ({"binding_digest": None}, {"binding_digest": "d1"}, ChallengeRefusal.WRONG_BROWSER),
            ({"binding_digest": "d1"}, {"binding_digest": "D1"}, ChallengeRefusal.WRONG_BROWSER),
            ({"binding_digest": ""}, {"binding_digest": None}, ChallengeRefusal.WRONG_BROWSER),
        ],
    )
    def test_none_is_not_a_value(
        self,
        challenge_binding: dict[str, object],
        answer_binding: dict[str, object],
        expected: ChallengeRefusal,
    ) -> None:
        unbound = {"account_id": None, "session_id": None, "binding_digest": None}
        c = challenge(ChallengeKind.OIDC_AUTHORIZATION, **{**unbound, **challenge_binding})  # type: ignore[arg-type]
        answer = {**unbound, **answer_binding}
        assert refusal(redeem(c, kind=ChallengeKind.OIDC_AUTHORIZATION, now=T0, **answer)) is expected  # type: ignore[arg-type]


class TestRefusalOrder:
    """When several things are wrong, the reason given is the first of unknown > kind > used > expired > account >
    session > browser."""

    BAD_BINDINGS = {"account_id": OTHER_ACCOUNT, "session_id": OTHER_SESSION, "binding_digest": "other"}

    def everything_wrong(self, **overrides: object) -> Challenge:
        return challenge(
            ChallengeKind.PASSKEY_REGISTRATION,
            binding_digest="mine",
            consumed_at=T0,
            **overrides,  # type: ignore[arg-type]
        )

    def test_unknown_first(self) -> None:
        result = redeem(None, kind=ChallengeKind.PASSKEY_STEP_UP, now=T0 + timedelta(days=1), **self.BAD_BINDINGS)
        assert refusal(result) is ChallengeRefusal.UNKNOWN

    def test_kind_before_used(self) -> None:
        late = T0 + timedelta(days=1)
        result = redeem(self.everything_wrong(), kind=ChallengeKind.PASSKEY_STEP_UP, now=late, **self.BAD_BINDINGS)
        assert refusal(result) is ChallengeRefusal.WRONG_KIND

    def test_used_before_expired(self) -> None:
        late = T0 + timedelta(days=1)
        result = redeem(self.everything_wrong(), kind=ChallengeKind.PASSKEY_REGISTRATION, now=late, **self.BAD_BINDINGS)
        assert refusal(result) is ChallengeRefusal.USED

    def test_expired_before_account(self) -> None:
        c = replace(self.everything_wrong(), consumed_at=None)
        late = T0 + timedelta(days=1)
        result = redeem(c, kind=ChallengeKind.PASSKEY_REGISTRATION, now=late, **self.BAD_BINDINGS)
        assert refusal(result) is ChallengeRefusal.EXPIRED

    def test_account_before_session(self) -> None:
        c = replace(self.everything_wrong(), consumed_at=None)
        result = redeem(c, kind=ChallengeKind.PASSKEY_REGISTRATION, now=T0, **self.BAD_BINDINGS)
        assert refusal(result) is ChallengeRefusal.WRONG_ACCOUNT

    def test_session_before_browser(self) -> None:
        c = replace(self.everything_wrong(), consumed_at=None)
        bindings = {**self.BAD_BINDINGS, "account_id": ACCOUNT}
        result = redeem(c, kind=ChallengeKind.PASSKEY_REGISTRATION, now=T0, **bindings)  # type: ignore[arg-type]
        assert refusal(result) is ChallengeRefusal.WRONG_SESSION

    def test_browser_last(self) -> None:
        c = replace(self.everything_wrong(), consumed_at=None)
        bindings = {**self.BAD_BINDINGS, "account_id": ACCOUNT, "session_id": SESSION}
        result = redeem(c, kind=ChallengeKind.PASSKEY_REGISTRATION, now=T0, **bindings)  # type: ignore[arg-type]
        assert refusal(result) is ChallengeRefusal.WRONG_BROWSER

    def test_consumed_even_before_it_was_issued_is_used(self) -> None:
        # A consumed challenge is refused whatever the clock says: no "consumed in the future" loophole.
        c = challenge(consumed_at=T0 + timedelta(minutes=4))
        result = redeem(c, kind=ChallengeKind.PASSKEY_STEP_UP, now=T0, account_id=ACCOUNT, session_id=SESSION)
        assert refusal(result) is ChallengeRefusal.USED


class TestNaiveInstants:
    def test_naive_now_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            redeem(
                challenge(),
                kind=ChallengeKind.PASSKEY_STEP_UP,
                now=datetime(2026, 11, 25, 8, 1),
                account_id=ACCOUNT,
                session_id=SESSION,
            )

    def test_naive_stored_expiry_refused(self) -> None:
        c = replace(challenge(), expires_at=datetime(2026, 11, 25, 8, 5))
        with pytest.raises(NaiveDatetime):
            redeem(c, kind=ChallengeKind.PASSKEY_STEP_UP, now=T0, account_id=ACCOUNT, session_id=SESSION)


# --- the property: a matching answer is accepted, and any single mismatch is refused for its own reason ---------

uuids = st.uuids(version=4)
optional_uuids = st.none() | uuids
digests = st.text(alphabet="0123456789abcdef", min_size=1, max_size=64)
optional_digests = st.none() | digests
MUTATIONS = ("kind", "used", "expired", "account", "session", "browser")


@st.composite
def valid_redemptions(draw: st.DrawFn) -> tuple[Challenge, dict[str, object]]:
    kind = draw(st.sampled_from(ChallengeKind))
    issued = T0 + timedelta(seconds=draw(st.integers(min_value=-(10**8), max_value=10**8)))
    lifetime = timedelta(microseconds=draw(st.integers(min_value=1, max_value=3600 * 10**6)))
    c = Challenge(
        id=draw(uuids),
        kind=kind,
        issued_at=issued,
        expires_at=issued + lifetime,
        account_id=draw(optional_uuids),
        session_id=draw(optional_uuids),
        binding_digest=draw(optional_digests),
    )
    # Any instant from (well before) issue up to the last microsecond before expiry.
    now = issued + lifetime - timedelta(microseconds=draw(st.integers(min_value=1, max_value=2 * 3600 * 10**6)))
    answer = {
        "kind": kind,
        "now": now,
        "account_id": c.account_id,
        "session_id": c.session_id,
        "binding_digest": c.binding_digest,
    }
    return c, answer


def different(draw: st.DrawFn, current: object, values: st.SearchStrategy[object]) -> object:
    """Another binding: a value when `current` is None; None or a different value when it is set."""
    if current is None:
        return draw(values)
    return draw(st.none() | values.filter(lambda v: v != current))


class TestRedeemProperty:
    @given(valid_redemptions())
    def test_exact_match_accepted(self, case: tuple[Challenge, dict[str, object]]) -> None:
        c, answer = case
        assert redeem(c, **answer) == Redemption(ok=True)  # type: ignore[arg-type]

    @pytest.mark.parametrize("mutation", MUTATIONS)
    @given(case=valid_redemptions(), data=st.data())
    def test_any_single_mismatch_refused_for_its_reason(
        self, case: tuple[Challenge, dict[str, object]], mutation: str, data: st.DataObject
    ) -> None:
        c, answer = case
        draw = data.draw
        expected: ChallengeRefusal
        if mutation == "kind":
            answer["kind"] = draw(st.sampled_from([k for k in ChallengeKind if k != c.kind]))
            expected = ChallengeRefusal.WRONG_KIND
        elif mutation == "used":
            c = replace(c, consumed_at=c.issued_at + timedelta(seconds=draw(st.integers(0, 600))))
            expected = ChallengeRefusal.USED
        elif mutation == "expired":
            late = timedelta(microseconds=draw(st.integers(min_value=0, max_value=10**12)))
            answer["now"] = c.expires_at + late
            expected = ChallengeRefusal.EXPIRED
        elif mutation == "account":
            answer["account_id"] = different(draw, c.account_id, uuids)
            expected = ChallengeRefusal.WRONG_ACCOUNT
        elif mutation == "session":
            answer["session_id"] = different(draw, c.session_id, uuids)
            expected = ChallengeRefusal.WRONG_SESSION
        else:
            answer["binding_digest"] = different(draw, c.binding_digest, digests)
            expected = ChallengeRefusal.WRONG_BROWSER
        result = redeem(c, **answer)  # type: ignore[arg-type]
        assert not result.ok
        assert result.reason is expected
