"""Notification jobs are written with their entries: the notification outbox goes (rows
left in it become pending jobs first, as a claim would have made them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO notify_jobs (id, office_id, entry_id, customer_id, status, attempts, "
        "generation, next_at, skip_channels, created_at, updated_at) "
        "SELECT '01' || upper(substr(md5(random()::text || o.id::text), 1, 24)), o.office_id, "
        "o.entry_id, e.customer_id, 'pending', 0, 0, o.created_at, '[]'::jsonb, o.created_at, "
        "o.created_at FROM notify_outbox o JOIN entries e ON e.id = o.entry_id ORDER BY o.id "
        "ON CONFLICT (entry_id) DO NOTHING")
    op.drop_table("notify_outbox")


def downgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("office_id", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
