"""Query values out of range (cursors past a 64-bit integer, dates past the supported window)
are 400 with the JSON error shape -- never a 500 -- on the API and on the console pages."""

from __future__ import annotations

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from tests.web.conftest import Console

BIG = "9223372036854775808"  # 2**63: one past SQLite's INTEGER


@pytest.mark.parametrize("query", [
    f"cursor={BIG}", "cursor=-1", "cursor=1e5", "cursor=%EF%BC%91",  # fullwidth digit one
    "since=9999-12-31T23:59:59%2B14:00", "until=9999-12-31", "since=0001-01-01",
    "until=0001-01-01T00:00:00-12:00",
], ids=["cursor-2**63", "cursor-negative", "cursor-float", "cursor-fullwidth",
        "since-9999", "until-9999", "since-year-1", "until-year-1"])
async def test_timeline_out_of_range_query_is_400(hub: Hub, query: str) -> None:
    c = await make_customer(hub)
    status, body = await hub.agent.get(f"/customers/{c['id']}/timeline?{query}")
    assert status == 400, body
    code = "invalid_cursor" if query.startswith("cursor") else "invalid_input"
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_timeline_largest_valid_cursor_still_works(hub: Hub) -> None:
    c = await make_customer(hub)
    await hub.agent.post(f"/customers/{c['id']}/entries", json={"kind": "note", "body": "x"})
    status, body = await hub.agent.get(
        f"/customers/{c['id']}/timeline?cursor=9223372036854775807&since=1970-01-01"
        "&until=2199-12-31")
    assert status == 200 and len(body["items"]) == 1


@pytest.mark.parametrize("query", [
    "until=9999-12-31", "since=9999-12-31T23:59:59%2B14:00", f"cursor={BIG}",
    f"cursor=-{BIG}", f"order=relevance&cursor=1.0:{BIG}"],
    ids=["until-9999", "since-9999", "cursor-2**63", "cursor-negative", "relevance-cursor"])
async def test_search_out_of_range_query_is_400(hub: Hub, query: str) -> None:
    status, body = await hub.agent.get(f"/search?q=a&{query}")
    assert status == 400, body
    assert body["error"]["code"] in ("invalid_input", "bad_query") and body["error"]["message"]


async def test_portal_messages_cursor_out_of_range_is_400(hub: Hub) -> None:
    c = await make_customer(hub)
    _, token = await hub.agent.post(f"/customers/{c['id']}/portal-token")
    status, body = await hub.anon.get(f"/portal/messages?cursor={BIG}",
                                      headers={"Authorization": f"Bearer {token['token']}"})
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("page", ["", "/items"], ids=["customer-page", "items-fragment"])
async def test_console_cursor_out_of_range_is_400(console: Console, page: str) -> None:
    customer = await console.customer("Erika Muster")
    desk = await console.signed_in()
    reply = await desk.get(f"/customers/{customer.id}{page}?cursor={BIG}")
    assert reply.status == 400, reply.text[:300]
    ok = await desk.get(f"/customers/{customer.id}{page}")
    assert ok.status == 200
