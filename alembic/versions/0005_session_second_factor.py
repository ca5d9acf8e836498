"""session second factor

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

Whether a *session* was established with a second factor (not merely whether the account has one): staff
routes require it, so a password-only session that raced TOTP enrolment can never reach them.
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch:
        batch.add_column(
            sa.Column("second_factor_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch:
        batch.drop_column("second_factor_at")
