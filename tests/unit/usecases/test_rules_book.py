"""The rules book only ever grows: a process never forgets a version it has used."""

from datetime import UTC, datetime

from domain.rules import ProgramRules, RulesHistory
from ports.usecases.rules_book import RulesBook

V1 = ProgramRules()
V2 = ProgramRules(version=2, effective_at=datetime(2027, 1, 1, tzinfo=UTC), grace_days=40)
V2_OTHER = ProgramRules(version=2, effective_at=datetime(2027, 2, 1, tzinfo=UTC), grace_days=41)


def test_learning_a_longer_history_with_the_same_beginning() -> None:
    book = RulesBook.of(V1)
    assert book.learn(RulesHistory.of(V1, V2))
    assert book.latest == V2
    assert book.in_force(datetime(2027, 1, 2, tzinfo=UTC)).grace_days == 40


def test_a_shorter_or_different_history_is_not_learnt() -> None:
    book = RulesBook.of(V1, V2)
    assert not book.learn(RulesHistory.of(V1))
    assert not book.learn(RulesHistory.of(V1, V2))
    assert not book.learn(RulesHistory.of(V1, V2_OTHER))
    assert book.history == RulesHistory.of(V1, V2)
