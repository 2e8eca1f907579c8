"""Telegram through the real python-telegram-bot against the Bot API stand-in: delivery to
the linked chat, RetryAfter honoured, and a blocked bot falls back to e-mail."""

from __future__ import annotations

import time

from tests.conftest import Hub
from tests.notify.conftest import CHAT, SmtpSink, customer, note, outcome, texts_to
from tests.support.telegram_standin import BotApiStandIn


async def test_preferred_telegram_gets_the_note(tghub: Hub, tg: BotApiStandIn,
                                                smtp_sink: SmtpSink) -> None:
    c = await customer(tghub, email="erika@example.de", telegram=CHAT,
                       prefs={"channels": ["telegram", "email"], "language": "en"})
    e = await note(tghub, c["id"], "Your policy was renewed.", subject="Renewal")
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"
    assert done["meta"]["notification"]["channel"] == "telegram"
    (text,) = texts_to(tg, CHAT)
    assert "Your policy was renewed." in text and "Büro Müller & Partner" in text
    assert "/stop" in text
    assert smtp_sink.received == []


async def test_retry_after_is_honoured(tghub: Hub, tg: BotApiStandIn) -> None:
    c = await customer(tghub, telegram=CHAT)
    tg.fail_next(1, status=429, retry_after=1)
    started = time.monotonic()
    e = await note(tghub, c["id"], "Bitte Unterlagen nachreichen")
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["channel"] == "telegram"
    assert time.monotonic() - started >= 0.9  # retry base is 0.05 s: retry_after won
    assert len(texts_to(tg, CHAT)) == 1
    _, jobs = await tghub.admin.get(f"/notifications?customer={c['id']}")
    outcomes = [a["outcome"] for a in jobs["items"][0]["history"]]
    assert outcomes == ["transient", "sent"]


async def test_blocked_bot_falls_back_to_email(tghub: Hub, tg: BotApiStandIn,
                                               smtp_sink: SmtpSink) -> None:
    tg.block_chat(CHAT)
    c = await customer(tghub, email="erika@example.de", telegram=CHAT,
                       prefs={"channels": ["telegram", "email"]})
    e = await note(tghub, c["id"], "Termin am Dienstag")
    got = await smtp_sink.wait(1)
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["channel"] == "email"
    assert "blocked" in done["meta"]["notification"]["reason"]
    assert "Termin am Dienstag" in got[0].text()
    assert texts_to(tg, CHAT) == []
    _, jobs = await tghub.admin.get(f"/notifications?customer={c['id']}")
    history = [(a["channel"], a["outcome"]) for a in jobs["items"][0]["history"]]
    assert history == [("telegram", "permanent"), ("email", "sent")]


async def test_no_linked_chat_goes_to_the_next_channel(tghub: Hub, tg: BotApiStandIn) -> None:
    c = await customer(tghub, prefs={"channels": ["telegram"]})
    e = await note(tghub, c["id"], "Hallo")
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["channel"] == "portal"
    assert "no linked Telegram chat" in done["meta"]["notification"]["reason"]
    assert tg.sent == []
