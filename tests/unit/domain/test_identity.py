"""Identity fingerprint: normalisation makes trivial variants match; the key makes it unguessable."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidIdentity
from domain.identity import fingerprint, normalise_id_number, normalise_name

KEY = b"k" * 32
OTHER_KEY = b"j" * 32
DOB = date(1990, 4, 2)


def fp(name: str = "José O'Brien", dob: date = DOB, id_number: str = "123-45-6789", key: bytes = KEY) -> str:
    return fingerprint(key=key, legal_name=name, date_of_birth=dob, id_number=id_number)


class TestNormalisation:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("José O'Brien", "jose obrien"),
            ("  JOSE   OBRIEN ", "jose obrien"),
            ("Jean-Luc Picard", "jeanluc picard"),
            ("Straße", "strasse"),
            ("Zoë\tÅngström", "zoe angstrom"),
            ("Ｊｏｈｎ", "john"),  # full-width letters fold via NFKD
            ("Dr. Ann-Marie, Jr.", "dr annmarie jr"),
        ],
    )
    def test_name(self, raw: str, expected: str) -> None:
        assert normalise_name(raw) == expected

    def test_id_digits_only(self) -> None:
        assert normalise_id_number("123-45-6789") == "123456789"
        assert normalise_id_number(" A12 34 ") == "1234"
        assert normalise_id_number("１２３") == "123"  # full-width digits
        assert normalise_id_number("٣") == ""  # non-ASCII digits are not ID digits


class TestFingerprint:
    def test_variants_match(self) -> None:
        assert fp() == fp(name="jose  obrien", id_number="123 45 6789")
        assert fp() == fp(name="JOSÉ O’BRIEN", id_number="123456789")

    def test_differences_do_not_match(self) -> None:
        base = fp()
        assert base != fp(name="José O'Brian")
        assert base != fp(dob=date(1990, 4, 3))
        assert base != fp(id_number="123-45-6780")
        assert base != fp(key=OTHER_KEY)

    def test_shape(self) -> None:
        digest = fp()
        assert len(digest) == 64
        assert all(c in "0123456789abcdef" for c in digest)

    @given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=20).filter(str.strip))
    def test_ascii_case_and_spacing_blind(self, name: str) -> None:
        assert fp(name=name) == fp(name=f"  {name.upper()}  ") == fp(name=name.replace(" ", "   "))

    def test_fields_cannot_run_together(self) -> None:
        # moving a digit between fields must change the digest
        assert fp(name="ann 1", id_number="23") != fp(name="ann", id_number="123")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"key": b"short"},
            {"name": "  '-. "},
            {"id_number": "ABC"},
        ],
    )
    def test_refusals(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(InvalidIdentity):
            fp(**kwargs)  # type: ignore[arg-type]

    def test_key_must_be_bytes_and_dob_a_date(self) -> None:
        with pytest.raises(InvalidIdentity):
            fingerprint(key="k" * 32, legal_name="a", date_of_birth=DOB, id_number="1")  # type: ignore[arg-type]
        with pytest.raises(InvalidIdentity):
            fingerprint(key=KEY, legal_name="a", date_of_birth=datetime(1990, 1, 1, tzinfo=UTC), id_number="1")

    @given(
        name=st.text(alphabet=st.characters(categories=["Lu", "Ll", "Zs", "Po", "Pd"]), min_size=1, max_size=30),
        digits=st.text(alphabet="0123456789- ", min_size=1, max_size=15),
    )
    def test_normalisation_is_idempotent_and_case_blind(self, name: str, digits: str) -> None:
        normal = normalise_name(name)
        assert normalise_name(normal) == normal
        assert normalise_name(name.casefold()) == normal
        if normal and normalise_id_number(digits):
            assert fp(name=name, id_number=digits) == fp(name=normal, id_number=normalise_id_number(digits))
