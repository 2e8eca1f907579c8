"""The console's search page in German: "Meinten Sie" one click away, system entries opt-in,
the total count, and filters kept from page to page."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from aiohttp import FormData

from chronik.web.console import search as console_search
from tests.support.documents import pdf
from tests.web.conftest import Console, browser_form
from timeline.models import Channel, Direction


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


async def test_a_typo_leads_to_the_word_in_one_click(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    hit = await console.add(erika, subject="Kündigung Hausrat", body="zum 31.12.")
    await console.state.indexer.drain()
    desk = await console.signed_in()
    page = await desk.get("/search?q=" + quote("Kündigng") + "&order=relevance")
    assert page.status == 200 and "0 Treffer" in text_of(page.text)
    offer = re.search(r'id="did-you-mean">(.*?)</p>', page.text, re.S)
    assert offer and "Meinten Sie:" in text_of(offer.group(1))
    link = re.search(r'<a href="([^"]+)">Kündigung</a>', offer.group(1))
    assert link, offer.group(1)
    followed = await desk.get(unescape(link.group(1)))
    assert "1 Treffer" in text_of(followed.text) and f"#e-{hit.id}" in followed.text
    assert 'id="did-you-mean"' not in followed.text
    assert '<option value="relevance" selected>' in followed.text  # the filters stay


async def test_system_entries_only_when_asked_for(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    mail = await console.add(erika, subject="Kündigung", body="zum Jahresende")
    sent = await console.add(erika, channel=Channel.NOTIFICATION, direction=Direction.OUTBOUND,
                             kind="notification", subject="Notification sent by e-mail",
                             body="About: Kündigung")
    await console.state.indexer.drain()
    desk = await console.signed_in()
    page = await desk.get("/search?q=" + quote("Kündigung"))
    assert f"#e-{mail.id}" in page.text and f"#e-{sent.id}" not in page.text
    assert re.search(r'<input type="checkbox" id="s-system" name="system" value="1" >',
                     page.text)
    page = await desk.get("/search?q=" + quote("Kündigung") + "&system=1")
    assert f"#e-{mail.id}" in page.text and f"#e-{sent.id}" in page.text
    assert 'id="s-system" name="system" value="1" checked' in page.text
    page = await desk.get("/search?q=" + quote("Kündigung") + "&channel=notification")
    assert f"#e-{sent.id}" in page.text and f"#e-{mail.id}" not in page.text


async def test_a_hit_inside_an_attached_file_names_the_file(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    form = FormData()
    form.add_field("subject", "Police")
    form.add_field("notify", "false")
    form.add_field("file", pdf(["Versicherungsschein VS-4711-0815"]), filename="Police.pdf",
                   content_type="application/pdf")
    status, entry = await console.bearer("POST", f"/customers/{erika.id}/entries", data=form)
    assert status == 201, entry
    await console.state.indexer.drain()
    desk = await console.signed_in()
    page = await desk.get("/search?q=" + quote("Versicherungsschein"))
    assert "1 Treffer" in text_of(page.text) and f"#e-{entry['id']}" in page.text
    found = re.search(r'<p class="found-in">(.*?)</p>', page.text, re.S)
    assert found and "Gefunden im Anhang Police.pdf" in text_of(found.group(1)), page.text
    assert f'href="/api/v1/entries/{entry["id"]}/attachments/0"' in found.group(1)
    assert "<mark>Versicherungsschein</mark>" in page.text


async def test_the_count_is_the_total_and_every_filter_stays_on_the_next_page(
        console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    max_ = await console.customer("Max Mustermann")
    notes = [await console.record(erika, subject=f"Rückruf {i}", body="Termin vereinbart")
             for i in range(30)]
    await console.record(max_, subject="Rückruf", body="anderer Kunde")
    await console.add(erika, subject="Rückruf per Mail", body="eine E-Mail, keine Notiz")
    await console.state.indexer.drain()
    desk = await console.signed_in()
    page = await desk.get(f"/search?q=R%C3%BCckruf&kind=note&customer={erika.id}")
    assert page.status == 200
    count = re.search(r'id="search-count">(.*?)</p>', page.text, re.S)
    assert count and text_of(count.group(1)) == "30 Treffer · 1–25 angezeigt", count
    # the form as a browser would send it again: the kind and the customer are in it
    again = browser_form(page.text, "search-form")
    assert again.fields["kind"] == "note" and again.fields["customer"] == erika.id
    assert "Nur Einträge von Erika Mustermann." in text_of(page.text)
    more = re.search(r'<p class="pager"><a class="button" href="([^"]+)"', page.text)
    assert more, page.text
    second = await desk.get(unescape(more.group(1)))
    query = parse_qs(urlsplit(unescape(more.group(1))).query)
    assert query["kind"] == ["note"] and query["customer"] == [erika.id]
    count = re.search(r'id="search-count">(.*?)</p>', second.text, re.S)
    assert count and text_of(count.group(1)) == "30 Treffer · 26–30 angezeigt"
    shown = set(re.findall(r"#e-(\w+)", page.text + second.text))
    assert shown == {n.id for n in notes}  # neither Max's note nor Erika's mail
    assert 'class="pager"' not in second.text
    resent = await desk.get("/search?" + urlencode(again.fill(order="relevance").fields))
    assert "30 Treffer" in text_of(resent.text)
    assert '<option value="note" selected>' in resent.text


async def test_a_common_word_says_more_than_the_bound(console: Console,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_search, "COUNT_UP_TO", 3)
    erika = await console.customer("Erika Mustermann")
    for i in range(5):
        await console.add(erika, subject=f"Rechnung {i}", body="anbei")
    await console.state.indexer.drain()
    desk = await console.signed_in()
    for order in ("newest", "relevance"):
        page = await desk.get(f"/search?q=Rechnung&order={order}")
        count = re.search(r'id="search-count">(.*?)</p>', page.text, re.S)
        assert count and text_of(count.group(1)) == "Mehr als 3 Treffer", count
        assert len(re.findall(r"#e-\w+", page.text)) == 5
    page = await desk.get("/search?q=Rechnung&kind=nonsense")
    assert "Unbekannter Filter." in text_of(page.text)


@pytest.mark.parametrize(("q", "says"), [
    ('"abc', 'Ein Anführungszeichen ist nicht geschlossen: Beenden Sie die Phrase mit einem '
             'weiteren ".'),
    ("...", "Die Suche enthält keine Wörter, nach denen gesucht werden kann."),
    ("Vertrag OR", "ODER (OR) braucht auf beiden Seiten einen Begriff."),
    ("Vertrag NICHT", "Nach NICHT (NOT) fehlt ein Begriff."),
    ("k*", "Ein Platzhalter (*) braucht mindestens zwei Buchstaben dazu: k*"),
    (" ".join(f"w{i}" for i in range(40)), "Zu viele Begriffe: höchstens 32 pro Suche."),
], ids=["quote", "no-words", "or", "not", "prefix", "terms"])
async def test_a_query_that_cannot_be_searched_says_why_in_german(console: Console, q: str,
                                                                 says: str) -> None:
    desk = await console.signed_in()
    page = await desk.get("/search?" + urlencode({"q": q}))
    assert page.status == 200
    alert = re.search(r'<p class="notice error" role="alert">(.*?)</p>', page.text, re.S)
    assert alert and text_of(alert.group(1)) == says, page.text
    assert browser_form(page.text, "search-form").fields["q"] == q.strip()


@pytest.mark.parametrize("order", ["newest", "relevance"])
async def test_a_next_page_link_that_no_longer_fits_says_so(console: Console,
                                                           order: str) -> None:
    desk = await console.signed_in()
    page = await desk.get("/search?" + urlencode({"q": "Vertrag", "order": order,
                                                  "cursor": "0:abc:12"}))
    alert = re.search(r'<p class="notice error" role="alert">(.*?)</p>', page.text, re.S)
    assert alert and text_of(alert.group(1)) == (
        "Dieser Link zur nächsten Seite passt nicht (mehr). Bitte die Suche neu starten.")


async def test_a_query_too_long_is_kept_and_refused_like_the_api(console: Console) -> None:
    """Not cut at 500 characters (a cut inside a phrase said "unclosed quote"): the whole
    text stays in the field, with what is wrong; the field itself takes 500 at most."""
    erika = await console.customer("Erika Mustermann")
    await console.add(erika, subject="Kündigung", body="zum Jahresende")
    await console.state.indexer.drain()
    q = "Kündigung " + '"' + "sehr " * 100 + 'lange Phrase"'
    desk = await console.signed_in()
    page = await desk.get("/search?" + urlencode({"q": q}))
    alert = re.search(r'<p class="notice error" role="alert">(.*?)</p>', page.text, re.S)
    assert alert and text_of(alert.group(1)) == (
        "Die Suche ist zu lang: höchstens 500 Zeichen. Bitte kürzen."), page.text
    assert browser_form(page.text, "search-form").fields["q"] == q
    assert 'id="search-count"' not in page.text
    assert re.search(r'<input id="s-q" name="q" type="search" value="[^"]*" '
                     r'maxlength="500" required>', page.text)
    status, body = await console.bearer("GET", "/search?" + urlencode({"q": q}))
    assert status == 400 and body["error"]["message"] == (
        "query is longer than 500 characters")
    at_limit = "Kündigung" + " " * 481 + "Jahresende"
    assert len(at_limit) == 500
    page = await desk.get("/search?" + urlencode({"q": at_limit}))
    count = re.search(r'id="search-count">(.*?)</p>', page.text, re.S)
    assert count and text_of(count.group(1)) == "1 Treffer", page.text
