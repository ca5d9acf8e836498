"""profiles notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Member profiles (personal data keyed by account, erasable later), notification preferences, the in-app
feed (one item per event and account) and the delivery log (one row per event, account and channel: the
idempotency record of the notification core). Only new tables, so no batch mode is needed on SQLite.
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSONB = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
GUID = advanced_alchemy.types.guid.GUID(length=16)


def _instant() -> advanced_alchemy.types.datetime.DateTimeUTC:
    return advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("account_id", GUID, nullable=False),
        sa.Column("legal_first_name", sa.String(length=100), nullable=True),
        sa.Column("legal_last_name", sa.String(length=100), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("address_line1", sa.String(length=200), nullable=True),
        sa.Column("address_line2", sa.String(length=200), nullable=True),
        sa.Column("address_city", sa.String(length=200), nullable=True),
        sa.Column("address_state", sa.String(length=2), nullable=True),
        sa.Column("address_zip", sa.String(length=10), nullable=True),
        sa.Column("address_country", sa.String(length=2), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("phone_verified_at", _instant(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("email_bounced", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deletion_requested_at", _instant(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.CheckConstraint("address_country IS NULL OR address_country = 'US'", name=op.f("ck_profiles_us_only")),
        _account_fk("profiles"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_profiles")),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("account_id", GUID, nullable=False),
        sa.Column("choices", JSONB, nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        _account_fk("notification_preferences"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", GUID, nullable=False),
        sa.Column("account_id", GUID, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_name", sa.String(length=96), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("read_at", _instant(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        _account_fk("notifications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("event_id", "account_id", name="uq_notifications_event_account"),
    )
    op.create_index("ix_notifications_feed", "notifications", ["account_id", "created_at", "id"], unique=False)
    op.create_table(
        "notification_deliveries",
        sa.Column("id", GUID, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", GUID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("event_name", sa.String(length=96), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_until", _instant(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("sent_at", _instant(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'in_app')", name=op.f("ck_notification_deliveries_channel_known")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'skipped', 'failed')",
            name=op.f("ck_notification_deliveries_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_notification_deliveries_attempts_not_negative")),
        _account_fk("notification_deliveries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("event_id", "account_id", "channel", name="uq_notification_deliveries_key"),
    )
    op.create_index(
        op.f("ix_notification_deliveries_account_id"), "notification_deliveries", ["account_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_deliveries_account_id"), table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_notifications_feed", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_preferences")
    op.drop_table("profiles")
