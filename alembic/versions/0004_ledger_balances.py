"""ledger balances

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

A running balance per (account, currency), kept in the same transaction as each posting, so the fund is an
O(1) read and concurrent commits against it serialise on its row. Back-filled from existing postings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_balances",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("debit_balance_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "currency", name=op.f("pk_ledger_balances")),
    )
    op.execute(
        "INSERT INTO ledger_balances (account, currency, debit_balance_cents) "
        "SELECT account, currency, sum(amount_cents) FROM ledger_postings GROUP BY account, currency"
    )


def downgrade() -> None:
    op.drop_table("ledger_balances")
