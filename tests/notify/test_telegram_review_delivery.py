"""Review: notifications reach the Telegram chat the customer linked last. A customer who
links a new Telegram account (new phone, new number) wants the news there; the old account
may be gone or have blocked the bot, and Chronik used to keep writing to it (and then fall
back to e-mail) instead."""

from __future__ import annotations

from tests.conftest import Hub
from tests.notify.conftest import CHAT, SmtpSink, customer, note, outcome, texts_to
from tests.support.telegram_standin import BotApiStandIn

NEW_CHAT = 4800


async def test_the_chat_linked_last_gets_the_notification(
        tghub: Hub, tg: BotApiStandIn, smtp_sink: SmtpSink) -> None:
    c = await customer(tghub, email="erika@example.de", telegram=CHAT,
                       prefs={"channels": ["telegram", "email"]})
    tg.block_chat(CHAT)  # the old account: gone, or the bot blocked there
    status, link = await tghub.agent.post(f"/customers/{c['id']}/telegram-link")
    assert status == 201, link
    tg.push_text(NEW_CHAT, f"/start {link['token']}")
    [linked] = await tg.wait_sent(1)
    assert linked["chat_id"] == NEW_CHAT and "verbunden" in linked["text"]

    e = await note(tghub, c["id"], "Ihre Police ist verlängert.")
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"
    assert done["meta"]["notification"]["channel"] == "telegram"
    [text] = texts_to(tg, NEW_CHAT)[1:]
    assert "Ihre Police ist verlängert." in text
    assert texts_to(tg, CHAT) == [] and smtp_sink.received == []


GROUP, SUPERGROUP = -4242, -1004242


async def test_a_group_that_became_a_supergroup_still_gets_the_notification(
        tghub: Hub, tg: BotApiStandIn, smtp_sink: SmtpSink) -> None:
    """A family's or company's group chat upgraded to a supergroup gets a new id; Telegram
    names it in its refusal. The message goes there, and the delivery says to update the
    stored chat id (it no longer falls back to e-mail)."""
    tg.migrate_chat(GROUP, SUPERGROUP)
    c = await customer(tghub, email="erika@example.de", telegram=GROUP,
                       prefs={"channels": ["telegram", "email"]})
    e = await note(tghub, c["id"], "Die Police für Ihre Firma ist da.")
    done = await outcome(tghub, c["id"], e["id"])
    notification = done["meta"]["notification"]
    assert (notification["status"], notification["channel"]) == ("sent", "telegram")
    assert f"chat id {SUPERGROUP}" in notification["reason"]
    [text] = texts_to(tg, SUPERGROUP)
    assert "Die Police für Ihre Firma ist da." in text
    assert texts_to(tg, GROUP) == [] and smtp_sink.received == []
