"""What every use case may depend on: the outbound ports, assembled once by the composition root."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ports.outbound.clock import Clock
from ports.outbound.health import HealthProbe
from ports.outbound.outbox import OutboxMessage
from ports.outbound.tasks import TaskQueue
from ports.outbound.unit_of_work import UnitOfWorkFactory

EventHandler = Callable[["Deps", OutboxMessage], Awaitable[None]]
"""Reacts to one dispatched outbox message; must be idempotent (a message may be handled twice)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    uow: UnitOfWorkFactory
    tasks: TaskQueue
    clock: Clock
    probes: Sequence[HealthProbe] = ()
    event_handlers: Mapping[str, Sequence[EventHandler]] = field(default_factory=dict)
