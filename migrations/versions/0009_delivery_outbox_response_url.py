"""outbox rows for response_url answers, and the first claim time for crash recovery

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

`response_url` holds a private answer's hook (a credential: never logged); `claimed_at` is when
a row was first claimed, so a row left `sending` by a crash is looked up in Slack's history from
a little before it instead of being posted twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_url', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('claimed_at', bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('response_url')
