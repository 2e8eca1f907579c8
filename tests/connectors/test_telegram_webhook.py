"""Webhook mode: the connector registers our route with setWebhook, and the stand-in POSTs
updates to the real running server."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import unused_port

from chronik.settings import Settings
from tests.conftest import Api, Hub, serving
from tests.connectors.test_telegram import (
    CHAT,
    StandIn,
    connector_report,
    customer_of,
    eventually,
    make_png,
    messages_of,
    telegram_hub,
    timeline,
)
from timeline.models import IdentityKind

SECRET = "webhook-Secret_0123456789"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def whub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn
               ) -> AsyncIterator[Hub]:
    port = unused_port()
    async with telegram_hub(tmp_path / "data", monkeypatch, tg, port=port,
                            public_url=f"http://127.0.0.1:{port}", pin_office=True,
                            MODE="webhook", WEBHOOK_SECRET=SECRET) as hub:
        yield hub


def update(update_id: int, user_id: int, message_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Max", "language_code": "de"}
    return {"update_id": update_id, "message": {
        "message_id": message_id, "date": int(time.time()), "from": user, "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": "Max"}}}


async def connected(hub: Hub) -> dict[str, Any] | None:
    item = await connector_report(hub)
    return item if item["diagnostics"]["connected"] else None


async def test_webhook_mode_registers_and_receives_updates(whub: Hub, tg: StandIn) -> None:
    expected = f"http://127.0.0.1:{whub.server.port}/api/v1/telegram/webhook/{SECRET}"

    async def registered() -> bool:
        return tg.webhook_url == expected
    await eventually(registered, what="setWebhook")
    [(_, params)] = [r for r in tg.requests if r[0] == "setWebhook"]
    assert params["secret_token"] == SECRET

    png = make_png(300, 200)
    tg.push_text(CHAT, "Hallo per Webhook")
    tg.push_photo(CHAT, png)
    tg.push_edit(CHAT, 1, "Hallo per Webhook!")
    customer, entries = await messages_of(whub, CHAT, 2)
    text_entry = next(e for e in entries if e["source_id"] == f"{CHAT}:1")

    async def edited() -> bool:
        _, body = await whub.agent.get(f"/entries/{text_entry['id']}")
        return bool(body["body"] == "Hallo per Webhook!")
    await eventually(edited, what="the edit")
    photo = next(e for e in entries if e["source_id"] == f"{CHAT}:2")
    _, data = await whub.agent.get(f"/entries/{photo['id']}/attachments/0")
    assert data == png
    assert "getUpdates" not in tg.calls
    assert {d["status"] for d in tg.webhook_deliveries} == {200}
    assert tg.pending_updates == []

    item = await connector_report(whub)
    assert item["state"] == "running"
    assert item["diagnostics"]["webhook"] == {
        "url": expected.replace(SECRET, "***"), "registered": True, "max_connections": 10}
    assert int(params["max_connections"]) == 10  # not Telegram's default of 40
    _, body = await whub.admin.get("/connectors")
    assert SECRET not in json.dumps(body) and tg.token not in json.dumps(body)


async def test_webhook_refuses_a_wrong_secret(whub: Hub, tg: StandIn) -> None:
    await eventually(lambda: connected(whub), what="the connector")
    payload = update(7001, 4712, 1, "Hallo direkt")
    for path, headers in [("/telegram/webhook/wrong-secret-0123456789", {HEADER: SECRET}),
                          (f"/telegram/webhook/{SECRET}", {HEADER: "wrong-secret-0123456789"}),
                          ("/telegram/webhook/", {HEADER: SECRET})]:
        status, body = await whub.anon.post(path, json=payload, headers=headers)
        assert status == 404, path
        assert body["error"]["code"] == "not_found"
    assert await customer_of(whub, 4712) is None

    # the right secret; Telegram delivering the same update twice stores it once
    for _ in range(2):
        status, body = await whub.anon.post(f"/telegram/webhook/{SECRET}", json=payload,
                                            headers={HEADER: SECRET})
        assert (status, body) == (200, {"ok": True})
    customer, _ = await messages_of(whub, 4712, 1)
    assert [e["body"] for e in await timeline(whub, customer["id"])] == ["Hallo direkt"]
    item = await connector_report(whub)
    assert item["diagnostics"]["counters"]["duplicates"] == 1


async def test_webhook_keeps_garbage_in_the_quarantine(whub: Hub) -> None:
    await eventually(lambda: connected(whub), what="the connector")
    for raw in (b"{not json", b'{"update_id": "x", "message": 5}'):
        status, body = await whub.anon.post(f"/telegram/webhook/{SECRET}", data=raw,
                                            headers={HEADER: SECRET,
                                                     "Content-Type": "application/json"})
        assert status == 200, body
    _, quarantined = await whub.admin.get("/quarantine")
    items = quarantined["items"]
    assert sorted(i["reason"].split(":")[0] for i in items) == ["unparseable update"] * 2
    for item in items:
        _, raw_back = await whub.admin.get(f"/quarantine/{item['id']}/raw")
        assert raw_back in (b"{not json", b'{"update_id": "x", "message": 5}')
        status, again = await whub.admin.post(f"/quarantine/{item['id']}/reprocess")
        assert status == 200 and again["status"] == "open"  # still unparseable, kept


async def test_webhook_answers_503_only_when_it_cannot_store_the_update(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn) -> None:
    async with telegram_hub(tmp_path / "data", monkeypatch, tg, MODE="webhook",
                            WEBHOOK_SECRET=SECRET, OFFICE_ID="no-such-office") as hub:
        status, body = await hub.anon.post(f"/telegram/webhook/{SECRET}",
                                           json=update(1, 4712, 1, "hallo"),
                                           headers={HEADER: SECRET})
        assert status == 503 and body["error"]["code"] == "telegram_unavailable"
        assert "no office no-such-office" in body["error"]["message"]


async def test_a_process_that_does_not_run_the_bot_takes_updates_and_makes_links(
        whub: Hub, tg: StandIn, tmp_path: Path) -> None:
    """``serve --processes N`` or API processes beside ``chronik worker --all``: Telegram's
    webhook POST and an agent's deep link may reach a process that does not run the bot.
    That process stores the update (the bot's process handles it within a second or so)
    and makes the link (the bot's username asked from Telegram)."""
    await eventually(lambda: connected(whub), what="the connector")
    settings = Settings(data_dir=tmp_path / "data", http_port=0, max_upload_bytes=64 * 1024)
    async with serving(settings, workers=False) as (_, base), ClientSession() as session:
        other = Api(session, base, None)
        agent = Api(session, base, whub.agent.token)
        status, body = await other.post(f"/telegram/webhook/{SECRET}",
                                        json=update(7101, 4713, 1, "Hallo Prozess B"),
                                        headers={HEADER: SECRET})
        assert (status, body) == (200, {"ok": True})
        customer, entries = await messages_of(whub, 4713, 1)
        assert [e["body"] for e in entries] == ["Hallo Prozess B"]
        status, body = await other.post(f"/telegram/webhook/{SECRET}",
                                        json=update(7102, 4713, 2, "x"),
                                        headers={HEADER: "wrong-secret-0123456789"})
        assert status == 404
        status, link = await agent.post(f"/customers/{customer['id']}/telegram-link")
        assert status == 201, link
        assert link["url"].startswith(f"https://t.me/{tg.bot_username}?start=")
    # the link works: the customer presses Start in Telegram (the bot's process links it)
    tg.push_text(4714, f"/start {link['token']}")

    async def linked() -> bool:
        got = await whub.state.store.find_customers(whub.office.id, IdentityKind.TELEGRAM,
                                                    "4714")
        return [c.id for c in got] == [customer["id"]]
    await eventually(linked, what="the deep link")


async def test_half_an_emoji_posted_to_the_webhook_lands_as_u_fffd(whub: Hub, tg: StandIn
                                                                   ) -> None:
    """The webhook's twin of the polling case (``test_telegram_review_polling.py``): an
    update whose JSON spells half of a surrogate pair is stored as POSTed and its message
    lands with U+FFFD for the half, not quarantined as "unstorable"."""
    await eventually(lambda: connected(whub), what="the webhook")
    tg.push_text(CHAT, "Schaden \udc00 gemeldet")
    _, [entry] = await messages_of(whub, CHAT, 1)
    assert entry["body"] == "Schaden \ufffd gemeldet"
    _, held = await whub.admin.get("/quarantine")
    assert held["items"] == []
