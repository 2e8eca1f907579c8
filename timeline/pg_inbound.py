"""``timeline.repositories.InboundRepository`` on PostgreSQL: office addresses and CTI token,
customer tokens (portal sessions, linking codes), quarantine, CTI call state
(``pg_calls``) and received Telegram updates (``pg_telegram``). Twin of
``timeline/sqlite_inbound.py``.

Where SQLite's single writer made a read-then-write safe, one statement does it here: the CTI
token is set only while the office has none (``COALESCE`` under the row lock, so two first
calls agree on one token); an address is claimed with ``ON CONFLICT DO NOTHING`` on its key
and then read back; a token is consumed by ``DELETE … RETURNING`` (two concurrent uses: one
wins, the other finds nothing); a quarantine item is inserted with ``ON CONFLICT DO NOTHING``
on the unique index over open items and then read back (a concurrent second add waits for
the first and returns its item)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from timeline.errors import NotFound
from timeline.ids import new_ulid
from timeline.models import QuarantineItem, utcnow
from timeline.pg_calls import PgCalls
from timeline.pg_components import PgComponentReports
from timeline.pg_telegram import PgTelegramUpdates
from timeline.sql_tables import customer_tokens, inbound_addresses, offices, quarantine

_Q = quarantine.c
_Q_COLS = (_Q.id, _Q.office_id, _Q.channel, _Q.reason, _Q.origin, _Q.raw_sha256, _Q.size,
           _Q.status, _Q.created_at, _Q.updated_at, _Q.entry_id)


def _quarantine(row: Mapping[Any, Any]) -> QuarantineItem:
    return QuarantineItem(
        id=row["id"], office_id=row["office_id"], channel=row["channel"],
        reason=row["reason"], origin=row["origin"], raw_sha256=row["raw_sha256"],
        size=row["size"], status=row["status"], created_at=row["created_at"],
        updated_at=row["updated_at"], entry_id=row["entry_id"])


class PgInbound(PgCalls, PgTelegramUpdates, PgComponentReports):
    """Addresses, the CTI token, customer tokens and quarantine; with the call state of
    ``PgCalls``, the Telegram updates of ``PgTelegramUpdates`` and the connectors' states of
    ``PgComponentReports``."""

    # ------------------------------------------------------------------ office config
    async def cti_token(self, office_id: str) -> str:
        """The office's CTI webhook token (created on first use); ``NotFound``: no such
        office."""
        async with self.db.begin() as conn:
            row = (await conn.execute(sa.select(offices.c.cti_token).where(
                offices.c.id == office_id))).first()
            if row is None:
                raise NotFound("no such office")
            if row[0]:
                return str(row[0])
            token = await conn.scalar(
                sa.update(offices).where(offices.c.id == office_id)
                .values(cti_token=sa.func.coalesce(offices.c.cti_token,
                                                   "cti_" + secrets.token_urlsafe(24)))
                .returning(offices.c.cti_token))
        if token is None:  # the office was deleted meanwhile
            raise NotFound("no such office")
        return str(token)

    async def office_for_cti_token(self, token: str) -> str | None:
        async with self.db.connect() as conn:
            found = await conn.scalar(sa.select(offices.c.id).where(offices.c.cti_token == token))
        return None if found is None else str(found)

    async def add_inbound_address(self, office_id: str, address: str) -> bool:
        """Claim an inbound address for the office; False if another office has it."""
        async with self.db.begin() as conn:
            await conn.execute(insert(inbound_addresses).values(
                address=address, office_id=office_id).on_conflict_do_nothing(
                index_elements=[inbound_addresses.c.address]))
            owner = await conn.scalar(sa.select(inbound_addresses.c.office_id).where(
                inbound_addresses.c.address == address))
        return bool(owner == office_id)

    async def remove_inbound_address(self, office_id: str, address: str) -> bool:
        async with self.db.begin() as conn:
            result = await conn.execute(sa.delete(inbound_addresses).where(
                inbound_addresses.c.address == address,
                inbound_addresses.c.office_id == office_id))
        return int(result.rowcount) > 0

    async def inbound_addresses(self, office_id: str | None = None) -> dict[str, str]:
        """address -> office id (all offices when ``office_id`` is None)."""
        stmt = sa.select(inbound_addresses.c.address, inbound_addresses.c.office_id)
        if office_id is not None:
            stmt = stmt.where(inbound_addresses.c.office_id == office_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {a: o for a, o in rows}

    # ------------------------------------------------------------------ customer tokens
    async def add_customer_token(self, office_id: str, customer_id: str, purpose: str,
                                 token_hash: str, expires_at: datetime) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(customer_tokens).values(
                token_hash=token_hash, office_id=office_id, customer_id=customer_id,
                purpose=purpose, created_at=utcnow(), expires_at=expires_at))

    async def resolve_customer_token(self, token_hash: str, purpose: str, *,
                                     consume: bool = False) -> tuple[str, str] | None:
        """(office id, customer id) for a valid, unexpired token of this purpose; with
        ``consume`` it is used up in the same statement (one of two concurrent uses wins)."""
        valid = (customer_tokens.c.token_hash == token_hash,
                 customer_tokens.c.purpose == purpose,
                 customer_tokens.c.expires_at >= utcnow())
        cols = (customer_tokens.c.office_id, customer_tokens.c.customer_id)
        if consume:
            async with self.db.begin() as conn:
                row = (await conn.execute(
                    sa.delete(customer_tokens).where(*valid).returning(*cols))).first()
        else:
            async with self.db.connect() as conn:
                row = (await conn.execute(sa.select(*cols).where(*valid))).first()
        return None if row is None else (str(row[0]), str(row[1]))

    async def revoke_customer_tokens(self, office_id: str, customer_id: str, purpose: str
                                     ) -> int:
        async with self.db.begin() as conn:
            result = await conn.execute(sa.delete(customer_tokens).where(
                customer_tokens.c.office_id == office_id,
                customer_tokens.c.customer_id == customer_id,
                customer_tokens.c.purpose == purpose))
        return int(result.rowcount)

    # ------------------------------------------------------------------ quarantine
    async def add_quarantine(self, office_id: str, channel: str, reason: str, origin: str,
                             raw_sha256: str, size: int) -> QuarantineItem:
        """Idempotent: the same raw bytes quarantined twice (still open) give one item."""
        now = utcnow()
        stmt = insert(quarantine).values(
            id=new_ulid(), office_id=office_id, channel=channel, reason=reason[:2000],
            origin=origin[:500], raw_sha256=raw_sha256, size=size, status="open",
            created_at=now, updated_at=now, entry_id=None,
        ).on_conflict_do_nothing(index_elements=[_Q.office_id, _Q.channel, _Q.raw_sha256],
                                 # the index's own predicate, as a literal: with a bound
                                 # value PostgreSQL infers the index only while it plans
                                 # with the value (the first five runs), then fails
                                 index_where=sa.text("status = 'open'"))
        async with self.db.begin() as conn:
            await conn.execute(stmt)
            row = (await conn.execute(sa.select(*_Q_COLS).where(
                _Q.office_id == office_id, _Q.channel == channel, _Q.raw_sha256 == raw_sha256,
                _Q.status == "open"))).mappings().one()
        return _quarantine(row)

    async def list_quarantine(self, office_id: str, *, status: str | None = "open",
                              limit: int = 50, after_id: str | None = None
                              ) -> list[QuarantineItem]:
        stmt = sa.select(*_Q_COLS).where(_Q.office_id == office_id)
        if status:
            stmt = stmt.where(_Q.status == status)
        if after_id:
            stmt = stmt.where(_Q.id > after_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(stmt.order_by(_Q.id).limit(limit))).mappings().all()
        return [_quarantine(r) for r in rows]

    async def get_quarantine(self, office_id: str, item_id: str) -> QuarantineItem | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(*_Q_COLS).where(
                _Q.id == item_id, _Q.office_id == office_id))).mappings().first()
        return None if row is None else _quarantine(row)

    async def resolve_quarantine(self, office_id: str, item_id: str, status: str,
                                 entry_id: str | None = None, reason: str | None = None
                                 ) -> QuarantineItem | None:
        values: dict[str, Any] = {"status": status, "entry_id": entry_id,
                                  "updated_at": utcnow()}
        if reason is not None:
            values["reason"] = reason
        async with self.db.begin() as conn:
            row = (await conn.execute(
                sa.update(quarantine).where(_Q.id == item_id, _Q.office_id == office_id)
                .values(**values).returning(*_Q_COLS))).mappings().first()
        return None if row is None else _quarantine(row)
