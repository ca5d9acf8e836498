"""The program rules a process knows: version 1 from settings, then every approved change from the database.

A process loads the approved versions at start and again every minute (`program_rules.refresh`). That is enough
because a change takes effect at least the notice period (days) after its approval: every process has learnt a
version long before anything is created under it. Versions are only ever added, never replaced, so a use case
reading the book twice across an `await` never sees a version disappear.
"""

from datetime import datetime

from domain.rules import ProgramRules, RulesHistory


class RulesBook:
    def __init__(self, history: RulesHistory) -> None:
        self._history = history

    @classmethod
    def of(cls, *versions: ProgramRules) -> "RulesBook":
        return cls(RulesHistory.of(*versions))

    @property
    def history(self) -> RulesHistory:
        """Every known version (pass this to the domain's rules functions)."""
        return self._history

    @property
    def first(self) -> ProgramRules:
        return self._history.versions[0]

    @property
    def latest(self) -> ProgramRules:
        return self._history.latest

    def in_force(self, at: datetime) -> ProgramRules:
        return self._history.in_force(at)

    def version(self, number: int) -> ProgramRules:
        return self._history.version(number)

    def learn(self, history: RulesHistory) -> bool:
        """Adopt ``history`` if it extends what is known (same versions, more of them); True when it did."""
        known = self._history.versions
        if len(history.versions) <= len(known) or history.versions[: len(known)] != known:
            return False
        self._history = history
        return True
