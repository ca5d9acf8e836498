"""program rules changes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Program rules versions after the first (issue 11): proposed by one staff member, approved by another, in force from
their effective time. Version 1 stays the deployment's settings.
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)
ID = advanced_alchemy.types.guid.GUID(length=16)


def upgrade() -> None:
    op.create_table(
        "program_rules_changes",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "changes",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "cockroachdb")
            .with_variant(advanced_alchemy.types.json.ORA_JSONB(), "oracle")
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("effective_at", WHEN, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", ID, nullable=False),
        sa.Column("proposed_at", WHEN, nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'rejected')", name=op.f("ck_program_rules_changes_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'approved') = (version IS NOT NULL)", name=op.f("ck_program_rules_changes_approved_has_version")
        ),
        sa.CheckConstraint(
            "(status = 'proposed') = (decided_at IS NULL)", name=op.f("ck_program_rules_changes_decided_unless_open")
        ),
        sa.CheckConstraint(
            "version IS NULL OR version >= 2", name=op.f("ck_program_rules_changes_version_after_settings")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"],
            ["accounts.id"],
            name=op.f("fk_program_rules_changes_proposed_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["accounts.id"],
            name=op.f("fk_program_rules_changes_decided_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_program_rules_changes")),
        sa.UniqueConstraint("version", name=op.f("uq_program_rules_changes_version")),
    )
    op.create_index(
        "uq_program_rules_changes_one_open",
        "program_rules_changes",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'proposed'"),
        sqlite_where=sa.text("status = 'proposed'"),
    )


def downgrade() -> None:
    op.drop_index("uq_program_rules_changes_one_open", table_name="program_rules_changes")
    op.drop_table("program_rules_changes")
