"""accounts sessions codes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Accounts get TOTP columns and a status check; server-side sessions, one-time codes (digests only), the
security event log and the sandbox mailbox are new.
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_mailbox",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("sent_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_mailbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_sandbox_mailbox_idempotency_key")),
    )
    op.create_index(op.f("ix_sandbox_mailbox_to_address"), "sandbox_mailbox", ["to_address"], unique=False)
    op.create_table(
        "auth_sessions",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("last_seen_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("authenticated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("revoked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_auth_sessions_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_sessions_token_hash")),
    )
    op.create_index(
        "ix_auth_sessions_live_by_account",
        "auth_sessions",
        ["account_id"],
        unique=False,
        postgresql_where=sa.text("revoked_at IS NULL"),
        sqlite_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "one_time_codes",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("issued_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("consumed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_one_time_codes_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_one_time_codes_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_codes")),
        sa.UniqueConstraint("account_id", "purpose", name="uq_one_time_codes_account_purpose"),
    )
    op.create_table(
        "backup_codes",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("used_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_backup_codes_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_codes")),
        sa.UniqueConstraint("account_id", "digest", name="uq_backup_codes_account_digest"),
    )
    op.create_table(
        "security_events",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_security_events_account_id_accounts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index(op.f("ix_security_events_account_id"), "security_events", ["account_id"], unique=False)
    op.create_index(op.f("ix_security_events_at"), "security_events", ["at"], unique=False)
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("totp_secret_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(
            sa.Column("totp_enabled_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch.create_check_constraint(op.f("ck_accounts_status_known"), "status IN ('active', 'disabled')")


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint(op.f("ck_accounts_status_known"), type_="check")
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_enabled_at")
        batch.drop_column("totp_secret_sealed")
    op.drop_index(op.f("ix_security_events_at"), table_name="security_events")
    op.drop_index(op.f("ix_security_events_account_id"), table_name="security_events")
    op.drop_table("security_events")
    op.drop_table("backup_codes")
    op.drop_table("one_time_codes")
    op.drop_index(
        "ix_auth_sessions_live_by_account",
        table_name="auth_sessions",
        postgresql_where=sa.text("revoked_at IS NULL"),
        sqlite_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_table("auth_sessions")
    op.drop_index(op.f("ix_sandbox_mailbox_to_address"), table_name="sandbox_mailbox")
    op.drop_table("sandbox_mailbox")
