"""Reads of many rows come back from SQLite as one JSON string (``fetch_packed``). A result
longer than SQLite allows one string to be (1 GB by default; here lowered to a few KB) is
read row by row instead: the same entries, never an error; a timeline page SQLite writes
as JSON is built from the entries then."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.store_contract.helpers import T0, draft, seed
from timeline import sqlite_customers
from timeline.models import Identity, IdentityKind
from timeline.sqlite_store import SqliteStore
from timeline.store import TimelineQuery


async def test_a_page_longer_than_sqlites_string_limit_is_read_row_by_row(
        tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", readers=1)
    await store.open()
    try:
        s = await seed(store)
        office, customer = s.office.id, s.customer.id
        made = [e for e, _ in await store.append_many([
            draft(office, customer, body=f"{i} " + "ü" * 3000) for i in range(6)])]
        newest_first = sorted(made, key=lambda e: -e.seq)
        assert (await store.timeline(office, customer, TimelineQuery())).items == newest_first
        # the one reader connection now takes strings of at most 8,000 bytes: a page of
        # six 6 KB bodies no longer fits in one
        await store.db.read(lambda c: c.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 8000))
        with_limit = await store.db.read(lambda c: c.getlimit(sqlite3.SQLITE_LIMIT_LENGTH))
        assert with_limit == 8000
        assert (await store.timeline(office, customer, TimelineQuery())).items == newest_first
        page = await store.timeline(office, customer, TimelineQuery(limit=4))
        assert page.items == newest_first[:4] and page.next_cursor is not None
        seqs = [e.seq for e in made]
        assert await store.entries_by_seq(office, seqs[::-1]) == made[::-1]
        # the page as the API shows it (written by SQLite) comes from the entries then
        shown = await store.timeline_json(office, customer, TimelineQuery(limit=4))
        assert [e["id"] for e in orjson.loads(shown.items_json)] == [
            e.id for e in newest_first[:4]]
        assert (shown.next_cursor, shown.count) == (page.next_cursor, 4)
    finally:
        await store.close()


async def test_a_lookup_whose_order_sqlite_does_not_prove_is_built_from_the_entries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQL does not promise the order of an aggregate: where the keys SQLite wrote beside a
    lookup's entries are not newest first, the entries' JSON is built from the entries --
    the same answer."""
    store = SqliteStore(tmp_path / "s.sqlite3", readers=1)
    await store.open()
    try:
        phone = Identity(kind=IdentityKind.PHONE, value="+491711234567", raw="0171 1234567")
        s = await seed(store, phone)
        await store.append_many([draft(s.office.id, s.customer.id, body=f"n{i}",
                                       occurred_at=T0 + timedelta(minutes=i))
                                 for i in range(4)])
        written = await store.customers_with_recent_json(
            s.office.id, IdentityKind.PHONE, phone.value, 3)
        monkeypatch.setattr(sqlite_customers, "_recent_json", lambda recent: None)
        from_entries = store.customers_with_recent
        reads: list[str] = []

        async def counted(*args: Any) -> Any:
            reads.append("entries")
            return await from_entries(*args)

        monkeypatch.setattr(store, "customers_with_recent", counted)
        built = await store.customers_with_recent_json(
            s.office.id, IdentityKind.PHONE, phone.value, 3)
        assert [orjson.loads(m.recent_json) for m in built] == [
            orjson.loads(m.recent_json) for m in written]
        assert [e["body"] for e in orjson.loads(built[0].recent_json)] == ["n3", "n2", "n1"]
        assert [m.newest_seq for m in built] == [m.newest_seq for m in written]
        assert reads == ["entries"]
    finally:
        await store.close()
