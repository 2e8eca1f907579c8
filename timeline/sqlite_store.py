"""The embedded store: one SQLite file in WAL mode, never blocking the event loop."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from timeline.ids import SEQ_SLOTS, new_ulid, seq_base
from timeline.models import (
    Agent,
    Attachment,
    Channel,
    Customer,
    CustomerStatus,
    Direction,
    Entry,
    EntryDraft,
    Identity,
    IdentityKind,
    Office,
    Page,
    Role,
    Visibility,
    utcnow,
)
from timeline.policy import KindPreset, PolicyMap
from timeline.sqlite_accounts import AccountStoreMixin
from timeline.sqlite_batch import BatchStoreMixin, append_entries
from timeline.sqlite_calls import CallStoreMixin
from timeline.sqlite_concerns import ConcernStoreMixin
from timeline.sqlite_consent import ConsentStoreMixin
from timeline.sqlite_db import SqliteDb
from timeline.sqlite_events import EventStoreMixin, add_events
from timeline.sqlite_inbound import InboundStoreMixin
from timeline.sqlite_notify import NotifyStoreMixin
from timeline.sqlite_privacy import PrivacyStoreMixin
from timeline.sqlite_schema import MIGRATIONS
from timeline.sqlite_telegram import TelegramUpdateStoreMixin
from timeline.store import CustomerListQuery, EntryContext, IndexTask, TimelineQuery
from timeline.text import fold

_ENTRY_COLS = (
    "seq, id, office_id, customer_id, channel, direction, kind, author, visibility, notify, "
    "occurred_at, recorded_at, subject, body, html, attachments, tags, source_id, meta"
)
_INSERT_ENTRY = (
    f"INSERT INTO entries ({_ENTRY_COLS}) VALUES "
    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (office_id, channel, source_id) WHERE source_id IS NOT NULL DO NOTHING"
)


def _iso(value: datetime) -> str:
    return value.isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


_ENTRY_FIELDS = frozenset(Entry.model_fields)


def _construct_entry(values: dict[str, Any]) -> Entry:
    """What ``Entry.model_construct`` does, minus its per-call bookkeeping (6x faster on the
    timeline's hot path). Only for values read back from our own rows; a test checks the
    result equals a validated ``Entry``."""
    entry = Entry.__new__(Entry)
    object.__setattr__(entry, "__dict__", values)
    object.__setattr__(entry, "__pydantic_fields_set__", _ENTRY_FIELDS)
    object.__setattr__(entry, "__pydantic_extra__", None)
    object.__setattr__(entry, "__pydantic_private__", None)
    return entry


def entry_from_row(row: Sequence[Any]) -> Entry:
    """Our own rows need no validation: convert types and construct (hot path)."""
    return _construct_entry({
        "office_id": row[2], "customer_id": row[3], "channel": Channel(row[4]),
        "direction": Direction(row[5]), "kind": row[6], "author": row[7],
        "visibility": Visibility(row[8]), "notify": bool(row[9]),
        "occurred_at": _dt(row[10]), "subject": row[12], "body": row[13], "html": row[14],
        "attachments": tuple(Attachment.model_construct(**a) for a in json.loads(row[15]))
        if row[15] != "[]" else (),
        "tags": tuple(json.loads(row[16])) if row[16] != "[]" else (), "source_id": row[17],
        "meta": json.loads(row[18]) if row[18] != "{}" else {},
        "id": row[1], "seq": row[0], "recorded_at": _dt(row[11]),
    })


class SqliteStore(AccountStoreMixin, InboundStoreMixin, ConsentStoreMixin, CallStoreMixin,
                  NotifyStoreMixin, BatchStoreMixin, ConcernStoreMixin, PrivacyStoreMixin,
                  TelegramUpdateStoreMixin, EventStoreMixin):
    """``timeline.store.Store`` on SQLite."""

    def __init__(self, path: Path, *, readers: int = 4) -> None:
        self.db = SqliteDb(path, MIGRATIONS, readers=readers, name="store")

    async def open(self) -> None:
        await self.db.open()
        # freed cells are zeroed, so an updated or erased row leaves no copy (invariant 7)
        await self.db.write_raw(lambda c: c.execute("PRAGMA secure_delete=ON"))

    async def close(self) -> None:
        await self.db.close()

    # ------------------------------------------------------------------ offices, agents
    async def create_office(self, name: str, region: str) -> Office:
        office = Office(id=new_ulid(), name=name, region=region.upper(), created_at=utcnow())

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO offices (id, name, region, created_at) VALUES (?,?,?,?)",
                         (office.id, office.name, office.region, _iso(office.created_at)))
        await self.db.write(run)
        return office

    async def get_office(self, office_id: str) -> Office | None:
        row = await self.db.read(lambda c: c.execute(
            "SELECT id, name, region, created_at FROM offices WHERE id=?", (office_id,)
        ).fetchone())
        return None if row is None else _office(row)

    async def list_offices(self) -> list[Office]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT id, name, region, created_at FROM offices ORDER BY id").fetchall())
        return [_office(r) for r in rows]

    async def create_agent(self, office_id: str, name: str, role: Role, token_hash: str) -> Agent:
        agent = Agent(id=new_ulid(), office_id=office_id, name=name, role=role,
                      created_at=utcnow())

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO agents VALUES (?,?,?,?,?)", (
                agent.id, office_id, name, role.value, _iso(agent.created_at)))
            conn.execute("INSERT INTO agent_tokens VALUES (?,?,?)",
                         (token_hash, agent.id, _iso(agent.created_at)))
        await self.db.write(run)
        return agent

    async def agent_for_token(self, token_hash: str) -> Agent | None:
        row = await self.db.read(lambda c: c.execute(
            "SELECT a.id, a.office_id, a.name, a.role, a.created_at FROM agent_tokens t "
            "JOIN agents a ON a.id = t.agent_id WHERE t.token_hash=?", (token_hash,)
        ).fetchone())
        if row is None:
            return None
        return Agent(id=row[0], office_id=row[1], name=row[2], role=Role(row[3]),
                     created_at=_dt(row[4]))

    # ------------------------------------------------------------------ customers
    async def create_customer(
        self,
        office_id: str,
        name: str,
        identities: Sequence[Identity],
        status: CustomerStatus = CustomerStatus.ACTIVE,
    ) -> Customer:
        now = utcnow()
        customer = Customer(id=new_ulid(), office_id=office_id, name=name, status=status,
                            identities=tuple(identities), created_at=now, updated_at=now)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO customers (id, office_id, name, name_fold, status, "
                         "created_at, updated_at) VALUES (?,?,?,?,?,?,?)", (
                customer.id, office_id, name, fold(name), status.value, _iso(now), _iso(now)))
            for ident in customer.identities:
                _insert_identity(conn, office_id, customer.id, ident)
        await self.db.write(run)
        return customer

    async def get_customer(self, office_id: str, customer_id: str) -> Customer | None:
        return await self.db.read(lambda c: _load_customer(c, office_id, customer_id))

    async def update_customer(
        self, office_id: str, customer_id: str, *, name: str | None = None,
        status: CustomerStatus | None = None,
    ) -> Customer | None:
        def run(conn: sqlite3.Connection) -> Customer | None:
            if _load_customer(conn, office_id, customer_id) is None:
                return None
            now = _iso(utcnow())
            if name is not None:
                conn.execute("UPDATE customers SET name=?, name_fold=?, updated_at=? "
                             "WHERE id=?", (name, fold(name), now, customer_id))
            if status is not None:
                conn.execute("UPDATE customers SET status=?, updated_at=? WHERE id=?",
                             (status.value, now, customer_id))
            return _load_customer(conn, office_id, customer_id)
        return await self.db.write(run)

    async def list_customers(self, office_id: str, query: CustomerListQuery) -> Page:
        def run(conn: sqlite3.Connection) -> Page:
            sql = "SELECT id FROM customers WHERE office_id=?"
            args: list[Any] = [office_id]
            if query.after_id:
                sql += " AND id > ?"
                args.append(query.after_id)
            if query.status:
                sql += " AND status = ?"
                args.append(query.status.value)
            if query.ids:
                sql += f" AND id IN ({','.join('?' * len(query.ids))})"
                args += list(query.ids)
            if query.name:
                words = fold(query.name).split()
                for word in words:
                    sql += " AND (name_fold LIKE ? ESCAPE '\\' OR name_fold LIKE ? ESCAPE '\\')"
                    pattern = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    args += [pattern + "%", "% " + pattern + "%"]
            sql += " ORDER BY id LIMIT ?"
            args.append(query.limit + 1)
            ids = [r[0] for r in conn.execute(sql, args)]
            items = [_load_customer(conn, office_id, cid) for cid in ids[: query.limit]]
            nxt = ids[query.limit - 1] if len(ids) > query.limit else None
            return Page(items=[c for c in items if c is not None], next_cursor=nxt)
        return await self.db.read(run)

    async def add_identity(
        self, office_id: str, customer_id: str, identity: Identity
    ) -> Customer | None:
        def run(conn: sqlite3.Connection) -> Customer | None:
            if _load_customer(conn, office_id, customer_id) is None:
                return None
            _insert_identity(conn, office_id, customer_id, identity)
            conn.execute("UPDATE customers SET updated_at=? WHERE id=?",
                         (_iso(utcnow()), customer_id))
            return _load_customer(conn, office_id, customer_id)
        return await self.db.write(run)

    async def remove_identity(
        self, office_id: str, customer_id: str, kind: IdentityKind, value: str
    ) -> Customer | None:
        def run(conn: sqlite3.Connection) -> Customer | None:
            if _load_customer(conn, office_id, customer_id) is None:
                return None
            cur = conn.execute("DELETE FROM identities WHERE office_id=? AND customer_id=? "
                               "AND kind=? AND value=?",
                               (office_id, customer_id, kind.value, value))
            if cur.rowcount == 0:
                return None
            conn.execute("UPDATE customers SET updated_at=? WHERE id=?",
                         (_iso(utcnow()), customer_id))
            return _load_customer(conn, office_id, customer_id)
        return await self.db.write(run)

    async def customers_with_recent(
        self, office_id: str, kind: IdentityKind, value: str, recent: int
    ) -> list[tuple[Customer, list[Entry]]]:
        """Customers with this identity and their newest entries, in one read."""
        def run(conn: sqlite3.Connection) -> list[tuple[Customer, list[Entry]]]:
            out = []
            for (cid,) in conn.execute(
                    "SELECT DISTINCT customer_id FROM identities WHERE office_id=? AND kind=? "
                    "AND value=?", (office_id, kind.value, value)).fetchall():
                customer = _load_customer(conn, office_id, cid)
                if customer is None:
                    continue
                rows = conn.execute(
                    f"SELECT {_ENTRY_COLS} FROM entries WHERE customer_id=? AND office_id=? "
                    "AND channel != 'notification' ORDER BY seq DESC LIMIT ?",
                    (cid, office_id, recent)).fetchall()
                out.append((customer, [entry_from_row(r) for r in rows]))
            return out
        return await self.db.read(run)

    async def find_customers(
        self, office_id: str, kind: IdentityKind, value: str
    ) -> list[Customer]:
        def run(conn: sqlite3.Connection) -> list[Customer]:
            ids = [r[0] for r in conn.execute(
                "SELECT DISTINCT customer_id FROM identities WHERE office_id=? AND kind=? "
                "AND value=?", (office_id, kind.value, value))]
            found = [_load_customer(conn, office_id, cid) for cid in ids]
            return [c for c in found if c is not None]
        return await self.db.read(run)

    # ------------------------------------------------------------------ entries
    async def append(self, draft: EntryDraft) -> tuple[Entry, bool]:
        return (await self.append_many([draft]))[0]

    async def append_many(self, drafts: Sequence[EntryDraft]) -> list[tuple[Entry, bool]]:
        return await self.db.write(lambda conn: _append_all(conn, drafts))

    async def get_entry(self, office_id: str, entry_id: str) -> Entry | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_ENTRY_COLS} FROM entries WHERE id=? AND office_id=?",
            (entry_id, office_id)).fetchone())
        return None if row is None else entry_from_row(row)

    async def find_entry_by_source(self, office_id: str, source_id: str,
                                   channel: Channel | None = None) -> Entry | None:
        sql = f"SELECT {_ENTRY_COLS} FROM entries WHERE office_id=? AND source_id=?"
        args: list[Any] = [office_id, source_id]
        if channel is not None:
            sql += " AND channel=?"
            args.append(channel.value)
        row = await self.db.read(lambda c: c.execute(sql + " ORDER BY seq LIMIT 1", args
                                                     ).fetchone())
        return None if row is None else entry_from_row(row)

    async def revise_entry(self, office_id: str, entry_id: str, *, subject: str | None = None,
                           body: str | None = None, meta: dict[str, Any] | None = None,
                           keep_history: bool = True) -> Entry | None:
        """Change an entry in place (a Telegram edit, a call that ended). With
        ``keep_history`` the previous subject/body go to ``meta.revisions``. The index
        outbox gets a row in the same transaction."""
        def run(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(f"SELECT {_ENTRY_COLS} FROM entries WHERE id=? AND office_id=?",
                               (entry_id, office_id)).fetchone()
            if row is None:
                return None
            old = entry_from_row(row)
            new_meta = dict(old.meta)
            if keep_history and ((subject is not None and subject != old.subject) or
                                 (body is not None and body != old.body)):
                new_meta.setdefault("revisions", []).append({
                    "subject": old.subject, "body": old.body,
                    "replaced_at": _iso(utcnow())})
            new_meta.update(meta or {})
            conn.execute("UPDATE entries SET subject=?, body=?, meta=? WHERE seq=?", (
                old.subject if subject is None else subject,
                old.body if body is None else body, json.dumps(new_meta), old.seq))
            conn.execute("INSERT INTO index_outbox (seq) VALUES (?)", (old.seq,))
            add_events(conn, [(office_id, "entry.updated", old.customer_id, old.id, None)])
            return entry_from_row(conn.execute(
                f"SELECT {_ENTRY_COLS} FROM entries WHERE seq=?", (old.seq,)).fetchone())
        return await self.db.write(run)

    async def entries_by_seq(self, office_id: str, seqs: Sequence[int]) -> list[Entry]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {_ENTRY_COLS} FROM entries WHERE office_id=? AND seq IN ({marks})",
            (office_id, *seqs)).fetchall())
        by_seq = {r[0]: entry_from_row(r) for r in rows}
        return [by_seq[s] for s in seqs if s in by_seq]

    async def timeline(self, office_id: str, customer_id: str, query: TimelineQuery) -> Page:
        sql = f"SELECT {_ENTRY_COLS} FROM entries WHERE customer_id=? AND office_id=?"
        args: list[Any] = [customer_id, office_id]
        if query.channels:
            sql += f" AND channel IN ({','.join('?' * len(query.channels))})"
            args += [c.value for c in query.channels]
        if query.kinds:
            sql += f" AND kind IN ({','.join('?' * len(query.kinds))})"
            args += list(query.kinds)
        if query.visibility:
            sql += " AND visibility=?"
            args.append(query.visibility.value)
        upper = query.before_seq
        if query.until is not None:
            until = seq_base(query.until) + SEQ_SLOTS
            upper = until if upper is None else min(upper, until)
        if upper is not None:
            sql += " AND seq < ?"
            args.append(upper)
        if query.since is not None:
            sql += " AND seq >= ?"
            args.append(seq_base(query.since))
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(query.limit + 1)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        items = [entry_from_row(r) for r in rows[: query.limit]]
        nxt = str(items[-1].seq) if len(rows) > query.limit else None
        return Page(items=items, next_cursor=nxt)

    async def scan_entries(self, after_seq: int, limit: int) -> list[Entry]:
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {_ENTRY_COLS} FROM entries WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit)).fetchall())
        return [entry_from_row(r) for r in rows]

    # ------------------------------------------------------------------ policy, tone
    async def get_policy(self, office_id: str, agent_id: str | None) -> PolicyMap:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT kind, visibility, notify FROM policies WHERE office_id=? AND agent_id=?",
            (office_id, agent_id or "")).fetchall())
        return {kind: KindPreset(visibility=Visibility(vis) if vis else None,
                                 notify=None if ntf is None else bool(ntf))
                for kind, vis, ntf in rows}

    async def set_policy(self, office_id: str, agent_id: str | None, policy: PolicyMap) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for kind, p in policy.items():
                if p.visibility is None and p.notify is None:
                    conn.execute("DELETE FROM policies WHERE office_id=? AND agent_id=? "
                                 "AND kind=?", (office_id, agent_id or "", kind))
                    continue
                conn.execute(
                    "INSERT INTO policies VALUES (?,?,?,?,?) ON CONFLICT (office_id, agent_id,"
                    " kind) DO UPDATE SET visibility=excluded.visibility, notify=excluded.notify",
                    (office_id, agent_id or "", kind,
                     p.visibility.value if p.visibility else None,
                     None if p.notify is None else int(p.notify)))
        await self.db.write(run)

    async def entry_context(self, office_id: str, agent_id: str, customer_id: str
                            ) -> EntryContext | None:
        """Everything deciding a new agent entry, in one read (None: no such customer)."""
        def run(conn: sqlite3.Connection) -> EntryContext | None:
            customer = conn.execute("SELECT name FROM customers WHERE id=? AND office_id=?",
                                    (customer_id, office_id)).fetchone()
            if customer is None:
                return None
            maps: dict[str, PolicyMap] = {"": {}, agent_id: {}}
            for who, kind, vis, ntf in conn.execute(
                    "SELECT agent_id, kind, visibility, notify FROM policies WHERE office_id=? "
                    "AND agent_id IN ('', ?)", (office_id, agent_id)):
                maps[who][kind] = KindPreset(visibility=Visibility(vis) if vis else None,
                                             notify=None if ntf is None else bool(ntf))
            words = tuple(r[0] for r in conn.execute(
                "SELECT word FROM tone_words WHERE office_id=? ORDER BY word", (office_id,)))
            colleagues = tuple(r[0] for r in conn.execute(
                "SELECT name FROM agents WHERE office_id=? AND id<>?", (office_id, agent_id)))
            addresses = tuple(r[0] for r in conn.execute(
                "SELECT email FROM agent_logins WHERE office_id=? AND email IS NOT NULL",
                (office_id,)))
            return EntryContext(office_policy=maps[""], agent_policy=maps[agent_id],
                                tone_words=words, colleagues=colleagues,
                                internal_addresses=addresses, customer_name=customer[0])
        return await self.db.read(run)

    async def get_tone_words(self, office_id: str) -> tuple[str, ...]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT word FROM tone_words WHERE office_id=? ORDER BY word",
            (office_id,)).fetchall())
        return tuple(r[0] for r in rows)

    async def set_tone_words(self, office_id: str, words: Sequence[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM tone_words WHERE office_id=?", (office_id,))
            conn.executemany("INSERT OR IGNORE INTO tone_words VALUES (?,?)",
                             [(office_id, w) for w in words])
        await self.db.write(run)

    # ------------------------------------------------------------------ index outbox
    async def pending_index_tasks(self, limit: int) -> list[IndexTask]:
        def run(conn: sqlite3.Connection) -> list[IndexTask]:
            rows = conn.execute(
                f"SELECT o.id, o.seq, {', '.join('e.' + c.strip() for c in _ENTRY_COLS.split(','))}"
                " FROM index_outbox o LEFT JOIN entries e ON e.seq = o.seq ORDER BY o.id LIMIT ?",
                (limit,)).fetchall()
            return [IndexTask(outbox_id=r[0], seq=r[1],
                              entry=None if r[2] is None else entry_from_row(r[2:]))
                    for r in rows]
        return await self.db.read(run)

    async def ack_index_tasks(self, outbox_ids: Sequence[int]) -> None:
        if not outbox_ids:
            return
        ids = list(outbox_ids)

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM index_outbox WHERE id=?", [(i,) for i in ids])
        await self.db.write(run)


# ---------------------------------------------------------------------- row helpers
def _office(row: Sequence[Any]) -> Office:
    return Office(id=row[0], name=row[1], region=row[2], created_at=_dt(row[3]))


def _insert_identity(
    conn: sqlite3.Connection, office_id: str, customer_id: str, ident: Identity
) -> None:
    conn.execute(
        "INSERT INTO identities (office_id, customer_id, kind, value, raw, undeliverable) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT (customer_id, kind, value) DO NOTHING",
        (office_id, customer_id, ident.kind.value, ident.value, ident.raw,
         int(ident.undeliverable)))


def _load_customer(conn: sqlite3.Connection, office_id: str, customer_id: str) -> Customer | None:
    row = conn.execute(
        "SELECT id, office_id, name, status, created_at, updated_at FROM customers "
        "WHERE id=? AND office_id=?", (customer_id, office_id)).fetchone()
    if row is None:
        return None
    idents = tuple(
        Identity(kind=IdentityKind(k), value=v, raw=raw, undeliverable=bool(u))
        for k, v, raw, u in conn.execute(
            "SELECT kind, value, raw, undeliverable FROM identities WHERE customer_id=? "
            "ORDER BY id", (customer_id,)))
    return Customer(id=row[0], office_id=row[1], name=row[2], status=CustomerStatus(row[3]),
                    identities=idents, created_at=_dt(row[4]), updated_at=_dt(row[5]))


def _append_all(
    conn: sqlite3.Connection, drafts: Sequence[EntryDraft]
) -> list[tuple[Entry, bool]]:
    return append_entries(conn, drafts)


__all__ = ["SqliteStore", "entry_from_row"]

