"""Review, end to end through the real Telegram connector (python-telegram-bot against the
Bot API stand-in): a customer links their chat with a link token, writes text and sends a
file, gets a published note notified over Telegram; after the erasure no byte of any file in
the data folder holds their name, chat id, words, file name or file content, and the next
message from the chat does not re-create them. (The embedded profile's data folder: on
PostgreSQL the store is the database's, see tests/privacy and tests/postgres.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import Hub
from tests.connectors.test_telegram import StandIn, eventually, telegram_hub, timeline
from timeline.notifications import FINAL_STATUSES

CHAT = 918273645
WORDS = [b"Wolkenkuckucksheim", b"Xylophonia", b"918273645", b"xylophonia-plan",
         b"Bauplan Wolkenkuckucksheim"]


def _leaks(folder: Path) -> list[str]:
    return [f"{p.name}: {w.decode()}" for p in sorted(folder.rglob("*")) if p.is_file()
            for w in WORDS if w.lower() in p.read_bytes().lower()]


async def _settled(hub: Hub, cid: str) -> None:
    for _ in range(300):
        jobs = await hub.state.store.list_notify_jobs(hub.office.id, customer_id=cid)
        if jobs and all(j.status in FINAL_STATUSES for j in jobs):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier did not finish")


async def test_a_telegram_customer_is_erased_to_the_last_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn) -> None:
    data_dir = tmp_path / "data"
    async with telegram_hub(data_dir, monkeypatch, tg) as hub:
        status, c = await hub.agent.post("/customers", json={
            "name": "Xylophonia Wolkenkuckucksheim", "emails": ["xylo@kunde.test"]})
        assert status == 201, c
        status, link = await hub.agent.post(f"/customers/{c['id']}/telegram-link")
        assert status == 201, link
        tg.push_text(CHAT, f"/start {link['token']}", first_name="Xylophonia",
                     last_name="Wolkenkuckucksheim")
        await tg.wait_sent(1)
        tg.push_text(CHAT, "Hier Xylophonia, Frage zum Wolkenkuckucksheim",
                     first_name="Xylophonia", last_name="Wolkenkuckucksheim")
        tg.push_document(CHAT, b"Bauplan Wolkenkuckucksheim", "xylophonia-plan.txt",
                         "text/plain")

        async def arrived() -> list[dict[str, str]] | None:
            items = await timeline(hub, c["id"], kind="message")
            return items if len(items) == 2 else None
        await eventually(arrived, what="the text and the file")
        status, _ = await hub.agent.post(f"/customers/{c['id']}/entries", json={
            "kind": "note", "subject": "Wolkenkuckucksheim", "visibility": "published",
            "body": "Liebe Xylophonia, Ihr Wolkenkuckucksheim ist genehmigt.", "notify": True})
        assert status == 201
        await tg.wait_sent(2)
        await _settled(hub, c["id"])
        await hub.indexed()
        assert _leaks(data_dir), "the words are in the data folder before"

        status, preview = await hub.admin.get(f"/customers/{c['id']}/erasure")
        status, receipt = await hub.admin.call(
            "DELETE", f"/customers/{c['id']}?confirm={preview['confirm']}")
        assert status == 200, receipt
        assert await asyncio.to_thread(_leaks, data_dir) == []

        # writing again: no customer, the message waits in the quarantine as an erased
        # sender's (the office's default)
        tg.push_text(CHAT, "Hallo nochmal", first_name="Xylophonia",
                     last_name="Wolkenkuckucksheim")

        async def held() -> list[str] | None:
            items = await hub.state.store.list_quarantine(hub.office.id, status=None)
            return [q.reason for q in items] or None
        assert await eventually(held, what="the quarantined message") == ["erased_sender"]
        status, listed = await hub.admin.get("/customers")
        assert listed["items"] == []
