"""``chronik migrate-store --to postgresql://…``: copy an embedded data folder's store into
PostgreSQL, so an office can grow without losing its history.

1. The target's schema is brought up to date (Alembic); it must hold no data yet (a second
   run never mixes two histories).
2. Every table of ``timeline.sql_tables`` is copied from ``chronik.sqlite3`` (read-only) with
   ``COPY`` in one transaction, the values converted to PostgreSQL's types (ISO text ->
   ``TIMESTAMPTZ``, JSON text -> ``JSONB``, 0/1 -> ``BOOLEAN``); identity counters continue
   after the copied keys. Attachments (``blobs/``) are copied into the ``blobs`` table when
   the target keeps them (``timeline/pg_blobs.py``).
3. Both sides are compared table by table: row count and an order-independent digest of
   every row, normalised the same way on both sides. Any difference rolls everything back.
4. The caller reindexes the search backend from the new store.

The source folder is never written to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from timeline.blobs import TEXT_SUFFIX
from timeline.errors import Conflict, InvalidInput
from timeline.pg_blobs import text_key
from timeline.pg_migrate import asyncpg_dsn, upgrade
from timeline.sql_tables import PG_ONLY_COLUMNS, PG_ONLY_TABLES, metadata

CHUNK = 2000
"""Rows per ``COPY`` batch and per read of the source."""
_DIGEST_MOD = 1 << 256

Convert = Callable[[Any], Any]


@dataclass
class TableCopy:
    name: str
    rows: int


@dataclass
class MigrationReport:
    tables: list[TableCopy] = field(default_factory=list)
    blobs: int = 0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def line(self) -> str:
        return (f"copied {self.rows} rows in {len(self.tables)} tables and {self.blobs} "
                "attachments; contents checked")


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _json_text(value: Any) -> str | None:
    """SQLite's JSON text as ``COPY`` takes it for ``JSONB`` (checked to be JSON)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    json.loads(text)
    return text


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _same(value: Any) -> Any:
    return value


def _converter(column: sa.Column[Any]) -> Convert:
    kind = type(column.type).__name__
    if kind == "DateTime":
        return _timestamp
    if kind == "JSONB":
        return _json_text
    if kind == "Boolean":
        return _flag
    if kind == "LargeBinary":
        return lambda v: None if v is None else bytes(v)
    if kind == "Text":
        return lambda v: v if v is None or isinstance(v, str) else str(v)
    return _same


def _normal(column: sa.Column[Any], value: Any) -> str:
    """One value as both sides must agree on it (for the digest)."""
    if value is None:
        return "\0"
    kind = type(column.type).__name__
    if kind == "DateTime":
        stamp = _timestamp(value)
        assert stamp is not None
        return stamp.astimezone(UTC).isoformat()
    if kind == "JSONB":
        loaded = json.loads(value) if isinstance(value, str) else value
        return json.dumps(loaded, sort_keys=True, ensure_ascii=False)
    if kind == "Boolean":
        return "1" if value else "0"
    if kind == "LargeBinary":
        return bytes(value).hex()
    return str(value)


def _row_digest(columns: list[sa.Column[Any]], row: tuple[Any, ...] | asyncpg.Record) -> int:
    text = "\x1f".join(_normal(c, v) for c, v in zip(columns, row, strict=True))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest(), "big")


def _copied_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [c for c in table.columns if (table.name, c.name) not in PG_ONLY_COLUMNS]


def _copied_tables() -> list[sa.Table]:
    """The tables both stores have, parents before children."""
    return [t for t in metadata.sorted_tables if t.name not in PG_ONLY_TABLES]


def _source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise InvalidInput(f"no embedded store at {path} (check --data-dir)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           check_same_thread=False, isolation_level=None)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    # one read transaction for the whole copy: every table as of the same instant (its
    # first read), not each table as of when it was reached (jobs of entries not copied)
    conn.execute("BEGIN")
    return conn


def _source_tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _chunks(conn: sqlite3.Connection, table: sa.Table, columns: list[sa.Column[Any]]
            ) -> Iterator[list[tuple[Any, ...]]]:
    names = ", ".join(f'"{c.name}"' for c in columns)
    cursor = conn.execute(f'SELECT {names} FROM "{table.name}"')  # noqa: S608 -- our names
    while rows := cursor.fetchmany(CHUNK):
        yield rows


async def _read_chunk(chunks: Iterator[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    return await asyncio.to_thread(next, chunks, [])


async def _target_is_empty(pg: asyncpg.Connection) -> str | None:
    """The first table of the target that holds rows, if any."""
    for table in metadata.sorted_tables:
        if await pg.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table.name}")'):  # noqa: S608
            return table.name
    return None


async def _copy_table(pg: asyncpg.Connection, source: sqlite3.Connection, table: sa.Table,
                      progress: Callable[[int], object] | None) -> tuple[int, int]:
    """Copy one table; returns (rows, digest of the source rows)."""
    columns = _copied_columns(table)
    convert = [_converter(c) for c in columns]
    chunks = _chunks(source, table, columns)
    rows = digest = 0
    while batch := await _read_chunk(chunks):
        records = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in batch]
        await pg.copy_records_to_table(table.name, records=records,
                                       columns=[c.name for c in columns])
        digest = (digest + sum(_row_digest(columns, r) for r in batch)) % _DIGEST_MOD
        rows += len(batch)
        if progress is not None:
            progress(len(batch))
    return rows, digest


async def _target_digest(pg: asyncpg.Connection, table: sa.Table) -> tuple[int, int]:
    columns = _copied_columns(table)
    names = ", ".join(f'"{c.name}"' for c in columns)
    rows = digest = 0
    query = f'SELECT {names} FROM "{table.name}"'  # noqa: S608 -- names from our metadata
    async for record in pg.cursor(query, prefetch=CHUNK):
        digest = (digest + _row_digest(columns, tuple(record))) % _DIGEST_MOD
        rows += 1
    return rows, digest


async def _continue_identities(pg: asyncpg.Connection) -> None:
    """Identity columns go on after the copied keys (copied rows kept their ids)."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.identity is not None:
                sequence = f"pg_get_serial_sequence('\"{table.name}\"', '{column.name}')"
                top = f'SELECT max("{column.name}") FROM "{table.name}"'  # noqa: S608
                await pg.execute(f"SELECT setval({sequence}, COALESCE(({top}), 0) + 1, false)")


async def _copy_blobs(pg: asyncpg.Connection, blob_dir: Path,
                      progress: Callable[[int], object] | None) -> int:
    if "blobs" not in metadata.tables:
        return 0
    files = await asyncio.to_thread(
        lambda: sorted(p for p in blob_dir.rglob("*") if p.is_file()
                       and len(p.name) == 64 and not p.name.startswith("."))
        if blob_dir.is_dir() else [])
    now = datetime.now(UTC)
    for path in files:
        data = await asyncio.to_thread(path.read_bytes)
        if hashlib.sha256(data).hexdigest() != path.name:
            raise Conflict(f"attachment file {path} does not match its name (damaged): "
                           "nothing was copied")
        await pg.execute("INSERT INTO blobs (sha256, data, size, created_at) "
                         "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                         path.name, data, len(data), now)
        text = path.with_name(path.name + TEXT_SUFFIX)  # read for search: not read again
        if await asyncio.to_thread(text.is_file):
            words = await asyncio.to_thread(text.read_bytes)
            await pg.execute("INSERT INTO blobs (sha256, data, size, created_at) "
                             "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                             text_key(path.name), words, len(words), now)
        if progress is not None:
            progress(1)
    return len(files)


async def migrate_store(store_path: Path, blob_dir: Path, url: str, *,
                        progress: Callable[[int], object] | None = None,
                        total: Callable[[int], object] | None = None) -> MigrationReport:
    """Copy the embedded store at ``store_path`` (and the attachments in ``blob_dir``) into
    the empty PostgreSQL database at ``url``; raises ``InvalidInput`` (bad URL, no source),
    ``Conflict`` (target not empty, contents differ) or ``OSError``/``asyncpg`` errors for
    an unreachable server. ``total`` is told the number of rows (and files) to copy,
    ``progress`` each batch copied."""
    dsn = asyncpg_dsn(url)  # InvalidInput for anything but a PostgreSQL URL
    source = await asyncio.to_thread(_source, store_path)
    try:
        present = await asyncio.to_thread(_source_tables, source)
        missing = [t.name for t in _copied_tables() if t.name not in present]
        if missing:
            raise InvalidInput(f"{store_path} is not a complete Chronik store (no table "
                               f"{missing[0]}): open it once with this version first")
        if total is not None:
            counts = await asyncio.to_thread(lambda: sum(
                source.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]  # noqa: S608
                for t in _copied_tables()))
            total(counts)
        await upgrade(url)
        pg = await asyncpg.connect(dsn, timeout=30)
        try:
            return await _migrate(pg, source, blob_dir, progress)
        finally:
            await pg.close()
    finally:
        source.close()


async def _migrate(pg: asyncpg.Connection, source: sqlite3.Connection, blob_dir: Path,
                   progress: Callable[[int], object] | None) -> MigrationReport:
    report = MigrationReport()
    async with pg.transaction():
        busy = await _target_is_empty(pg)
        if busy is not None:
            raise Conflict(f"the target database already holds data (table {busy}): "
                           "migrate into an empty database")
        expected: dict[str, tuple[int, int]] = {}
        for table in _copied_tables():
            expected[table.name] = await _copy_table(pg, source, table, progress)
            report.tables.append(TableCopy(table.name, expected[table.name][0]))
        await _continue_identities(pg)
        report.blobs = await _copy_blobs(pg, blob_dir, progress)
        for name, want in expected.items():
            got = await _target_digest(pg, metadata.tables[name])
            if got != want:
                raise Conflict(f"table {name} differs after the copy ({got[0]} rows, "
                               f"{want[0]} expected): nothing was kept")
    return report
