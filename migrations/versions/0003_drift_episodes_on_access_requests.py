"""drift episodes on access requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

A grant that drifted is reported once per episode: `drift` holds what drifted while it lasts
("" when the objects match) and `drift_count` numbers the episodes, so each report is unique.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[str], sa.Column[int]]:
    return (
        sa.Column('drift', sa.Text(), server_default='', nullable=False),
        sa.Column('drift_count', sa.Integer(), server_default='0', nullable=False),
    )


def upgrade() -> None:
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        for column in _columns():
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        for column in reversed(_columns()):
            batch_op.drop_column(column.name)
