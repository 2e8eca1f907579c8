"""A caller lookup asked again is answered from what this process kept (``chronik.answers``)
-- but never with what the store no longer holds: every write, by this process at once or
by another process sharing the store within moments, shows in the next answer; an erased
person is gone from it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import ClientSession

import chronik.app
from chronik.answers import Answer, Answers
from tests.api.test_customers_entries import make_customer
from tests.conftest import Api, Hub, serving
from timeline.sqlite_store import SqliteStore

PROMPTLY = 3.0
"""Seconds another process's write may take to show in a lookup (``PRAGMA data_version``
is read every 50 ms on SQLite; PostgreSQL keeps no answers)."""
NUMBER = "0171 1234567"


async def lookup(api: Api, phone: str = NUMBER) -> dict[str, Any]:
    status, body = await api.get("/lookup", params={"phone": phone})
    assert status == 200, body
    return body


def names(body: dict[str, Any]) -> list[str]:
    return [m["customer"]["name"] for m in body["matches"]]


def subjects(body: dict[str, Any]) -> list[str]:
    return [e["subject"] for m in body["matches"] for e in m["recent"]]


async def note(hub: Hub, customer_id: str, subject: str) -> None:
    status, body = await hub.agent.post(f"/customers/{customer_id}/entries", json={
        "kind": "note", "subject": subject, "body": "…", "notify": False})
    assert status == 201, body


async def test_every_write_shows_in_the_next_lookup_of_this_process(hub: Hub) -> None:
    erika = await make_customer(hub, "Erika Mustermann", phones=[NUMBER])
    await note(hub, erika["id"], "Erster Anruf")
    for _ in range(3):  # asked again and again: the same answer
        assert subjects(await lookup(hub.agent)) == ["Erster Anruf"]
    await note(hub, erika["id"], "Rückruf vereinbart")
    assert subjects(await lookup(hub.agent)) == ["Rückruf vereinbart", "Erster Anruf"]

    status, _ = await hub.agent.call("PATCH", f"/customers/{erika['id']}",
                                     json={"name": "Erika Musterfrau"})
    assert status == 200
    assert names(await lookup(hub.agent, "+49 171 1234567")) == ["Erika Musterfrau"]

    second = await make_customer(hub, "Max Mustermann", phones=["0171 1234567"])
    assert sorted(names(await lookup(hub.agent))) == ["Erika Musterfrau", "Max Mustermann"]
    status, _ = await hub.agent.call(
        "DELETE", f"/customers/{second['id']}/identities/phone/{NUMBER}")
    assert status in (200, 204)
    assert names(await lookup(hub.agent)) == ["Erika Musterfrau"]

    status, preview = await hub.admin.get(f"/customers/{erika['id']}/erasure")
    assert status == 200, preview
    assert len(hub.state.lookups) == isinstance(hub.state.store, SqliteStore)
    status, _ = await hub.admin.call(
        "DELETE", f"/customers/{erika['id']}?confirm={preview['confirm']}")
    assert status == 200
    assert len(hub.state.lookups) == 0  # the erased person's answer left memory at once
    assert (await lookup(hub.agent))["matches"] == []


async def test_a_kept_answer_carries_its_etag_and_a_poller_gets_304(hub: Hub) -> None:
    erika = await make_customer(hub, "Erika Mustermann", phones=[NUMBER])
    url = hub.agent.base + "/lookup?phone=0171%201234567"
    headers = {"Authorization": f"Bearer {hub.agent.token}"}
    async with hub.agent.session.get(url, headers=headers) as first:
        etag, body = first.headers["ETag"], await first.read()
    async with hub.agent.session.get(url, headers=headers) as again:  # the kept answer
        assert (again.headers["ETag"], await again.read()) == (etag, body)
    async with hub.agent.session.get(url, headers={**headers, "If-None-Match": etag}) as r:
        assert r.status == 304
    await note(hub, erika["id"], "Rückruf")
    async with hub.agent.session.get(url, headers={**headers, "If-None-Match": etag}) as r:
        assert r.status == 200 and r.headers["ETag"] != etag
        assert "Rückruf" in (await r.json())["matches"][0]["recent"][0]["subject"]


async def test_a_write_by_another_process_shows_in_this_ones_lookups(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes on one store (``serve --processes 2``, or ``chronik worker``): one
    keeps answers, the other writes; the first answers with the write within moments,
    and an erased person's answer leaves its memory without another lookup."""
    monkeypatch.setattr(chronik.app, "FORGET_ANSWERS_EVERY", 0.1)
    erika = await make_customer(hub, "Erika Mustermann", phones=[NUMBER])
    await note(hub, erika["id"], "Erster Anruf")
    async with serving(hub.state.settings, workers=False) as (other_state, base), \
            ClientSession() as session:
        other = Api(session, base, hub.agent.token)
        for _ in range(3):
            assert subjects(await lookup(other)) == ["Erster Anruf"]

        async def shows(want: list[str], what: Any) -> float:
            start = time.monotonic()
            while (got := what(await lookup(other))) != want:
                assert time.monotonic() - start < PROMPTLY, f"still {got} after {PROMPTLY} s"
                await asyncio.sleep(0.02)
            return time.monotonic() - start

        await note(hub, erika["id"], "Rückruf vereinbart")  # written by the first process
        await shows(["Rückruf vereinbart", "Erster Anruf"], subjects)
        status, _ = await hub.agent.call("PATCH", f"/customers/{erika['id']}",
                                         json={"name": "Erika Musterfrau"})
        assert status == 200
        await shows(["Erika Musterfrau"], names)
        # the other process keeps Erika's answer (SQLite; PostgreSQL keeps none)
        assert len(other_state.lookups) == isinstance(hub.state.store, SqliteStore)
        status, preview = await hub.admin.get(f"/customers/{erika['id']}/erasure")
        status, _ = await hub.admin.call(
            "DELETE", f"/customers/{erika['id']}?confirm={preview['confirm']}")
        assert status == 200
        start = time.monotonic()
        while len(other_state.lookups):  # no lookup asked: forgotten all the same
            assert time.monotonic() - start < PROMPTLY, "the erased person's answer stays"
            await asyncio.sleep(0.02)
        await shows([], names)


def test_answers_are_kept_only_while_the_store_is_unchanged() -> None:
    kept = Answers()
    assert kept.get((1, 1), "a") is None
    kept.put((1, 1), (1, 1), "a", Answer(b"A", "e"))
    assert kept.get((1, 1), "a") == Answer(b"A", "e")
    assert kept.get((2, 1), "a") is None  # a write: every answer forgotten
    assert kept.get((1, 1), "a") is None and len(kept) == 0
    kept.put((2, 1), (3, 1), "a", Answer(b"A", "e"))  # written while it was read: not kept
    assert kept.get((3, 1), "a") is None
    kept.put(None, None, "a", Answer(b"A", "e"))  # a store that cannot tell: nothing kept
    assert kept.get(None, "a") is None and len(kept) == 0


def body(kept: Answers, key: str) -> bytes | None:
    answer = kept.get((1, 1), key)
    return None if answer is None else answer.body


def test_answers_are_bounded_by_count_bytes_and_size() -> None:
    kept = Answers(max_answers=3, max_bytes=10, max_answer=6)
    token = (1, 1)
    for key in "abcd":
        kept.put(token, token, key, Answer(b"xx", "e"))
    assert [body(kept, k) for k in "abcd"] == [None, b"xx", b"xx", b"xx"]
    kept.put(token, token, "e", Answer(b"123456", "e"))  # 3 * 2 + 6 > 10: oldest first
    assert [body(kept, k) for k in "bcde"] == [None, b"xx", b"xx", b"123456"]
    kept.put(token, token, "g", Answer(b"1234", "e"))  # 2 + 2 + 6 + 4 > 10: c and d go
    assert [body(kept, k) for k in "cdeg"] == [None, None, b"123456", b"1234"]
    kept.put(token, token, "f", Answer(b"1234567", "e"))  # bigger than one answer may be
    assert kept.get(token, "f") is None
