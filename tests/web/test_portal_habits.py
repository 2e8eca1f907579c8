"""The customer portal as a browser review used it: what the preferences page says about
where notifications go (after an unsubscribe, a withdrawn consent), the language a
customer is spoken to in, forms that answer with a redirect (Back never sends them again),
a message sent once however often its form is, and limits that are named instead of
cutting text off or losing it. Against the real app, through real forms (see
``test_portal_pages``); the browser's side is in ``tests/browser/test_portal_e2e.py``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import ClientSession, CookieJar, FormData

from connectors.portal.messages import MAX_BODY
from tests.notify.conftest import eventually, outcome
from tests.web.test_portal_pages import (
    ERIKA,
    Browser,
    Page,
    Site,
    code_of,
    enter_code,
    refused,
    request_code,
    running_site,
    sign_in,
)

ENGLISH = "en-US,en;q=0.9"
GERMAN = "de-DE,de;q=0.9"


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    async with running_site(tmp_path, monkeypatch) as s:
        yield s


def browser_in(site: Site, accept_language: str) -> Browser:
    """A browser whose language settings ask for ``accept_language``."""
    b = Browser(ClientSession(cookie_jar=CookieJar(unsafe=True),
                              headers={"Accept-Language": accept_language}), site.base)
    site.browsers.append(b)
    return b


def summary(page: Page) -> str:
    """The preferences page's "we notify you by …" line, as text."""
    for paragraph in re.findall(r"<p\b[^>]*>(.*?)</p>", page.text, re.S):
        text = " ".join(re.sub(r"<[^>]+>", "", paragraph).split())
        if text.startswith(("Wir benachrichtigen", "Derzeit können", "We currently")):
            return text
    raise AssertionError(page.text[:3000])


async def write_form(browser: Browser) -> tuple[Page, str]:
    """The write page as a browser opens it, and where its form is sent."""
    page = await browser.get("/portal/write")
    if page.status == 303:  # on to the form's own address (its key)
        page = await browser.follow(page)
    action = re.search(r'action="(/portal/write\?csrf=[^"]+)"', page.text)
    assert action, page.text[:2000]
    return page, action.group(1).replace("&amp;", "&")


def message(key: str, subject: str, body: str,
            files: tuple[tuple[str, bytes], ...] = ()) -> FormData:
    """The write form's body, in the order a browser sends it (text before files)."""
    data = FormData()
    data.add_field("key", key)
    data.add_field("subject", subject)
    data.add_field("body", body)
    for name, content in files:
        data.add_field("files", content, filename=name, content_type="image/jpeg")
    if not files:
        data.add_field("files", b"", filename="", content_type="application/octet-stream")
    return data


def textarea(page: Page) -> str:
    found = re.search(r'<textarea id="write-body"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert found, page.text[:2000]
    return found.group(1)


# ---------------------------------------------------------------- 1. where notifications go
async def test_the_summary_leaves_out_what_an_unsubscribe_turned_off(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.get("/portal/preferences")
    assert summary(page) == "Wir benachrichtigen Sie derzeit über: E-Mail → Kundenportal"
    # one-click unsubscribe from a notification e-mail
    note = await site.entry(c["id"], "Ihr Termin steht", notify=True)
    await outcome(site.hub, c["id"], note["id"])
    [mail] = [r for r in site.sink.received if "Ihr Termin steht" in r.text()]
    path = urlsplit(str(mail.message["List-Unsubscribe"]).strip("<>")).path
    assert (await site.browser().post(path, data={"List-Unsubscribe": "One-Click"})
            ).status == 200
    page = await browser.get("/portal/preferences")
    assert summary(page) == "Wir benachrichtigen Sie derzeit über: Kundenportal"
    # the notifier agrees: the next notification goes to the portal inbox
    later = await site.entry(c["id"], "Noch etwas", notify=True)
    done = await outcome(site.hub, c["id"], later["id"])
    assert done["meta"]["notification"]["channel"] == "portal"


async def test_the_summary_follows_consent_ticked_off_in_the_form(site: Site) -> None:
    c = await site.customer()
    status, _ = await site.hub.agent.post(f"/customers/{c['id']}/identities",
                                          json={"kind": "telegram", "value": "4711"})
    assert status in (200, 201)
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.get("/portal/preferences")
    # Telegram is not configured here: a linked chat is not a way we can use
    assert summary(page) == "Wir benachrichtigen Sie derzeit über: E-Mail → Kundenportal"
    saved = await browser.post("/portal/preferences", data={
        "csrf": page.field("csrf"), "channel_1": "email", "consent_telegram": "1",
        "consent_portal": "1", "language": "de"})
    page = await browser.follow(saved)
    assert summary(page) == "Wir benachrichtigen Sie derzeit über: Kundenportal"
    # automatic notifications off: the ways are still named (for direct replies)
    saved = await browser.post("/portal/preferences", data={
        "csrf": page.field("csrf"), "channel_1": "email", "consent_email": "1",
        "consent_portal": "1", "no_automatic": "1", "language": "de"})
    page = await browser.follow(saved)
    assert summary(page) == ("Wir benachrichtigen Sie derzeit über: E-Mail → Kundenportal "
                             "(automatische Benachrichtigungen sind aus)")
    # nothing left at all: said plainly, not an empty list
    saved = await browser.post("/portal/preferences", data={
        "csrf": page.field("csrf"), "language": "de"})
    page = await browser.follow(saved)
    assert summary(page).startswith("Derzeit können wir Sie über keinen Weg benachrichtigen")


# ---------------------------------------------------------------- 2. language
async def test_an_english_browser_gets_an_english_portal(site: Site) -> None:
    c = await site.customer()
    browser = browser_in(site, ENGLISH)
    home = await sign_in(site, browser)
    assert '<html lang="en"' in home.text and "Your messages" in home.text
    page = await browser.get("/portal/preferences")
    assert '<html lang="en"' in page.text
    # the form shows the language the customer reads, and says what notifications use
    assert re.search(r'<option value="en" lang="en" selected>', page.text)
    assert "So far we send you notifications in German." in page.text
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["language"] == "de"  # nothing was chosen: nothing is stored
    # a German browser signing in as the same customer reads German
    other = browser_in(site, GERMAN)
    assert '<html lang="de"' in (await sign_in(site, other)).text


async def test_the_language_picked_on_the_sign_in_page_stays(site: Site) -> None:
    await site.customer()
    browser = site.browser()  # asks for no language: German
    form = await browser.get("/portal/signin?lang=en")
    assert '<html lang="en"' in form.text
    answer = await browser.post("/portal/signin", data={
        "csrf": form.field("csrf"), "email": ERIKA, "next": "/portal/",
        "lang": form.field("lang")})
    code_page = await browser.follow(answer)
    assert '<html lang="en"' in code_page.text
    code = code_of(await site.code_mail(ERIKA))
    done = await browser.post("/portal/signin/code", data={
        "csrf": code_page.field("csrf"), "challenge": code_page.field("challenge"),
        "next": "/portal/", "lang": code_page.field("lang"), "code": code})
    assert '<html lang="en"' in (await browser.follow(done)).text


async def test_a_language_chosen_wins_over_the_browser(site: Site) -> None:
    c = await site.customer()
    browser = browser_in(site, ENGLISH)
    home = await sign_in(site, browser)
    assert '<html lang="en"' in home.text
    # the customer switches to German, which is also what is stored: it is a choice now
    switched = await browser.post("/portal/language", data={
        "csrf": home.field("csrf"), "language": "de", "next": "/portal/"})
    assert '<html lang="de"' in (await browser.follow(switched)).text
    [change] = await site.timeline(c["id"], "&kind=preferences")
    assert change["body"] == "language: de → de"
    # signed in again from the same English browser: German, as chosen
    again = browser_in(site, ENGLISH)
    assert '<html lang="de"' in (await sign_in(site, again)).text
    page = await again.get("/portal/preferences")
    assert re.search(r'<option value="de" lang="de" selected>', page.text)
    assert "bisher auf" not in page.text


async def test_a_language_an_agent_set_counts_an_unchanged_one_does_not(site: Site) -> None:
    c = await site.customer()
    status, _ = await site.hub.agent.put(f"/customers/{c['id']}/preferences",
                                         json={"language": "de"})  # kept as it was
    assert status == 200
    assert '<html lang="en"' in (await sign_in(site, browser_in(site, ENGLISH))).text
    status, _ = await site.hub.agent.put(f"/customers/{c['id']}/preferences",
                                         json={"language": "en"})  # changed: a choice
    assert status == 200
    browser = browser_in(site, GERMAN)
    code_page = await browser.follow(await request_code(browser, ERIKA))

    async def english_code() -> str | None:
        mails = [r.text() for r in site.sink.received if ERIKA in r.recipients
                 and "Your sign-in code" in str(r.message["Subject"])]
        # (the first: the English browser's sign-in above -- its page was English)
        return code_of(mails[-1]) if len(mails) >= 2 else None
    done = await enter_code(browser, code_page, await eventually(english_code))
    assert '<html lang="en"' in (await browser.follow(done)).text


async def test_picking_the_stored_language_in_the_form_is_a_choice(site: Site) -> None:
    c = await site.customer()
    browser = browser_in(site, ENGLISH)
    await sign_in(site, browser)
    page = await browser.get("/portal/preferences")
    saved = await browser.post("/portal/preferences", data={
        "csrf": page.field("csrf"), "channel_1": "", "consent_email": "1",
        "consent_telegram": "1", "consent_portal": "1", "language": "de"})
    assert '<html lang="de"' in (await browser.follow(saved)).text
    [change] = await site.timeline(c["id"], "&kind=preferences")
    assert change["body"] == "language: de → de"


# ---------------------------------------------------------------- 3. forms and Back
async def test_a_refused_address_comes_back_without_being_in_the_url(site: Site) -> None:
    browser = site.browser()
    form = await browser.get("/portal/signin")
    answer = await browser.post("/portal/signin", data={
        "csrf": form.field("csrf"), "email": "erika@@example", "next": "/portal/"})
    assert "erika" not in answer.location
    page = await refused(browser, answer, "/portal/signin")
    assert "keine gültige E-Mail-Adresse" in page.text
    assert 'value="erika@@example"' in page.text
    assert 'value="erika@@example"' not in (await browser.get("/portal/signin")).text


async def test_back_to_the_code_form_after_signing_in_leads_into_the_portal(site: Site
                                                                            ) -> None:
    await site.customer()
    browser = site.browser()
    code_page = await browser.follow(await request_code(browser, ERIKA, "/portal/data"))
    code = code_of(await site.code_mail(ERIKA))
    wrong = await enter_code(browser, code_page, f"{(int(code) + 1) % 1_000_000:06d}")
    assert "Dieser Code stimmt nicht" in (
        await refused(browser, wrong, "/portal/signin/code")).text
    done = await enter_code(browser, code_page, code)
    assert done.status == 303 and done.location == "/portal/data"
    back = await browser.get(wrong.location)  # the page that said "wrong"
    assert back.status == 303 and back.location == "/portal/data"


async def test_a_form_sent_twice_is_one_message(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page, action = await write_form(browser)
    key = page.field("key")
    first = await browser.post(action, data=message(key, "Einmal", "Nur ein Mal."))
    again = await browser.post(action, data=message(key, "Einmal", "Nur ein Mal."))
    assert first.status == again.status == 303 and first.location == again.location
    assert len(await site.timeline(c["id"], "&channel=portal&kind=message")) == 1
    # a new form is a new message
    page, action = await write_form(browser)
    assert page.field("key") != key
    other = await browser.post(action, data=message(page.field("key"), "Zweite", "Neu."))
    assert other.location != first.location
    assert len(await site.timeline(c["id"], "&channel=portal&kind=message")) == 2


# ---------------------------------------------------------------- 5. files over the limit
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_files_over_the_limit_keep_the_text(site: Site, declared: bool) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page, action = await write_form(browser)
    limit = site.hub.state.settings.max_upload_bytes
    form = message(page.field("key"), "Schaden", "Siehe Foto\nvom Wohnzimmer.",
                   files=(("foto.jpg", b"\xff" * (limit + 1)),))
    if declared:
        answer = await browser.post(action, data=form)
    else:  # streamed without a length: the limit is found while reading
        body = form()
        raw = await body.as_bytes()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(raw), 32 * 1024):
                yield raw[start:start + 32 * 1024]
        answer = await browser.post(action, data=chunks(),
                                    headers={"Content-Type": body.content_type})
    assert answer.status == 413
    assert "Die Dateien sind zusammen zu groß: höchstens 256,0 KB" in answer.text
    assert "upload is larger" not in answer.text and "ungültig" not in answer.text
    assert 'id="write-subject" name="subject" type="text" value="Schaden"' in answer.text
    assert textarea(answer) == "Siehe Foto\nvom Wohnzimmer."
    assert answer.field("key") == page.field("key")  # sending it again: still one message
    assert await site.timeline(c["id"], "&channel=portal") == []
    # the same form, the file left out, is sent
    sent = await browser.post(action, data=message(page.field("key"), "Schaden", "Siehe Foto"))
    assert sent.status == 303


# ---------------------------------------------------------------- 6. long text
async def test_a_text_over_the_limit_is_named_and_kept(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page, action = await write_form(browser)
    assert "maxlength" not in textarea_tag(page)  # a browser would cut a paste there
    assert 'data-max-chars="100000"' in textarea_tag(page)
    text = "x" * (MAX_BODY + 10)
    answer = await browser.post(action, data=message(page.field("key"), "Lang", text))
    assert answer.status == 400
    assert ("Ihre Nachricht ist 100.010 Zeichen lang, 10 zu viel: höchstens 100.000 Zeichen "
            "sind möglich") in answer.text
    assert textarea(answer) == text
    assert await site.timeline(c["id"], "&channel=portal") == []
    # a line break is one character, as the counter in the page counts it (browsers send
    # CRLF): a text of exactly the limit is taken, and stored with plain line breaks
    lines = "\r\n".join(["y" * 99] * (MAX_BODY // 100))
    assert len(lines) > MAX_BODY >= len(lines.replace("\r\n", "\n"))
    sent = await browser.post(action, data=message(page.field("key"), "Lang", lines))
    assert sent.status == 303, sent.text[:500]
    [entry] = await site.timeline(c["id"], "&channel=portal")
    assert entry["body"] == lines.replace("\r\n", "\n")


def textarea_tag(page: Page) -> str:
    found = re.search(r'<textarea id="write-body"[^>]*>', page.text)
    assert found, page.text[:2000]
    return found.group(0)


# ---------------------------------------------------------------- 4. the code field
async def test_the_code_field_does_not_refuse_what_the_server_takes(site: Site) -> None:
    browser = site.browser()
    answer = await browser.post("/portal/signin", data={
        "csrf": (await browser.get("/portal/signin")).field("csrf"), "email": ERIKA,
        "next": "/portal/"})
    page = await browser.follow(answer)
    field = re.search(r'<input id="portal-code"[^>]*>', page.text)
    assert field, page.text[:2000]
    assert "pattern=" not in field.group(0)
    assert 'inputmode="numeric"' in field.group(0)
    assert 'autocomplete="one-time-code"' in field.group(0)
    assert parse_qs(urlsplit(answer.location).query)["challenge"]
