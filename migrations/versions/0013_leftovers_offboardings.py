"""offboardings: a deactivated user's handover, committed first and worked off by a job

Revision ID: 0013_leftovers
Revises: 0012_approvals
Create Date: 2026-11-30

`user_change` with `deleted: true` used to hand over every environment inside the listener,
looking each heir up in Slack between transactions; a crash or a Slack fault midway left it
half done. Now the listener commits one row here and the offboarding job works it off, with
retries and backoff, until `done_at`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0013_leftovers"
down_revision = "0012_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offboardings",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("requested_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_offboardings")),
    )
    with op.batch_alter_table("offboardings", schema=None) as batch_op:
        batch_op.create_index("ix_offboardings_due_at", ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offboardings", schema=None) as batch_op:
        batch_op.drop_index("ix_offboardings_due_at")
    op.drop_table("offboardings")
