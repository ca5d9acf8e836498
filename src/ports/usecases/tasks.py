"""The task table: every background job, its handler, timeout, attempts, backoff, dedupe key and cron.

Both job-queue adapters read this table, so no task ever runs on a library default (SAQ's default is a
10 s timeout and a single attempt). Keys make enqueueing idempotent while a job is incomplete.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ports.outbound.tasks import Payload
from ports.usecases import announcements, eligibility, kyc, payout_jobs, rounds, sms_status
from ports.usecases.account_mail import SEND_CODE_TASK, on_code_issued, send_code_email, send_code_key
from ports.usecases.auth import CODE_ISSUED_EVENT
from ports.usecases.authenticators import PURGE_TASK, purge_challenges
from ports.usecases.billing_commands import HANDLERS as BILLING_COMMANDS
from ports.usecases.billing_sweep import SWEEP_TASK, sweep
from ports.usecases.deps import Deps, EventHandler
from ports.usecases.erasure import ERASE_TASK, erase_requested
from ports.usecases.notifications import (
    DELIVER_TASK,
    MEMBER_EVENT_NAMES,
    STAFF_EVENT_NAMES,
    deliver_notification,
    delivery_key,
    on_member_event,
    on_staff_event,
)
from ports.usecases.outbox import dispatch_outbox
from ports.usecases.payment_events import (
    MONEY_TASK,
    PROCESS_TASK,
    RECONCILE_TASK,
    RECOVER_TASK,
    process_event,
    process_key,
    reconcile,
    reconcile_money,
    recover_inbox,
)
from ports.usecases.program_rules import HANDLERS as RULES_EVENTS

TaskHandler = Callable[[Deps, Payload], Awaitable[Any]]
KeyFunction = Callable[[Payload], str]

MIN_ATTEMPTS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    name: str
    handler: TaskHandler
    timeout: timedelta
    max_attempts: int
    retry_delay: timedelta
    max_retry_delay: timedelta
    key: KeyFunction
    cron: str | None = None
    coalesce: bool = False
    """Wake-up semantics: enqueues collapse only while a job is *queued*. Once a job has started, the next
    enqueue queues a fresh one, so work committed while a run is finishing is never left for the cron sweep."""

    def __post_init__(self) -> None:
        if self.timeout <= timedelta(0):
            raise ValueError(f"task {self.name}: timeout must be positive")
        if self.max_attempts < MIN_ATTEMPTS:
            raise ValueError(f"task {self.name}: at least {MIN_ATTEMPTS} attempts are required")
        if self.retry_delay <= timedelta(0) or self.max_retry_delay < self.retry_delay:
            raise ValueError(f"task {self.name}: need 0 < retry_delay <= max_retry_delay")

    def backoff(self, attempt: int) -> timedelta:
        """Delay before retrying after failed attempt number `attempt` (1-based): doubling, capped."""
        delay = self.retry_delay
        for _ in range(attempt - 1):
            delay *= 2
            if delay >= self.max_retry_delay:  # stop before a large attempt count overflows timedelta
                return self.max_retry_delay
        return delay


TaskTable = Mapping[str, TaskSpec]


def task_table(specs: Iterable[TaskSpec]) -> TaskTable:
    table: dict[str, TaskSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise ValueError(f"task {spec.name} is declared twice")
        table[spec.name] = spec
    return table


def _constant(key: str) -> KeyFunction:
    return lambda _payload: key


TASKS: TaskTable = task_table(
    [
        TaskSpec(
            name="outbox.dispatch",
            handler=dispatch_outbox,
            timeout=timedelta(seconds=60),
            max_attempts=5,
            retry_delay=timedelta(seconds=1),
            max_retry_delay=timedelta(seconds=30),
            key=_constant("outbox.dispatch"),
            cron="* * * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=SEND_CODE_TASK,
            handler=send_code_email,
            timeout=timedelta(seconds=30),
            max_attempts=6,
            retry_delay=timedelta(seconds=2),
            max_retry_delay=timedelta(minutes=2),
            key=send_code_key,
        ),
        TaskSpec(
            name=DELIVER_TASK,
            handler=deliver_notification,
            timeout=timedelta(seconds=30),
            max_attempts=6,
            retry_delay=timedelta(seconds=5),
            max_retry_delay=timedelta(minutes=5),
            key=delivery_key,
        ),
        TaskSpec(
            name=PROCESS_TASK,
            handler=process_event,
            timeout=timedelta(seconds=60),
            max_attempts=8,
            retry_delay=timedelta(seconds=5),
            max_retry_delay=timedelta(minutes=10),
            key=process_key,
        ),
        TaskSpec(
            name=RECOVER_TASK,
            handler=recover_inbox,
            timeout=timedelta(minutes=5),
            max_attempts=3,
            retry_delay=timedelta(seconds=10),
            max_retry_delay=timedelta(minutes=1),
            key=_constant(RECOVER_TASK),
            cron="* * * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=RECONCILE_TASK,
            handler=reconcile,
            timeout=timedelta(minutes=10),
            max_attempts=3,
            retry_delay=timedelta(seconds=30),
            max_retry_delay=timedelta(minutes=5),
            key=_constant(RECONCILE_TASK),
            cron="*/10 * * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=MONEY_TASK,
            handler=reconcile_money,
            timeout=timedelta(minutes=30),
            max_attempts=3,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=10),
            key=_constant(MONEY_TASK),
            cron="15 3 * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=ERASE_TASK,
            handler=erase_requested,
            timeout=timedelta(minutes=30),
            max_attempts=3,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=10),
            key=_constant(ERASE_TASK),
            cron="45 2 * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=PURGE_TASK,
            handler=purge_challenges,
            timeout=timedelta(minutes=5),
            max_attempts=3,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=10),
            key=_constant(PURGE_TASK),
            cron="23 * * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=SWEEP_TASK,
            handler=sweep,
            timeout=timedelta(minutes=10),
            max_attempts=3,
            retry_delay=timedelta(seconds=30),
            max_retry_delay=timedelta(minutes=5),
            key=_constant(SWEEP_TASK),
            cron="*/15 * * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=kyc.PROCESS_TASK,
            handler=kyc.process_event,
            timeout=timedelta(seconds=60),
            max_attempts=8,
            retry_delay=timedelta(seconds=5),
            max_retry_delay=timedelta(minutes=10),
            key=kyc.process_key,
        ),
        TaskSpec(
            name=kyc.REFETCH_TASK,
            handler=kyc.refetch_pending,
            timeout=timedelta(minutes=10),
            max_attempts=3,
            retry_delay=timedelta(seconds=30),
            max_retry_delay=timedelta(minutes=5),
            key=_constant(kyc.REFETCH_TASK),
            cron="7 * * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=kyc.REMINDER_TASK,
            handler=kyc.remind,
            timeout=timedelta(minutes=10),
            max_attempts=3,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=10),
            key=_constant(kyc.REMINDER_TASK),
            cron="0 15 * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=eligibility.BLOCKED_TASK,
            handler=eligibility.tell_blocked_near_payout,
            timeout=timedelta(minutes=10),
            max_attempts=3,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=10),
            key=_constant(eligibility.BLOCKED_TASK),
            cron="0 16 * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=rounds.EVALUATE_TASK,
            handler=rounds.run_evaluation,
            timeout=timedelta(minutes=30),
            max_attempts=5,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=15),
            key=_constant(rounds.EVALUATE_TASK),
            cron="30 0 * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=payout_jobs.REMIND_TASK,
            handler=payout_jobs.remind,
            timeout=timedelta(minutes=10),
            max_attempts=3,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=10),
            key=_constant(payout_jobs.REMIND_TASK),
            cron="0 17 * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=payout_jobs.END_TASK,
            handler=payout_jobs.end_winners,
            timeout=timedelta(minutes=10),
            max_attempts=3,
            retry_delay=timedelta(minutes=1),
            max_retry_delay=timedelta(minutes=10),
            key=_constant(payout_jobs.END_TASK),
            cron="30 1 * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=sms_status.PROCESS_TASK,
            handler=sms_status.process_status,
            timeout=timedelta(seconds=30),
            max_attempts=6,
            retry_delay=timedelta(seconds=5),
            max_retry_delay=timedelta(minutes=5),
            key=sms_status.process_key,
        ),
        TaskSpec(
            name=sms_status.RECOVER_TASK,
            handler=sms_status.recover_statuses,
            timeout=timedelta(minutes=5),
            max_attempts=3,
            retry_delay=timedelta(seconds=30),
            max_retry_delay=timedelta(minutes=5),
            key=_constant(sms_status.RECOVER_TASK),
            cron="*/5 * * * *",
            coalesce=True,
        ),
        TaskSpec(
            name=announcements.DELIVER_TASK,
            handler=announcements.deliver_batch,
            timeout=timedelta(seconds=60),
            max_attempts=6,
            retry_delay=timedelta(seconds=2),
            max_retry_delay=timedelta(minutes=2),
            key=announcements.deliver_key,
        ),
    ]
)
"""Every production task. Later features add their rows here, never elsewhere."""


EVENT_HANDLERS: Mapping[str, tuple[EventHandler, ...]] = {
    CODE_ISSUED_EVENT: (on_code_issued,),
    **dict.fromkeys(MEMBER_EVENT_NAMES, (on_member_event,)),
    **dict.fromkeys(STAFF_EVENT_NAMES, (on_staff_event,)),
    **BILLING_COMMANDS,
    **RULES_EVENTS,
}
"""Which use cases react to which dispatched domain events."""
