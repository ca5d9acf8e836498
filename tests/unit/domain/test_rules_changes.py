"""Program rules changes (§2, D156): what may change, the notice period, and how versions stack."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import RulesInvalid
from domain.money import Money
from domain.rules import ProgramRules, RulesHistory
from domain.rules_changes import (
    CHANGEABLE_FIELDS,
    DEFAULT_NOTICE,
    ApprovedChange,
    apply_changes,
    differences,
    history_of,
    proposed_version,
    value_of,
)

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
FIRST = ProgramRules()
LATER = NOW + DEFAULT_NOTICE + timedelta(days=1)


def problems(history: RulesHistory, changes: dict[str, int], effective_at: datetime = LATER) -> tuple[str, ...]:
    with pytest.raises(RulesInvalid) as caught:
        proposed_version(history, changes, effective_at=effective_at, now=NOW)
    return caught.value.problems


def test_a_change_becomes_the_next_version_with_only_its_numbers_changed() -> None:
    history = RulesHistory.of(FIRST)
    proposed = proposed_version(history, {"joining_fee": 35_000, "grace_days": 45}, effective_at=LATER, now=NOW)
    assert (proposed.version, proposed.effective_at) == (2, LATER)
    assert proposed.joining_fee == Money(cents=35_000)
    assert differences(FIRST, proposed) == {"grace_days": (30, 45), "joining_fee": (30_000, 35_000)}


def test_members_get_the_notice_period_before_a_change_applies() -> None:
    history = RulesHistory.of(FIRST)
    too_soon = NOW + DEFAULT_NOTICE - timedelta(seconds=1)
    assert any("at least 30 days" in p for p in problems(history, {"grace_days": 45}, too_soon))
    assert proposed_version(history, {"grace_days": 45}, effective_at=NOW + DEFAULT_NOTICE, now=NOW).version == 2


def test_the_launch_and_the_dues_are_not_changed_here_and_every_problem_is_listed() -> None:
    found = problems(RulesHistory.of(FIRST), {"monthly_dues": 3_000, "launch_date": 1, "grace_days": 30})
    assert "monthly_dues cannot be changed here" in found
    assert "launch_date cannot be changed here" in found
    assert "grace_days is already 30" in found


def test_the_changed_version_must_still_be_valid() -> None:
    found = problems(RulesHistory.of(FIRST), {"reward": 20_000_000})
    assert "payout_threshold must be >= reward" in found
    assert proposed_version(
        RulesHistory.of(FIRST), {"reward": 20_000_000, "payout_threshold": 20_000_000}, effective_at=LATER, now=NOW
    ).reward == Money(cents=20_000_000)
    assert "approvals_required must be >= 2 (two-person approval)" in problems(
        RulesHistory.of(FIRST), {"approvals_required": 1}
    )
    assert problems(RulesHistory.of(FIRST), {}) == ("a change must change at least one number",)


def test_a_change_takes_effect_after_the_latest_approved_one() -> None:
    approved = history_of(
        FIRST, [ApprovedChange(version=2, effective_at=LATER + timedelta(days=10), changes={"grace_days": 40})]
    )
    found = problems(approved, {"grace_days": 50}, LATER)
    assert "effective_at: not_after_latest_version" in found
    third = proposed_version(approved, {"grace_days": 50}, effective_at=LATER + timedelta(days=11), now=NOW)
    assert (third.version, third.grace_days) == (3, 50)


def test_history_stacks_each_change_on_the_one_before() -> None:
    t2, t3 = LATER, LATER + timedelta(days=40)
    history = history_of(
        FIRST,
        [
            ApprovedChange(version=3, effective_at=t3, changes={"min_tenure_months": 6}),
            ApprovedChange(version=2, effective_at=t2, changes={"joining_fee": 40_000}),
        ],
    )
    assert [v.version for v in history.versions] == [1, 2, 3]
    assert history.in_force(t3).joining_fee == Money(cents=40_000)  # kept from version 2
    assert history.in_force(t3).min_tenure_months == 6
    assert history.in_force(t2).min_tenure_months == 0


def attempt(changes: dict[str, int]) -> ProgramRules | tuple[str, ...]:
    try:
        return proposed_version(RulesHistory.of(FIRST), changes, effective_at=LATER, now=NOW)
    except RulesInvalid as exc:
        return exc.problems


@given(field=st.sampled_from(sorted(CHANGEABLE_FIELDS)), delta=st.integers(1, 50))
def test_any_accepted_change_changes_exactly_what_it_says(field: str, delta: int) -> None:
    wanted = value_of(FIRST, field) + delta
    changes = {field: wanted}
    if field == "reward":
        changes["payout_threshold"] = wanted
    proposed = attempt(changes)
    if isinstance(proposed, tuple):  # e.g. a bps above 10000 or a reward that leaves no net: refused, with reasons
        assert proposed
        return
    assert set(differences(FIRST, proposed)) == set(changes)
    assert all(value_of(proposed, name) == value for name, value in changes.items())
    again = apply_changes(FIRST, version=2, effective_at=LATER, changes=changes)
    assert again == proposed
