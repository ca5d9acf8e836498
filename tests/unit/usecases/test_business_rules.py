"""Every eligibility reason belongs to exactly one rule the member sees."""

from domain.eligibility import Reason
from ports.usecases.business_rules import RULE_REASONS


def test_each_reason_is_shown_under_exactly_one_rule() -> None:
    placed = [reason for _, reasons in RULE_REASONS for reason in reasons]
    assert sorted(placed) == sorted(Reason)
    assert len({name for name, _ in RULE_REASONS}) == len(RULE_REASONS)
