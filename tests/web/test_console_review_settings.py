"""My settings and the personal "notify customer" defaults, as an agent uses the page:
saving it for one thing (the language) changes nothing else."""

from __future__ import annotations

from html import unescape

from tests.web.conftest import Console, browser_form


async def test_saving_my_settings_keeps_a_default_set_for_one_field_only(
        console: Console) -> None:
    """The office keeps documents internal; Tom set, through the API, only "no
    notification" for his documents (visibility still the office's). Saving /settings to
    switch the language used to rewrite that as "visible, no notification": his next
    document was published."""
    status, _ = await console.bearer("PUT", "/policy/office", token=console.admin_token,
                                     json={"document": {"visibility": "internal"}})
    assert status == 200
    status, _ = await console.bearer("PUT", "/policy/agent",
                                     json={"document": {"notify": False}})
    assert status == 200
    desk = await console.signed_in()
    page = await desk.get("/settings")
    assert "Eigene: Sichtbarkeit wie das Büro, ohne Benachrichtigung" in unescape(page.text)
    form = browser_form(page.text, "settings-form")
    assert form.fields["policy-document"] == "keep"
    saved = await desk.post(form.action, form.fill(language="en").fields)
    assert (saved.status, saved.location) == (303, "/settings?saved=1")

    status, policy = await console.bearer("GET", "/policy")
    assert policy["agent"]["document"] == {"visibility": None, "notify": False}
    assert policy["effective"]["document"]["visibility"] == "internal"
    assert policy["effective"]["document"]["notify"] is False
    again = await desk.get("/settings")
    assert "Own: visibility as the office, without notification" in unescape(again.text)

    # choosing one of the page's own defaults still replaces it
    form = browser_form(again.text, "settings-form").fill(**{"policy-document": ""})
    assert (await desk.post(form.action, form.fields)).status == 303
    status, policy = await console.bearer("GET", "/policy")
    assert "document" not in policy["agent"]


async def test_an_unknown_default_is_refused_not_dropped(console: Console) -> None:
    status, _ = await console.bearer("PUT", "/policy/agent",
                                     json={"note": {"visibility": "internal",
                                                    "notify": False}})
    assert status == 200
    desk = await console.signed_in()
    form = browser_form((await desk.get("/settings")).text, "settings-form")
    reply = await desk.post(form.action, form.fill(**{"policy-note": "sometimes"}).fields)
    assert reply.status == 400
    status, policy = await console.bearer("GET", "/policy")
    assert policy["agent"]["note"] == {"visibility": "internal", "notify": False}
