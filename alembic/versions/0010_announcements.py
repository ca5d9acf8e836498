"""announcements

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

Announcements (issue 9): staff drafts, published once, fanned out to members' in-app feeds in batched jobs.
Also lets a delivery record the carrier's final word (`delivered`, `undelivered`) from SMS status callbacks, found
again by the provider's message id (indexed).
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERY_STATUSES_BEFORE = "status IN ('pending', 'sending', 'sent', 'skipped', 'failed')"
DELIVERY_STATUSES_AFTER = "status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'delivered', 'undelivered')"


def _delivery_statuses(condition: str) -> None:
    with op.batch_alter_table("notification_deliveries") as batch:  # batch: SQLite rebuilds the table
        batch.drop_constraint(op.f("ck_notification_deliveries_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_notification_deliveries_status_known"), sa.text(condition))


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("published_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("published_by", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("recipients", sa.BigInteger(), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'published')", name=op.f("ck_announcements_status_known")),
        sa.CheckConstraint("length(body) <= 2000", name=op.f("ck_announcements_body_length")),
        sa.CheckConstraint(
            "(status = 'published') = (published_at IS NOT NULL AND published_by IS NOT NULL "
            "AND recipients IS NOT NULL AND batches IS NOT NULL)",
            name=op.f("ck_announcements_published_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["accounts.id"], name=op.f("fk_announcements_created_by_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["published_by"], ["accounts.id"], name=op.f("fk_announcements_published_by_accounts"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    op.create_index(op.f("ix_announcements_created_at"), "announcements", ["created_at"], unique=False)
    _delivery_statuses(DELIVERY_STATUSES_AFTER)
    op.create_index(
        op.f("ix_notification_deliveries_provider_message_id"),
        "notification_deliveries",
        ["provider_message_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_deliveries_provider_message_id"), table_name="notification_deliveries")
    # A `delivered` / `undelivered` row would break the narrower rule: both mean the message was sent.
    op.execute("UPDATE notification_deliveries SET status = 'sent' WHERE status IN ('delivered', 'undelivered')")
    _delivery_statuses(DELIVERY_STATUSES_BEFORE)
    op.drop_index(op.f("ix_announcements_created_at"), table_name="announcements")
    op.drop_table("announcements")
