"""How the Telegram connector copes with what real Telegram does: failures while fetching an
incoming file, webhook updates delivered in parallel and out of order, a webhook that gives
up, redeliveries, and webhook URLs Telegram's cloud refuses. The REAL python-telegram-bot
talks to the Bot API stand-in; nothing of ours is mocked."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import unused_port
from telegram import Bot

from connectors.telegram.context import webhook_url_problem
from tests.conftest import Hub
from tests.connectors.test_telegram import (
    CHAT,
    StandIn,
    connector_report,
    customer_of,
    eventually,
    link_token,
    messages_of,
    new_customer,
    telegram_hub,
    timeline,
)

SECRET = "webhook-Secret_0123456789"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


async def quarantine(hub: Hub) -> list[dict[str, Any]]:
    _, body = await hub.admin.get("/quarantine")
    return list(body["items"])


def recorded(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["recorded_at"])


# ------------------------------------------------------------------------------------------
# incoming files
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("failure", ["getFile-429", "getFile-500", "download-502",
                                     "download-404"])
async def test_a_file_telegram_cannot_hand_out_right_now_is_fetched_later(
        thub: Hub, tg: StandIn, failure: str) -> None:
    where, status = failure.split("-")
    if where == "getFile":
        tg.fail_next(1, status=int(status), retry_after=1, method="getFile")
    else:  # the file server (404: the one-hour download link expired)
        tg.fail_downloads(1, status=int(status))
    tg.push_document(CHAT, PDF, "vertrag.pdf", "application/pdf", caption="Mein Vertrag")
    tg.push_text(CHAT, "und noch eine Frage")  # same chat: must wait behind the document
    tg.push_text(4712, "anderer Chat", first_name="Max")  # another chat: need not wait

    other, _ = await messages_of(thub, 4712, 1)
    customer, entries = await messages_of(thub, CHAT, 2)
    by_body = {e["body"]: e for e in entries}
    document = by_body["Mein Vertrag"]
    assert [a["name"] for a in document["attachments"]] == ["vertrag.pdf"]
    status_code, data = await thub.agent.get(f"/entries/{document['id']}/attachments/0")
    assert (status_code, data) == (200, PDF)
    assert "not received" not in document["body"]
    assert recorded(document) < recorded(by_body["und noch eine Frage"])  # order kept
    assert await quarantine(thub) == []
    diag = (await connector_report(thub))["diagnostics"]
    assert diag["received"]["retries"] >= 1 and diag["received"]["waiting"] == 0
    assert other["id"] != customer["id"]


async def test_a_file_telegram_will_never_hand_out_is_noted_not_retried(
        thub: Hub, tg: StandIn) -> None:
    tg.fail_next(1, status=400, description="Bad Request: wrong file_id", method="getFile")
    tg.push_document(CHAT, PDF, "vertrag.pdf", "application/pdf", caption="Anbei")
    _, [entry] = await messages_of(thub, CHAT, 1)
    assert entry["attachments"] == []
    assert "[Attachment not received: vertrag.pdf (Wrong file_id)]" in entry["body"]
    assert entry["meta"]["telegram"]["missing_attachments"] == [
        {"name": "vertrag.pdf", "reason": "Wrong file_id"}]
    assert (await connector_report(thub))["diagnostics"]["received"]["retries"] == 0
    assert tg.calls.count("getFile") == 1


# ------------------------------------------------------------------------------------------
# webhooks as Telegram delivers them
# ------------------------------------------------------------------------------------------

def raw_update(update_id: int, user_id: int, message_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Max", "language_code": "de"}
    return {"update_id": update_id, "message": {
        "message_id": message_id, "date": int(time.time()), "from": user, "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": "Max"}}}


async def test_parallel_out_of_order_webhook_updates_are_processed_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with StandIn(webhook_retry_delay=0.05, webhook_order="reversed") as tg:
        tg.push_text(CHAT, "Termin am Montag?")
        tg.push_edit(CHAT, 1, "Termin am Dienstag?")
        tg.push_text(CHAT, "Danke!")
        port = unused_port()
        async with telegram_hub(tmp_path / "data", monkeypatch, tg, port=port,
                                public_url=f"http://127.0.0.1:{port}", pin_office=True,
                                MODE="webhook", WEBHOOK_SECRET=SECRET) as hub:
            customer, entries = await messages_of(hub, CHAT, 2)

            async def settled() -> list[dict[str, Any]] | None:
                items = await timeline(hub, customer["id"], kind="message")
                first = next(e for e in items if e["source_id"] == f"{CHAT}:1")
                return items if first["body"] == "Termin am Dienstag?" else None
            entries = await eventually(settled, what="the edit")
            # Telegram really delivered them out of order (newest first, unless a retry of
            # an early attempt reshuffled them) ...
            delivered = [d["update_id"] for d in tg.webhook_deliveries if d["status"] == 200]
            assert sorted(delivered) == [1000, 1001, 1002] and delivered != sorted(delivered)
            # ... and Chronik still took the message, then its edit, then the next one
            first = next(e for e in entries if e["source_id"] == f"{CHAT}:1")
            second = next(e for e in entries if e["source_id"] == f"{CHAT}:2")
            assert [r["body"] for r in first["meta"]["revisions"]] == ["Termin am Montag?"]
            assert recorded(first) < recorded(second)
            assert second["body"] == "Danke!"


async def test_updates_taken_while_the_bot_reconnects_are_never_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram gives up on an update after a few failed attempts. While the bot cannot
    reach the Bot API, the webhook still stores and confirms every update; it is processed
    once the bot is back (here: after a restart)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    data_dir = tmp_path / "data"
    port = unused_port()
    public = f"http://127.0.0.1:{port}"
    async with StandIn(webhook_retry_delay=0.02, webhook_max_attempts=2) as tg:
        dead_api = f"http://127.0.0.1:{unused_port()}/bot"
        async with telegram_hub(data_dir, monkeypatch, tg, port=port, public_url=public,
                                pin_office=True, MODE="webhook", WEBHOOK_SECRET=SECRET,
                                API_BASE_URL=dead_api) as hub:
            async def backing_off() -> bool:
                return bool((await connector_report(hub))["state"] == "backoff")
            await eventually(backing_off, what="the connector to fail")
            async with Bot(tg.token, base_url=tg.base_url) as bot:  # as registered before
                await bot.set_webhook(f"{public}/api/v1/telegram/webhook/{SECRET}",
                                      secret_token=SECRET)
            tg.push_text(CHAT, "Hallo, ist jemand da?")
            tg.push_text(CHAT, "Bitte um Rückruf")

            async def delivered() -> bool:
                return not tg.pending_updates
            await eventually(delivered, what="Telegram to deliver")
            assert [d["status"] for d in tg.webhook_deliveries] == [200, 200]
            assert tg.dropped_updates == []
            assert await customer_of(hub, CHAT) is None  # stored, not processed yet
            diag = (await connector_report(hub))["diagnostics"]
            assert diag["counters"]["updates"] == 2 and not diag["connected"]

        async with telegram_hub(data_dir, monkeypatch, tg, port=port, public_url=public,
                                pin_office=True, MODE="webhook", WEBHOOK_SECRET=SECRET) as hub:
            customer, entries = await messages_of(hub, CHAT, 2)
            assert sorted(e["body"] for e in entries) == ["Bitte um Rückruf",
                                                          "Hallo, ist jemand da?"]
            assert await quarantine(hub) == []


async def test_a_redelivered_start_command_is_answered_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn) -> None:
    async with telegram_hub(tmp_path / "data", monkeypatch, tg, pin_office=True,
                            MODE="webhook", WEBHOOK_SECRET=SECRET) as hub:
        async def connected() -> bool:
            return bool((await connector_report(hub))["diagnostics"]["connected"])
        await eventually(connected, what="the connector")
        customer = await new_customer(hub)
        token = await link_token(hub, customer["id"])
        tg.add_chat(4712, first_name="Max")
        payload = raw_update(900, 4712, 1, f"/start {token}")
        for _ in range(3):  # Telegram repeats an update whose answer it did not get
            status, body = await hub.anon.post(f"/telegram/webhook/{SECRET}", json=payload,
                                               headers={HEADER: SECRET})
            assert (status, body) == (200, {"ok": True})
        [reply] = await tg.wait_sent(1)
        assert "verbunden" in reply["text"]
        await eventually(lambda: _timeline_has(hub, customer["id"], 1), what="the link")
        # later still (processed by then): recognised, not processed again
        status, _ = await hub.anon.post(f"/telegram/webhook/{SECRET}", json=payload,
                                        headers={HEADER: SECRET})
        assert status == 200
        assert [s["text"] for s in tg.sent] == [reply["text"]]  # no "link refused" reply
        assert (await connector_report(hub))["diagnostics"]["counters"]["duplicates"] == 3


async def _timeline_has(hub: Hub, customer_id: str, n: int) -> bool:
    return len(await timeline(hub, customer_id)) >= n


# ------------------------------------------------------------------------------------------
# webhook URLs
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("public_url,problem", [
    ("http://chronik.example", "only to https:// URLs"),
    ("https://chronik.example:8080", "only to ports 80, 88, 443 or 8443, not 8080"),
    ("https://localhost", "localhost cannot be reached from Telegram"),
    ("https://10.1.2.3", "10.1.2.3 is private or reserved"),
], ids=["http", "port", "localhost", "private-ip"])
async def test_a_public_url_telegram_refuses_is_a_configuration_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn, public_url: str,
        problem: str) -> None:
    async with telegram_hub(tmp_path / "data", monkeypatch, tg, public_url=public_url,
                            MODE="webhook", API_BASE_URL="https://api.telegram.org/bot") as hub:
        async def failing() -> dict[str, Any] | None:
            item = await connector_report(hub)
            return item if item["last_error"] else None
        item = await eventually(failing, what="the configuration error")
        assert "cannot receive Telegram webhooks" in item["last_error"]
        assert problem in item["last_error"]
        assert item["state"] in ("backoff", "running")
        assert tg.calls == []  # refused before anything was sent to Telegram


@pytest.mark.parametrize("url", ["https://chronik.example", "https://chronik.example:8443/x",
                                 "https://149.154.167.220:88", "https://chronik.example:443"])
def test_urls_telegram_accepts(url: str) -> None:
    assert webhook_url_problem(url) is None


async def test_telegram_refusing_the_webhook_shows_its_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a local Bot API server any URL may do (so Chronik does not check); if the
    server behind it still refuses, its words reach the admin."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with StandIn(cloud_webhook_rules=True) as tg:
        async with telegram_hub(tmp_path / "data", monkeypatch, tg,
                                public_url="https://127.0.0.1:8443", MODE="webhook") as hub:
            async def failing() -> dict[str, Any] | None:
                item = await connector_report(hub)
                return item if item["last_error"] else None
            item = await eventually(failing, what="the refusal")
            assert "bad webhook" in item["last_error"].lower()
            assert "127.0.0.1 is reserved" in item["last_error"]
            assert tg.webhook_url is None
