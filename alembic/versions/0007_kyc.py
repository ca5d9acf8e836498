"""kyc

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

Identity verification (issue 6): one KYC record per person with only what the domain needs (no names,
documents or ID numbers), every attempt started (for the 30-day limit), and staff votes on reviews.
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kyc_attempts",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("provider_attempt_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_kyc_attempts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_attempts")),
        sa.UniqueConstraint("provider_attempt_id", name=op.f("uq_kyc_attempts_provider_attempt_id")),
    )
    op.create_index(op.f("ix_kyc_attempts_account_id"), "kyc_attempts", ["account_id"], unique=False)
    op.create_table(
        "kyc_records",
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_id", sa.String(length=64), nullable=True),
        sa.Column("attempt_started_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("status_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("verified_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("staff_decided_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column(
            "review_reasons",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "cockroachdb")
            .with_variant(advanced_alchemy.types.json.ORA_JSONB(), "oracle")
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "failure_reasons",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "cockroachdb")
            .with_variant(advanced_alchemy.types.json.ORA_JSONB(), "oracle")
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("verification_url", sa.Text(), nullable=True),
        sa.Column("flagged_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('not_started', 'pending', 'verified', 'needs_review', 'failed')",
            name=op.f("ck_kyc_records_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_kyc_records_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_kyc_records")),
    )
    op.create_index(op.f("ix_kyc_records_fingerprint"), "kyc_records", ["fingerprint"], unique=False)
    op.create_index(
        "ix_kyc_records_pending",
        "kyc_records",
        ["attempt_started_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "kyc_staff_votes",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("attempt_id", sa.String(length=64), nullable=False),
        sa.Column("staff_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("decision IN ('approve', 'reject')", name=op.f("ck_kyc_staff_votes_decision_known")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_kyc_staff_votes_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["accounts.id"], name=op.f("fk_kyc_staff_votes_staff_id_accounts"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_staff_votes")),
        sa.UniqueConstraint("account_id", "attempt_id", "staff_id", name="uq_kyc_staff_votes_once"),
    )


def downgrade() -> None:
    op.drop_table("kyc_staff_votes")
    op.drop_index(
        "ix_kyc_records_pending",
        table_name="kyc_records",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.drop_index(op.f("ix_kyc_records_fingerprint"), table_name="kyc_records")
    op.drop_table("kyc_records")
    op.drop_index(op.f("ix_kyc_attempts_account_id"), table_name="kyc_attempts")
    op.drop_table("kyc_attempts")
