"""N of M approvals: one vote per approver, the card's view of them, and escalation

Revision ID: 0012_approvals
Revises: 0011_breakglass
Create Date: 2026-11-30

`approval_votes` records each Approve (unique per object and approver, so nobody counts twice);
`approval` on both workflow tables holds what the card shows of the approvals (required, who
approved when, who may still decide); `escalate_at` is when an undecided request escalates
(indexed with its state for the escalation job's due query) and `escalated_at` when it did.
Existing requests keep deciding with one approval, as before, and never escalate.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0012_approvals"
down_revision = "0011_breakglass"
branch_labels = None
depends_on = None

WORKFLOW_TABLES = ("environments", "access_requests")


def upgrade() -> None:
    op.create_table(
        "approval_votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=16), nullable=False),
        sa.Column("approver", sa.String(length=32), nullable=False),
        sa.Column("at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_votes")),
        sa.UniqueConstraint(
            "object_type",
            "object_id",
            "approver",
            name=op.f("uq_approval_votes_object_type"),
        ),
    )
    for table in WORKFLOW_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("approval", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
            )
            batch_op.add_column(
                sa.Column("escalate_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
            )
            batch_op.add_column(
                sa.Column("escalated_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
            )
            batch_op.create_index(
                f"ix_{table}_state_escalate_at", ["state", "escalate_at"], unique=False
            )


def downgrade() -> None:
    for table in reversed(WORKFLOW_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_state_escalate_at")
            batch_op.drop_column("escalated_at")
            batch_op.drop_column("escalate_at")
            batch_op.drop_column("approval")
    op.drop_table("approval_votes")
