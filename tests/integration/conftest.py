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
