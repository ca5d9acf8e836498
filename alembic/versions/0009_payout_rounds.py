"""payout rounds

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

Payout rounds and payouts (issue 8): the program-state row (payouts-frozen switch, the evaluation lock), every
evaluation, rounds keyed by date with their salted snapshot, payouts with approvals, two-person staff requests,
winner details and W-9s (sealed), rail transfers and withholding remittances.
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = (
    "payout_rounds",
    "round_entries",
    "round_verdicts",
    "round_chunks",
    "round_evaluations",
    "payout_approvals",
    "withholding_remittances",
)
"""A round, its snapshot and every evaluation, approval and remittance are facts: never edited or removed
(the function `refuse_append_only_change` comes from revision 0001)."""


def upgrade() -> None:
    op.create_table(
        "payout_rounds",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("round_key", sa.Date(), nullable=False),
        sa.Column("evaluated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("triggered_by", sa.String(length=64), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fund_before_cents", sa.BigInteger(), nullable=False),
        sa.Column("reward_cents", sa.BigInteger(), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("queue_size", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_through", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "fund_before_cents >= reward_cents * winners", name=op.f("ck_payout_rounds_fund_covers_rewards")
        ),
        sa.CheckConstraint("winners >= 1", name=op.f("ck_payout_rounds_winners_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_rounds")),
        sa.UniqueConstraint("round_key", name=op.f("uq_payout_rounds_round_key")),
    )
    op.create_table(
        "program_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("payouts_frozen", sa.Boolean(), nullable=False),
        sa.Column("changed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_program_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_program_state")),
    )
    op.execute("INSERT INTO program_state (id, payouts_frozen) VALUES (1, FALSE)")
    with op.batch_alter_table("kyc_records") as batch:  # batch: SQLite rebuilds the table
        batch.add_column(sa.Column("name_digest", sa.String(length=64), nullable=True))
    op.create_table(
        "round_evaluations",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("evaluated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("triggered_by", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("blockers", sa.Text(), nullable=False),
        sa.Column("fund_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("queue_size", sa.BigInteger(), nullable=False),
        sa.Column("round_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["payout_rounds.id"],
            name=op.f("fk_round_evaluations_round_id_payout_rounds"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_evaluations")),
    )
    op.create_index(op.f("ix_round_evaluations_evaluated_at"), "round_evaluations", ["evaluated_at"], unique=False)
    op.create_table(
        "staff_requests",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("requested_by", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("requested_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("resolved_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("resolved_by", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["accounts.id"], name=op.f("fk_staff_requests_requested_by_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["accounts.id"], name=op.f("fk_staff_requests_resolved_by_accounts"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_requests")),
    )
    op.create_index(
        "uq_staff_requests_one_open",
        "staff_requests",
        ["kind", "target_id"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
        sqlite_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "withholding_remittances",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("remitted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("recorded_by", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_withholding_remittances_amount_positive")),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["accounts.id"],
            name=op.f("fk_withholding_remittances_recorded_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withholding_remittances")),
        sa.UniqueConstraint("reference", name=op.f("uq_withholding_remittances_reference")),
    )
    op.create_table(
        "payouts",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("round_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("membership_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("selected_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("first_approved_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("hold_until", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("approval_generation", sa.Integer(), nullable=False),
        sa.Column("withholding_cents", sa.BigInteger(), nullable=True),
        sa.Column("retention_cents", sa.BigInteger(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("withholding_corrections", sa.Integer(), nullable=False),
        sa.Column("completed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=32), nullable=True),
        sa.Column("cancel_disqualifying", sa.Boolean(), nullable=True),
        sa.Column("cancel_requested_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'approved', 'scheduled', 'processing', 'completed', 'failed', "
            "'returned', 'cancelled')",
            name=op.f("ck_payouts_status_known"),
        ),
        sa.CheckConstraint(
            "(withholding_cents IS NULL) = (retention_cents IS NULL)", name=op.f("ck_payouts_amounts_frozen_together")
        ),
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_payouts_attempt_not_negative")),
        sa.CheckConstraint("gross_cents > 0", name=op.f("ck_payouts_gross_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payouts_account_id_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_payouts_membership_id_memberships"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["payout_rounds.id"], name=op.f("fk_payouts_round_id_payout_rounds"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("round_id", "membership_id", name="uq_payouts_round_membership"),
    )
    op.create_index(op.f("ix_payouts_account_id"), "payouts", ["account_id"], unique=False)
    op.create_index("ix_payouts_status", "payouts", ["status", "selected_at"], unique=False)
    op.create_index(
        "uq_payouts_one_open_per_membership",
        "payouts",
        ["membership_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'cancelled'"),
        sqlite_where=sa.text("status <> 'cancelled'"),
    )
    op.create_table(
        "round_entries",
        sa.Column("round_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_number", sa.BigInteger(), nullable=False),
        sa.Column("membership_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("tenure_start", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("round_id", "position", name=op.f("pk_round_entries")),
    )
    op.create_index(
        "ix_round_entries_key", "round_entries", ["round_id", "tenure_start", "member_number"], unique=False
    )
    op.create_table(
        "round_chunks",
        sa.Column("round_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("chunk_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["payout_rounds.id"],
            name=op.f("fk_round_chunks_round_id_payout_rounds"),
            ondelete="RESTRICT",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("round_id", "chunk_index", name=op.f("pk_round_chunks")),
    )
    op.create_table(
        "round_verdicts",
        sa.Column("round_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("membership_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["payout_rounds.id"],
            name=op.f("fk_round_verdicts_round_id_payout_rounds"),
            ondelete="RESTRICT",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("round_id", "membership_id", name=op.f("pk_round_verdicts")),
    )
    op.create_table(
        "payout_approvals",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("payout_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("staff_account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("finance", sa.Boolean(), nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name=op.f("fk_payout_approvals_payout_id_payouts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["staff_account_id"],
            ["accounts.id"],
            name=op.f("fk_payout_approvals_staff_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_approvals")),
        sa.UniqueConstraint("payout_id", "generation", "staff_account_id", name="uq_payout_approvals_once"),
    )
    op.create_table(
        "payout_details",
        sa.Column("payout_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("holder_name", sa.Text(), nullable=True),
        sa.Column("routing_number", sa.String(length=9), nullable=True),
        sa.Column("account_type", sa.String(length=8), nullable=True),
        sa.Column("account_last4", sa.String(length=4), nullable=True),
        sa.Column("account_sealed", sa.LargeBinary(), nullable=True),
        sa.Column(
            "address",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "cockroachdb")
            .with_variant(advanced_alchemy.types.json.ORA_JSONB(), "oracle")
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("address_verified", sa.Boolean(), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("method IN ('ach', 'cheque')", name=op.f("ck_payout_details_method_known")),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name=op.f("fk_payout_details_payout_id_payouts"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("payout_id", name=op.f("pk_payout_details")),
    )
    op.create_table(
        "payout_tax_forms",
        sa.Column("payout_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("legal_name", sa.Text(), nullable=False),
        sa.Column("tin_type", sa.String(length=3), nullable=False),
        sa.Column("tin_last4", sa.String(length=4), nullable=False),
        sa.Column("tin_sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "address",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "cockroachdb")
            .with_variant(advanced_alchemy.types.json.ORA_JSONB(), "oracle")
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("certified", sa.Boolean(), nullable=False),
        sa.Column("signed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("tin_type IN ('ssn', 'ein')", name=op.f("ck_payout_tax_forms_tin_type_known")),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name=op.f("fk_payout_tax_forms_payout_id_payouts"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("payout_id", name=op.f("pk_payout_tax_forms")),
    )
    op.create_table(
        "payout_transfers",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("payout_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("rail", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("claimed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("submitted_by", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("trace_number", sa.String(length=32), nullable=True),
        sa.Column("sent_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(reference IS NULL) = (sent_at IS NULL)", name=op.f("ck_payout_transfers_sent_has_reference")
        ),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name=op.f("fk_payout_transfers_payout_id_payouts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"],
            ["accounts.id"],
            name=op.f("fk_payout_transfers_submitted_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_transfers")),
        sa.UniqueConstraint("payout_id", "attempt", name="uq_payout_transfers_attempt"),
    )
    _append_only(create=True)


def _append_only(create: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in APPEND_ONLY_TABLES:
        if sqlite:
            for operation in ("UPDATE", "DELETE"):
                name = f"{table}_no_{operation.lower()}"
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
                    if create
                    else f"DROP TRIGGER {name}"
                )
            continue
        if create:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change()"
            )
        else:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")


def downgrade() -> None:
    _append_only(create=False)
    with op.batch_alter_table("kyc_records") as batch:
        batch.drop_column("name_digest")
    op.drop_table("payout_transfers")
    op.drop_table("payout_tax_forms")
    op.drop_table("payout_details")
    op.drop_table("payout_approvals")
    op.drop_table("round_verdicts")
    op.drop_table("round_chunks")
    op.drop_index("ix_round_entries_key", table_name="round_entries")
    op.drop_table("round_entries")
    op.drop_index(
        "uq_payouts_one_open_per_membership",
        table_name="payouts",
        postgresql_where=sa.text("status <> 'cancelled'"),
        sqlite_where=sa.text("status <> 'cancelled'"),
    )
    op.drop_index("ix_payouts_status", table_name="payouts")
    op.drop_index(op.f("ix_payouts_account_id"), table_name="payouts")
    op.drop_table("payouts")
    op.drop_table("withholding_remittances")
    op.drop_index(
        "uq_staff_requests_one_open",
        table_name="staff_requests",
        postgresql_where=sa.text("resolved_at IS NULL"),
        sqlite_where=sa.text("resolved_at IS NULL"),
    )
    op.drop_table("staff_requests")
    op.drop_index(op.f("ix_round_evaluations_evaluated_at"), table_name="round_evaluations")
    op.drop_table("round_evaluations")
    op.drop_table("program_state")
    op.drop_table("payout_rounds")
