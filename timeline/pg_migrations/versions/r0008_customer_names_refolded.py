"""Customers' names folded again by today's rules (``timeline.text.fold``: Latin letters
without a combining mark -- ``ł``, ``ø``, ``æ``, ``þ`` … -- are written as people type them),
so the name filter finds a ``Łukasz`` saved before by ``Lukasz`` (SQLite: migration 18).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from timeline.text import fold

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    bind = op.get_bind()
    after = ""
    while True:
        rows = bind.execute(sa.text(
            "SELECT id, name, name_fold FROM customers WHERE id > :after ORDER BY id "
            "LIMIT :n"), {"after": after, "n": BATCH}).all()
        if not rows:
            return
        changed = [{"i": row_id, "f": fold(name)} for row_id, name, name_fold in rows
                   if fold(name) != name_fold]
        if changed:
            bind.execute(sa.text("UPDATE customers SET name_fold = :f WHERE id = :i"), changed)
        after = rows[-1][0]


def downgrade() -> None:
    """Nothing to undo: the older folding finds less, never something else."""
