"""The PostgreSQL change feed: a row written by another connection reaches a follower's
subscribers at commit; rows come in commit order, never lost or repeated, also across a lost
connection; every process's follower sees every row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tests.support.postgres import server_url
from timeline.events import Event, EventBus, StoredEvent
from timeline.pg_events import APPLICATION_NAME, PgEventFollower, add_event, add_events
from timeline.pg_migrate import asyncpg_dsn, database_url

WAIT = 15.0
"""Seconds an expected event may take at most (it normally takes milliseconds)."""


@pytest.fixture
async def engine(migrated: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url(migrated), poolclass=sa.NullPool)
    yield eng
    await eng.dispose()


@pytest.fixture
async def follower_of(migrated: str
                      ) -> AsyncIterator[Callable[..., Awaitable[PgEventFollower]]]:
    """Started followers (``run()`` in a task), stopped at the end of the test."""
    tasks: list[asyncio.Task[None]] = []
    followers: list[PgEventFollower] = []

    async def make(bus: EventBus, *, run: bool = True, **kw: object) -> PgEventFollower:
        follower = PgEventFollower(migrated, bus, **kw)  # type: ignore[arg-type]
        await follower.start()
        followers.append(follower)
        if run:
            tasks.append(asyncio.create_task(follower.run()))
            await asyncio.wait_for(follower.connected.wait(), WAIT)
        return follower

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for follower in followers:
        await follower.close()


async def write(engine: AsyncEngine, *events: tuple[str, str | None]) -> None:
    """One committed transaction with ``entry.created`` rows for (entry id, customer id)."""
    async with engine.begin() as conn:
        await add_events(conn, [("o1", "entry.created", customer, entry, None)
                                for entry, customer in events])


async def next_event(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), WAIT)


async def test_an_event_written_by_another_connection_reaches_subscribers(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    bus = EventBus()
    woken: list[bool] = []
    await follower_of(bus, interval=60.0, on_entries=lambda: woken.append(True))  # no polling
    with bus.subscribe("o1") as queue:
        await write(engine, ("e1", "c1"))
        event = await next_event(queue)
    assert event == Event("o1", "entry.created", {"customer_id": "c1", "entry_id": "e1"})
    assert woken == [True]


async def test_data_and_loaders_work_as_on_sqlite(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    bus = EventBus()
    loaded: list[StoredEvent] = []

    async def load_call(row: StoredEvent) -> dict[str, object] | None:
        loaded.append(row)
        return None if row.call_id == "gone" else {"call": row.call_id, **row.data}

    bus.loader("call", load_call)
    await follower_of(bus, interval=60.0)
    with bus.subscribe("o1") as queue:
        async with engine.begin() as conn:
            await add_event(conn, ("o1", "call.ringing", None, None, "gone"), {})
            await add_event(conn, ("o1", "call.ringing", "c1", None, "k1"), {"missed": True})
        event = await next_event(queue)
    assert event == Event("o1", "call.ringing", {"call": "k1", "missed": True})
    assert [(r.call_id, r.data) for r in loaded] == [("gone", {}), ("k1", {"missed": True})]


async def test_only_committed_rows_come_and_in_commit_order(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    """A takes id 1 and commits last; B takes id 2 and commits first. Nothing is delivered
    while A runs (a follower that took B would skip A for good), then A and B once each; a
    rolled-back row never comes."""
    bus = EventBus()
    follower = await follower_of(bus, run=False)
    with bus.subscribe("o1") as queue:
        async with engine.connect() as a, engine.connect() as b:
            await a.begin()
            await add_events(a, [("o1", "entry.created", "c1", "A", None)])
            await b.begin()
            await add_events(b, [("o1", "entry.created", "c1", "B", None)])
            await b.commit()
            assert await follower.follow_once() == 0
            await a.commit()
        async with engine.connect() as r:
            await r.begin()
            await add_events(r, [("o1", "entry.created", "c1", "rolled back", None)])
            await r.rollback()
        assert await follower.follow_once() == 2
        assert [queue.get_nowait().data["entry_id"] for _ in range(2)] == ["A", "B"]
        await write(engine, ("C", "c1"))
        assert await follower.follow_once() == 1
        assert queue.get_nowait().data["entry_id"] == "C"
        assert queue.empty()


async def test_an_older_transaction_writing_a_later_id_is_not_skipped(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    """T0 starts first (older transaction id) but writes its row after T1 has written and
    committed one: T1's row waits until T0 ends, then both come, T0's first."""
    bus = EventBus()
    follower = await follower_of(bus, run=False)
    with bus.subscribe("o1") as queue:
        async with engine.connect() as t0, engine.connect() as t1:
            await t0.begin()
            await t0.execute(sa.text("SELECT pg_current_xact_id()"))  # T0 is the older one
            await t1.begin()
            await add_events(t1, [("o1", "entry.created", "c1", "T1", None)])
            await t1.commit()
            assert await follower.follow_once() == 0
            await add_events(t0, [("o1", "entry.created", "c1", "T0", None)])
            await t0.commit()
        assert await follower.follow_once() == 2
        assert [queue.get_nowait().data["entry_id"] for _ in range(2)] == ["T0", "T1"]


async def test_a_running_follower_delivers_held_back_rows_when_the_blocker_ends(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    """The older transaction writes no event (so sends no NOTIFY): the follower still
    delivers the younger one's row once the older one ends."""
    bus = EventBus()
    await follower_of(bus, interval=60.0)
    with bus.subscribe("o1") as queue:
        async with engine.connect() as blocker:
            await blocker.begin()
            await blocker.execute(sa.text("SELECT pg_current_xact_id()"))
            await write(engine, ("after the blocker", "c1"))
            await blocker.rollback()
        event = await next_event(queue)
    assert event.data["entry_id"] == "after the blocker"


async def test_the_follower_catches_up_after_losing_its_connection(
        migrated: str, engine: AsyncEngine,
        follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    """The follower's connection is killed and new connections are refused while an event
    is written: once the server lets it back in, it delivers that event (and only once)."""
    bus = EventBus()
    follower = await follower_of(bus, interval=60.0, reconnect_delay=(0.05, 0.2))
    admin = await asyncpg.connect(asyncpg_dsn(server_url()))  # another database
    db = database_url(migrated).database
    try:
        with bus.subscribe("o1") as queue:
            await write(engine, ("before", "c1"))
            assert (await next_event(queue)).data["entry_id"] == "before"
            async with engine.connect() as writer:
                await writer.execute(sa.text("SELECT 1"))  # connected before the door shuts
                await writer.commit()
                await admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = $1 AND application_name = $2", db, APPLICATION_NAME)
                assert killed == 1
                await asyncio.wait_for(follower.disconnected.wait(), WAIT)
                async with writer.begin():
                    await add_events(writer, [("o1", "entry.created", "c1", "missed", None)])
                await admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
            assert (await next_event(queue)).data["entry_id"] == "missed"
            await write(engine, ("after", "c1"))
            assert (await next_event(queue)).data["entry_id"] == "after"
            assert queue.empty()
        assert follower.reconnects == 1
    finally:
        await admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
        await admin.close()


async def test_two_followers_both_receive_every_event(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    """Two processes' followers (each its own connection and bus): both see the write."""
    buses = [EventBus(), EventBus()]
    for bus in buses:
        await follower_of(bus, interval=60.0)
    with buses[0].subscribe("o1") as q0, buses[1].subscribe("o1") as q1:
        await write(engine, ("shared", "c1"))
        got = await asyncio.gather(next_event(q0), next_event(q1))
    assert [e.data["entry_id"] for e in got] == ["shared", "shared"]


async def test_offices_only_see_their_own_events(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    bus = EventBus()
    follower = await follower_of(bus, run=False)
    with bus.subscribe("o1") as mine, bus.subscribe("o2") as theirs:
        async with engine.begin() as conn:
            await add_events(conn, [("o2", "entry.created", "c9", "theirs", None),
                                    ("o1", "entry.created", "c1", "mine", None)])
        assert await follower.follow_once() == 2
        assert mine.get_nowait().data["entry_id"] == "mine" and mine.empty()
        assert theirs.get_nowait().data["entry_id"] == "theirs" and theirs.empty()


async def test_rows_every_follower_could_read_are_pruned(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    """Old rows go (the table stays small), a follower far behind just moves on."""
    from timeline import pg_events

    bus = EventBus()
    follower = await follower_of(bus, run=False)

    async def backdate(conn: AsyncConnection) -> None:
        await conn.execute(sa.text("UPDATE events SET at = at - interval '1 hour'"))

    async with engine.begin() as conn:
        await add_events(conn, [("o1", "entry.created", "c1", f"old{i}", None)
                                for i in range(10)])
    async with engine.begin() as conn:
        await backdate(conn)
    async with engine.begin() as conn:  # crosses a PRUNE_EVERY boundary: prunes
        await add_events(conn, [("o1", "entry.created", "c1", f"new{i}", None)
                                for i in range(pg_events.PRUNE_EVERY)])
    async with engine.connect() as conn:
        left = (await conn.execute(sa.text("SELECT entry_id FROM events ORDER BY id"))
                ).scalars().all()
    assert left == [f"new{i}" for i in range(pg_events.PRUNE_EVERY)]
    assert await follower.follow_once() == pg_events.PRUNE_EVERY


async def test_an_event_that_fails_to_load_does_not_stop_the_others(
        engine: AsyncEngine, follower_of: Callable[..., Awaitable[PgEventFollower]]) -> None:
    bus = EventBus()

    async def load_call(row: StoredEvent) -> dict[str, object] | None:
        if row.call_id == "broken":
            raise ValueError("the loader has a bug")
        return {"call": row.call_id}

    bus.loader("call", load_call)
    follower = await follower_of(bus, run=False)
    with bus.subscribe("o1") as queue:
        async with engine.begin() as conn:
            await add_event(conn, ("o1", "call.ringing", None, None, "broken"), {})
            await add_event(conn, ("o1", "call.ringing", None, None, "fine"), {})
        assert await follower.follow_once() == 2
        assert queue.get_nowait().data == {"call": "fine"} and queue.empty()
