"""Which database errors are retryable outages (a 503 with Retry-After) rather than faults (a 500)."""

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from adapters.sql.unit_of_work import database_unavailable


def test_a_full_pool_is_an_outage_like_a_dead_database() -> None:
    assert database_unavailable(PoolTimeout("QueuePool limit of size 10 overflow 0 reached"))
    assert database_unavailable(OperationalError("SELECT 1", {}, ConnectionRefusedError()))
    assert database_unavailable(ConnectionRefusedError())


def test_a_broken_rule_is_not_an_outage() -> None:
    assert not database_unavailable(IntegrityError("INSERT", {}, ValueError("duplicate key")))
    assert not database_unavailable(ValueError("bug"))
