"""Operational readings for metrics and alerts (RELIABILITY.md 14), with the program facts the alert rules compare
them to: the payout threshold and whether payouts may happen yet."""

from dataclasses import dataclass

from ports.outbound.operations import OperationalReadings
from ports.usecases.deps import Deps
from ports.usecases.payment_events import MONEY_KIND


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramReadings:
    readings: OperationalReadings
    payout_threshold_cents: int
    payouts_started: bool
    """The launch + minimum months has passed (without it, a full fund waiting is no incident)."""


async def program_readings(deps: Deps) -> ProgramReadings:
    now = deps.clock.now()
    async with deps.uow() as uow:
        readings = await uow.operations.read(now=now, money_kind=MONEY_KIND)
    rules = deps.rules.in_force(now)
    start = rules.payouts_start()
    return ProgramReadings(
        readings=readings,
        payout_threshold_cents=rules.payout_threshold.cents,
        payouts_started=start is not None and now >= start,
    )
