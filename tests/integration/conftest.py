"""Integration tests share this run's PostgreSQL database: after each one, the ledger must still balance."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from domain.ledger import Account
from entrypoints.settings import Settings

ACCOUNTS = [account.value for account in Account]
"""The program's accounts (schema tests post raw entries to throwaway accounts of their own, not through the
repository, to prove the database's own rules)."""


@pytest.fixture(autouse=True)
async def ledger_stays_consistent(test_settings: Settings) -> AsyncIterator[None]:
    """Every entry balances, the whole ledger sums to zero, and each running balance equals its postings
    (so the fund is the sum of fund postings: DOMAIN.md §7, §9)."""
    yield
    conn = await asyncpg.connect(test_settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        unbalanced = await conn.fetchval(
            "SELECT count(*) FROM (SELECT entry_id FROM ledger_postings GROUP BY entry_id, currency "
            "HAVING sum(amount_cents) <> 0) AS u"
        )
        total = await conn.fetchval("SELECT coalesce(sum(amount_cents), 0) FROM ledger_postings")
        drift = await conn.fetchval(
            "SELECT count(*) FROM ledger_balances b FULL JOIN (SELECT account, currency, sum(amount_cents) AS s "
            "FROM ledger_postings GROUP BY account, currency) p USING (account, currency) "
            "WHERE account = ANY($1::text[]) AND coalesce(b.debit_balance_cents, 0) <> coalesce(p.s, 0)",
            ACCOUNTS,
        )
    finally:
        await conn.close()
    assert unbalanced == 0, "a ledger entry does not balance"
    assert total == 0, "the ledger does not sum to zero"
    assert drift == 0, "a running balance differs from the sum of its postings"


@pytest.fixture(autouse=True)
async def queue_index_stays_consistent(test_settings: Settings) -> AsyncIterator[None]:
    """After each test the bucket index counts exactly the queue memberships, N is right, and the fund inflow per
    day equals the fund postings it summarises — whatever path changed them."""
    yield
    from domain.queue_index import LEVEL_SHIFTS

    conn = await asyncpg.connect(test_settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        recount = " UNION ALL ".join(
            f"SELECT {level} AS level, (e >> {shift}) << {shift} AS bucket_start, count(*) AS n FROM q "
            f"GROUP BY (e >> {shift}) << {shift}"
            for level, shift in enumerate(LEVEL_SHIFTS)
        )
        wrong = await conn.fetchval(
            "WITH q AS (SELECT floor(extract(epoch FROM tenure_start))::bigint AS e FROM memberships "
            f"WHERE status IN ('ACTIVE', 'PAST_DUE')), r AS ({recount}) "
            "SELECT count(*) FROM r FULL JOIN (SELECT * FROM queue_counts WHERE members <> 0) c "
            "USING (level, bucket_start) WHERE coalesce(r.n, 0) <> coalesce(c.members, 0)"
        )
        size, counted = await conn.fetchrow(
            "SELECT (SELECT size FROM queue_head), "
            "(SELECT count(*) FROM memberships WHERE status IN ('ACTIVE', 'PAST_DUE'))"
        )
        inflow_drift = await conn.fetchval(
            "SELECT count(*) FROM fund_inflow_days d FULL JOIN (SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day,"
            " p.currency, -sum(p.amount_cents) AS cents FROM ledger_postings p JOIN ledger_entries e ON e.id = "
            "p.entry_id WHERE p.account = 'fund' AND e.kind NOT IN ('commit', 'release') GROUP BY 1, 2) s "
            "USING (day, currency) WHERE coalesce(d.cents, 0) <> coalesce(s.cents, 0)"
        )
    finally:
        await conn.close()
    assert wrong == 0, "a queue bucket count differs from the memberships it counts"
    assert size == counted, "queue_head.size differs from the number of queue memberships"
    assert inflow_drift == 0, "fund_inflow_days differs from the fund postings"
