"""Review: what customers send as Telegram shows it — forwarded messages say whose they are
(and never opt the customer out or run a command), words linked to an address keep the
address, a live location shows where it is now, and an edited caption keeps the note of a
file that never arrived."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Hub
from tests.connectors.test_telegram import (
    CHAT,
    StandIn,
    eventually,
    messages_of,
    new_customer,
    telegram_consent,
    timeline,
)

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


async def entry_now(hub: Hub, entry_id: str) -> dict[str, Any]:
    status, body = await hub.agent.get(f"/entries/{entry_id}")
    assert status == 200
    return dict(body)


@pytest.mark.parametrize(("origin", "shown"), [
    ({"type": "user", "sender_user": {"id": 999, "is_bot": False, "first_name": "Hans",
                                      "last_name": "Meier"}}, "Hans Meier"),
    ({"type": "hidden_user", "sender_user_name": "Jürgen Ω"}, "Jürgen Ω"),
    ({"type": "channel", "chat": {"id": -1001234, "type": "channel", "title": "Stadtwerke"},
      "message_id": 7}, "Stadtwerke"),
], ids=["user", "hidden-user", "channel"])
@pytest.mark.parametrize("text", ["STOP", "/stop"])
async def test_a_forwarded_stop_is_someone_elses_message(
        thub: Hub, tg: StandIn, origin: dict[str, Any], shown: str, text: str) -> None:
    """A customer forwards what someone else wrote: it never withdraws their consent, and
    the timeline says whose words they are."""
    customer = await new_customer(thub)
    await thub.agent.post(f"/customers/{customer['id']}/identities",
                          json={"kind": "telegram", "value": str(CHAT)})
    tg.push_text(CHAT, text, forward_origin=origin)
    tg.push_text(CHAT, "Was heißt das?")
    _, entries = await messages_of(thub, CHAT, 2)
    forwarded = entries[1]
    assert forwarded["body"] == f"[Forwarded from {shown}]\n{text}"
    assert forwarded["meta"]["telegram"]["forwarded_from"] == shown
    assert entries[0]["body"] == "Was heißt das?"
    assert await telegram_consent(thub, customer["id"]) is None
    assert tg.sent == []  # no "you will no longer receive…" answer
    assert [e["kind"] for e in await timeline(thub, customer["id"])] == ["message", "message"]


async def test_a_forwarded_start_link_links_nothing(thub: Hub, tg: StandIn) -> None:
    customer = await new_customer(thub)
    status, link = await thub.agent.post(f"/customers/{customer['id']}/telegram-link")
    assert status == 201
    tg.push_text(CHAT, f"/start {link['token']}", forward_origin={
        "type": "hidden_user", "sender_user_name": "Erika"})
    _, [entry] = await messages_of(thub, CHAT, 1)
    assert entry["customer_id"] != customer["id"]
    assert tg.sent == []
    _, now = await thub.agent.get(f"/customers/{customer['id']}")
    assert str(CHAT) not in [i["value"] for i in now["identities"]]


async def test_a_word_linked_to_an_address_keeps_the_address(thub: Hub, tg: StandIn) -> None:
    text = "Die Unterlagen 📄 liegen hier, Passwort folgt"
    at = len("Die Unterlagen 📄 liegen ".encode("utf-16-le")) // 2  # UTF-16 units
    tg.push_text(CHAT, text, entities=[
        {"type": "text_link", "offset": at, "length": 4,
         "url": "https://cloud.example/s/AbC123"},
        {"type": "bold", "offset": 0, "length": 3}])
    tg.push_text(CHAT, "https://example.org/a", entities=[
        {"type": "text_link", "offset": 0, "length": 21, "url": "https://example.org/a"}])
    _, entries = await messages_of(thub, CHAT, 2)
    assert entries[1]["body"] == ("Die Unterlagen 📄 liegen hier (https://cloud.example/s/"
                                  "AbC123), Passwort folgt")
    assert entries[0]["body"] == "https://example.org/a"  # shown once when it is the word
    await thub.indexed()
    status, found = await thub.agent.get("/search", params={"q": "AbC123"})
    assert status == 200 and [i["entry"]["id"] for i in found["items"]] == [entries[1]["id"]]


async def test_a_live_location_shows_where_it_is_now(thub: Hub, tg: StandIn) -> None:
    """Telegram sends a live location again with every move, for up to 8 hours: the entry
    shows the last position, not a pile of revisions (nor an empty text)."""
    tg.push_location(CHAT, 52.520008, 13.404954, live_period=900)
    _, [entry] = await messages_of(thub, CHAT, 1)
    assert entry["body"] == "[Location: 52.520008, 13.404954]"
    for step in range(1, 4):
        tg.push_location_move(CHAT, 1, 52.520008 + step / 1000, 13.404954)

    async def moved() -> dict[str, Any] | None:
        now = await entry_now(thub, entry["id"])
        return now if now["body"] == "[Location: 52.523008, 13.404954]" else None
    now = await eventually(moved, what="the last position")
    assert "revisions" not in now["meta"]


async def test_an_edited_caption_keeps_the_note_of_a_missing_file(thub: Hub,
                                                                  tg: StandIn) -> None:
    tg.fail_next(1, status=400, description="Bad Request: wrong file_id", method="getFile")
    tg.push_document(CHAT, PDF, "vertrag.pdf", "application/pdf", caption="Anbei")
    _, [entry] = await messages_of(thub, CHAT, 1)
    note = "[Attachment not received: vertrag.pdf (Wrong file_id)]"
    assert entry["body"] == f"Anbei\n{note}"
    tg.push_edit(CHAT, 1, "Anbei der Vertrag")

    async def edited() -> dict[str, Any] | None:
        now = await entry_now(thub, entry["id"])
        return now if "revisions" in now["meta"] else None
    now = await eventually(edited, what="the edit")
    assert now["body"] == f"Anbei der Vertrag\n{note}"
    assert [r["body"] for r in now["meta"]["revisions"]] == [f"Anbei\n{note}"]


async def test_a_reply_says_what_it_answers(thub: Hub, tg: StandIn) -> None:
    """"Ja, passt" means nothing without what it answers: the entry says it (what the
    customer quoted, or the start of the message), and an answer to their own earlier
    message points to its entry; an edit keeps it."""
    customer = await new_customer(thub)
    status, link = await thub.agent.post(f"/customers/{customer['id']}/telegram-link")
    assert status == 201
    tg.push_text(CHAT, f"/start {link['token']}")
    [bot_message] = await tg.wait_sent(1)  # message 2 of the chat, from the bot
    tg.push_text(CHAT, "Termin am Dienstag um 10 Uhr?")  # 3
    tg.push_text(CHAT, "Ja, passt", reply_to=bot_message["message_id"],
                 quote="jederzeit abbestellen")  # 4
    tg.push_text(CHAT, "Oder lieber 11 Uhr", reply_to=3)  # 5

    async def three() -> list[dict[str, Any]] | None:
        items = await timeline(thub, customer["id"], kind="message")
        return items if len(items) == 3 else None
    newest, answer, question = await eventually(three, what="three messages")
    assert answer["body"] == 'Ja, passt\n[Reply to: "jederzeit abbestellen"]'
    assert answer["meta"]["telegram"]["reply_to"] == {
        "message_id": bot_message["message_id"], "from_bot": True,
        "text": "jederzeit abbestellen"}
    assert newest["body"] == 'Oder lieber 11 Uhr\n[Reply to: "Termin am Dienstag um 10 Uhr?"]'
    assert newest["meta"]["in_reply_to"]["entry_id"] == question["id"]

    tg.push_edit(CHAT, 5, "Oder lieber 12 Uhr")  # Telegram's edit does not repeat the reply

    async def edited() -> dict[str, Any] | None:
        now = await entry_now(thub, newest["id"])
        return now if "12 Uhr" in now["body"] else None
    now = await eventually(edited, what="the edit")
    assert now["body"] == 'Oder lieber 12 Uhr\n[Reply to: "Termin am Dienstag um 10 Uhr?"]'


async def test_a_customer_sharing_their_own_contact_is_known_when_they_call(
        thub: Hub, tg: StandIn) -> None:
    """Telegram names the account a shared number belongs to: the sender's own number
    becomes their phone identity (the caller lookup finds them); someone else's stays a
    line in the text."""
    customer = await new_customer(thub)
    await thub.agent.post(f"/customers/{customer['id']}/identities",
                          json={"kind": "telegram", "value": str(CHAT)})
    tg.push_contact(CHAT, "491719876543", "Erika", "Mustermann", contact_user_id=CHAT)
    tg.push_contact(CHAT, "+49 30 1234567", "Hans", "Meier", contact_user_id=999)
    tg.push_contact(CHAT, "0151 2345678", "Oma")  # not on Telegram
    _, entries = await messages_of(thub, CHAT, 3)
    assert [e["body"] for e in reversed(entries)] == [
        "[Contact: Erika Mustermann, +491719876543 (their own number)]",
        "[Contact: Hans Meier, +49 30 1234567]",
        "[Contact: Oma, 0151 2345678]"]
    _, now = await thub.agent.get(f"/customers/{customer['id']}")
    assert [i["value"] for i in now["identities"] if i["kind"] == "phone"] == ["+491719876543"]
    for typed in ("0171 9876543", "+49 171 9876543"):
        status, found = await thub.agent.get("/lookup", params={"phone": typed})
        assert status == 200
        assert [m["customer"]["id"] for m in found["matches"]] == [customer["id"]]
    status, found = await thub.agent.get("/lookup", params={"phone": "030 1234567"})
    assert status == 200 and found["matches"] == []

    tg.push_contact(CHAT, "+49 171 9876543", "Erika", contact_user_id=CHAT)  # again: once
    await messages_of(thub, CHAT, 4)
    _, now = await thub.agent.get(f"/customers/{customer['id']}")
    assert [i["value"] for i in now["identities"] if i["kind"] == "phone"] == ["+491719876543"]


async def test_a_gif_is_one_attachment(thub: Hub, tg: StandIn) -> None:
    """Telegram sends an animation also as a document (the same file): it is kept once."""
    clip = b"\x00\x00\x00\x18ftypmp42" + bytes(range(200))
    tg.push_animation(CHAT, clip, "lachen.gif.mp4", caption="😂")
    _, [entry] = await messages_of(thub, CHAT, 1)
    assert entry["body"] == "😂"
    assert [(a["name"], a["content_type"], a["size"]) for a in entry["attachments"]] == [
        ("lachen.gif.mp4", "video/mp4", len(clip))]
