"""queue index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

Positions at scale (issue 7, decision D104): queue counts per time bucket at five levels, one head row that
serialises queue moves (N and the move sequence), the move log behind every member's position history, the
candidates index a round walks, and net fund inflow per day for the public estimate. Counts and inflows are
back-filled from existing rows; the move log starts empty (history begins at this upgrade).
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVEL_SHIFTS = (26, 22, 18, 14, 10)  # domain.queue_index.LEVEL_SHIFTS at this revision
QUEUE = "status IN ('ACTIVE', 'PAST_DUE')"
CANDIDATE = "status = 'ACTIVE' AND cancel_effective_at IS NULL"
WINNERS = "status IN ('WON', 'PAID', 'ENDED')"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "queue_counts",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("members >= 0", name=op.f("ck_queue_counts_members_not_negative")),
        sa.PrimaryKeyConstraint("level", "bucket_start", name=op.f("pk_queue_counts")),
    )
    op.create_table(
        "queue_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_queue_head_single_row")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_queue_head_size_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_head")),
    )
    op.create_table(
        "queue_moves",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("membership_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("tenure_start", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("member_number", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("size_after", sa.BigInteger(), nullable=False),
        sa.Column("shifts_others", sa.Boolean(), nullable=False),
        sa.CheckConstraint("position >= 1", name=op.f("ck_queue_moves_position_positive")),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_queue_moves_membership_id_memberships"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_queue_moves")),
    )
    op.create_index(
        "ix_queue_moves_key",
        "queue_moves",
        ["tenure_start", "member_number"],
        unique=False,
        postgresql_where=sa.text("shifts_others"),
        sqlite_where=sa.text("shifts_others"),
    )
    op.create_index(
        "ix_queue_moves_shifting_seq",
        "queue_moves",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("shifts_others"),
        sqlite_where=sa.text("shifts_others"),
    )
    op.create_index("ix_queue_moves_membership_seq", "queue_moves", ["membership_id", "seq"], unique=False)
    op.create_table(
        "fund_inflow_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "currency", name=op.f("pk_fund_inflow_days")),
    )
    op.create_index(
        "ix_memberships_candidates",
        "memberships",
        ["tenure_start", "member_number"],
        unique=False,
        postgresql_where=sa.text(CANDIDATE),
        sqlite_where=sa.text(CANDIDATE),
    )
    op.create_index(
        "ix_memberships_winners",
        "memberships",
        ["status"],
        unique=False,
        postgresql_where=sa.text(WINNERS),
        sqlite_where=sa.text(WINNERS),
    )

    epoch = (
        "CAST(strftime('%s', tenure_start) AS INTEGER)"
        if sqlite
        else "CAST(floor(extract(epoch FROM tenure_start)) AS BIGINT)"
    )
    for level, shift in enumerate(LEVEL_SHIFTS):
        op.execute(
            "INSERT INTO queue_counts (level, bucket_start, members) "
            f"SELECT {level}, (e >> {shift}) << {shift}, count(*) FROM (SELECT {epoch} AS e FROM memberships "
            f"WHERE {QUEUE}) AS q GROUP BY (e >> {shift}) << {shift}"
        )
    op.execute(f"INSERT INTO queue_head (id, size, last_seq) SELECT 1, count(*), 0 FROM memberships WHERE {QUEUE}")
    day = "date(e.occurred_at)" if sqlite else "CAST(e.occurred_at AT TIME ZONE 'UTC' AS DATE)"
    op.execute(
        "INSERT INTO fund_inflow_days (day, currency, cents) "
        f"SELECT {day}, p.currency, -sum(p.amount_cents) FROM ledger_postings p "
        "JOIN ledger_entries e ON e.id = p.entry_id "
        "WHERE p.account = 'fund' AND e.kind NOT IN ('commit', 'release') "
        f"GROUP BY {day}, p.currency"
    )


def downgrade() -> None:
    op.drop_index(
        "ix_memberships_winners",
        table_name="memberships",
        postgresql_where=sa.text(WINNERS),
        sqlite_where=sa.text(WINNERS),
    )
    op.drop_index(
        "ix_memberships_candidates",
        table_name="memberships",
        postgresql_where=sa.text(CANDIDATE),
        sqlite_where=sa.text(CANDIDATE),
    )
    op.drop_table("fund_inflow_days")
    op.drop_index("ix_queue_moves_membership_seq", table_name="queue_moves")
    op.drop_index(
        "ix_queue_moves_shifting_seq",
        table_name="queue_moves",
        postgresql_where=sa.text("shifts_others"),
        sqlite_where=sa.text("shifts_others"),
    )
    op.drop_index(
        "ix_queue_moves_key",
        table_name="queue_moves",
        postgresql_where=sa.text("shifts_others"),
        sqlite_where=sa.text("shifts_others"),
    )
    op.drop_table("queue_moves")
    op.drop_table("queue_head")
    op.drop_table("queue_counts")
