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
