"""``timeline.repositories.TelegramUpdateStore`` on PostgreSQL: received Telegram updates.
Part of ``PgInbound``; usable on its own. Twin of ``timeline/sqlite_telegram.py``.

An update is written here before it is processed and before Telegram hears that it arrived,
so neither a crash nor a backoff loses it; once processed its content is dropped and only
its id is kept (to recognise a redelivery) until :meth:`prune_telegram_updates`.

Several processes may drain one bot's updates (webhook mode behind several hub processes or
workers), while the drain (``connectors/telegram/inbox.py``) relies on SQLite's single
process: each update handled once, the updates of a chat in ``update_id`` order, a failed one
holding back the later ones of its chat. So here :meth:`pending_telegram_updates` *claims*
what it returns for this store (one per process): a chat belongs to one store at a time. It
returns the pending updates of every chat no other store holds, and marks them
``claimed_by`` this store until ``now + LEASE``; the chats another store holds are left out
whole (their later updates too, so they cannot overtake). A claim ends when the update is
finished; updates waiting for a retry stay claimed. Claims are renewed by the
``pending``/``finish``/``retry`` calls of their store (``_renew_now_and_then``), so a store
that stops or crashes gives its chats free after at most ``LEASE`` (an update that took
longer than ``LEASE / 2`` to handle could then be handled twice; ingest is idempotent on
the message id).

Claiming is serialised per office and bot by a transaction-scoped advisory lock
(``pg_advisory_xact_lock(LOCK_CLASS, hashtext(office:bot))``, the two-key form, so it never
meets the entry-key locks of ``pg_seq``): the claim statement then sees every earlier claim
committed. ``FOR UPDATE SKIP LOCKED`` alone would let a second process take a later update
of a chat whose earlier one the first process holds. Renewals take the same lock first, so a
claim and a renewal never wait for each other's rows."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.ids import new_ulid
from timeline.pg_db import PgDb
from timeline.pg_rows import PgRepository
from timeline.repositories import ReceivedUpdate
from timeline.sql_tables import telegram_updates as tu

LEASE = timedelta(minutes=5)
"""How long a claim outlives the last renewal by the store holding it."""
LOCK_CLASS = 0x7467  # "tg"
"""First key of the claim lock (the second is a hash of office and bot)."""
_RENEW_EVERY = LEASE.total_seconds() / 4

_LOCK = sa.text("SELECT pg_advisory_xact_lock(:cls, hashtext(:key))")
_UPDATE_COLS = (tu.c.update_id, tu.c.chat_id, tu.c.received_at, tu.c.raw, tu.c.attempts,
                tu.c.next_at, tu.c.last_error)


class PgTelegramUpdates(PgRepository):
    def __init__(self, db: PgDb) -> None:
        super().__init__(db)
        self.claimant = "store-" + new_ulid()
        """Who this store's claims belong to (one per store, i.e. per process)."""
        self._renewed: dict[tuple[str, int], float] = {}

    async def add_telegram_update(self, office_id: str, bot_id: int, update_id: int,
                                  chat_id: int | None, raw: bytes, received_at: datetime
                                  ) -> bool:
        stmt = insert(tu).values(
            office_id=office_id, bot_id=bot_id, update_id=update_id, chat_id=chat_id,
            received_at=received_at, raw=raw, next_at=received_at,
        ).on_conflict_do_nothing(index_elements=[tu.c.office_id, tu.c.bot_id, tu.c.update_id]
                                 ).returning(tu.c.update_id)
        async with self.db.begin() as conn:
            return await conn.scalar(stmt) is not None

    async def pending_telegram_updates(self, office_id: str, bot_id: int, limit: int = 500
                                       ) -> list[ReceivedUpdate]:
        """Oldest first by ``update_id``; only chats no other store holds, which are this
        store's from now on (module docstring)."""
        cand, other = tu.alias("cand"), tu.alias("other")
        held_elsewhere = sa.exists().where(
            other.c.office_id == office_id, other.c.bot_id == bot_id,
            other.c.status == "pending",
            other.c.chat_id.is_not_distinct_from(cand.c.chat_id),
            other.c.claimed_by.is_distinct_from(self.claimant),
            other.c.claimed_until > sa.func.now())
        picked = (sa.select(cand.c.update_id)
                  .where(cand.c.office_id == office_id, cand.c.bot_id == bot_id,
                         cand.c.status == "pending", ~held_elsewhere)
                  .order_by(cand.c.update_id).limit(limit))
        claim = (sa.update(tu)
                 .where(tu.c.office_id == office_id, tu.c.bot_id == bot_id,
                        tu.c.status == "pending", tu.c.update_id.in_(picked.scalar_subquery()))
                 .values(claimed_by=self.claimant, claimed_until=sa.func.now() + LEASE)
                 .returning(*_UPDATE_COLS))
        async with self.db.begin() as conn:
            await self._lock(conn, office_id, bot_id)
            await self._renew(conn, office_id, bot_id)
            rows = (await conn.execute(claim)).all()
        return [ReceivedUpdate(update_id=u, chat_id=c, received_at=r, raw=bytes(raw),
                               attempts=a, next_at=n, last_error=e)
                for u, c, r, raw, a, n, e in sorted(rows, key=lambda row: int(row[0]))]

    async def finish_telegram_update(self, office_id: str, bot_id: int, update_id: int
                                     ) -> None:
        async with self.db.begin() as conn:
            await self._renew_now_and_then(conn, office_id, bot_id)
            await conn.execute(sa.update(tu).where(
                tu.c.office_id == office_id, tu.c.bot_id == bot_id, tu.c.update_id == update_id,
            ).values(status="done", raw=None, chat_id=None, last_error=None, claimed_by=None,
                     claimed_until=None))

    async def retry_telegram_update(self, office_id: str, bot_id: int, update_id: int,
                                    next_at: datetime, error: str) -> None:
        """The update stays with the store that holds it (and holds back its chat)."""
        async with self.db.begin() as conn:
            await self._renew_now_and_then(conn, office_id, bot_id)
            await conn.execute(sa.update(tu).where(
                tu.c.office_id == office_id, tu.c.bot_id == bot_id, tu.c.update_id == update_id,
                tu.c.status == "pending",
            ).values(attempts=tu.c.attempts + 1, next_at=next_at, last_error=error[:500]))

    async def prune_telegram_updates(self, before: datetime) -> int:
        async with self.db.begin() as conn:
            result = await conn.execute(sa.delete(tu).where(
                tu.c.status == "done", tu.c.received_at < before))
        return int(result.rowcount)

    # ------------------------------------------------------------------ claims
    async def _lock(self, conn: AsyncConnection, office_id: str, bot_id: int) -> None:
        await conn.execute(_LOCK, {"cls": LOCK_CLASS, "key": f"{office_id}:{bot_id}"})

    async def _renew(self, conn: AsyncConnection, office_id: str, bot_id: int) -> None:
        """Extend this store's claims on the bot's pending updates (under the lock) to
        ``LEASE``; only rows with less than ``3/4 LEASE`` left are written, so afterwards
        every claim lasts at least ``3/4 LEASE``."""
        self._renewed[(office_id, bot_id)] = time.monotonic()
        await conn.execute(sa.update(tu).where(
            tu.c.office_id == office_id, tu.c.bot_id == bot_id, tu.c.status == "pending",
            tu.c.claimed_by == self.claimant,
            tu.c.claimed_until < sa.func.now() + LEASE * 3 / 4,
        ).values(claimed_until=sa.func.now() + LEASE))

    async def _renew_now_and_then(self, conn: AsyncConnection, office_id: str, bot_id: int
                                  ) -> None:
        """Renew while a long drain runs, at most every ``LEASE / 4``, so one update may
        take up to ``LEASE / 2`` to handle before its claim could lapse (the lock first,
        then rows: the order a claim takes them in)."""
        last = self._renewed.get((office_id, bot_id))
        if last is not None and time.monotonic() - last < _RENEW_EVERY:
            return
        await self._lock(conn, office_id, bot_id)
        await self._renew(conn, office_id, bot_id)
