"""Review: linking a chat by deep link as customers really do it. Telegram sends
``/start <token>`` again each time the link is opened in a chat that already exists (a
second tap on the link in the mail, on the phone and then on the computer): the chat it
linked hears that it is linked already, not that the link is invalid."""

from __future__ import annotations

import pytest

from tests.conftest import Hub
from tests.connectors.test_telegram import (
    CHAT,
    StandIn,
    link_token,
    messages_of,
    new_customer,
    telegram_consent,
    timeline,
)


@pytest.mark.parametrize(("language", "linked", "again"), [
    ("de", "jetzt mit Ihrem Kundenkonto verbunden", "bereits mit Ihrem Kundenkonto verbunden"),
    ("en-GB", "now linked to your customer account", "already linked to your customer account"),
], ids=["de", "en"])
async def test_opening_the_link_again_says_the_chat_is_linked(
        thub: Hub, tg: StandIn, language: str, linked: str, again: str) -> None:
    customer = await new_customer(thub)
    token = await link_token(thub, customer["id"])
    tg.push_text(CHAT, f"/start {token}", language_code=language)
    [first] = await tg.wait_sent(1)
    assert linked in first["text"]
    tg.push_text(CHAT, f"/start {token}", language_code=language)
    sent = await tg.wait_sent(2)
    assert sent[-1]["chat_id"] == CHAT
    assert again in sent[-1]["text"]
    assert "ungültig" not in sent[-1]["text"] and "invalid" not in sent[-1]["text"]
    kinds = [e["kind"] for e in await timeline(thub, customer["id"])]
    assert kinds == ["telegram_linked"]  # linked once, nothing new on the timeline


async def test_opening_it_again_after_stop_says_how_to_turn_notifications_on(
        thub: Hub, tg: StandIn) -> None:
    customer = await new_customer(thub)
    token = await link_token(thub, customer["id"])
    tg.push_text(CHAT, f"/start {token}")
    await tg.wait_sent(1)
    tg.push_text(CHAT, "/stop")
    await tg.wait_sent(2)
    tg.push_text(CHAT, f"/start {token}")
    sent = await tg.wait_sent(3)
    assert "bereits mit Ihrem Kundenkonto verbunden" in sent[-1]["text"]
    assert "/start" in sent[-1]["text"]
    consent = await telegram_consent(thub, customer["id"])
    assert consent is not None and not consent.granted  # opening a link changes nothing


async def test_a_used_link_opened_by_someone_else_is_still_refused(thub: Hub,
                                                                   tg: StandIn) -> None:
    customer = await new_customer(thub)
    token = await link_token(thub, customer["id"])
    tg.push_text(CHAT, f"/start {token}")
    await tg.wait_sent(1)
    tg.push_text(4712, f"/start {token}", first_name="Max")  # the link was passed on
    sent = await tg.wait_sent(2)
    assert sent[-1]["chat_id"] == 4712 and "ungültig" in sent[-1]["text"]
    _, now = await thub.agent.get(f"/customers/{customer['id']}")
    assert "4712" not in [i["value"] for i in now["identities"]]


GROUP = -1001234567


async def test_a_link_sent_in_a_group_is_spent_and_links_nothing(thub: Hub,
                                                                 tg: StandIn) -> None:
    """Everyone in a group sees a link posted there: it must not link whoever opens it
    next. The group hears why; the customer's timeline says they need a new link."""
    customer = await new_customer(thub)
    token = await link_token(thub, customer["id"])
    tg.push_text(GROUP, f"/start@chronik_test_bot {token}", user_id=CHAT)
    [said] = await tg.wait_sent(1)
    assert said["chat_id"] == GROUP and "gilt er nicht mehr" in said["text"]
    [note] = await timeline(thub, customer["id"])
    assert (note["kind"], note["visibility"]) == ("telegram_link_spent", "internal")
    assert "new link" in note["body"]

    tg.push_text(4712, f"/start {token}", first_name="Max")  # a member tries it
    sent = await tg.wait_sent(2)
    assert sent[-1]["chat_id"] == 4712 and "ungültig" in sent[-1]["text"]
    _, now = await thub.agent.get(f"/customers/{customer['id']}")
    assert [i for i in now["identities"] if i["kind"] == "telegram"] == []
    _, quarantined = await thub.admin.get("/quarantine")
    assert quarantined["items"] == []  # a command, answered: nothing to keep


@pytest.mark.parametrize("text", ["/stop", "/start", "/start not-a-link-token-at-all-x"])
async def test_commands_in_a_group_are_answered_with_the_private_chat(
        thub: Hub, tg: StandIn, text: str) -> None:
    customer = await new_customer(thub)
    await thub.agent.post(f"/customers/{customer['id']}/identities",
                          json={"kind": "telegram", "value": str(CHAT)})
    tg.push_text(GROUP, text, user_id=CHAT, language_code="en")
    [said] = await tg.wait_sent(1)
    assert said["chat_id"] == GROUP and "private chat" in said["text"]
    assert await telegram_consent(thub, customer["id"]) is None
    assert await timeline(thub, customer["id"]) == []


@pytest.mark.parametrize(("prefs", "says"), [
    ({}, "Wir benachrichtigen Sie hier"),
    ({"channels": ["telegram", "email"]}, "Wir benachrichtigen Sie hier"),
    ({"channels": ["email", "portal"]}, "Telegram ist nicht darunter"),
    ({"automatic_notifications": False}, "ausgeschaltet; im Kundenportal können Sie sie "
                                         "wieder einschalten"),
], ids=["default", "telegram-chosen", "telegram-left-out", "automatic-off"])
async def test_the_bot_promises_notifications_only_when_they_will_come(
        thub: Hub, tg: StandIn, prefs: dict[str, object], says: str) -> None:
    """Linking (and /start) allow Telegram; whether notifications come also depends on the
    customer's chosen channels and on automatic notifications: the answer says which."""
    customer = await new_customer(thub)
    if prefs:
        status, body = await thub.agent.put(f"/customers/{customer['id']}/preferences",
                                            json=prefs)
        assert status == 200, body
    token = await link_token(thub, customer["id"])
    tg.push_text(CHAT, f"/start {token}")
    [linked] = await tg.wait_sent(1)
    assert "jetzt mit Ihrem Kundenkonto verbunden" in linked["text"]
    assert says in linked["text"]
    tg.push_text(CHAT, "/stop")
    await tg.wait_sent(2)
    tg.push_text(CHAT, "/start")
    resumed = (await tg.wait_sent(3))[-1]
    assert ("wieder Benachrichtigungen" in resumed["text"]) == (says.startswith("Wir"))
    assert says.startswith("Wir") or says in resumed["text"]


async def test_the_answer_to_stop_waits_out_flood_control(thub: Hub, tg: StandIn) -> None:
    """A notification went to the chat the same second, and Telegram answers the bot's
    reply with 429: the customer still hears that /stop worked (after ``retry_after``),
    and other chats are not held up meanwhile."""
    customer = await new_customer(thub)
    await thub.agent.post(f"/customers/{customer['id']}/identities",
                          json={"kind": "telegram", "value": str(CHAT)})
    tg.fail_next(1, status=429, retry_after=2, method="sendMessage")
    tg.push_text(CHAT, "/stop")
    tg.push_text(4712, "Hallo, ich bin neu hier", first_name="Max")
    _, [other] = await messages_of(thub, 4712, 1)  # not behind the waiting answer
    assert tg.sent == []
    [stopped] = await tg.wait_sent(1, timeout=6)
    assert stopped["chat_id"] == CHAT and "keine Benachrichtigungen mehr" in stopped["text"]
    consent = await telegram_consent(thub, customer["id"])
    assert consent is not None and not consent.granted
    assert other["body"] == "Hallo, ich bin neu hier"
