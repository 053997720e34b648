"""environment names unique per install, reserved until cloud cleanup is done

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Names were unique per workspace among live environments. Now a name is unique across the
install while its environment may hold objects, and after DELETED until a cluster's cloud
cleanup has finished (that cleanup finds leftovers by the cluster's name).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

LIVE = "state IN ('REQUESTED', 'PENDING_APPROVAL', 'PROVISIONING', 'READY', 'DELETING', 'FAILED')"
RESERVED = f"{LIVE} OR (state = 'DELETED' AND kind = 'cluster' AND cloud_cleanup = 'pending')"


def upgrade() -> None:
    clashes = op.get_bind().execute(
        sa.text(
            f"SELECT name, COUNT(*) FROM environments WHERE {RESERVED} "
            "GROUP BY name HAVING COUNT(*) > 1 ORDER BY name"
        )
    ).all()
    if clashes:
        names = ', '.join(f'{name} ({count}x)' for name, count in clashes)
        raise RuntimeError(
            f"environment names must now be unique across workspaces, but these are held by "
            f"more than one live environment (or one whose cloud cleanup is pending): {names}. "
            "Delete all but one of each (/env delete) and wait for their cleanup, then migrate again."
        )
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.drop_index('uq_environments_live_name', sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
        batch_op.create_index('uq_environments_reserved_name', ['name'], unique=True, sqlite_where=sa.text(RESERVED), postgresql_where=sa.text(RESERVED))


def downgrade() -> None:
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.drop_index('uq_environments_reserved_name', sqlite_where=sa.text(RESERVED), postgresql_where=sa.text(RESERVED))
        batch_op.create_index('uq_environments_live_name', ['workspace', 'name'], unique=True, sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
