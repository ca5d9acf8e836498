"""Passkey rules of our own: the signature counter (WebAuthn §6.1.1) and member-chosen names."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.passkeys import MAX_PASSKEYS_PER_ACCOUNT, PASSKEY_NAME_MAX, passkey_name, sign_count_acceptable

pytestmark = pytest.mark.unit

UINT32 = 2**32 - 1
counts = st.integers(min_value=0, max_value=UINT32)
DEFAULT = "Passkey"


class TestSignCount:
    @pytest.mark.parametrize(
        ("stored", "reported", "acceptable"),
        [
            (0, 0, True),  # a synced passkey that never counts
            (0, 1, True),
            (0, UINT32, True),
            (1, 0, False),  # a counting authenticator suddenly reporting 0: clone or reset
            (5, 0, False),
            (5, 4, False),
            (5, 5, False),  # replay
            (5, 6, True),
            (5, 500, True),
            (UINT32 - 1, UINT32, True),
            (UINT32, UINT32, False),
        ],
    )
    def test_examples(self, stored: int, reported: int, acceptable: bool) -> None:
        assert sign_count_acceptable(stored, reported) is acceptable

    @given(stored=counts, reported=counts)
    def test_forward_only_except_the_synced_zero(self, stored: int, reported: int) -> None:
        if stored == 0:
            assert sign_count_acceptable(stored, reported)  # nothing stored yet: any first count will do
        elif reported <= stored:
            assert not sign_count_acceptable(stored, reported)
        else:
            assert sign_count_acceptable(stored, reported)

    @given(stored=counts.filter(bool))
    def test_a_counted_value_never_accepted_twice(self, stored: int) -> None:
        assert not sign_count_acceptable(stored, stored)

    @given(steps=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=30), data=st.data())
    def test_genuine_counter_accepted_and_clone_refused(self, steps: list[int], data: st.DataObject) -> None:
        stored, seen = 0, [0]
        for step in steps:  # a real authenticator: strictly increasing
            reported = stored + step
            assert sign_count_acceptable(stored, reported)
            stored = reported
            seen.append(stored)
        # A clone replaying any value seen so far (including 0) is refused once the counter has moved.
        assert not sign_count_acceptable(stored, data.draw(st.sampled_from(seen)))

    @given(st.integers(min_value=1, max_value=100))
    def test_synced_passkey_reporting_zero_forever(self, uses: int) -> None:
        assert all(sign_count_acceptable(0, 0) for _ in range(uses))


class TestPasskeyName:
    def test_limits(self) -> None:
        assert (PASSKEY_NAME_MAX, MAX_PASSKEYS_PER_ACCOUNT) == (64, 10)

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("YubiKey 5C", "YubiKey 5C"),
            ("  My laptop  ", "My laptop"),
            ("\tPhone\n", "Phone"),
            ("ab\x00cd", "abcd"),
            ("line\nbreak", "linebreak"),
            ("tab\there", "tabhere"),
            ("\u202eevil.exe", "evil.exe"),  # RIGHT-TO-LEFT OVERRIDE (Cf)
            ("zero\u200bwidth", "zerowidth"),  # ZERO WIDTH SPACE (Cf)
            ("bell\x07\x1b[31m", "bell[31m"),
            ("\x00  padded after control", "padded after control"),
            ("delete\x7f", "delete"),
            ("Clé de Zoë 🔑", "Clé de Zoë 🔑"),
            ("鍵", "鍵"),
            ("x" * 64, "x" * 64),
            ("x" * 65, "x" * 64),
            ("é" * 200, "é" * 64),
            ("   " + "y" * 70, "y" * 64),  # trimmed before the cap, so the cap keeps 64 letters
            ("\x00" * 10 + "z" * 64, "z" * 64),  # control characters do not count towards the cap
            ("a" * 63 + " b", "a" * 63),  # the cap cannot leave a trailing space
        ],
    )
    def test_examples(self, raw: str, expected: str) -> None:
        assert passkey_name(raw, default=DEFAULT) == expected

    @pytest.mark.parametrize("raw", [None, "", " ", "   \t\n ", "\x00", "\u202e\u200b", " \u200b \x00 ", "\u3000"])
    def test_default_when_nothing_is_left(self, raw: str | None) -> None:
        assert passkey_name(raw, default=DEFAULT) == DEFAULT
        assert passkey_name(raw, default="Passkey 3") == "Passkey 3"

    @given(raw=st.none() | st.text(max_size=200))
    def test_result_is_short_clean_and_never_empty(self, raw: str | None) -> None:
        name = passkey_name(raw, default=DEFAULT)
        assert name
        assert len(name) <= 64
        assert not any(unicodedata.category(ch).startswith("C") for ch in name)
        if name != DEFAULT:
            assert not name[0].isspace()
            assert not name[-1].isspace()

    @given(st.text(max_size=200))
    def test_result_keeps_the_input_order(self, raw: str) -> None:
        # The name is the input with characters dropped (controls, outer whitespace) and the tail cut: a
        # subsequence of the input, never a character the member did not type.
        name = passkey_name(raw, default="\x00")  # an impossible name, so the default is recognisable
        if name == "\x00":
            return
        rest = iter(raw)
        assert all(ch in rest for ch in name)

    @given(
        st.text(
            alphabet=st.characters(categories=["L", "N", "P", "S"]),
            min_size=1,
            max_size=200,
        )
    )
    def test_clean_input_only_capped(self, raw: str) -> None:
        # Letters, digits, punctuation and symbols only: nothing to remove, nothing to trim.
        name = passkey_name(raw, default=DEFAULT)
        assert name == (raw if len(raw) <= 64 else raw[:64])
        assert len(name) == min(len(raw), 64)
