"""``timeline.repositories.CallRepository`` on PostgreSQL: the state of each CTI call (events
may arrive out of order, so the call is remembered apart from its timeline entry). Part of
``PgInbound``; usable on its own. Twin of ``timeline/sqlite_calls.py``.

Saving is one ``INSERT … ON CONFLICT DO UPDATE`` (the row lock makes two concurrent saves of
one call follow each other; the later one wins, a customer once linked stays linked); the
live event goes in the same transaction. The read-modify-write around it (read the state,
apply a CTI event, save) spans several calls: the phone service saves with
``replace_call_state``, which writes only while the row still holds the state it read
(``UPDATE … WHERE state = <what was read>``, or ``INSERT … ON CONFLICT DO NOTHING`` for a
call not stored yet; the row lock makes a second writer re-check after the first commits)
and otherwise starts over from the newer state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert

from timeline.models import utcnow
from timeline.pg_events import add_event
from timeline.pg_rows import PgRepository
from timeline.sql_tables import cti_calls


class PgCalls(PgRepository):
    async def call_state(self, office_id: str, call_id: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            state = await conn.scalar(sa.select(cti_calls.c.state).where(
                cti_calls.c.office_id == office_id, cti_calls.c.call_id == call_id))
        return None if state is None else dict(state)

    async def save_call_state(self, office_id: str, call_id: str, state: dict[str, Any],
                              customer_id: str | None = None, *, event: str | None = None,
                              entry_id: str | None = None,
                              event_data: dict[str, Any] | None = None) -> None:
        """With ``event`` (``call.ringing``, …) a live-event row (with ``event_data``) goes
        in the same transaction."""
        stmt = insert(cti_calls).values(office_id=office_id, call_id=call_id, state=state,
                                        customer_id=customer_id, updated_at=utcnow())
        stmt = stmt.on_conflict_do_update(
            index_elements=[cti_calls.c.office_id, cti_calls.c.call_id],
            set_={"state": stmt.excluded.state,
                  "customer_id": sa.func.coalesce(stmt.excluded.customer_id,
                                                  cti_calls.c.customer_id),
                  "updated_at": stmt.excluded.updated_at})
        async with self.db.begin() as conn:
            await conn.execute(stmt)
            if event is not None:
                await add_event(conn, (office_id, event, customer_id, entry_id, call_id),
                                event_data or {})

    async def replace_call_state(self, office_id: str, call_id: str,
                                 current: dict[str, Any] | None, state: dict[str, Any],
                                 customer_id: str | None = None, *, event: str | None = None,
                                 entry_id: str | None = None,
                                 event_data: dict[str, Any] | None = None) -> bool:
        c = cti_calls.c
        now = utcnow()
        stmt: Any
        if current is None:
            stmt = (insert(cti_calls).values(office_id=office_id, call_id=call_id,
                                             state=state, customer_id=customer_id,
                                             updated_at=now)
                    .on_conflict_do_nothing(index_elements=[c.office_id, c.call_id]))
        else:
            stmt = (sa.update(cti_calls)
                    .where(c.office_id == office_id, c.call_id == call_id,
                           c.state == sa.cast(current, JSONB))
                    .values(state=state, updated_at=now,
                            customer_id=sa.func.coalesce(sa.literal(customer_id, sa.Text),
                                                         c.customer_id)))
        async with self.db.begin() as conn:
            if (await conn.execute(stmt.returning(c.call_id))).first() is None:
                return False
            if event is not None:
                await add_event(conn, (office_id, event, customer_id, entry_id, call_id),
                                event_data or {})
        return True

    async def unended_calls(self, updated_before: datetime, limit: int = 500
                            ) -> list[tuple[str, str]]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT office_id, call_id FROM cti_calls WHERE updated_at < :before "
                "AND state->>'ended_at' IS NULL "
                "AND NOT coalesce((state->>'dropped')::boolean, false) "
                "AND NOT coalesce((state->>'internal')::boolean, false) "
                "ORDER BY updated_at LIMIT :n"), {"before": updated_before, "n": limit})).all()
        return [(str(r[0]), str(r[1])) for r in rows]
