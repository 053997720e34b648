"""install id: a one-row table holding this install's id

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30

`envbot migrate` stores the id after upgrading (bot/db/install.py), from ENVBOT_INSTALL_ID or
fresh. READY environments are marked for a refresh, so the first pass after the upgrade adds
the install-id label to their objects (they carry this database's env ids: adoption).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0006'
down_revision = '0004'  # the lead re-chains this after another branch's 0005 when merging
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'install',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('install_id', sa.String(length=63), nullable=False),
        sa.Column('created_at', bot.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_install_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_install')),
    )
    envs = sa.table('environments', sa.column('state', sa.String()), sa.column('needs_refresh', sa.Boolean()))
    op.execute(envs.update().where(envs.c.state == 'READY').values(needs_refresh=True))


def downgrade() -> None:
    op.drop_table('install')
