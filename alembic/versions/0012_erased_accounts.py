"""erased accounts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Data lifecycle (issue 11): an account whose owner asked to be erased, once nothing is in flight, keeps its row (the
ledger, tax and audit records refer to it) with the email replaced by a placeholder and status `erased`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _statuses(condition: str) -> None:
    with op.batch_alter_table("accounts") as batch:  # batch: SQLite rebuilds the table
        batch.drop_constraint(op.f("ck_accounts_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_accounts_status_known"), sa.text(condition))


def upgrade() -> None:
    _statuses("status IN ('active', 'disabled', 'erased')")


def downgrade() -> None:
    op.execute("UPDATE accounts SET status = 'disabled' WHERE status = 'erased'")
    _statuses("status IN ('active', 'disabled')")
