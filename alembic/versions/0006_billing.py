"""billing

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Membership billing (issue 5): checkout and activation facts on memberships, reversals on invoices, refunds and
disputes, recorded terms acceptance, once-only scheduled notices, reconciliation runs, the inbox subject (the
provider customer) and the sandbox payment provider's state. Column changes use batch mode for SQLite.
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("started_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("finished_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("drift_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "detail",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "cockroachdb")
            .with_variant(advanced_alchemy.types.json.ORA_JSONB(), "oracle")
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    op.create_index(
        "ix_reconciliation_runs_kind_finished", "reconciliation_runs", ["kind", "finished_at"], unique=False
    )
    op.create_table(
        "sandbox_payment_objects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "data",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "cockroachdb")
            .with_variant(advanced_alchemy.types.json.ORA_JSONB(), "oracle")
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_payment_objects")),
    )
    op.create_index(op.f("ix_sandbox_payment_objects_kind"), "sandbox_payment_objects", ["kind"], unique=False)
    op.create_table(
        "terms_acceptances",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("terms_version", sa.String(length=32), nullable=False),
        sa.Column("payment_authorization", sa.Boolean(), nullable=False),
        sa.Column("accepted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_terms_acceptances_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terms_acceptances")),
    )
    op.create_index(op.f("ix_terms_acceptances_account_id"), "terms_acceptances", ["account_id"], unique=False)
    op.create_table(
        "scheduled_notices",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("membership_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("notice_key", sa.String(length=128), nullable=False),
        sa.Column("raised_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_scheduled_notices_membership_id_memberships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_notices")),
        sa.UniqueConstraint("membership_id", "notice_key", name="uq_scheduled_notices_key"),
    )
    op.create_table(
        "disputes",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("payment_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("provider_dispute_id", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("closed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'won', 'lost')", name=op.f("ck_disputes_status_known")),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_disputes_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_disputes_payment_id_payments"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("provider_dispute_id", name=op.f("uq_disputes_provider_dispute_id")),
    )
    op.create_index(op.f("ix_disputes_payment_id"), "disputes", ["payment_id"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("payment_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("provider_refund_id", name=op.f("uq_refunds_provider_refund_id")),
    )
    op.create_index(op.f("ix_refunds_payment_id"), "refunds", ["payment_id"], unique=False)
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("reversed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)))
        batch.add_column(sa.Column("hosted_invoice_url", sa.Text(), nullable=True))
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("checkout_session_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("checkout_url", sa.Text(), nullable=True))
        for column in (
            "checkout_expires_at",
            "grace_ends_at",
            "cancel_requested_at",
            "billing_paused_at",
            "retention_prepaid_at",
            "next_due_at",
        ):
            batch.add_column(sa.Column(column, advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)))
        batch.add_column(sa.Column("joining_invoice_id", sa.String(length=255), nullable=True))
        batch.create_unique_constraint(op.f("uq_memberships_checkout_session_id"), ["checkout_session_id"])
        batch.create_unique_constraint(op.f("uq_memberships_joining_invoice_id"), ["joining_invoice_id"])
        batch.create_index(op.f("ix_memberships_next_due_at"), ["next_due_at"])
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("provider_charge_id", sa.String(length=255), nullable=True))
        batch.create_unique_constraint(op.f("uq_payments_provider_charge_id"), ["provider_charge_id"])
    with op.batch_alter_table("provider_inbox") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=255), nullable=True))
    op.create_index(
        "ix_provider_inbox_subject_unprocessed",
        "provider_inbox",
        ["provider", "subject"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_provider_inbox_subject_unprocessed", table_name="provider_inbox")
    with op.batch_alter_table("provider_inbox") as batch:
        batch.drop_column("subject")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(op.f("uq_payments_provider_charge_id"), type_="unique")
        batch.drop_column("provider_charge_id")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_index(op.f("ix_memberships_next_due_at"))
        batch.drop_constraint(op.f("uq_memberships_joining_invoice_id"), type_="unique")
        batch.drop_constraint(op.f("uq_memberships_checkout_session_id"), type_="unique")
        for column in (
            "next_due_at",
            "retention_prepaid_at",
            "billing_paused_at",
            "cancel_requested_at",
            "grace_ends_at",
            "joining_invoice_id",
            "checkout_expires_at",
            "checkout_url",
            "checkout_session_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("hosted_invoice_url")
        batch.drop_column("reversed_at")
    op.drop_index(op.f("ix_refunds_payment_id"), table_name="refunds")
    op.drop_table("refunds")
    op.drop_index(op.f("ix_disputes_payment_id"), table_name="disputes")
    op.drop_table("disputes")
    op.drop_table("scheduled_notices")
    op.drop_index(op.f("ix_terms_acceptances_account_id"), table_name="terms_acceptances")
    op.drop_table("terms_acceptances")
    op.drop_index(op.f("ix_sandbox_payment_objects_kind"), table_name="sandbox_payment_objects")
    op.drop_table("sandbox_payment_objects")
    op.drop_index("ix_reconciliation_runs_kind_finished", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")
