from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ports.usecases.tasks import MIN_ATTEMPTS, TASKS, TaskSpec, task_table


async def noop(_deps: object, _payload: object) -> None:
    return None


def spec(**overrides: object) -> TaskSpec:
    fields: dict[str, object] = {
        "name": "t",
        "handler": noop,
        "timeout": timedelta(seconds=5),
        "max_attempts": 3,
        "retry_delay": timedelta(seconds=1),
        "max_retry_delay": timedelta(seconds=10),
        "key": lambda _p: "k",
    }
    fields.update(overrides)
    return TaskSpec(**fields)  # type: ignore[arg-type]


SAMPLE_PAYLOADS: dict[str, dict[str, object]] = {
    "outbox.dispatch": {},
    "email.send_code": {"outboxId": "0192f0c4-0000-7000-8000-000000000001"},
    "notify.deliver": {
        "eventId": "0192f0c4-0000-7000-8000-000000000002",
        "accountId": "0192f0c4-0000-7000-8000-000000000003",
        "channel": "email",
    },
    "payments.process_event": {"messageId": "0192f0c4-0000-7000-8000-000000000004"},
    "payments.recover_inbox": {},
    "payments.reconcile": {},
    "payments.reconcile_money": {},
    "billing.sweep": {},
    "auth.purge_challenges": {},
    "accounts.erase_requested": {},
    "kyc.process_event": {"messageId": "0192f0c4-0000-7000-8000-000000000005"},
    "kyc.refetch_pending": {},
    "kyc.remind": {},
    "eligibility.tell_blocked": {},
    "payout.evaluate": {},
    "sms.process_status": {"messageId": "0192f0c4-0000-7000-8000-000000000006"},
    "sms.recover_statuses": {},
    "payout.remind": {},
    "payout.end_winners": {},
    "announcements.deliver_batch": {
        "announcementId": "0192f0c4-0000-7000-8000-000000000006",
        "publishedAt": "2026-11-25T18:00:00+00:00",
        "batch": 1,
        "afterAccountId": "0192f0c4-0000-7000-8000-000000000007",
        "uptoAccountId": "0192f0c4-0000-7000-8000-000000000008",
    },
}
"""One realistic payload per production task: a new task must add its own here."""


def test_every_production_task_states_timeout_attempts_backoff_and_key() -> None:
    assert set(TASKS) == set(SAMPLE_PAYLOADS)
    for name, task in TASKS.items():
        assert task.name == name
        assert task.timeout > timedelta(0)
        assert task.max_attempts >= MIN_ATTEMPTS
        assert timedelta(0) < task.retry_delay <= task.max_retry_delay
        key = task.key(SAMPLE_PAYLOADS[name])  # type: ignore[arg-type]
        assert isinstance(key, str)
        assert key, f"{name} has an empty dedupe key"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timeout": timedelta(0)}, "timeout must be positive"),
        ({"max_attempts": 2}, "at least 3 attempts"),
        ({"retry_delay": timedelta(0)}, "retry_delay"),
        ({"max_retry_delay": timedelta(milliseconds=500)}, "retry_delay"),
    ],
)
def test_a_task_cannot_rely_on_unsafe_defaults(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**overrides)


def test_a_task_name_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        task_table([spec(), spec()])


@given(attempt=st.integers(min_value=1, max_value=64))
def test_backoff_doubles_and_is_capped(attempt: int) -> None:
    task = spec(retry_delay=timedelta(seconds=1), max_retry_delay=timedelta(seconds=30))
    delay = task.backoff(attempt)
    assert timedelta(seconds=1) <= delay <= timedelta(seconds=30)
    assert task.backoff(attempt + 1) == min(delay * 2, timedelta(seconds=30))
