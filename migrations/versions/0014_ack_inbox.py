"""the inbound inbox: acknowledged Slack requests waiting for a worker

Revision ID: 0014_ack
Revises: 0013_leftovers
Create Date: 2026-11-30

The listener records each command, click, submission or event here (in the transaction that
records its dedupe key) and acks at once; a worker pool runs the row and deletes it in the
transaction of the work's first write, so a crash after the ack no longer loses the request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0014_ack"
down_revision = "0013_leftovers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_inbox")),
    )
    op.create_index("ix_inbox_claimed_until", "inbox", ["claimed_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbox_claimed_until", table_name="inbox")
    op.drop_table("inbox")
