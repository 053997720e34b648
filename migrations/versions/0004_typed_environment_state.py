"""typed environment state: the flags in environments.spec become columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

The JSON `spec` bag held nine status flags written from six modules. Each becomes a column;
existing rows are converted both ways, so a downgrade restores the bag as it was.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# column -> (key in the old JSON bag, its default there)
FLAGS: dict[str, tuple[str, Any]] = {
    'created': ('created', False),
    'delete_requested': ('delete_requested', False),
    'needs_refresh': ('refresh', False),
    'failed_while': ('failed_while', ''),
    'retry_round': ('round', 0),
    'drift': ('drift', ''),
    'drift_count': ('drift_count', 0),
    'cloud_cleanup': ('cloud_cleanup', 'pending'),
    'cloud_passes': ('cloud_passes', 0),
}


def _table(*extra: sa.Column[Any]) -> sa.TableClause:
    return sa.table('environments', sa.column('id', sa.String()), *extra)


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column('created', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('delete_requested', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('needs_refresh', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('failed_while', sa.String(length=16), server_default='', nullable=False),
        sa.Column('retry_round', sa.Integer(), server_default='0', nullable=False),
        sa.Column('drift', sa.Text(), server_default='', nullable=False),
        sa.Column('drift_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('cloud_cleanup', sa.String(length=16), server_default='pending', nullable=False),
        sa.Column('cloud_passes', sa.Integer(), server_default='0', nullable=False),
    ]


def _typed(column: str, value: Any) -> Any:
    default = FLAGS[column][1]
    if value is None:
        return default
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int):
        return int(value)
    return str(value)


def upgrade() -> None:
    with op.batch_alter_table('environments', schema=None) as batch_op:
        for column in _columns():
            batch_op.add_column(column)
    bind = op.get_bind()
    old = _table(sa.column('spec', sa.JSON()))
    rows = bind.execute(sa.select(old.c.id, old.c.spec)).all()
    new = _table(*(sa.column(name) for name in FLAGS))
    for row_id, spec in rows:
        bag = spec or {}
        values = {col: _typed(col, bag.get(key)) for col, (key, _) in FLAGS.items()}
        bind.execute(sa.update(new).where(new.c.id == row_id).values(**values))
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.drop_column('spec')


def downgrade() -> None:
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spec', sa.JSON(), nullable=True))
    bind = op.get_bind()
    typed = _table(*(sa.column(name) for name in FLAGS))
    rows = bind.execute(sa.select(typed)).mappings().all()
    bag_table = _table(sa.column('spec', sa.JSON()))
    for row in rows:
        bag = {
            key: row[col]
            for col, (key, default) in FLAGS.items()
            if row[col] != default
        }
        bind.execute(sa.update(bag_table).where(bag_table.c.id == row['id']).values(spec=bag))
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.alter_column('spec', existing_type=sa.JSON(), nullable=False)
        for column in reversed(_columns()):
            batch_op.drop_column(column.name)
