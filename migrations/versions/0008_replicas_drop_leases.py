"""drop the unused leases table

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

The job leader is a PostgreSQL advisory lock on a heartbeated connection (bot/leader.py); no
code ever read or wrote `leases`, so it goes. The downgrade recreates it empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('leases')


def downgrade() -> None:
    op.create_table(
        'leases',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=128), nullable=False),
        sa.Column('expires_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_leases')),
    )
