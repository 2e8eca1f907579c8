"""Review: long polling keeps going when Telegram sends an update python-telegram-bot cannot
parse (PTB would log the whole batch and ask for the same batch again and again, so no
message of any chat would arrive any more)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from telegram import Update

from tests.conftest import Hub
from tests.connectors.test_telegram import (
    CHAT,
    StandIn,
    eventually,
    messages_of,
)

SECRET_TEXT = "Meine IBAN ist DE02120300000000202051"


def unparseable(chat: int) -> dict[str, Any]:
    """A message PTB cannot parse (its chat lacks the ``type`` PTB requires), as a newer or
    broken Bot API might send it."""
    return {"message": {"message_id": 99, "date": int(time.time()), "text": SECRET_TEXT,
                        "from": {"id": chat, "is_bot": False, "first_name": "Erika"},
                        "chat": {"id": chat, "first_name": "Erika"}}}


async def test_an_update_ptb_cannot_parse_is_quarantined_and_polling_goes_on(
        thub: Hub, tg: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    bad = tg.push_raw_update(unparseable(4799))
    with pytest.raises(Exception):  # noqa: B017  (the premise: PTB refuses it)
        Update.de_json(bad, None)
    caplog.set_level(logging.DEBUG)
    tg.push_text(CHAT, "Hallo, kommt das an?")

    _, [entry] = await messages_of(thub, CHAT, 1)
    assert entry["body"] == "Hallo, kommt das an?"

    async def quarantined() -> list[dict[str, Any]] | None:
        _, body = await thub.admin.get("/quarantine")
        return list(body["items"]) or None
    [item] = await eventually(quarantined, what="the quarantine")
    assert item["channel"] == "telegram-update"
    assert item["reason"].startswith("unparseable update")
    status, raw = await thub.admin.get(f"/quarantine/{item['id']}/raw")
    assert status == 200 and json.loads(raw)["update_id"] == bad["update_id"]
    assert tg.pending_updates == [] or all(  # both confirmed to Telegram
        u["update_id"] > bad["update_id"] + 1 for u in tg.pending_updates)
    assert SECRET_TEXT not in caplog.text  # no message content in the logs


async def test_half_an_emoji_does_not_stop_polling_and_the_message_lands(
        thub: Hub, tg: StandIn) -> None:
    """JSON can spell half of a surrogate pair (``"\\ud83d"``: the first half of an emoji,
    from a broken client), which is no character and cannot be stored as UTF-8. Storing the
    polled batch failed on it, so the batch was never confirmed and no message of any chat
    arrived any more. Now the message lands with U+FFFD for the half (on either store), and
    the messages after it too."""
    tg.push_text(CHAT, "Hallo \ud83d, eine Frage")
    tg.push_text(CHAT, "und noch eine")
    customer, entries = await messages_of(thub, CHAT, 2)
    assert [e["body"] for e in reversed(entries)] == ["Hallo \ufffd, eine Frage",
                                                      "und noch eine"]
    _, held = await thub.admin.get("/quarantine")
    assert held["items"] == []
