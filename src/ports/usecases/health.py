"""Readiness: can this process serve traffic right now, and if not, which component is failing."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ports.outbound.errors import ComponentUnavailable
from ports.outbound.health import HealthProbe


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentStatus:
    component: str
    ok: bool
    detail: str = "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class Readiness:
    ok: bool
    components: tuple[ComponentStatus, ...]

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(c.component for c in self.components if not c.ok)


async def _probe(probe: HealthProbe, timeout_s: float) -> ComponentStatus:
    try:
        await asyncio.wait_for(probe.check(), timeout=timeout_s)
    except ComponentUnavailable as exc:
        return ComponentStatus(component=probe.component, ok=False, detail=exc.detail)
    except TimeoutError:
        return ComponentStatus(component=probe.component, ok=False, detail=f"no answer within {timeout_s:g}s")
    return ComponentStatus(component=probe.component, ok=True)


async def check_readiness(probes: Sequence[HealthProbe], *, timeout_s: float = 2.0) -> Readiness:
    """Run every probe concurrently, each bounded by `timeout_s`, so one hung component cannot hang the check."""
    statuses = await asyncio.gather(*(_probe(p, timeout_s) for p in probes))
    return Readiness(ok=all(s.ok for s in statuses), components=tuple(statuses))
