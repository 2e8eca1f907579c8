"""The PostgreSQL store's one database handle, shared by every ``pg_*`` repository: an
SQLAlchemy async engine on asyncpg (a connection pool), schema kept by Alembic.

Unlike SQLite's single writer with group commit, any number of transactions write at once
(several API processes and workers on one database); each repository method is one
transaction (``begin()``) or one read (``connect()``). What SQLite's single writer gave for
free -- ``max(seq)+1``, read-modify-write, claiming queued work -- is done with advisory
locks (``timeline/pg_seq.py``), ``SELECT … FOR UPDATE`` / ``UPDATE … RETURNING`` and
``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from timeline.errors import InvalidInput, StoreUnavailable, causes
from timeline.pg_migrate import database_url, head_revision, upgrade

POOL_SIZE = 12
"""Connections per process kept open (more are opened under load, up to ``+ MAX_OVERFLOW``,
and closed again when given back). More than the requests a process serves at once plus its
background work (indexer, notifier, change feed): with 8, eight busy requests made every
poll of the indexer open and close a connection (a few ms each: a tenth of a timeline
page's time under load)."""
MAX_OVERFLOW = 4


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: a connection the server has closed (a restart, a failover,
    ``pg_terminate_backend``) is known to asyncpg as soon as the closing reached this
    process, so it is replaced then and there (``DisconnectionError`` makes the pool open
    a new one) -- what ``pool_pre_ping`` does, without its round trip per checkout. A
    connection lost silently (no closing arrived) fails its one request and the pool is
    renewed (SQLAlchemy's disconnect handling)."""
    if dbapi_connection.driver_connection.is_closed():
        raise sa.exc.DisconnectionError("PostgreSQL closed this connection")


_UNREACHABLE_SQLSTATES = ("08", "57P", "53300")
"""Connection exceptions (``08…``), operator intervention (``57P01`` admin shutdown,
``57P02`` crash shutdown, ``57P03`` cannot connect now: starting up, in recovery) and
``53300`` too many connections."""


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the server cannot be reached just now, rather
    than that the statement was wrong: refused or reset connections, a connection the server
    closed (SQLAlchemy's ``connection_invalidated``), the SQLSTATEs above."""
    for cause in causes(exc):
        if isinstance(cause, ConnectionError):
            return True
        if getattr(cause, "connection_invalidated", False) is True:
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNREACHABLE_SQLSTATES):
            return True
    return False


_UNSTORABLE_SQLSTATES = frozenset({"22021", "22P05"})
"""``character_not_in_repertoire`` (text with a NUL character: PostgreSQL's text cannot hold
U+0000, SQLite's can) and ``untranslatable_character``."""


def unstorable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says a text value holds a character PostgreSQL
    cannot store or compare: refused by the server (the SQLSTATEs above), or not even
    encodable as UTF-8 (half of a surrogate pair, as JSON's ``"\\ud800"`` gives: asyncpg
    refuses the argument before sending it; SQLite's driver raises the same
    ``UnicodeEncodeError``)."""
    return any(getattr(cause, "sqlstate", None) in _UNSTORABLE_SQLSTATES
               or isinstance(cause, UnicodeEncodeError) for cause in causes(exc))


@contextmanager
def _database_errors() -> Iterator[None]:
    """A failure to reach the server, inside or around the block, is ``StoreUnavailable``
    (a 503 for the API, never a "bug"); text PostgreSQL cannot hold (a NUL character, from
    a URL or a JSON body) is ``InvalidInput`` (a 400); every other error passes unchanged."""
    try:
        yield
    except Exception as exc:
        if unreachable(exc):
            raise StoreUnavailable("the database cannot be reached right now, so nothing "
                                   "was read or stored; try again in a few seconds") from exc
        if unstorable(exc):
            raise InvalidInput("the text contains a character that cannot be stored "
                               "(NUL, U+0000, or half of a surrogate pair, U+D800 to "
                               "U+DFFF)") from exc
        raise


class Compiled:
    """A SQLAlchemy read statement with named ``sa.bindparam``s, compiled once for asyncpg
    itself (``PgDb.fetch``): building and compiling a statement costs more than running it."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._sql: str | None = None
        self._names: tuple[str, ...] = ()
        self._fixed: dict[str, Any] = {}

    def sql(self, dialect: sa.Dialect) -> str:
        if self._sql is None:
            compiled = self.statement.compile(dialect=dialect)
            self._names = tuple(compiled.positiontup or ())
            self._fixed = dict(compiled.params)  # the values written into the statement
            self._sql = str(compiled)
        return self._sql

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments: ``params`` by name, the statement's own values for the
        rest (a ``KeyError`` for a parameter given nowhere)."""
        return [params[name] if name in params else self._fixed[name]
                for name in self._names]


class PgDb:
    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self._sa_url = database_url(url)  # InvalidInput for a URL that is not PostgreSQL
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the PostgreSQL store is not open")
        return self._engine

    async def open(self, *, migrate: bool = True) -> None:
        """Bring the schema up to date (Alembic; a no-op when it is) and open the pool."""
        self._engine = create_async_engine(
            self._sa_url, pool_size=self._pool_size, max_overflow=MAX_OVERFLOW,
            # no ping before every use (a round trip: a quarter of a caller lookup's
            # time); _drop_closed does it without one
            pool_pre_ping=False,
            # JSONB columns (attachments, tags, meta: three per entry) parsed by orjson:
            # a quarter of the stdlib's cost on a timeline page; the text PostgreSQL sends
            # is always valid JSON, which both parse alike
            json_deserializer=orjson.loads)
        sa.event.listen(self._engine.sync_engine, "checkout", _drop_closed)
        if migrate and not await self._up_to_date():
            await upgrade(self.url)

    async def _up_to_date(self) -> bool:
        """Whether the schema is at the newest revision already (one query instead of
        starting Alembic at every start of every process)."""
        try:
            async with self.engine.connect() as conn:
                found = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        except sa.exc.ProgrammingError:  # no alembic_version yet: a new database
            return False
        return bool(found == head_revision())

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back on an error."""
        with _database_errors():
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (its implicit transaction is rolled back at the end)."""
        with _database_errors():
            async with self.engine.connect() as conn:
                yield conn

    async def fetch(self, query: str | Compiled, *args: Any, **params: Any) -> list[Any]:
        """One read statement straight through asyncpg: a connection of the same pool, no
        transaction around it (one statement sees one snapshot anyway), rows as asyncpg
        ``Record``s (by position or name; JSONB already parsed, as SQLAlchemy set up the
        connection). For the hot reads (a timeline page, the caller lookup, search hits):
        SQLAlchemy's statement building, execution and result machinery cost about a third
        of a PostgreSQL timeline page's time. ``query`` is SQL with ``$1``… (``args``) or a
        ``Compiled`` SQLAlchemy statement (named ``params``)."""
        if isinstance(query, Compiled):
            sql, args = query.sql(self.engine.dialect), tuple(query.args(params))
        else:
            sql = query
        with _database_errors():
            async with self.engine.connect() as conn:
                driver: Any = (await conn.get_raw_connection()).driver_connection
                rows: list[Any] = await driver.fetch(sql, *args)
        return rows

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a read that is one statement (one statement sees one snapshot
        anyway): autocommit, so no ``BEGIN``/``ROLLBACK`` round trips around it."""
        with _database_errors():
            async with self.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
