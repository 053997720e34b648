"""cloud hosts and deleting since on environments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

`cloud_hosts` keeps the DNS names of a cluster's load balancers (recorded before they are
deleted) and its ingress host, so the cleanup after DELETED deletes only records pointing at
them. `deleting_since` says when the current deletion started, for the stuck-in-DELETING report.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[Any], ...]:
    return (
        sa.Column('cloud_hosts', sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column('deleting_since', bot.db.types.UTCDateTime(timezone=True), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table('environments', schema=None) as batch_op:
        for column in _columns():
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table('environments', schema=None) as batch_op:
        for column in reversed(_columns()):
            batch_op.drop_column(column.name)
