"""What the SQLite repositories share: the base class holding the one database handle, and
the row helpers (entry and customer rows to models, the entry column list). Every
``sqlite_*`` repository module imports from here, none from another repository or from the
composition (``sqlite_store``), so each repository class works on its own over a
``SqliteDb``."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from timeline.models import (
    Attachment,
    Channel,
    Customer,
    CustomerStatus,
    Direction,
    Entry,
    Identity,
    IdentityKind,
    Office,
    Visibility,
)
from timeline.public import ATTACHMENT_PATH
from timeline.sqlite_db import SqliteDb

ENTRY_COLS = (
    "seq, id, office_id, customer_id, channel, direction, kind, author, visibility, notify, "
    "occurred_at, recorded_at, subject, body, html, attachments, tags, source_id, meta"
)
INSERT_ENTRY = (
    f"INSERT INTO entries ({ENTRY_COLS}) VALUES "
    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (office_id, channel, source_id) WHERE source_id IS NOT NULL DO NOTHING"
)


class SqliteRepository:
    """One repository over a shared ``SqliteDb`` (reads on the reader pool, writes through
    its single writer with group commit). The database is opened and closed by whoever made
    it (``SqliteStore``, or a test)."""

    def __init__(self, db: SqliteDb) -> None:
        self.db = db


def iso(value: datetime) -> str:
    return value.isoformat()


def dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


_ENTRY_FIELDS = frozenset(Entry.model_fields)
CHANNELS = {c.value: c for c in Channel}
DIRECTIONS = {d.value: d for d in Direction}
VISIBILITIES = {v.value: v for v in Visibility}
"""Stored value -> enum member: a dict lookup instead of ``Enum.__call__`` (a third of
``entry_from_row``'s time on the timeline's hot path). A stored value outside the enum is
a ``KeyError``, as it was a ``ValueError`` before: our own rows hold none."""


M = TypeVar("M", bound=BaseModel)

# BaseModel's slots, set through their descriptors (cheaper than ``object.__setattr__``)
_set_dict = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _construct(cls: type[M], fields: frozenset[str], values: dict[str, Any]) -> M:
    """What ``cls.model_construct`` does, minus its per-call bookkeeping (10x faster on the
    timeline's hot path). Only for values read back from our own rows."""
    model = cls.__new__(cls)
    _set_dict(model, "__dict__", values)
    _set_fields_set(model, fields)
    _set_extra(model, None)
    _set_private(model, None)
    return model


_ATTACHMENT_FIELDS = frozenset(Attachment.model_fields)


def construct_entry(values: dict[str, Any]) -> Entry:
    """An ``Entry`` of our own stored values (``_construct``; a test checks the result
    equals a validated ``Entry``)."""
    return _construct(Entry, _ENTRY_FIELDS, values)


def construct_attachment(values: dict[str, Any]) -> Attachment:
    """An ``Attachment`` of our own stored values (``_construct``)."""
    return _construct(Attachment, _ATTACHMENT_FIELDS, values)


def entry_from_row(row: Sequence[Any]) -> Entry:
    """Our own rows need no validation: convert types and construct (hot path)."""
    return construct_entry({
        "office_id": row[2], "customer_id": row[3], "channel": CHANNELS[row[4]],
        "direction": DIRECTIONS[row[5]], "kind": row[6], "author": row[7],
        "visibility": VISIBILITIES[row[8]], "notify": bool(row[9]),
        "occurred_at": dt(row[10]), "subject": row[12], "body": row[13], "html": row[14],
        "attachments": tuple(construct_attachment(a) for a in orjson.loads(row[15]))
        if row[15] != "[]" else (),
        "tags": tuple(orjson.loads(row[16])) if row[16] != "[]" else (), "source_id": row[17],
        "meta": orjson.loads(row[18]) if row[18] != "{}" else {},
        "id": row[1], "seq": row[0], "recorded_at": dt(row[11]),
    })


def _utc_sql(column: str) -> str:
    """A stored time column as ``public.utc_text`` writes it: a time stored in UTC (all
    but a few) by SQLite alone, any other through ``chronik_utc`` (``SqliteDb``)."""
    return (f"CASE WHEN substr({column}, -6) = '+00:00' "
            f"THEN substr({column}, 1, length({column}) - 6) || 'Z' "
            f"ELSE chronik_utc({column}) END")


_PUBLIC_ATTACHMENTS = (
    "CASE WHEN attachments = '[]' THEN json('[]') ELSE (SELECT json_group_array(json_object("
    "'index', a.key, 'name', json_extract(a.value, '$.name'), "
    "'content_type', json_extract(a.value, '$.content_type'), "
    "'size', json_extract(a.value, '$.size'), 'sha256', json_extract(a.value, '$.sha256'), "
    "'url', " + "'" + ATTACHMENT_PATH.format(entry_id="' || entries.id || '",
                                                    index="' || a.key || '") + "'"
    ")) FROM json_each(attachments) AS a) END")
_PUBLIC_VALUES = {
    "notify": "json(CASE WHEN notify THEN 'true' ELSE 'false' END)",
    "occurred_at": _utc_sql("occurred_at"), "recorded_at": _utc_sql("recorded_at"),
    "attachments": _PUBLIC_ATTACHMENTS, "tags": "json(tags)", "meta": "json(meta)",
}
PUBLIC_ENTRY_JSON = "json_object(" + ", ".join(
    f"'{name}', {_PUBLIC_VALUES.get(name, name)}"
    for name in Entry.model_fields if name not in ("office_id", "seq")) + ")"
"""An ``entries`` row as ``public.public_entry`` shows it, as JSON text written by SQLite
(the same keys in the same order; the contract tests hold the two equal)."""


def packed(columns: str, select: str) -> str:
    """``select`` (which must select ``columns``) as one JSON array of row arrays, built
    by SQLite.

    Why: Python's ``sqlite3`` releases the GIL for every row it steps and takes it back
    for every row it converts. On a reader thread of a busy server each of those hand-overs
    waits for the event loop's thread (a timeline page of 50 rows: ~50 waits); one row of
    JSON is one hand-over, and SQLite builds it without the GIL, beside the event loop. Rows
    come back as lists (the JSON columns ``attachments``, ``tags``, ``meta`` still as text),
    so ``entry_from_row`` reads them as it reads tuples. Order inside the array is not
    guaranteed by SQL: callers sort."""
    return f"SELECT json_group_array(json_array({columns})) FROM ({select})"


def fetch_packed(conn: sqlite3.Connection, columns: str, select: str,
                 args: Sequence[Any]) -> list[list[Any]]:
    """Run ``packed(columns, select)`` and parse it (orjson). A result longer than SQLite
    allows one string to be (1 GB by default: a page of entries whose bodies are tens of MB
    each) is read row by row instead, so ``columns`` must be ``select``'s own columns as
    they are: both ways give the same rows."""
    try:
        text = conn.execute(packed(columns, select), args).fetchone()[0]
    except sqlite3.DataError:  # "string or blob too big"
        return [list(row) for row in conn.execute(select, args)]
    rows: list[list[Any]] = orjson.loads(text)
    return rows


def newest_first(rows: list[list[Any]]) -> list[list[Any]]:
    """Entry rows (``ENTRY_COLS``, ``seq`` first) by ``seq``, newest first: the order a
    packed read does not guarantee."""
    rows.sort(key=_seq_of, reverse=True)
    return rows


def descending(keys: Sequence[int]) -> bool:
    """Whether ``keys`` (of rows an aggregate wrote) are newest first: SQL does not promise
    an aggregate's order, so a read that relies on it checks."""
    return all(a > b for a, b in itertools.pairwise(keys))


def _seq_of(row: list[Any]) -> int:
    seq: int = row[0]
    return seq


def office_from_row(row: Sequence[Any]) -> Office:
    return Office(id=row[0], name=row[1], region=row[2], created_at=dt(row[3]))


def insert_identity(
    conn: sqlite3.Connection, office_id: str, customer_id: str, ident: Identity
) -> None:
    conn.execute(
        "INSERT INTO identities (office_id, customer_id, kind, value, raw, undeliverable) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT (customer_id, kind, value) DO NOTHING",
        (office_id, customer_id, ident.kind.value, ident.value, ident.raw,
         int(ident.undeliverable)))


_CUSTOMER_FIELDS = frozenset(Customer.model_fields)
_IDENTITY_FIELDS = frozenset(Identity.model_fields)
IDENTITY_KINDS = {k.value: k for k in IdentityKind}
CUSTOMER_STATUSES = {s.value: s for s in CustomerStatus}


def customer_from_row(row: Sequence[Any], identities: Iterable[Sequence[Any]]) -> Customer:
    """A customer row (id, office_id, name, status, created_at, updated_at) and its identity
    rows (kind, value, raw, undeliverable) in their stored order (``_construct``: our own
    rows; a test checks the result equals a validated ``Customer``)."""
    idents = tuple(
        _construct(Identity, _IDENTITY_FIELDS, {
            "kind": IDENTITY_KINDS[k], "value": v, "raw": raw, "undeliverable": bool(u)})
        for k, v, raw, u in identities)
    return _construct(Customer, _CUSTOMER_FIELDS, {
        "id": row[0], "office_id": row[1], "name": row[2],
        "status": CUSTOMER_STATUSES[row[3]], "identities": idents,
        "created_at": dt(row[4]), "updated_at": dt(row[5])})


def load_customer(conn: sqlite3.Connection, office_id: str, customer_id: str) -> Customer | None:
    row = conn.execute(
        "SELECT id, office_id, name, status, created_at, updated_at FROM customers "
        "WHERE id=? AND office_id=?", (customer_id, office_id)).fetchone()
    if row is None:
        return None
    return customer_from_row(row, conn.execute(
        "SELECT kind, value, raw, undeliverable FROM identities WHERE customer_id=? "
        "ORDER BY id", (customer_id,)))
