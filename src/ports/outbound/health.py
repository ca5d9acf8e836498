"""Readiness probes: each outbound dependency reports whether it can serve."""

from typing import Protocol


class HealthProbe(Protocol):
    """One component of readiness. `check` returns normally or raises `ComponentUnavailable`."""

    @property
    def component(self) -> str: ...

    async def check(self) -> None: ...
