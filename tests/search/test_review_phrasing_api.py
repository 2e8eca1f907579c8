"""``GET /api/v1/search`` with queries as agents and integrators send them, percent-encoded
by hand or by a sloppy client: every one answers ``200`` with items or a ``400`` in the one
error shape (``bad_query``; a NUL in the URL is refused before the search as
``invalid_input``) -- never a ``500``."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub

RAW = [
    "K%C3%BCndigung", "kuendigung", "K%C3%BCndigng", "%22Kfz-Haftpflicht%22", "k%C3%BCndig*",
    "hausrat+-kfz", "HV202400123", "HV+2024+00123", "DE89+3704+0044+0532+0130+00",
    "DE89370400440532013000", "3.2.25", "cancellation", "K%C3%BCndigung%00Hausrat",
    "%F0%9F%9A%97+Unfall", "der+die+das", "%5C", "%5E", "(", "%3A", "*", "%22", "",
    "+", "%20%20", "%ED%A0%80", "%FF%FE", "%C3", "a" * 501, "OR", "NOT", "-kfz",
    "%E2%80%9EVertr%C3%A4ge%E2%80%9C", "x%2A%2A%2A", "%7C%7C", "%26%26",
]


async def indexed_note(hub: Hub, body: str) -> dict[str, Any]:
    """An internal note of a new customer, indexed."""
    c = await make_customer(hub)
    status, entry = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "visibility": "internal", "body": body})
    assert status == 201
    await hub.indexed()
    return entry


async def search_raw(hub: Hub, raw: str) -> tuple[int, Any]:
    """``GET /search?q=<raw>`` with ``raw`` sent exactly as written (no re-encoding)."""
    url = URL(f"{hub.agent.base}/search?q={raw}", encoded=True)
    async with hub.agent.session.get(url, headers={
            "Authorization": f"Bearer {hub.agent.token}"}) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("raw", RAW, ids=[r[:30] or "empty" for r in RAW])
async def test_a_query_sent_any_way_answers_clearly(hub: Hub, raw: str) -> None:
    await indexed_note(hub, "Kündigung der Hausratversicherung, Kfz-Haftpflicht HV-2024-00123, "
                            "IBAN DE89 3704 0044 0532 0130 00, Schaden vom 03.02.2025")
    status, body = await search_raw(hub, raw)
    assert status in (200, 400), (status, body)
    if status == 400:
        assert body["error"]["code"] in ("bad_query", "invalid_input"), body  # %00: the URL
        assert body["error"]["message"]
    else:
        assert isinstance(body["items"], list) and isinstance(body["suggestions"], list)


@pytest.mark.parametrize("raw", ["HV202400123", "HV+2024+00123", "DE89370400440532013000",
                                 "3.2.25", "cancellation", "K%C3%BCndigung%09Hausrat",
                                 "gek%C3%BCndigt"])
async def test_other_phrasings_find_the_note(hub: Hub, raw: str) -> None:
    entry = await indexed_note(hub, "Kündigung der Hausratversicherung HV-2024-00123, "
                                    "IBAN DE89 3704 0044 0532 0130 00, Schaden vom 03.02.2025")
    status, body = await search_raw(hub, raw)
    assert status == 200, body
    assert [i["entry"]["id"] for i in body["items"]] == [entry["id"]]
