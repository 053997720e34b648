"""break-glass grants and their review: break_glass, review_due_at, review_next_at, reviewed_by,
reviewed_at on access_requests, and the index of the review job's due query

Revision ID: 0011_breakglass
Revises: 0010_sweeps
Create Date: 2026-11-30

Every existing request is an ordinary one (break_glass false, nothing to review).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0011_breakglass"
down_revision = "0010_sweeps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("break_glass", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("review_due_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("review_next_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reviewed_by", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("reviewed_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_access_requests_review_next_at", ["review_next_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_access_requests_review_next_at")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("review_next_at")
        batch_op.drop_column("review_due_at")
        batch_op.drop_column("break_glass")
