"""``/portal`` in the bot's chat: a customer we reach on Telegram only (no e-mail address to
sign in with) gets a one-time sign-in link to the customer portal in the chat the link token
proved theirs. It signs in once; a chat linked to nobody gets none; links are limited as the
portal's mailed codes are."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientSession, CookieJar

from tests.conftest import Hub
from tests.connectors.test_telegram import (
    CHAT,
    StandIn,
    eventually,
    link_token,
    new_customer,
    telegram_hub,
    timeline,
)


def _link(text: str) -> str:
    found = re.search(r"https?://\S+/portal/signin/link/\S+", text)
    assert found, text
    return urlsplit(found.group(0)).path + "?" + urlsplit(found.group(0)).query


async def test_portal_in_a_linked_chat_signs_the_customer_in_once(thub: Hub,
                                                                   tg: StandIn) -> None:
    customer = await new_customer(thub)
    tg.push_text(CHAT, f"/start {await link_token(thub, customer['id'])}")
    await tg.wait_sent(1)
    tg.push_text(CHAT, "/portal", language_code="en")
    sent = await tg.wait_sent(2)
    assert sent[-1]["chat_id"] == CHAT and "sign-in link" in sent[-1]["text"]
    path = _link(sent[-1]["text"])
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:  # 127.0.0.1
        page = await browser.get(thub.server.make_url(path))
        html = await page.text()
        assert page.status == 200 and "Continue to the customer portal" in html, html[:600]
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf, html[:600]
        done = await browser.post(thub.server.make_url(path), data={"csrf": csrf.group(1)})
        home = await done.text()
        assert done.status == 200 and done.url.path == "/portal/", home[:600]
        assert customer["name"] in home
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as stranger:  # works once
        page = await stranger.get(thub.server.make_url(path))
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf
        late = await stranger.post(thub.server.make_url(path), data={"csrf": csrf.group(1)})
        assert customer["name"] not in await late.text()


async def test_portal_in_a_chat_linked_to_nobody_gives_no_link(thub: Hub, tg: StandIn) -> None:
    tg.push_text(CHAT, "/anmelden")
    [answer] = await tg.wait_sent(1)
    assert "mit keinem Kundenkonto verbunden" in answer["text"]
    assert "/portal/signin/link/" not in answer["text"]


async def test_portal_links_are_limited(thub: Hub, tg: StandIn) -> None:
    customer = await new_customer(thub)
    tg.push_text(CHAT, f"/start {await link_token(thub, customer['id'])}")
    await tg.wait_sent(1)
    for n in range(6):
        tg.push_text(CHAT, "/login")
        await tg.wait_sent(2 + n)
    texts = [m["text"] for m in (await tg.wait_sent(7))[1:]]
    assert sum("/portal/signin/link/" in t for t in texts) == 5
    assert "genug Anmeldelinks" in texts[-1]


async def test_the_bot_answers_in_the_language_the_customer_chose(thub: Hub,
                                                                  tg: StandIn) -> None:
    """Notifications come in the customer's chosen language; the bot's answers too, not in
    whatever language their Telegram app is set to."""
    customer = await new_customer(thub)
    tg.push_text(CHAT, f"/start {await link_token(thub, customer['id'])}",
                 language_code="de")
    await tg.wait_sent(1)
    prefs = await thub.state.store.get_preferences(thub.office.id, customer["id"])
    await thub.state.store.set_preferences(thub.office.id, customer["id"], prefs.model_copy(
        update={"language": "en", "language_chosen": True}))
    for n, (text, says) in enumerate([("/portal", "Your sign-in link"),
                                      ("/stop", "no longer receive notifications")]):
        tg.push_text(CHAT, text, language_code="de")
        sent = await tg.wait_sent(2 + n)
        assert says in sent[-1]["text"], sent[-1]["text"]


async def test_messages_waiting_from_an_unknown_chat_follow_its_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn) -> None:
    """With unknown senders held back (``unassigned``), a new customer's first messages wait
    in the quarantine; once the chat is linked with the customer's link, they are theirs —
    not left for an admin to find and assign one by one."""
    async with telegram_hub(tmp_path / "data", monkeypatch, tg,
                            unknown_sender="unassigned") as hub:
        tg.push_text(CHAT, "Guten Tag, ich habe eine Frage zu meiner Police")
        tg.push_text(CHAT + 1, "Someone else entirely")

        async def waiting() -> list[dict] | None:
            _, body = await hub.admin.get("/quarantine")
            return list(body["items"]) if len(body["items"]) == 2 else None
        await eventually(waiting, what="the quarantine")
        customer = await new_customer(hub)
        tg.push_text(CHAT, f"/start {await link_token(hub, customer['id'])}")
        await tg.wait_sent(1)
        entries = await timeline(hub, customer["id"])
        assert [e["body"] for e in entries if e["kind"] == "message"] == [
            "Guten Tag, ich habe eine Frage zu meiner Police"]
        [linked] = [e for e in entries if e["kind"] == "telegram_linked"]
        assert "1 earlier message(s)" in linked["body"]
        _, still = await hub.admin.get("/quarantine")
        assert [i["origin"].rsplit(":", 1)[0] for i in still["items"]] == [
            f"telegram:{CHAT + 1}"]  # another chat's message still waits
