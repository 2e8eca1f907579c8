"""Sign-in attempts counted in the store, not in each process's memory, so several server
processes share one limit (``AccountStore.take_attempt``; SQLite: migration 20).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("sign_in_attempts_key", "sign_in_attempts", ["scope", "key", "at"])
    op.create_index("sign_in_attempts_at", "sign_in_attempts", ["at"])


def downgrade() -> None:
    op.drop_table("sign_in_attempts")
