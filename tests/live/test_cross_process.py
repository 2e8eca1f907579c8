"""Live events across processes: two ``chronik serve`` processes and a ``chronik worker`` on
one store (an SQLite data folder, or PostgreSQL), and ``chronik serve --processes 2`` on one
port. Every agent's event stream shows what any process wrote, once."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.live.cluster import (
    Stream,
    Worker,
    banner_pids,
    base_env,
    healthy,
    listening_pids,
    running,
    serve,
    server_pid,
    spawn_server,
    spawn_worker,
    stop_all,
    stream,
)
from tests.support.live_server import (
    ADMIN_EMAIL,
    AGENT_EMAIL,
    PASSWORD,
    ChronikServer,
    seed,
    wait_until,
)
from tests.support.postgres import fresh_database_sync

pytestmark = pytest.mark.timeout(240)


@dataclass
class Cluster:
    a: ChronikServer  # indexer and connectors, no notifier
    b: ChronikServer  # --no-workers: HTTP only
    worker: Worker    # the notifier


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The processes share the data folder's SQLite store, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield {}
    else:
        with fresh_database_sync() as url:
            yield {"CHRONIK_DATABASE_URL": url}


@pytest.fixture
def cluster(tmp_path: Path, store_env: dict[str, str]) -> Iterator[Cluster]:
    data_dir = tmp_path / "data"
    env = base_env(store_env)
    seeded = seed(data_dir, env)
    started: list[ChronikServer | Worker] = []
    try:  # the three start at once (a seeded store needs no migration by the first)
        a = spawn_server(tmp_path, data_dir, base_env({"CHRONIK_NOTIFY_WORKER": "false",
                                                       **store_env}), seeded, "serve-a")
        started.append(a)
        b = spawn_server(tmp_path, data_dir, env, seeded, "serve-b", "--no-workers")
        started.append(b)
        w = spawn_worker(tmp_path, data_dir, env)
        started.append(w)
        yield Cluster(healthy(a), healthy(b), running(w))
    finally:  # every process is stopped, also when one of them failed
        stop_all(started[::-1])


def customer(server: ChronikServer, name: str = "Erika Mustermann",
             phones: tuple[str, ...] = ()) -> dict[str, Any]:
    body: dict[str, Any] = server.api("POST", "/customers", {"name": name,
                                                             "phones": list(phones)})
    return body


async def test_an_entry_written_through_one_process_reaches_the_other_once(
        cluster: Cluster) -> None:
    c = customer(cluster.a)
    async with aiohttp.ClientSession() as session, \
            stream(session, cluster.b) as on_b, stream(session, cluster.a) as on_a:
        note = await asyncio.to_thread(
            cluster.a.api, "POST", f"/customers/{c['id']}/entries",
            {"kind": "note", "body": "Rückruf vereinbart", "visibility": "internal"},
            cluster.a.agent_token)
        got = await on_b.until("entry.created", id=note["id"])
        assert (got["customer_id"], got["kind"], got["visibility"]) == (
            c["id"], "note", "internal")
        mine = await on_a.until("entry.created", id=note["id"])
        assert mine == got
        # the writer's own stream gets it once, not once more from the feed: a later entry
        # written through B reaches A only through the feed, after the note's row
        marker = await asyncio.to_thread(
            cluster.b.api, "POST", f"/customers/{c['id']}/entries",
            {"kind": "note", "body": "später", "visibility": "internal"},
            cluster.b.agent_token)
        for live in (on_a, on_b):
            await live.until("entry.created", id=marker["id"])
            assert [d["id"] for e, d in live.seen if e == "entry.created"] == [
                note["id"], marker["id"]]


async def test_a_notification_recorded_by_the_worker_reaches_both_servers(
        cluster: Cluster) -> None:
    c = customer(cluster.a)
    async with aiohttp.ClientSession() as session, \
            stream(session, cluster.a) as on_a, stream(session, cluster.b) as on_b:
        note = await asyncio.to_thread(
            cluster.b.api, "POST", f"/customers/{c['id']}/entries",
            {"kind": "note", "body": "Ihr Antrag ist angenommen.",
             "visibility": "published", "notify": True}, cluster.b.agent_token)
        for live in (on_a, on_b):
            await live.until("entry.created", id=note["id"])
            recorded = await live.until("entry.created", kind="notification",
                                        customer_id=c["id"])
            assert recorded["channel"] == "notification"
            assert recorded["subject"].startswith("Notification sent")
            await live.until("entry.updated", id=note["id"])
    # what the events announced is there: the delivery on the note, the portal inbox item
    entry = cluster.b.api("GET", f"/entries/{note['id']}")
    assert entry["meta"]["delivery"]["status"] == "sent"
    assert entry["meta"]["delivery"]["channel"] == "portal"


async def test_a_call_posted_to_one_process_rings_on_the_other(cluster: Cluster) -> None:
    c = customer(cluster.a, phones=("0171 1234567",))
    office = cluster.a.api("GET", "/office")
    path = office["cti_url_path"]
    async with aiohttp.ClientSession() as session, stream(session, cluster.b) as on_b:
        for event in ({"event": "newCall", "callId": "x1", "from": "491711234567",
                       "to": "4930123456", "direction": "in", "user": ["Tom Agent"]},
                      {"event": "hangup", "callId": "x1", "cause": "noAnswer"}):
            resp = await asyncio.to_thread(cluster.a.call, "POST", path, event, "")
            assert resp.status == 200, resp.body
        ringing = await on_b.until("call.ringing", call_id="x1")
        assert ringing["normalised"] == "+491711234567"
        assert [m["customer"]["id"] for m in ringing["matches"]] == [c["id"]]
        assert ringing["users"] == ["Tom Agent"] and ringing["entry_id"]
        ended = await on_b.until("call.ended", call_id="x1")
        assert ended["missed"] is True and ended["entry_id"] == ringing["entry_id"]


async def test_serve_with_two_processes_answers_on_one_port_from_both(
        tmp_path: Path, store_env: dict[str, str]) -> None:
    data_dir = tmp_path / "data"
    env = base_env(store_env)
    seeded = seed(data_dir, env)
    server = await asyncio.to_thread(serve, tmp_path, data_dir, env, seeded, "serve-2",
                                     "--processes", "2")
    try:
        pids = banner_pids(server)
        port = int(server.base_url.rsplit(":", 1)[1])
        assert len(set(pids)) == 2
        # (a process announces itself a moment before its socket listens: on a busy
        # machine the second may not be listening yet when the first answers)
        await asyncio.to_thread(wait_until, lambda: listening_pids(port, pids) == set(pids),
                                timeout=30, what="both processes listening on the port")
        c = customer(server)
        async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as open_:
            streams: list[Stream] = []
            served_by: set[int | None] = set()
            async with asyncio.timeout(60):
                while served_by != set(pids):  # connections land on both processes
                    live = await open_.enter_async_context(stream(session, server))
                    streams.append(live)
                    served_by.add(server_pid(port, live.client_port, pids))
            note = await asyncio.to_thread(
                server.api, "POST", f"/customers/{c['id']}/entries",
                {"kind": "note", "body": "Zwei Prozesse", "visibility": "internal"})
            for live in streams:  # every stream, whichever process holds it
                got = await live.until("entry.created", id=note["id"])
                assert got["customer_id"] == c["id"]
    finally:
        await asyncio.to_thread(server.stop)


async def test_writes_through_both_processes_at_once_all_succeed_and_arrive(
        cluster: Cluster) -> None:
    """Writers in two processes wait for each other (SQLite busy timeout) or write at once
    (PostgreSQL), none fails."""
    c = customer(cluster.a)

    def write(server: ChronikServer, i: int) -> str:
        resp = server.call("POST", f"/customers/{c['id']}/entries",
                           {"kind": "note", "body": f"parallel {i}", "visibility": "internal"},
                           server.agent_token)
        assert resp.status == 201, resp.body
        return str(resp.body["id"])

    async with aiohttp.ClientSession() as session, stream(session, cluster.b) as on_b:
        ids = await asyncio.gather(*(
            asyncio.to_thread(write, cluster.a if i % 2 else cluster.b, i) for i in range(40)))
        async with asyncio.timeout(20):
            while not set(ids) <= {d["id"] for e, d in on_b.seen if e == "entry.created"}:
                await on_b.next(20)
        assert len(set(ids)) == 40


async def test_events_of_calls_posted_to_both_processes_at_once_are_all_kept(
        cluster: Cluster) -> None:
    """A PBX fires a call's events in quick succession and a balancer spreads them over the
    processes: newCall, answer and hangup of each call, posted at once, half to each
    process. Every call ends answered, with its agent and its duration -- none of the
    events is lost to another process's save of the same call."""
    customer(cluster.a, phones=("0171 7654321",))
    path = cluster.a.api("GET", "/office")["cti_url_path"]
    calls = [f"p{i}" for i in range(12)]

    def post(server: ChronikServer, event: dict[str, Any]) -> None:
        resp = server.call("POST", path, event, "")
        assert resp.status == 200, resp.body

    events: list[tuple[ChronikServer, dict[str, Any]]] = []
    for n, call in enumerate(calls):
        events += [
            (cluster.a if n % 2 else cluster.b,
             {"event": "newCall", "callId": call, "from": "491717654321", "to": "4930123456",
              "direction": "in", "user": ["Tom Agent"], "timestamp": "2026-03-02T09:30:00Z"}),
            (cluster.b if n % 2 else cluster.a,
             {"event": "answer", "callId": call, "user": "Tom Agent",
              "timestamp": "2026-03-02T09:30:05Z"}),
            (cluster.a if n % 2 else cluster.b,
             {"event": "hangup", "callId": call, "cause": "normalClearing",
              "timestamp": "2026-03-02T09:31:05Z"})]
    await asyncio.gather(*(asyncio.to_thread(post, server, event)
                           for server, event in events))
    match = cluster.b.api("GET", "/lookup?phone=01717654321")["matches"][0]
    timeline = cluster.b.api(
        "GET", f"/customers/{match['customer']['id']}/timeline?kind=call&limit=50")
    by_call = {e["meta"]["call_id"]: e["meta"] for e in timeline["items"]}
    assert sorted(by_call) == sorted(calls)
    for call, meta in by_call.items():
        assert (meta["outcome"], meta["answered_by"], meta["duration_seconds"]) == (
            "answered", "Tom Agent", 60), (call, meta)


async def test_the_http_only_process_shows_the_connectors_of_the_others(
        cluster: Cluster) -> None:
    """B runs no connectors (``--no-workers``): its ``GET /connectors`` shows A's, as A
    reported them (A's pid), and the notifier of the separate ``chronik worker`` (its pid),
    for an admin whose request happens to reach B; A shows the worker's notifier too."""
    admin = cluster.a.admin_token
    host = socket.gethostname()
    a_pid, w_pid = f"{host}:{cluster.a.process.pid}", f"{host}:{cluster.worker.process.pid}"
    live = cluster.a.api("GET", "/connectors", None, admin)["items"]
    assert [i["name"] for i in live if i["reported_by"] == w_pid] == ["notify-worker"]
    assert [i for i in live if i["reported_by"] not in (a_pid, w_pid)] == []
    assert "notify-worker" not in [i["name"] for i in live if i["reported_by"] == a_pid]
    shown = cluster.b.api("GET", "/connectors", None, admin)["items"]
    assert [(i["name"], i["reported_by"]) for i in shown] == [
        (i["name"], i["reported_by"]) for i in live]
    assert [i["state"] for i in shown if i["reported_by"] == a_pid] == [
        i["state"] for i in live if i["reported_by"] == a_pid]


class Browser:
    """A browser's cookies, and its forms posted to whichever server the test names (the
    same site behind a proxy that spreads requests over processes)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def post_form(self, server: ChronikServer, path: str, fields: dict[str, str]
                        ) -> tuple[int, str, str]:
        """GET the form's page, POST it with its CSRF token: (status, Location, text)."""
        async with self.session.get(server.base_url + path) as page:
            assert page.status == 200, page.status
            found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
            assert found
        async with self.session.post(server.base_url + path, allow_redirects=False,
                                     data={**fields, "csrf": found.group(1)}) as answer:
            return answer.status, answer.headers.get("Location", ""), await answer.text()


async def test_sign_in_limits_count_the_attempts_made_through_every_process(
        cluster: Cluster) -> None:
    """Before, each process counted wrong passwords and portal code requests in its own
    memory: behind a proxy that spreads requests over two processes (or with ``serve
    --processes 2``), twice the guesses got through. Now the store counts them."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        browser = Browser(session)
        servers = (cluster.a, cluster.b)
        for n in range(10):  # the 10 wrong passwords an address gets, half through each
            status, _, _ = await browser.post_form(servers[n % 2], "/signin", {
                "email": AGENT_EMAIL, "password": f"guess {n}", "method": "password"})
            assert status == 400, (n, status)
        for server in servers:  # now refused by both, even the right password
            status, _, text = await browser.post_form(server, "/signin", {
                "email": AGENT_EMAIL, "password": PASSWORD, "method": "password"})
            assert status == 429 and "Zu viele Versuche" in text, (server.base_url, status)
        # the admin's address is not affected
        status, location, _ = await browser.post_form(cluster.b, "/signin", {
            "email": ADMIN_EMAIL, "password": PASSWORD, "method": "password", "next": "/"})
        assert (status, location) == (303, "/")

        for n in range(5):  # the portal: 5 code requests per address typed, alternately
            status, location, _ = await browser.post_form(
                servers[n % 2], "/portal/signin", {"email": "erika@example.de"})
            assert status == 303 and "/portal/signin/code?" in location, (n, location)
        for server in servers:
            status, location, _ = await browser.post_form(
                server, "/portal/signin", {"email": "erika@example.de"})
            assert status == 303 and "error=rate_limited" in location, location
