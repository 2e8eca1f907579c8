"""A notification's text reads like a letter on every channel: one blank line between its
parts (greeting, what it is, the text, attached files, portal links, the footer), never two
— whatever the entry has or lacks."""

from __future__ import annotations

import itertools

import pytest

from notify.render import Renderer


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("channel", ["email", "telegram", "portal"])
async def test_a_notification_has_one_blank_line_between_its_parts(lang: str,
                                                                   channel: str) -> None:
    renderer = Renderer()
    for body, attached, linked in itertools.product(
            ("Hallo,\nanbei die Police.", ""), ([], ["police.pdf"]), ([], ["scan.pdf"])):
        text = (await renderer.message("o", lang, "published", {
            "customer": "Erika", "office": "Berger & Partner", "kind": "document",
            "entry": {"subject": "Police", "body": body}, "attached": attached,
            "linked": linked, "entry_url": "https://portal.example/e/1", "channel": channel,
            "reply_by_mail": True, "unsubscribe_url": "https://portal.example/u"})).text
        parts = text.split("\n\n")
        assert "\n\n\n" not in text and all(p.strip() for p in parts), repr(text)
        assert parts[-1].startswith("--\nBerger & Partner"), repr(text)
        if body:
            assert "Hallo,\nanbei die Police." in parts


@pytest.mark.parametrize(("lang", "hint"), [("de", "/portal schicken"),
                                             ("en", "send /portal")])
async def test_a_portal_link_in_telegram_says_how_to_sign_in_there(lang: str,
                                                                    hint: str) -> None:
    """A customer we reach on Telegram only has no address to sign in with: the link to a
    file in the portal says that /portal in this chat brings a sign-in link."""
    renderer = Renderer()
    for template in ("published", "reply"):
        for channel, shown in (("telegram", True), ("email", False)):
            text = (await renderer.message("o", lang, template, {
                "customer": "Erika", "office": "Berger", "kind": "document", "author": "Tom",
                "entry": {"subject": "Police", "body": "Anbei."}, "attached": [],
                "linked": ["scan.pdf"], "entry_url": "https://portal.example/e/1",
                "channel": channel, "reply_by_mail": False, "quoted": None,
                "unsubscribe_url": "https://portal.example/u"})).text
            assert (hint in text) is shown, text
