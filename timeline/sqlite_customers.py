"""``timeline.repositories.CustomerRepository`` on SQLite: customers, their identities, and
merges (identities and entries of one customer moved to another, undoable)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.ids import new_ulid
from timeline.models import (
    Customer,
    CustomerStatus,
    Entry,
    Identity,
    IdentityKind,
    Merge,
    Page,
    RecentJson,
    utcnow,
)
from timeline.public import recent_json
from timeline.repositories import CustomerListQuery
from timeline.sqlite_rows import (
    ENTRY_COLS,
    PUBLIC_ENTRY_JSON,
    SqliteRepository,
    customer_from_row,
    descending,
    entry_from_row,
    fetch_packed,
    insert_identity,
    iso,
    load_customer,
    newest_first,
)
from timeline.text import fold

_CHUNK = 500  # bound parameters per statement (SQLite allows 32766; keep statements small)


def _merge(row: Sequence[Any]) -> Merge:
    return Merge(id=row[0], office_id=row[1], source_id=row[2], target_id=row[3],
                 entry_ids=tuple(json.loads(row[4])),
                 identities=tuple(Identity(**i) for i in json.loads(row[5])["moved"]),
                 shared_identities=tuple(Identity(**i) for i in json.loads(row[5])["shared"]),
                 created_at=datetime.fromisoformat(row[6]),
                 undone_at=datetime.fromisoformat(row[7]) if row[7] else None)


# customers_with_recent in one statement, packed (``packed``): the customer's columns, its
# identities (``customer_from_row``) and its newest entries (no bookkeeping ones) as JSON
# arrays (``_array``)
_WITH_RECENT_COLS = "id, office_id, name, status, created_at, updated_at, identities, recent"
_WITH_RECENT = (
    "SELECT c.id, c.office_id, c.name, c.status, c.created_at, c.updated_at, "
    "(SELECT json_group_array(json_array(kind, value, raw, undeliverable)) FROM "
    " (SELECT kind, value, raw, undeliverable FROM identities WHERE customer_id=c.id "
    "  ORDER BY id)) AS identities, "
    f"(SELECT json_group_array(json_array({ENTRY_COLS})) FROM "
    f" (SELECT {ENTRY_COLS} FROM entries WHERE customer_id=c.id AND office_id=c.office_id "
    "  AND channel != 'notification' ORDER BY seq DESC LIMIT ?)) AS recent "
    "FROM customers c WHERE c.office_id=? AND c.id IN "
    "(SELECT customer_id FROM identities WHERE office_id=? AND kind=? AND value=?)")

_WITH_RECENT_JSON = (
    "SELECT c.id, c.office_id, c.name, c.status, c.created_at, c.updated_at, "
    "(SELECT json_group_array(json_array(kind, value, raw, undeliverable)) FROM "
    " (SELECT kind, value, raw, undeliverable FROM identities WHERE customer_id=c.id "
    "  ORDER BY id)) AS identities, "
    "(SELECT CAST(json_group_array(seq) || json_group_array(json(doc)) AS BLOB) FROM "
    f" (SELECT seq, {PUBLIC_ENTRY_JSON} AS doc FROM entries WHERE customer_id=c.id "
    "  AND office_id=c.office_id AND channel != 'notification' ORDER BY seq DESC LIMIT ?)) "
    "AS recent "
    "FROM customers c WHERE c.office_id=? AND c.id IN "
    "(SELECT customer_id FROM identities WHERE office_id=? AND kind=? AND value=?)")
"""``_WITH_RECENT`` with the entries as SQLite writes them (``PUBLIC_ENTRY_JSON``): each
customer's ``recent`` is its entries' keys as one JSON array, then the entries as another
(the keys prove the order, see ``_recent_json``)."""


def _written_matches(rows: list[Any]) -> list[RecentJson] | None:
    """The rows of ``_WITH_RECENT_JSON`` as matches; None when one's order is not proven."""
    out: list[RecentJson] = []
    for row in rows:
        shown = _recent_json(row[7])
        if shown is None:
            return None
        out.append(RecentJson(customer=customer_from_row(row[:6], _array(row[6])),
                              recent_json=shown[0], newest_seq=shown[1]))
    return out


def _recent_json(recent: bytes) -> tuple[bytes, int | None] | None:
    """A ``recent`` column of ``_WITH_RECENT_JSON``: (the entries' JSON array, the first
    key), ``None`` when the keys are not newest first (SQL does not promise an aggregate's
    order: the caller builds it from the entries then)."""
    cut = recent.index(b"]") + 1  # the keys' array holds nothing but digits and commas
    keys: list[int] = orjson.loads(recent[:cut])
    if not descending(keys):
        return None
    return recent[cut:], keys[0] if keys else None


def _array(value: str | list[Any]) -> list[Any]:
    """A JSON array column of the packed lookup: already an array where SQLite kept the
    subquery's JSON type, else its text (row by row, or SQLite versions that drop it)."""
    return value if isinstance(value, list) else list(orjson.loads(value))


class SqliteCustomers(SqliteRepository):
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
                customer.id, office_id, name, fold(name), status.value, iso(now), iso(now)))
            for ident in customer.identities:
                insert_identity(conn, office_id, customer.id, ident)
        await self.db.write(run)
        return customer

    async def get_customer(self, office_id: str, customer_id: str) -> Customer | None:
        return await self.db.read(lambda c: load_customer(c, office_id, customer_id))

    async def update_customer(
        self, office_id: str, customer_id: str, *, name: str | None = None,
        status: CustomerStatus | None = None,
    ) -> Customer | None:
        def run(conn: sqlite3.Connection) -> Customer | None:
            if load_customer(conn, office_id, customer_id) is None:
                return None
            now = iso(utcnow())
            if name is not None:
                conn.execute("UPDATE customers SET name=?, name_fold=?, updated_at=? "
                             "WHERE id=?", (name, fold(name), now, customer_id))
            if status is not None:
                conn.execute("UPDATE customers SET status=?, updated_at=? WHERE id=?",
                             (status.value, now, customer_id))
            return load_customer(conn, office_id, customer_id)
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
            items = [load_customer(conn, office_id, cid) for cid in ids[: query.limit]]
            nxt = ids[query.limit - 1] if len(ids) > query.limit else None
            return Page(items=[c for c in items if c is not None], next_cursor=nxt)
        return await self.db.read(run)

    async def add_identity(
        self, office_id: str, customer_id: str, identity: Identity
    ) -> Customer | None:
        def run(conn: sqlite3.Connection) -> Customer | None:
            if load_customer(conn, office_id, customer_id) is None:
                return None
            insert_identity(conn, office_id, customer_id, identity)
            conn.execute("UPDATE customers SET updated_at=? WHERE id=?",
                         (iso(utcnow()), customer_id))
            return load_customer(conn, office_id, customer_id)
        return await self.db.write(run)

    async def remove_identity(
        self, office_id: str, customer_id: str, kind: IdentityKind, value: str
    ) -> Customer | None:
        def run(conn: sqlite3.Connection) -> Customer | None:
            if load_customer(conn, office_id, customer_id) is None:
                return None
            cur = conn.execute("DELETE FROM identities WHERE office_id=? AND customer_id=? "
                               "AND kind=? AND value=?",
                               (office_id, customer_id, kind.value, value))
            if cur.rowcount == 0:
                return None
            conn.execute("UPDATE customers SET updated_at=? WHERE id=?",
                         (iso(utcnow()), customer_id))
            return load_customer(conn, office_id, customer_id)
        return await self.db.write(run)

    async def find_customers(
        self, office_id: str, kind: IdentityKind, value: str
    ) -> list[Customer]:
        def run(conn: sqlite3.Connection) -> list[Customer]:
            ids = [r[0] for r in conn.execute(
                "SELECT DISTINCT customer_id FROM identities WHERE office_id=? AND kind=? "
                "AND value=?", (office_id, kind.value, value))]
            found = [load_customer(conn, office_id, cid) for cid in ids]
            return [c for c in found if c is not None]
        return await self.db.read(run)

    async def customers_with_recent(
        self, office_id: str, kind: IdentityKind, value: str, recent: int
    ) -> list[tuple[Customer, list[Entry]]]:
        """Customers with this identity and their newest entries, in one read."""
        rows = await self.db.read(lambda conn: fetch_packed(
            conn, _WITH_RECENT_COLS, _WITH_RECENT, (recent, office_id, office_id, kind.value,
                                                    value)))
        out = []
        for row in rows:
            entries = [entry_from_row(e) for e in newest_first(_array(row[7]))]
            out.append((customer_from_row(row[:6], _array(row[6])), entries))
        return out

    async def customers_with_recent_json(
        self, office_id: str, kind: IdentityKind, value: str, recent: int
    ) -> list[RecentJson]:
        """One read, the entries' JSON written by SQLite on the reader thread (outside
        Python's interpreter lock); built from the entries when SQLite cannot (a string too
        big for it) or the order is not proven."""
        def run(conn: sqlite3.Connection) -> list[Any] | None:
            try:
                return conn.execute(_WITH_RECENT_JSON, (recent, office_id, office_id,
                                                        kind.value, value)).fetchall()
            except sqlite3.DataError:  # "string or blob too big"
                return None

        rows = await self.db.read(run)
        written = _written_matches(rows) if rows is not None else None
        if written is not None:
            return written
        return [recent_json(customer, entries) for customer, entries in
                await self.customers_with_recent(office_id, kind, value, recent)]

    async def customers_by_identities(self, office_id: str, kind: IdentityKind,
                                      values: Sequence[str]) -> dict[str, list[Customer]]:
        """identity value -> the customers who have it (as ``find_customers``), for those
        that exist."""
        wanted = list(dict.fromkeys(values))

        def run(conn: sqlite3.Connection) -> dict[str, list[Customer]]:
            found: dict[str, list[Customer]] = {}
            loaded: dict[str, Customer | None] = {}
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                rows = conn.execute(
                    "SELECT DISTINCT value, customer_id FROM identities WHERE office_id=? AND "
                    f"kind=? AND value IN ({','.join('?' * len(chunk))})",
                    (office_id, kind.value, *chunk)).fetchall()
                for value, customer_id in rows:
                    if customer_id not in loaded:
                        loaded[customer_id] = load_customer(conn, office_id, customer_id)
                    customer = loaded[customer_id]
                    if customer is not None:
                        found.setdefault(value, []).append(customer)
            return found
        return await self.db.read(run)

    async def set_identity_undeliverable(self, office_id: str, kind: IdentityKind, value: str,
                                         undeliverable: bool) -> list[str]:
        """Mark every matching identity; returns the affected customer ids."""
        def run(conn: sqlite3.Connection) -> list[str]:
            ids = [r[0] for r in conn.execute(
                "SELECT customer_id FROM identities WHERE office_id=? AND kind=? AND value=?",
                (office_id, kind.value, value))]
            conn.execute("UPDATE identities SET undeliverable=? WHERE office_id=? AND kind=? "
                         "AND value=?", (int(undeliverable), office_id, kind.value, value))
            return ids
        return await self.db.write(run)

    # ------------------------------------------------------------------ merges
    async def merge_customers(self, office_id: str, source_id: str, target_id: str) -> Merge:
        """Move identities and entries of ``source`` to ``target`` (one transaction);
        ``source`` stays behind with status ``merged`` so the merge can be undone.
        ``NotFound``: either customer is unknown; ``Conflict``: either was merged away."""
        if source_id == target_id:  # would empty the customer into itself
            raise InvalidInput("cannot merge a customer into itself")

        def run(conn: sqlite3.Connection) -> Merge:
            for cid in (source_id, target_id):
                row = conn.execute("SELECT status FROM customers WHERE id=? AND office_id=?",
                                   (cid, office_id)).fetchone()
                if row is None:
                    raise NotFound("no such customer")
                if row[0] == CustomerStatus.MERGED.value:
                    raise Conflict(f"customer {cid} was already merged")
            entries = conn.execute("SELECT id, seq FROM entries WHERE customer_id=? "
                                   "AND office_id=? ORDER BY seq", (source_id, office_id)
                                   ).fetchall()
            idents = conn.execute(
                "SELECT kind, value, raw, undeliverable FROM identities WHERE customer_id=? "
                "ORDER BY id", (source_id,)).fetchall()
            on_target = {(k, v) for k, v in conn.execute(
                "SELECT kind, value FROM identities WHERE customer_id=?", (target_id,))}
            all_idents = [Identity(kind=IdentityKind(k), value=v, raw=r, undeliverable=bool(u))
                          for k, v, r, u in idents]
            moved = [i for i in all_idents if (i.kind.value, i.value) not in on_target]
            shared = [i for i in all_idents if (i.kind.value, i.value) in on_target]
            conn.execute("UPDATE entries SET customer_id=? WHERE customer_id=? AND office_id=?",
                         (target_id, source_id, office_id))
            conn.execute("UPDATE OR IGNORE identities SET customer_id=? WHERE customer_id=?",
                         (target_id, source_id))
            conn.execute("DELETE FROM identities WHERE customer_id=?", (source_id,))
            # a Telegram link or portal token handed out for the duplicate is the person's
            conn.execute("UPDATE customer_tokens SET customer_id=? WHERE customer_id=?",
                         (target_id, source_id))
            conn.executemany("INSERT INTO index_outbox (seq) VALUES (?)",
                             [(seq,) for _, seq in entries])
            now = utcnow().isoformat()
            conn.execute("UPDATE customers SET status=?, merged_into=?, updated_at=? WHERE id=?",
                         (CustomerStatus.MERGED.value, target_id, now, source_id))
            merge_id = new_ulid()
            conn.execute("INSERT INTO merges VALUES (?,?,?,?,?,?,?,NULL)", (
                merge_id, office_id, source_id, target_id, json.dumps([e[0] for e in entries]),
                json.dumps({"moved": [i.model_dump(mode="json") for i in moved],
                            "shared": [i.model_dump(mode="json") for i in shared]}), now))
            return _merge(conn.execute("SELECT * FROM merges WHERE id=?", (merge_id,)).fetchone())
        return await self.db.write(run)

    async def undo_merge(self, office_id: str, merge_id: str) -> Merge:
        """``NotFound``: no such merge in the office; ``Conflict``: it was undone before."""
        def run(conn: sqlite3.Connection) -> Merge:
            row = conn.execute("SELECT * FROM merges WHERE id=? AND office_id=?",
                               (merge_id, office_id)).fetchone()
            if row is None:
                raise NotFound("no such merge")
            merge = _merge(row)
            if merge.undone_at is not None:
                raise Conflict("this merge was already undone")
            marks = ",".join("?" * len(merge.entry_ids))
            if merge.entry_ids:
                # (an entry moved on since -- ``move_entry`` -- stays where it was moved)
                back = [seq for (seq,) in conn.execute(
                    f"SELECT seq FROM entries WHERE office_id=? AND customer_id=? AND id IN "
                    f"({marks})", (office_id, merge.target_id, *merge.entry_ids))]
                conn.executemany("UPDATE entries SET customer_id=? WHERE seq=?",
                                 [(merge.source_id, seq) for seq in back])
                conn.executemany("INSERT INTO index_outbox (seq) VALUES (?)",
                                 [(seq,) for seq in back])
            for ident in merge.identities:
                conn.execute("DELETE FROM identities WHERE customer_id=? AND kind=? AND value=?",
                             (merge.target_id, ident.kind.value, ident.value))
            for ident in merge.identities + merge.shared_identities:
                conn.execute(
                    "INSERT OR IGNORE INTO identities (office_id, customer_id, kind, value, raw, "
                    "undeliverable) VALUES (?,?,?,?,?,?)",
                    (office_id, merge.source_id, ident.kind.value, ident.value, ident.raw,
                     int(ident.undeliverable)))
            now = utcnow().isoformat()
            conn.execute("UPDATE customers SET status=?, merged_into=NULL, updated_at=? "
                         "WHERE id=?", (CustomerStatus.ACTIVE.value, now, merge.source_id))
            conn.execute("UPDATE merges SET undone_at=? WHERE id=?", (now, merge_id))
            return _merge(conn.execute("SELECT * FROM merges WHERE id=?", (merge_id,)).fetchone())
        return await self.db.write(run)

    async def get_merge(self, office_id: str, merge_id: str) -> Merge | None:
        row = await self.db.read(lambda c: c.execute(
            "SELECT * FROM merges WHERE id=? AND office_id=?", (merge_id, office_id)).fetchone())
        return None if row is None else _merge(row)
