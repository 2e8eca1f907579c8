"""Every process running components keeps its own reports (several notifier workers):
the primary key of ``component_reports`` becomes (name, process).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("component_reports_pkey", "component_reports", type_="primary")
    op.create_primary_key("component_reports_pkey", "component_reports", ["name", "process"])


def downgrade() -> None:
    op.execute("DELETE FROM component_reports a USING component_reports b "
               "WHERE a.name = b.name AND a.reported_at < b.reported_at")
    op.drop_constraint("component_reports_pkey", "component_reports", type_="primary")
    op.create_primary_key("component_reports_pkey", "component_reports", ["name"])
