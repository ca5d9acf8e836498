"""Nobody locks themselves out, and staff keep a second factor, when a sign-in method is removed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.passkeys import MAX_PASSKEYS_PER_ACCOUNT
from domain.sessions import Role
from domain.sign_in_methods import Method, RemovalRefusal, SignInMethods, removal_refusal

pytestmark = pytest.mark.unit

LAST = RemovalRefusal.LAST_SIGN_IN_METHOD
STAFF = RemovalRefusal.STAFF_SECOND_FACTOR


def methods(*, password: bool = False, passkeys: int = 0, identities: int = 0, totp: bool = False) -> SignInMethods:
    return SignInMethods(password=password, passkeys=passkeys, identities=identities, totp=totp)


class TestCounts:
    def test_ways_in_count_everything_that_starts_a_session(self) -> None:
        assert methods().ways_in == 0
        assert methods(password=True).ways_in == 1
        assert methods(password=True, passkeys=2, identities=3).ways_in == 6
        assert methods(totp=True).ways_in == 0  # TOTP only completes a sign-in

    def test_second_factors_are_totp_and_passkeys(self) -> None:
        assert methods(password=True, identities=2).second_factors == 0
        assert methods(totp=True).second_factors == 1
        assert methods(totp=True, passkeys=2).second_factors == 3

    def test_wire_values(self) -> None:
        assert [m.value for m in Method] == ["password", "passkey", "identity", "totp"]
        assert [r.value for r in RemovalRefusal] == ["last_sign_in_method", "staff_second_factor"]


class TestMemberExamples:
    def test_password_only_keeps_its_password(self) -> None:
        assert removal_refusal(methods(password=True), Method.PASSWORD, role=Role.MEMBER) is LAST

    def test_password_and_passkey_may_drop_the_passkey(self) -> None:
        assert removal_refusal(methods(password=True, passkeys=1), Method.PASSKEY, role=Role.MEMBER) is None

    def test_password_and_passkey_may_drop_the_password(self) -> None:
        assert removal_refusal(methods(password=True, passkeys=1), Method.PASSWORD, role=Role.MEMBER) is None

    def test_only_passkey_kept(self) -> None:
        assert removal_refusal(methods(passkeys=1), Method.PASSKEY, role=Role.MEMBER) is LAST

    def test_one_of_two_passkeys_may_go(self) -> None:
        assert removal_refusal(methods(passkeys=2), Method.PASSKEY, role=Role.MEMBER) is None

    def test_identity_only_cannot_unlink(self) -> None:
        assert removal_refusal(methods(identities=1), Method.IDENTITY, role=Role.MEMBER) is LAST

    def test_identity_only_with_totp_cannot_unlink(self) -> None:
        # TOTP cannot start a session, so it does not count as a way in.
        assert removal_refusal(methods(identities=1, totp=True), Method.IDENTITY, role=Role.MEMBER) is LAST

    def test_one_of_two_identities_may_go(self) -> None:
        assert removal_refusal(methods(identities=2), Method.IDENTITY, role=Role.MEMBER) is None

    def test_member_may_drop_totp(self) -> None:
        assert removal_refusal(methods(password=True, totp=True), Method.TOTP, role=Role.MEMBER) is None


class TestStaffExamples:
    @pytest.mark.parametrize("role", [Role.ADMIN, Role.FINANCE])
    def test_staff_with_totp_may_drop_its_passkey(self, role: Role) -> None:
        assert removal_refusal(methods(password=True, passkeys=1, totp=True), Method.PASSKEY, role=role) is None

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.FINANCE])
    def test_staff_without_totp_keeps_its_last_passkey(self, role: Role) -> None:
        assert removal_refusal(methods(password=True, passkeys=1), Method.PASSKEY, role=role) is STAFF

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.FINANCE])
    def test_staff_may_drop_totp_with_a_passkey(self, role: Role) -> None:
        assert removal_refusal(methods(password=True, passkeys=1, totp=True), Method.TOTP, role=role) is None

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.FINANCE])
    def test_staff_keeps_its_only_totp(self, role: Role) -> None:
        assert removal_refusal(methods(password=True, totp=True), Method.TOTP, role=role) is STAFF
        assert removal_refusal(methods(identities=1, totp=True), Method.TOTP, role=role) is STAFF

    def test_staff_passkey_only_is_locked_out_first(self) -> None:
        # Both rules broken: being left with no way in is the reason given.
        assert removal_refusal(methods(passkeys=1), Method.PASSKEY, role=Role.ADMIN) is LAST

    def test_staff_with_two_passkeys_may_drop_one(self) -> None:
        assert removal_refusal(methods(passkeys=2), Method.PASSKEY, role=Role.FINANCE) is None

    def test_staff_may_drop_its_password_keeping_a_passkey(self) -> None:
        assert removal_refusal(methods(password=True, passkeys=1), Method.PASSWORD, role=Role.ADMIN) is None

    def test_same_removal_allowed_for_a_member(self) -> None:
        assert removal_refusal(methods(password=True, passkeys=1), Method.PASSKEY, role=Role.MEMBER) is None
        assert removal_refusal(methods(password=True, totp=True), Method.TOTP, role=Role.MEMBER) is None


# --- the property, stated by counting what is left in a bag of methods -------------------------------------------

STARTS_A_SESSION = {"password", "passkey", "identity"}
SECOND_FACTORS = {"totp", "passkey"}


@st.composite
def accounts(draw: st.DrawFn) -> tuple[SignInMethods, Method]:
    """An account's methods and one method it actually has, to remove."""
    password, totp = draw(st.booleans()), draw(st.booleans())
    passkeys = draw(st.integers(min_value=0, max_value=MAX_PASSKEYS_PER_ACCOUNT))
    identities = draw(st.integers(min_value=0, max_value=3))
    held = [m for m, n in ((Method.PASSWORD, password), (Method.PASSKEY, passkeys),
                           (Method.IDENTITY, identities), (Method.TOTP, totp)) if n]  # fmt: skip
    if not held:  # an account with nothing at all: add one of something so there is a thing to remove
        passkeys = 1
        held = [Method.PASSKEY]
    return methods(password=password, passkeys=passkeys, identities=identities, totp=totp), draw(st.sampled_from(held))


def bag(m: SignInMethods) -> list[str]:
    return ["password"] * m.password + ["passkey"] * m.passkeys + ["identity"] * m.identities + ["totp"] * m.totp


class TestProperty:
    @given(case=accounts(), role=st.sampled_from(Role))
    def test_allowed_iff_a_way_in_and_for_staff_a_second_factor_remain(
        self, case: tuple[SignInMethods, Method], role: Role
    ) -> None:
        current, removing = case
        left = bag(current)
        left.remove(removing.value)
        ways_in = sum(1 for item in left if item in STARTS_A_SESSION)
        second_factors = sum(1 for item in left if item in SECOND_FACTORS)
        staff = role in (Role.ADMIN, Role.FINANCE)

        result = removal_refusal(current, removing, role=role)

        assert (result is None) == (ways_in >= 1 and (not staff or second_factors >= 1))
        if ways_in == 0:
            assert result is LAST
        elif staff and second_factors == 0:
            assert result is STAFF

    @given(case=accounts(), role=st.sampled_from(Role))
    def test_staff_never_allowed_where_a_member_is_refused(
        self, case: tuple[SignInMethods, Method], role: Role
    ) -> None:
        current, removing = case
        if removal_refusal(current, removing, role=role) is None:
            assert removal_refusal(current, removing, role=Role.MEMBER) is None

    @given(case=accounts())
    def test_member_with_a_way_in_may_always_drop_totp(self, case: tuple[SignInMethods, Method]) -> None:
        current, _ = case
        if current.totp and any(item in STARTS_A_SESSION for item in bag(current)):
            assert removal_refusal(current, Method.TOTP, role=Role.MEMBER) is None
