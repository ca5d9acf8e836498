"""OpenID sign-in: PKCE S256 (RFC 7636 Appendix B), verifier syntax, and ID token claim checks (OIDC Core 3.1.3.7)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import NaiveDatetime
from domain.oidc import (
    CLOCK_LEEWAY,
    MAX_TOKEN_AGE,
    SUBJECT_MAX,
    ClaimProblem,
    ClaimsCheck,
    VerifiedIdentity,
    check_id_token_claims,
    pkce_challenge,
    pkce_verifier_valid,
)

pytestmark = pytest.mark.unit

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class TestPkce:
    # RFC 7636 Appendix B: the 32 random octets, the verifier they encode, SHA-256 of it, and the challenge.
    RFC_OCTETS = bytes(
        [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
         22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121]
    )  # fmt: skip
    RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    RFC_DIGEST = bytes(
        [19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8,
         118, 168, 120, 173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195]
    )  # fmt: skip
    RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

    def test_rfc7636_appendix_b(self) -> None:
        assert base64.urlsafe_b64encode(self.RFC_OCTETS).rstrip(b"=").decode() == self.RFC_VERIFIER
        assert pkce_verifier_valid(self.RFC_VERIFIER)
        assert pkce_challenge(self.RFC_VERIFIER) == self.RFC_CHALLENGE
        assert base64.urlsafe_b64decode(self.RFC_CHALLENGE + "=") == self.RFC_DIGEST

    def test_second_vector(self) -> None:
        # Computed independently: printf %s aaa…a (43) | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d =
        assert pkce_challenge("a" * 43) == "ZtNPunH49FD35FWYhT5Tv8I7vRKQJ8uxMaL0_9eHjNA"

    @given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
    def test_challenge_is_unpadded_base64url_of_32_octets(self, verifier: str) -> None:
        challenge = pkce_challenge(verifier)
        assert len(challenge) == 43
        assert set(challenge) <= set(BASE64URL)
        assert len(base64.urlsafe_b64decode(challenge + "=")) == 32

    @given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128), st.text(alphabet=UNRESERVED, min_size=1))
    def test_distinct_verifiers_distinct_challenges(self, verifier: str, suffix: str) -> None:
        other = (verifier + suffix)[:128] if len(verifier) < 128 else verifier[:-1]
        assert other != verifier
        assert pkce_challenge(verifier) != pkce_challenge(other)

    @pytest.mark.parametrize(("length", "valid"), [(0, False), (42, False), (43, True), (128, True), (129, False)])
    def test_length_bounds(self, length: int, valid: bool) -> None:
        assert pkce_verifier_valid("A" * length) is valid

    @pytest.mark.parametrize("char", ["-", ".", "_", "~", "0", "9", "a", "z", "A", "Z"])
    def test_unreserved_characters_allowed(self, char: str) -> None:
        assert pkce_verifier_valid(char * 43)

    @pytest.mark.parametrize("char", ["+", "/", "=", " ", "%", "!", "é", "\x00", "\n", "Ａ", "٣"])
    def test_other_characters_refused(self, char: str) -> None:
        assert not pkce_verifier_valid("A" * 42 + char)
        assert not pkce_verifier_valid(char + "A" * 50)

    @given(
        body=st.text(alphabet=UNRESERVED, min_size=43, max_size=127),
        bad=st.characters().filter(lambda c: c not in UNRESERVED),
        at=st.integers(min_value=0, max_value=127),
    )
    def test_one_foreign_character_spoils_a_verifier(self, body: str, bad: str, at: int) -> None:
        assert pkce_verifier_valid(body)
        spoiled = body[:at] + bad + body[at:]
        assert not pkce_verifier_valid(spoiled)


# --- ID token claims --------------------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
NOW_TS = 1_795_593_600  # 2026-11-25T08:00:00Z
CANONICAL = "https://accounts.google.com"
ISSUERS = frozenset({CANONICAL, "accounts.google.com"})
CLIENT = "1234-tenure.apps.googleusercontent.com"
NONCE = "n-0S6_WzA2Mj"
SUBJECT = "110169484474386276334"
US = timedelta(microseconds=1)


def valid_claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": CANONICAL,
        "aud": CLIENT,
        "exp": NOW_TS + 3600,
        "iat": NOW_TS - 5,
        "nonce": NONCE,
        "sub": SUBJECT,
        "email": "Alice@Example.com",
        "email_verified": True,
    }
    claims.update(overrides)
    return claims


def without(*keys: str, **overrides: object) -> dict[str, object]:
    claims = valid_claims(**overrides)
    for key in keys:
        del claims[key]
    return claims


def check(claims: dict[str, object], *, now: datetime = NOW, nonce: str = NONCE) -> ClaimsCheck:
    return check_id_token_claims(
        claims, issuers=ISSUERS, canonical_issuer=CANONICAL, client_id=CLIENT, nonce=nonce, now=now
    )


def problems(claims: dict[str, object], *, now: datetime = NOW, nonce: str = NONCE) -> tuple[ClaimProblem, ...]:
    result = check(claims, now=now, nonce=nonce)
    assert result.ok is (not result.problems)
    assert (result.identity is None) is bool(result.problems)
    return result.problems


class TestClaimsAccepted:
    def test_constants(self) -> None:
        assert timedelta(seconds=60) == CLOCK_LEEWAY
        assert timedelta(minutes=10) == MAX_TOKEN_AGE
        assert SUBJECT_MAX == 255
        assert EPOCH + timedelta(seconds=NOW_TS) == NOW

    def test_valid_claims_yield_the_identity(self) -> None:
        result = check(valid_claims())
        assert result.ok
        assert result.problems == ()
        assert result.identity == VerifiedIdentity(
            issuer=CANONICAL, subject=SUBJECT, email="alice@example.com", email_verified=True
        )

    def test_identity_keyed_by_canonical_issuer_whatever_the_spelling(self) -> None:
        result = check(valid_claims(iss="accounts.google.com"))
        assert result.identity is not None
        assert result.identity.issuer == CANONICAL

    def test_subject_kept_verbatim(self) -> None:
        for sub in ("AbC", " padded ", "x" * SUBJECT_MAX, "1"):
            result = check(valid_claims(sub=sub))
            assert result.identity is not None
            assert result.identity.subject == sub

    @pytest.mark.parametrize(
        ("email", "expected"),
        [
            ("Alice@Example.com", "alice@example.com"),
            ("  BOB@EXAMPLE.ORG\t", "bob@example.org"),
            ("carol@example.net", "carol@example.net"),
            ("", None),
            ("   ", None),
            (42, None),
            (None, None),
            (["alice@example.com"], None),
        ],
    )
    def test_email_normalised_or_absent(self, email: object, expected: str | None) -> None:
        result = check(valid_claims(email=email))
        assert result.identity is not None
        assert result.identity.email == expected

    def test_missing_email(self) -> None:
        result = check(without("email", "email_verified"))
        assert result.identity == VerifiedIdentity(issuer=CANONICAL, subject=SUBJECT, email=None, email_verified=False)

    @pytest.mark.parametrize(("flag", "expected"), [(True, True), (False, False), ("true", False), (1, False),
                                                     ("True", False), (None, False), ([True], False)])  # fmt: skip
    def test_email_verified_only_when_exactly_true(self, flag: object, expected: bool) -> None:
        result = check(valid_claims(email_verified=flag))
        assert result.identity is not None
        assert result.identity.email_verified is expected

    @pytest.mark.parametrize(
        "audience",
        [
            {"aud": CLIENT},
            {"aud": [CLIENT]},
            {"aud": CLIENT, "azp": CLIENT},
            {"aud": [CLIENT, "other-client"], "azp": CLIENT},
            {"aud": ["other-client", CLIENT, "third"], "azp": CLIENT},
        ],
    )
    def test_audience_forms_accepted(self, audience: dict[str, object]) -> None:
        assert problems(valid_claims(**audience)) == ()

    def test_float_instants_accepted(self) -> None:
        assert problems(valid_claims(exp=NOW_TS + 0.5, iat=NOW_TS - 0.5)) == ()

    def test_offset_now_is_the_same_instant(self) -> None:
        ten_am_plus_two = datetime(2026, 11, 25, 10, 0, tzinfo=timezone(timedelta(hours=2)))
        assert problems(valid_claims(), now=ten_am_plus_two) == ()

    def test_naive_now_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            check(valid_claims(), now=datetime(2026, 11, 25, 8, 0))


class TestLeewayBoundaries:
    def test_expiry_leeway_is_exclusive(self) -> None:
        claims = valid_claims(exp=NOW_TS, iat=NOW_TS - 5)
        assert problems(claims, now=NOW) == ()
        assert problems(claims, now=NOW + timedelta(seconds=60) - US) == ()
        assert problems(claims, now=NOW + timedelta(seconds=60)) == (ClaimProblem.EXPIRED,)

    def test_issued_in_future_leeway_is_inclusive(self) -> None:
        claims = valid_claims(iat=NOW_TS + 60)
        assert problems(claims, now=NOW) == ()
        assert problems(claims, now=NOW - US) == (ClaimProblem.ISSUED_IN_FUTURE,)
        assert problems(valid_claims(iat=NOW_TS + 61)) == (ClaimProblem.ISSUED_IN_FUTURE,)

    def test_token_age_limit_is_inclusive(self) -> None:
        claims = valid_claims(iat=NOW_TS - 600)
        assert problems(claims, now=NOW) == ()
        assert problems(claims, now=NOW + US) == (ClaimProblem.TOO_OLD,)
        assert problems(valid_claims(iat=NOW_TS - 601)) == (ClaimProblem.TOO_OLD,)

    def test_old_token_refused_however_long_its_expiry(self) -> None:
        assert problems(valid_claims(iat=NOW_TS - 3600, exp=NOW_TS + 86_400)) == (ClaimProblem.TOO_OLD,)

    @pytest.mark.parametrize("issuer", [[CANONICAL], {"iss": CANONICAL}, 7, None])
    def test_an_issuer_that_is_not_a_string_is_wrong_not_a_crash(self, issuer: object) -> None:
        assert problems(valid_claims(iss=issuer)) == (ClaimProblem.WRONG_ISSUER,)

    def test_an_expiry_at_the_end_of_the_calendar_is_no_crash(self) -> None:
        assert problems(valid_claims(exp=253_402_300_799)) == ()  # 9999-12-31T23:59:59Z

    @pytest.mark.parametrize("audience", [[CLIENT, 5], [CLIENT, None], [], {"aud": CLIENT}])
    def test_a_malformed_audience_is_wrong(self, audience: object) -> None:
        assert ClaimProblem.WRONG_AUDIENCE in problems(valid_claims(aud=audience, azp=CLIENT))

    def test_subject_length_limit(self) -> None:
        assert problems(valid_claims(sub="s" * 255)) == ()
        assert problems(valid_claims(sub="s" * 256)) == (ClaimProblem.NO_SUBJECT,)


class TestSingleCorruption:
    @pytest.mark.parametrize(
        ("claims", "expected"),
        [
            # issuer
            (valid_claims(iss="https://evil.example"), ClaimProblem.WRONG_ISSUER),
            (valid_claims(iss="https://accounts.google.com/"), ClaimProblem.WRONG_ISSUER),
            (valid_claims(iss="HTTPS://ACCOUNTS.GOOGLE.COM"), ClaimProblem.WRONG_ISSUER),
            (valid_claims(iss=None), ClaimProblem.WRONG_ISSUER),
            (valid_claims(iss=42), ClaimProblem.WRONG_ISSUER),
            (without("iss"), ClaimProblem.WRONG_ISSUER),
            # audience
            (valid_claims(aud="other-client"), ClaimProblem.WRONG_AUDIENCE),
            (valid_claims(aud=["other-client"]), ClaimProblem.WRONG_AUDIENCE),
            (valid_claims(aud=[]), ClaimProblem.WRONG_AUDIENCE),
            (valid_claims(aud=CLIENT.upper()), ClaimProblem.WRONG_AUDIENCE),
            (valid_claims(aud=None), ClaimProblem.WRONG_AUDIENCE),
            (valid_claims(aud={CLIENT: True}), ClaimProblem.WRONG_AUDIENCE),
            (valid_claims(aud=(CLIENT,)), ClaimProblem.WRONG_AUDIENCE),
            (without("aud"), ClaimProblem.WRONG_AUDIENCE),
            (valid_claims(aud=["other-client", "third"], azp=CLIENT), ClaimProblem.WRONG_AUDIENCE),
            # authorized party
            (valid_claims(aud=[CLIENT, "other-client"]), ClaimProblem.WRONG_AUTHORIZED_PARTY),
            (valid_claims(aud=[CLIENT, "other-client"], azp="other-client"), ClaimProblem.WRONG_AUTHORIZED_PARTY),
            (valid_claims(aud=[CLIENT, "other-client"], azp=None), ClaimProblem.WRONG_AUTHORIZED_PARTY),
            (valid_claims(aud=CLIENT, azp="other-client"), ClaimProblem.WRONG_AUTHORIZED_PARTY),
            (valid_claims(aud=[CLIENT], azp=""), ClaimProblem.WRONG_AUTHORIZED_PARTY),
            # expiry
            (valid_claims(exp=NOW_TS - 60), ClaimProblem.EXPIRED),
            (valid_claims(exp=NOW_TS - 61), ClaimProblem.EXPIRED),
            (valid_claims(exp=0), ClaimProblem.EXPIRED),
            (without("exp"), ClaimProblem.EXPIRED),
            (valid_claims(exp=None), ClaimProblem.EXPIRED),
            (valid_claims(exp=True), ClaimProblem.EXPIRED),
            (valid_claims(exp=str(NOW_TS + 3600)), ClaimProblem.EXPIRED),
            (valid_claims(exp=[NOW_TS + 3600]), ClaimProblem.EXPIRED),
            (valid_claims(exp=float("nan")), ClaimProblem.EXPIRED),
            (valid_claims(exp=float("inf")), ClaimProblem.EXPIRED),
            (valid_claims(exp=10**20), ClaimProblem.EXPIRED),
            # issued at: in the future, or not an instant at all
            (valid_claims(iat=NOW_TS + 61), ClaimProblem.ISSUED_IN_FUTURE),
            (without("iat"), ClaimProblem.ISSUED_IN_FUTURE),
            (valid_claims(iat=str(NOW_TS)), ClaimProblem.ISSUED_IN_FUTURE),
            (valid_claims(iat=False), ClaimProblem.ISSUED_IN_FUTURE),
            (valid_claims(iat=True), ClaimProblem.ISSUED_IN_FUTURE),
            (valid_claims(iat=-(10**20)), ClaimProblem.ISSUED_IN_FUTURE),
            # issued long ago
            (valid_claims(iat=NOW_TS - 601), ClaimProblem.TOO_OLD),
            (valid_claims(iat=0), ClaimProblem.TOO_OLD),
            # nonce
            (valid_claims(nonce="another-sign-in"), ClaimProblem.WRONG_NONCE),
            (valid_claims(nonce=NONCE + " "), ClaimProblem.WRONG_NONCE),
            (valid_claims(nonce=""), ClaimProblem.WRONG_NONCE),
            (valid_claims(nonce=None), ClaimProblem.WRONG_NONCE),
            (valid_claims(nonce=[NONCE]), ClaimProblem.WRONG_NONCE),
            (without("nonce"), ClaimProblem.WRONG_NONCE),
            # subject
            (without("sub"), ClaimProblem.NO_SUBJECT),
            (valid_claims(sub=""), ClaimProblem.NO_SUBJECT),
            (valid_claims(sub=None), ClaimProblem.NO_SUBJECT),
            (valid_claims(sub=110169484474386276334), ClaimProblem.NO_SUBJECT),
            (valid_claims(sub=[SUBJECT]), ClaimProblem.NO_SUBJECT),
            (valid_claims(sub="s" * 256), ClaimProblem.NO_SUBJECT),
        ],
    )
    def test_exactly_the_expected_problem(self, claims: dict[str, object], expected: ClaimProblem) -> None:
        result = check(claims)
        assert result.problems == (expected,)
        assert not result.ok
        assert result.identity is None

    @pytest.mark.parametrize("claimed", ["", NONCE, None])
    def test_empty_expected_nonce_matches_nothing(self, claimed: object) -> None:
        assert problems(valid_claims(nonce=claimed), nonce="") == (ClaimProblem.WRONG_NONCE,)

    def test_every_problem_reported_in_order(self) -> None:
        assert problems({}) == (
            ClaimProblem.WRONG_ISSUER,
            ClaimProblem.WRONG_AUDIENCE,
            ClaimProblem.EXPIRED,
            ClaimProblem.ISSUED_IN_FUTURE,
            ClaimProblem.WRONG_NONCE,
            ClaimProblem.NO_SUBJECT,
        )
        worst = {
            "iss": "x",
            "aud": ["a", "b"],
            "exp": NOW_TS - 3600,
            "iat": NOW_TS - 7200,
            "nonce": "x",
            "sub": "",
        }
        assert problems(worst) == (
            ClaimProblem.WRONG_ISSUER,
            ClaimProblem.WRONG_AUDIENCE,
            ClaimProblem.WRONG_AUTHORIZED_PARTY,
            ClaimProblem.EXPIRED,
            ClaimProblem.TOO_OLD,
            ClaimProblem.WRONG_NONCE,
            ClaimProblem.NO_SUBJECT,
        )


# --- the property: random valid claims pass; any one corruption is detected, alone -------------------------------

names = st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=40)
CORRUPTIONS = ("issuer", "audience", "authorized_party", "expired", "future", "too_old", "nonce", "subject")


@st.composite
def sign_ins(draw: st.DrawFn) -> dict[str, object]:
    """A sign-in's parameters and claims that satisfy every rule."""
    issuers = draw(st.frozensets(names, min_size=1, max_size=3))
    client = draw(names)
    now_ts = draw(st.integers(min_value=1_500_000_000, max_value=4_000_000_000))
    now = EPOCH + timedelta(seconds=now_ts, microseconds=draw(st.integers(min_value=0, max_value=999_999)))
    claims: dict[str, object] = {
        "iss": draw(st.sampled_from(sorted(issuers))),
        # now < exp + 60 s, with whole-second claims and now up to a second past now_ts: exp ≥ now_ts - 59.
        "exp": now_ts + draw(st.integers(min_value=-59, max_value=86_400)),
        # now - 600 s ≤ iat ≤ now + 60 s: iat in [now_ts - 599, now_ts + 60].
        "iat": now_ts + draw(st.integers(min_value=-599, max_value=60)),
        "sub": draw(st.text(min_size=1, max_size=SUBJECT_MAX)),
    }
    nonce = draw(st.text(min_size=1, max_size=64))
    claims["nonce"] = nonce
    others = st.lists(names.filter(lambda n: n != client), min_size=1, max_size=3)
    shape = draw(st.sampled_from(["single", "single_with_azp", "list_of_one", "several_with_azp"]))
    if shape == "single":
        claims["aud"] = client
    elif shape == "single_with_azp":
        claims["aud"], claims["azp"] = client, client
    elif shape == "list_of_one":
        claims["aud"] = [client]
    else:
        audience = [client, *draw(others)]
        claims["aud"], claims["azp"] = draw(st.permutations(audience)), client
    return {
        "claims": claims,
        "issuers": issuers,
        "canonical_issuer": draw(st.sampled_from(sorted(issuers))),
        "client_id": client,
        "nonce": nonce,
        "now": now,
        "now_ts": now_ts,
        "others": others,
    }


def run(sign_in: dict[str, object]) -> ClaimsCheck:
    keys = ("issuers", "canonical_issuer", "client_id", "nonce", "now")
    return check_id_token_claims(sign_in["claims"], **{k: sign_in[k] for k in keys})  # type: ignore[arg-type]


def corrupt(sign_in: dict[str, object], corruption: str, draw: Callable[..., object]) -> ClaimProblem:
    """Break exactly one rule; return the problem that must be reported."""
    claims: dict[str, object] = sign_in["claims"]  # type: ignore[assignment]
    client, now_ts = sign_in["client_id"], sign_in["now_ts"]
    assert isinstance(now_ts, int)
    others: st.SearchStrategy[list[str]] = sign_in["others"]  # type: ignore[assignment]
    if corruption == "issuer":
        issuers: frozenset[str] = sign_in["issuers"]  # type: ignore[assignment]
        claims["iss"] = draw(st.none() | st.integers() | st.text().filter(lambda s: s not in issuers))
        return ClaimProblem.WRONG_ISSUER
    if corruption == "audience":
        claims["aud"] = draw(st.one_of(others, others.map(lambda o: o[0]), st.none(), st.integers()))
        claims["azp"] = client  # several audiences, none of them us: only the audience is wrong
        return ClaimProblem.WRONG_AUDIENCE
    if corruption == "authorized_party":
        claims["aud"] = [client, *draw(others)]
        azp = draw(st.one_of(st.just("<absent>"), st.none(), names.filter(lambda n: n != client)))
        if azp == "<absent>":
            claims.pop("azp", None)
        else:
            claims["azp"] = azp
        return ClaimProblem.WRONG_AUTHORIZED_PARTY
    if corruption == "expired":
        claims["exp"] = draw(
            st.one_of(
                st.integers(min_value=0, max_value=now_ts - 60),
                st.just(str(claims["exp"])),
                st.booleans(),
                st.none(),
            )
        )
        return ClaimProblem.EXPIRED
    if corruption == "future":
        claims["iat"] = draw(
            st.one_of(
                st.integers(min_value=now_ts + 61, max_value=now_ts + 10**7),
                st.just(str(claims["iat"])),
                st.booleans(),  # 0 or 1 as numbers, which would be "too old": a boolean is no instant at all
                st.none(),
            )
        )
        return ClaimProblem.ISSUED_IN_FUTURE
    if corruption == "too_old":
        claims["iat"] = draw(st.integers(min_value=now_ts - 10**7, max_value=now_ts - 601))
        return ClaimProblem.TOO_OLD
    if corruption == "nonce":
        nonce = sign_in["nonce"]
        claims["nonce"] = draw(st.one_of(st.text().filter(lambda s: s != nonce), st.none(), st.integers()))
        return ClaimProblem.WRONG_NONCE
    claims["sub"] = draw(
        st.one_of(st.just(""), st.none(), st.integers(), st.text(min_size=SUBJECT_MAX + 1, max_size=SUBJECT_MAX + 50))
    )
    return ClaimProblem.NO_SUBJECT


class TestClaimsProperty:
    @given(sign_ins())
    def test_valid_claims_accepted(self, sign_in: dict[str, object]) -> None:
        result = run(sign_in)
        claims: dict[str, object] = sign_in["claims"]  # type: ignore[assignment]
        assert result.problems == ()
        assert result.identity is not None
        assert result.identity.issuer == sign_in["canonical_issuer"]
        assert result.identity.subject == claims["sub"]
        assert result.identity.email is None
        assert result.identity.email_verified is False

    @pytest.mark.parametrize("corruption", CORRUPTIONS)
    @given(sign_in=sign_ins(), data=st.data())
    def test_any_one_corruption_detected_alone(
        self, sign_in: dict[str, object], corruption: str, data: st.DataObject
    ) -> None:
        expected = corrupt(sign_in, corruption, data.draw)
        result = run(sign_in)
        assert result.problems == (expected,)
        assert result.identity is None
        assert not result.ok
