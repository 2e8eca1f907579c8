"""What an integrator sees of the search's filters and output: a date ``until`` covers the
whole UTC day (in either ISO form, on search and timeline alike), ``kind`` is checked like
``channel``, ``total=true`` counts, and every time is UTC whichever store and writer."""

from __future__ import annotations

import pytest

from chronik.api.search import ENTRY_KINDS, TOTAL_UP_TO
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub


async def _note(hub: Hub, customer: dict, body: str, occurred_at: str) -> dict:
    status, entry = await hub.agent.post(f"/customers/{customer['id']}/entries", json={
        "kind": "note", "body": body, "visibility": "internal", "occurred_at": occurred_at})
    assert status == 201, entry
    return entry


async def _found(hub: Hub, query: str) -> list[str]:
    status, body = await hub.agent.get("/search?q=Datumstest&" + query)
    assert status == 200, (query, body)
    return [i["entry"]["body"] for i in body["items"]]


async def _timeline(hub: Hub, customer: dict, query: str) -> list[str]:
    status, body = await hub.agent.get(f"/customers/{customer['id']}/timeline?" + query)
    assert status == 200, (query, body)
    return [e["body"] for e in body["items"]]


@pytest.fixture
async def around_midnight(hub: Hub) -> dict:
    erika = await make_customer(hub)
    await _note(hub, erika, "Datumstest vorher", "2025-02-28T23:59:59.999Z")
    await _note(hub, erika, "Datumstest letzte Sekunde", "2025-03-01T23:59:59.500Z")
    await _note(hub, erika, "Datumstest Mitternacht", "2025-03-02T00:00:00Z")
    await hub.indexed()
    return erika


@pytest.mark.parametrize("until", ["2025-03-01", "20250301"], ids=["extended", "basic"])
async def test_a_date_until_covers_the_whole_day(hub: Hub, around_midnight: dict,
                                                 until: str) -> None:
    expected = ["Datumstest letzte Sekunde", "Datumstest vorher"]
    assert await _found(hub, f"until={until}") == expected
    assert await _timeline(hub, around_midnight, f"until={until}") == expected
    day = ["Datumstest letzte Sekunde"]
    assert await _found(hub, f"since={until}&until={until}") == day
    assert await _timeline(hub, around_midnight, f"since={until}&until={until}") == day


async def test_an_offset_whose_plus_was_not_encoded_still_counts(
        hub: Hub, around_midnight: dict) -> None:
    """``+02:00`` unencoded arrives as `` 02:00``: read as the ``+`` it was, not a 400."""
    encoded = await _found(hub, "until=2025-03-02T01:59:59.600%2B02:00")
    assert encoded == ["Datumstest letzte Sekunde", "Datumstest vorher"]
    assert await _found(hub, "until=2025-03-02T01:59:59.600+02:00") == encoded
    assert await _found(hub, "until=2025-03-02T01:59:59.600%2002") == encoded
    assert await _timeline(hub, around_midnight, "until=2025-03-02T01:59:59.600+02:00") == encoded
    assert await _found(hub, "since=2025-03-02T01:00:00.000+01:00") == [
        "Datumstest Mitternacht"]
    for bad in ["2025-03-01T10:00:00 2", "2025-03-01+02:00", "morgen", "2025-13-01"]:
        status, body = await hub.agent.get("/search", params={"q": "x", "until": bad})
        assert status == 400 and "ISO date" in body["error"]["message"], bad


async def test_kind_is_checked_like_channel(hub: Hub) -> None:
    erika = await make_customer(hub)
    await _note(hub, erika, "Kündigung besprochen", "2025-03-01T10:00:00Z")
    await hub.indexed()
    status, body = await hub.agent.get("/search", params={"q": "Kündigung", "kind": "note"})
    assert status == 200 and len(body["items"]) == 1
    for bad in ["bogus", "NOTE", "no-te", "note,bogus"]:
        status, body = await hub.agent.get("/search", params={"q": "Kündigung", "kind": bad})
        assert status == 400, (bad, body)
        assert body["error"]["code"] == "invalid_input"
        assert "unknown kind" in body["error"]["message"]
        assert "phone_note" in body["error"]["message"]
        assert body["error"]["details"]["allowed"] == list(ENTRY_KINDS)
    status, body = await hub.agent.get("/search", params={"q": "Kündigung",
                                                          "channel": "Email"})
    assert status == 400 and "unknown channel 'Email'" in body["error"]["message"]
    assert "email" in body["error"]["details"]["allowed"]


async def test_the_timeline_checks_kind_as_search_does(hub: Hub) -> None:
    erika = await make_customer(hub)
    await _note(hub, erika, "Kündigung besprochen", "2025-03-01T10:00:00Z")
    timeline = f"/customers/{erika['id']}/timeline"
    status, body = await hub.agent.get(timeline, params={"kind": "note"})
    assert status == 200 and [i["body"] for i in body["items"]] == ["Kündigung besprochen"]
    for bad in ["bogus", "NOTE", "note,bogus"]:
        status, body = await hub.agent.get(timeline, params={"kind": bad})
        assert status == 400 and "unknown kind" in body["error"]["message"], (bad, body)
        assert body["error"]["details"]["allowed"] == list(ENTRY_KINDS)


def test_the_known_kinds_are_every_kind_entries_are_written_with() -> None:
    from chronik.web.console.customer import FILTER_KINDS
    from chronik.web.i18n import catalog
    from connectors.email.inbound import OWN_MAIL, REPORT_KINDS
    from timeline.privacy import DATA_COPY_KIND
    from timeline.service import AGENT_ENTRY_KINDS

    written = {*FILTER_KINDS, *AGENT_ENTRY_KINDS, *REPORT_KINDS, OWN_MAIL, DATA_COPY_KIND,
               "auto_reply", "bulk", "merge", "message", "call", "notification",
               "preferences", "data_request"}
    named = {key.removeprefix("kind.") for key in catalog() if key.startswith("kind.")}
    assert written | named <= set(ENTRY_KINDS)
    assert len(set(ENTRY_KINDS)) == len(ENTRY_KINDS)


async def test_total_on_request_bounded_like_the_console(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    erika = await make_customer(hub)
    for i in range(5):
        await _note(hub, erika, f"Rechnung {i}", f"2025-03-0{i + 1}T10:00:00Z")
    await hub.indexed()
    status, body = await hub.agent.get("/search", params={"q": "Rechnung", "limit": "2"})
    assert status == 200 and "total" not in body  # not asked for: not counted
    for order in ("newest", "relevance"):
        status, body = await hub.agent.get("/search", params={
            "q": "Rechnung", "limit": "2", "total": "true", "order": order})
        assert status == 200 and body["total"] == {"count": 5, "exact": True}, body
        assert len(body["items"]) == 2
        status, body = await hub.agent.get("/search", params={
            "q": "Rechnung", "limit": "2", "total": "true", "order": order,
            "cursor": body["next_cursor"]})
        assert status == 200 and body["total"] == {"count": 5, "exact": True}
    monkeypatch.setattr("chronik.api.search.TOTAL_UP_TO", 3)
    status, body = await hub.agent.get("/search", params={"q": "Rechnung", "total": "1"})
    assert body["total"] == {"count": 3, "exact": False}
    status, body = await hub.agent.get("/search", params={"q": "Rechnung", "total": "maybe"})
    assert status == 400 and "total must be true or false" in body["error"]["message"]
    assert TOTAL_UP_TO == 1000


async def test_times_are_utc_whoever_wrote_them(hub: Hub) -> None:
    """An entry written with an offset is shown in UTC (``Z``) everywhere in the API, on
    SQLite (which keeps the writer's offset) as on PostgreSQL (which answers in UTC)."""
    erika = await make_customer(hub, phones=["0171 1234567"])
    status, created = await hub.agent.post(f"/customers/{erika['id']}/entries", json={
        "kind": "note", "body": "Zeitzonentest", "visibility": "internal",
        "occurred_at": "2025-03-02T00:30:00+01:00"})
    assert status == 201
    await hub.indexed()
    _, single = await hub.agent.get(f"/entries/{created['id']}")
    _, timeline = await hub.agent.get(f"/customers/{erika['id']}/timeline")
    _, found = await hub.agent.get("/search", params={"q": "Zeitzonentest"})
    _, looked_up = await hub.agent.get("/lookup", params={"phone": "0171 1234567"})
    shown = [created, single, timeline["items"][0], found["items"][0]["entry"],
             looked_up["matches"][0]["recent"][0]]
    assert [e["occurred_at"] for e in shown] == ["2025-03-01T23:30:00Z"] * 5
    assert all(e["recorded_at"].endswith("Z") for e in shown)
