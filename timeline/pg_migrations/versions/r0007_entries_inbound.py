"""The office's customers waiting for an answer (``timeline.replies``): a partial index on
inbound entries by office and seq, so the window of recent messages is read without the
office's other entries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("entries_inbound", "entries", ["office_id", "seq"],
                    postgresql_where=sa.text("direction = 'inbound'"))


def downgrade() -> None:
    op.drop_index("entries_inbound", table_name="entries")
