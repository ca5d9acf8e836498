import asyncio

from ports.outbound.errors import ComponentUnavailable
from ports.usecases.health import check_readiness


class Probe:
    def __init__(self, component: str, *, error: str | None = None, hang: bool = False) -> None:
        self.component = component
        self._error = error
        self._hang = hang

    async def check(self) -> None:
        if self._hang:
            await asyncio.sleep(60)
        if self._error:
            raise ComponentUnavailable(self.component, self._error)


async def test_ready_when_every_probe_passes() -> None:
    result = await check_readiness([Probe("database"), Probe("queue")])
    assert result.ok
    assert result.failing == ()
    assert [c.component for c in result.components] == ["database", "queue"]


async def test_names_each_failing_component_with_its_detail() -> None:
    result = await check_readiness([Probe("database", error="connection refused"), Probe("queue")])
    assert not result.ok
    assert result.failing == ("database",)
    assert result.components[0].detail == "connection refused"
    assert result.components[1].ok


async def test_a_hung_probe_fails_within_the_timeout_instead_of_hanging() -> None:
    result = await asyncio.wait_for(check_readiness([Probe("queue", hang=True)], timeout_s=0.05), timeout=5)
    assert result.failing == ("queue",)
    assert "no answer within" in result.components[0].detail
