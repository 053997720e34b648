"""indexes for every due query, and remind_at for reminders that cost nothing once sent

Revision ID: 0010_sweeps
Revises: 0009
Create Date: 2026-11-30

The access pending-timeout query filtered `pending_until` with no index, the card refresh
looked up an object's pending outbox updates with none, and retention's outbox delete read
every sent row (by status) to find the old ones. `remind_at` says when the reminders
job next has something to do for an object, so objects already reminded are never read
again; every live object starts armed (a moment in the past), and the first pass after the
upgrade works out each one's next reminder (already-sent ones are known by their outbox key).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0010_sweeps"
down_revision = "0009"
branch_labels = None
depends_on = None

WORKFLOW_TABLES = ("environments", "access_requests")
ARMED_STATES = ("READY", "ACTIVE")  # the states the reminders job reminds


def upgrade() -> None:
    for table in WORKFLOW_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("remind_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
            )
            batch_op.create_index(
                f"ix_{table}_state_remind_at", ["state", "remind_at"], unique=False
            )
        rows = sa.table(
            table,
            sa.column("state", sa.String()),
            sa.column("remind_at", bot.db.types.UTCDateTime(timezone=True)),
        )
        op.execute(
            rows.update()
            .where(rows.c.state.in_(ARMED_STATES))
            .values(remind_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_requests_state_pending_until", ["state", "pending_until"], unique=False
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_object", ["object_type", "object_id"], unique=False)
        batch_op.create_index(
            "ix_outbox_status_created_at", ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_created_at")
        batch_op.drop_index("ix_outbox_object")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_access_requests_state_pending_until")
    for table in reversed(WORKFLOW_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_state_remind_at")
            batch_op.drop_column("remind_at")
