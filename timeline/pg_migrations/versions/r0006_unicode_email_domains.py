"""Internationalised domains are stored as Unicode (``müller.de``, not ``xn--mller-kva.de``):
e-mail identities, inbound addresses and agents' sign-in addresses stored the other way are
rewritten, so mail from either spelling still finds its customer, office or agent. A
customer who had both spellings keeps one; an address whose Unicode form is already taken
elsewhere (an inbound address, an agent's e-mail) stays as it was.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from timeline.identity import unicode_email

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, customer_id, value FROM identities "
        "WHERE kind = 'email' AND value LIKE '%xn--%'")).all()
    for row_id, customer_id, value in rows:
        new = unicode_email(value)
        if new == value:
            continue
        taken = bind.execute(sa.text(
            "SELECT 1 FROM identities WHERE customer_id = :c AND kind = 'email' "
            "AND value = :v"), {"c": customer_id, "v": new}).first()
        if taken:
            bind.execute(sa.text("DELETE FROM identities WHERE id = :i"), {"i": row_id})
        else:
            bind.execute(sa.text("UPDATE identities SET value = :v WHERE id = :i"),
                         {"v": new, "i": row_id})
    for table, column in (("inbound_addresses", "address"), ("agent_logins", "email")):
        values = bind.execute(sa.text(
            f"SELECT {column} FROM {table} WHERE {column} LIKE '%xn--%'")).scalars().all()  # noqa: S608 -- fixed names
        for value in values:
            new = unicode_email(value)
            taken = bind.execute(sa.text(f"SELECT 1 FROM {table} WHERE {column} = :v"),  # noqa: S608
                                 {"v": new}).first()
            if new != value and not taken:
                bind.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE {column} = :o"),  # noqa: S608
                             {"v": new, "o": value})


def downgrade() -> None:
    """Nothing to undo: both spellings name the same mailbox."""
