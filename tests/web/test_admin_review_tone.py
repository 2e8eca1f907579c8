"""The office's own tone-guard words on /admin/tone: a pattern that matches nearly every
text ("*", "* *", "a*") is refused with the typed lines kept -- saved, every published note
warned, and agents learn to click "publish anyway" on everything."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.web.conftest import ADMIN_EMAIL, Console, browser_form


@pytest.mark.parametrize("broad", ["*", "**", "* *", "a*", "zu *"])
async def test_a_pattern_matching_everything_is_refused(console: Console, broad: str) -> None:
    desk = await console.signed_in(ADMIN_EMAIL)
    form = browser_form((await desk.get("/admin/tone")).text, "tone-form")
    typed = f"meckerfritze\n{broad}\n"
    reply = await desk.post(form.action, form.fill(words=typed).fields)
    assert reply.status == 400
    page = unescape(reply.text)
    assert f"„{broad}“ passt auf fast jeden Text" in page
    assert re.search(r'<textarea id="tone-words"[^>]*>\s*meckerfritze\n' + re.escape(broad),
                     page)  # what was typed is still there
    status, tone = await console.bearer("GET", "/tone", token=console.admin_token)
    assert status == 200 and tone["office"] == []
    erika = await console.customer("Erika Alltag", emails=("erika@example.de",))
    status, _ = await console.bearer("POST", f"/customers/{erika.id}/entries", json={
        "kind": "note", "subject": "Vertrag verlängert", "body": "Bis 2027, wie besprochen.",
        "visibility": "published", "notify": False})
    assert status == 201  # an ordinary note publishes without a warning


async def test_the_offices_own_words_are_saved_and_warn(console: Console) -> None:
    desk = await console.signed_in(ADMIN_EMAIL)
    form = browser_form((await desk.get("/admin/tone")).text, "tone-form")
    reply = await desk.post(form.action,
                            form.fill(words="pfennigfuchser\ntypisch* amts-schimmel*\n").fields)
    assert (reply.status, reply.location) == (303, "/admin/tone?msg=saved")
    erika = await console.customer("Erika Alltag", emails=("erika@example.de",))
    status, body = await console.bearer("POST", f"/customers/{erika.id}/entries", json={
        "kind": "note", "body": "Ein Pfennigfuchser, typischer Amts-Schimmel.",
        "visibility": "published", "notify": False})
    assert status == 409 and body["error"]["code"] == "tone_warning"
    assert {h["pattern"] for h in body["error"]["details"]["hits"]} == {
        "pfennigfuchser", "typisch* amts-schimmel*"}
