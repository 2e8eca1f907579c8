"""The agent console as agents use it: sign in through the real form, open pages, post the
real forms (with the page's CSRF token), and check what the page then shows and what the API
then returns."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from chronik.web.render import format_waited
from connectors.email.inbound import MailIngest
from tests.notify.conftest import NOTIFY_ENV, SmtpSink, eventually
from tests.web.conftest import Console, Desk, MakeConsole, Reply, browser_form
from timeline.ingest import InboundMessage
from timeline.models import (
    Attachment,
    Channel,
    Customer,
    CustomerStatus,
    Direction,
    Entry,
    IdentityKind,
    Role,
    Visibility,
    utcnow,
)
from timeline.service import UploadedFile
from timeline.store import TimelineQuery

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
       b"\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe"
       b"\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.4\n%%EOF\n"
ITEM_START = re.compile(r'<li class="item [^"]*" id="e-([0-9A-Za-z]+)"')


def items(html: str) -> dict[str, str]:
    """The timeline items of a page, in order: entry id -> the item's HTML."""
    starts = [(m.start(), m.group(1)) for m in ITEM_START.finditer(html)]
    out: dict[str, str] = {}
    for n, (pos, entry_id) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(html)
        list_end = html.find("</ol>", pos)  # items hold <ul>s, never an <ol>
        out[entry_id] = html[pos:end if list_end < 0 else min(end, list_end)]
    return out


def item_ids(html: str) -> list[str]:
    return list(items(html))


def section(html: str, start_marker: str, end_marker: str) -> str:
    start = html.index(start_marker)
    return html[start:html.index(end_marker, start)]


def text_of(html: str) -> str:
    """Roughly what a person reads: tags removed, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def presets(html: str) -> dict[str, Any]:
    found = re.search(r"data-presets='([^']*)'", html)
    assert found
    return dict(json.loads(unescape(found.group(1))))


def checked(html: str, element_id: str) -> bool:
    found = re.search(r'<input[^>]*id="' + re.escape(element_id) + r'"[^>]*>', html)
    assert found, element_id
    return " checked" in found.group(0)


async def lookup_ids(console: Console, phone: str) -> list[str]:
    status, body = await console.bearer("GET", "/lookup?phone=" + quote(phone))
    assert status == 200, body
    return [m["customer"]["id"] for m in body["matches"]]


# ============================================================================ home, find
async def test_home_lists_open_complaints_with_customer_names(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    max_ = await console.customer("Max Müller")
    await console.add(erika, subject="Gutachter kam nicht", body="…", tags=("complaint",))
    await console.add(max_, subject="Schon erledigt", body="…",
                      tags=("complaint", "complaint:resolved"))
    await console.add(max_, subject="Nur eine Frage", body="…")
    desk = await console.signed_in()
    home = await desk.get("/")
    assert home.status == 200
    box = text_of(section(home.text, 'id="home-complaints"', "</section>"))
    assert "Erika Mustermann" in box and "Gutachter kam nicht" in box
    assert "Max Müller" not in box and "Schon erledigt" not in box
    assert "Nur eine Frage" not in box
    assert "Guten Tag, Tom Agent" in text_of(home.text)


@pytest.mark.parametrize("q", ["0171 1234567", "+49 171 1234567", "0049-171/1234567",
                               "01711234567", "(0171) 123 45 67"])
async def test_find_a_phone_number_in_any_format(console: Console, q: str) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    await console.customer("Max Müller", phones=("0171 7654321",))
    desk = await console.signed_in()
    reply = await desk.get("/find?q=" + quote(q))
    assert reply.status == 303
    assert reply.location == f"/customers/{erika.id}"


async def test_find_an_email_address(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    desk = await console.signed_in()
    reply = await desk.get("/find?q=" + quote(" Erika@Example.DE "))
    assert reply.status == 303 and reply.location == f"/customers/{erika.id}"


async def test_find_a_name_lists_several_or_opens_the_one(console: Console) -> None:
    hans = await console.customer("Hans Becker")
    greta = await console.customer("Greta Becker")
    max_ = await console.customer("Max Müller")
    desk = await console.signed_in()
    listed = await desk.get("/find?q=Becker")
    assert listed.status == 200
    assert f'href="/customers/{hans.id}"' in listed.text
    assert f'href="/customers/{greta.id}"' in listed.text
    assert "Max Müller" not in text_of(section(listed.text, "<main", "</main>"))
    one = await desk.get("/find?q=" + quote("Mueller"))  # umlaut spelling does not matter
    assert one.status == 303 and one.location == f"/customers/{max_.id}"
    nobody = await desk.get("/find?q=Schneider")
    assert nobody.status == 200 and "Niemand gefunden." in nobody.text
    assert 'action="/customers"' not in nobody.text  # a name: nothing to create from


async def test_an_unknown_number_offers_create_and_attach(console: Console) -> None:
    desk = await console.signed_in()
    reply = await desk.get("/find?q=" + quote("0175 9999999"))
    assert reply.status == 200
    shown = text_of(reply.text)
    assert "+491759999999 ist noch keinem Kunden zugeordnet" in shown
    assert "Kunden anlegen" in shown and "Bestehendem Kunden zuordnen" in shown
    create = section(reply.text, '<form method="post" action="/customers"', "</form>")
    assert 'name="phone" value="0175 9999999"' in create
    assert f'name="csrf" value="{desk.csrf}"' in create
    attach = section(reply.text, '<form method="get" action="/find"', "</form>")
    assert 'name="attach" value="0175 9999999"' in attach
    assert 'name="attach_kind" value="phone"' in attach


async def test_create_a_customer_from_an_unknown_number(console: Console) -> None:
    desk = await console.signed_in()
    reply = await desk.post("/customers", {"name": "Jana Neu", "phone": "0175 9999999"})
    assert reply.status == 303
    new_id = reply.location.removeprefix("/customers/")
    assert await lookup_ids(console, "+49 175 9999999") == [new_id]
    page = await desk.get(reply.location)
    assert page.status == 200 and "Jana Neu" in page.text
    assert "0175 9999999" in page.text


async def test_create_with_a_bad_number_creates_nobody(console: Console) -> None:
    desk = await console.signed_in()
    status, before = await console.bearer("GET", "/customers")
    reply = await desk.post("/customers", {"name": "Halb Angelegt", "phone": "12"})
    assert reply.status == 400
    status, after = await console.bearer("GET", "/customers")
    assert [c["name"] for c in after["items"]] == [c["name"] for c in before["items"]]


async def test_create_merges_the_unverified_customer_made_for_that_number(
        console: Console) -> None:
    auto = await console.customer("+491759999999", phones=("+491759999999",),
                                  status=CustomerStatus.UNVERIFIED)
    call = await console.add(auto, channel=Channel.PHONE, kind="call",
                             visibility=Visibility.INTERNAL, subject="Anruf",
                             meta={"outcome": "answered", "duration_seconds": 65})
    desk = await console.signed_in()
    reply = await desk.post("/customers", {"name": "Jana Neu", "phone": "0175 9999999"})
    assert reply.status == 303
    new_id = reply.location.removeprefix("/customers/")
    assert await lookup_ids(console, "0175 9999999") == [new_id]
    status, timeline = await console.bearer("GET", f"/customers/{new_id}/timeline")
    assert call.id in [e["id"] for e in timeline["items"]]
    status, old = await console.bearer("GET", f"/customers/{auto.id}")
    assert old["status"] == "merged"


async def test_attach_an_unknown_number_to_an_existing_customer(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    auto = await console.customer("+491759999999", phones=("+491759999999",),
                                  status=CustomerStatus.UNVERIFIED)
    message = await console.add(auto, channel=Channel.CHAT, kind="message", body="Hallo?")
    desk = await console.signed_in()
    listed = await desk.get("/find?list=1&attach_kind=phone&attach=" + quote("0175 9999999")
                            + "&q=Erika")
    assert listed.status == 200
    assert "Zu Erika Mustermann hinzufügen" in text_of(listed.text)
    form = section(listed.text, '<form method="post" action="/identities/attach"', "</form>")
    assert f'name="customer_id" value="{erika.id}"' in form
    assert 'name="phone" value="0175 9999999"' in form
    reply = await desk.post("/identities/attach", {"customer_id": erika.id,
                                                   "phone": "0175 9999999"})
    assert reply.status == 303 and reply.location == f"/customers/{erika.id}"
    assert await lookup_ids(console, "+49 175 9999999") == [erika.id]
    status, timeline = await console.bearer("GET", f"/customers/{erika.id}/timeline")
    assert message.id in [e["id"] for e in timeline["items"]]


# ============================================================================ call banner
async def test_banner_for_a_known_caller(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",),
                                   emails=("erika@example.de",))
    await console.record(erika, subject="Anrede", body="Möchte mit Frau Dr. angesprochen werden",
                         visibility=Visibility.INTERNAL, tags=("pinned",))
    await console.add(erika, subject="Gutachter kam nicht", body="…", tags=("complaint",),
                      when=utcnow() - timedelta(days=2))
    await console.add(erika, channel=Channel.PORTAL, kind="message",
                      subject="Angebot Hausrat", body="Danke!", when=utcnow() - timedelta(days=1))
    status, _ = await console.bearer("PUT", f"/customers/{erika.id}/preferences",
                                     json={"channels": ["email", "portal"]})
    assert status == 200
    desk = await console.signed_in()
    reply = await desk.get("/calls/banner?number=" + quote("+49 171 1234567") + "&call=c1")
    assert reply.status == 200
    shown = text_of(reply.text)
    assert "Erika Mustermann" in shown
    assert "Möchte mit Frau Dr. angesprochen werden" in shown  # pinned
    assert "Gutachter kam nicht" in shown  # open complaint
    assert "Letzte Kontakte" in shown and "Angebot Hausrat" in shown
    assert "Wartet seit" in shown  # her portal message has no answer yet
    await console.record(erika, body="Angebot kommt per Post.", visibility=Visibility.PUBLISHED,
                         notify=False)
    answered = await desk.get("/calls/banner?number=" + quote("+49 171 1234567") + "&call=c1")
    assert "Wartet seit" not in text_of(answered.text)
    assert "Bevorzugte Kanäle: E-Mail → Portal-Postfach" in shown
    assert f'href="/customers/{erika.id}' in reply.text
    assert 'action="/customers"' not in reply.text  # known: nothing to create
    # the banner answers in the page's language
    await desk.post("/settings/language", {"language": "en", "next": "/"})
    english = await desk.get("/calls/banner?number=" + quote("0171 1234567"))
    assert "Last contacts" in text_of(english.text)


@pytest.mark.parametrize("number", ["anonymous", "", "Unterdrückt"])
async def test_a_withheld_number_is_said_so_and_offers_nothing_that_fails(
        console: Console, number: str) -> None:
    """No number to create a customer with or to attach: the banner says the number is
    withheld instead of offering forms that could only fail (400, the typed name lost)."""
    desk = await console.signed_in()
    reply = await desk.get("/calls/banner?number=" + quote(number) + "&call=c9")
    assert reply.status == 200
    assert "Nummer unterdrückt" in text_of(reply.text)
    assert 'action="/customers"' not in reply.text and 'action="/find"' not in reply.text


async def test_banner_for_an_unknown_number_offers_create_and_attach(console: Console) -> None:
    desk = await console.signed_in()
    reply = await desk.get("/calls/banner?number=" + quote("0175 9999999") + "&call=c2")
    assert reply.status == 200
    shown = text_of(reply.text)
    assert "Unbekannte Nummer" in shown and "+491759999999" in shown
    create = section(reply.text, '<form method="post" action="/customers"', "</form>")
    assert 'name="phone" value="+491759999999"' in create
    assert f'name="csrf" value="{desk.csrf}"' in create
    assert '<form method="get" action="/find"' in reply.text
    # the create form of the banner works as it is
    created = await desk.post("/customers", {"name": "Anrufer Neu", "phone": "+491759999999"})
    assert created.status == 303
    again = await desk.get("/calls/banner?number=" + quote("0175 9999999"))
    assert "Anrufer Neu" in text_of(again.text)
    assert 'action="/customers"' not in again.text


# ============================================================================ timeline
async def test_timeline_is_newest_first_with_internal_items_marked(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    old = await console.add(erika, subject="Alt", body="a", when=at(3))
    internal = await console.record(erika, subject="Nur für uns", body="b",
                                    visibility=Visibility.INTERNAL, occurred_at=at(4))
    new = await console.add(erika, channel=Channel.PORTAL, kind="message", subject="Neu",
                            body="c", when=at(5))
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert item_ids(page.text) == [new.id, internal.id, old.id]
    found = items(page.text)
    assert "is-internal" in found[internal.id].split(">", 1)[0]
    assert ">INTERN<" in found[internal.id].replace(" INTERN<", ">INTERN<")
    for published in (new.id, old.id):
        assert "is-internal" not in found[published].split(">", 1)[0]
        assert "INTERN" not in found[published]
        assert "sichtbar für Kunden" in found[published]
    await desk.post("/settings/language", {"language": "en", "next": "/"})
    english = await desk.get(f"/customers/{erika.id}")
    assert "INTERNAL" in items(english.text)[internal.id]
    assert "INTERNAL" not in items(english.text)[new.id]


async def test_timeline_filters(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    mail = await console.add(erika, subject="Mail", body="m", when=at(3))
    chat = await console.add(erika, channel=Channel.CHAT, kind="message", body="chat",
                             when=at(4))
    note = await console.record(erika, body="intern", visibility=Visibility.INTERNAL,
                                occurred_at=at(5))
    public = await console.record(erika, body="öffentlich", visibility=Visibility.PUBLISHED,
                                  notify=False, occurred_at=at(6))
    desk = await console.signed_in()
    base = f"/customers/{erika.id}"
    assert item_ids((await desk.get(base + "?channel=email")).text) == [mail.id]
    assert item_ids((await desk.get(base + "?channel=chat&channel=email")).text) == [
        chat.id, mail.id]
    assert item_ids((await desk.get(base + "?kind=note")).text) == [public.id, note.id]
    assert item_ids((await desk.get(base + "?visibility=internal")).text) == [note.id]
    assert item_ids((await desk.get(base + "?visibility=published&kind=note")).text) == [
        public.id]
    everything = await desk.get(base + "?channel=&kind=&visibility=")
    assert item_ids(everything.text) == [public.id, note.id, chat.id, mail.id]
    bad = await desk.get(base + "?visibility=secret")
    assert bad.status == 400


async def test_paging_returns_every_entry_once(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    start = at(1, 8)
    seeded = [await console.add(erika, subject=f"Nachricht {n}", body=str(n),
                                when=start + timedelta(minutes=7 * n))
              for n in range(67)]
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    seen = item_ids(page.text)
    assert len(seen) == 30
    more = re.search(r'id="more" href="([^"]+)" data-cursor="([^"]+)"', page.text)
    assert more
    cursor = more.group(2)
    pages = 1
    while cursor:
        reply = await desk.get(f"/customers/{erika.id}/items?cursor={cursor}")
        assert reply.status == 200
        seen += item_ids(reply.text)
        cursor = reply.headers["X-Next-Cursor"]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 67
    assert seen == [e.id for e in reversed(seeded)]
    # the last page says so with an empty cursor
    assert reply.headers["X-Next-Cursor"] == ""


async def test_a_search_hit_further_back_opens_the_history_there(console: Console) -> None:
    """``?focus=`` (a search hit's link): an entry beyond the first page is shown with the
    history from there on, a way back to the newest, and no live insertion at the top."""
    erika = await console.customer("Erika Mustermann")
    seeded = [await console.add(erika, subject=f"Nachricht {n}", body=str(n),
                                when=at(1, 8) + timedelta(minutes=7 * n)) for n in range(45)]
    other = await console.customer("Otto Anders")
    foreign = await console.add(other, subject="Fremd", body="x", when=at(1, 9))
    desk = await console.signed_in()
    old = seeded[5]
    page = await desk.get(f"/customers/{erika.id}?focus={old.id}")
    assert item_ids(page.text) == [e.id for e in reversed(seeded[:6])]
    assert 'id="focus-notice"' in page.text and 'data-live="off"' in page.text
    assert f'<a href="/customers/{erika.id}">Zu den neuesten Einträgen</a>' in page.text
    near = await desk.get(f"/customers/{erika.id}?focus={seeded[-2].id}")  # on page one
    assert item_ids(near.text)[:2] == [seeded[-1].id, seeded[-2].id]
    assert 'id="focus-notice"' not in near.text and 'data-live="on"' in near.text
    for wrong in (foreign.id, "nosuchentry"):  # another customer's entry, none at all
        plain = await desk.get(f"/customers/{erika.id}?focus={wrong}")
        assert plain.status == 200 and 'id="focus-notice"' not in plain.text
        assert item_ids(plain.text)[0] == seeded[-1].id


async def test_paging_without_javascript_follows_the_more_link(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    for n in range(35):
        await console.add(erika, subject=f"Nachricht {n}", body=str(n),
                          when=at(2) + timedelta(minutes=n))
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    more = re.search(r'id="more" href="([^"]+)"', page.text)
    assert more
    second = await desk.get(unescape(more.group(1)))
    assert second.status == 200
    assert len(item_ids(second.text)) == 5
    assert not set(item_ids(second.text)) & set(item_ids(page.text))
    assert "</html>" in second.text  # a whole page, not a bare fragment
    assert 'id="more"' not in second.text
    older = re.search(r'id="older-notice">(.*?)</p>', second.text, re.S)  # and a way back
    assert older and f'<a href="/customers/{erika.id}">' in older.group(1)
    assert 'id="older-notice"' not in page.text


async def test_paging_keeps_the_filters(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    mails = []
    for n in range(40):
        mails.append(await console.add(erika, subject=f"Mail {n}", body=str(n),
                                       when=at(2) + timedelta(minutes=2 * n)))
        await console.add(erika, channel=Channel.CHAT, kind="message", body=f"chat {n}",
                          when=at(2) + timedelta(minutes=2 * n + 1))
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}?channel=email")
    more = re.search(r'id="more" href="([^"]+)"', page.text)
    assert more
    query = parse_qs(urlsplit(unescape(more.group(1))).query)
    assert query["channel"] == ["email"]
    rest = await desk.get(f"/customers/{erika.id}/items?cursor={query['cursor'][0]}"
                          "&channel=email")
    assert item_ids(page.text) + item_ids(rest.text) == [m.id for m in reversed(mails)]


async def test_notification_entries_fold_into_their_item(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    note = await console.record(erika, subject="Police verlängert", body="bis 2027",
                                visibility=Visibility.PUBLISHED, notify=True,
                                occurred_at=at(5))
    notification = await console.add(
        erika, channel=Channel.NOTIFICATION, direction=Direction.OUTBOUND,
        kind="notification", visibility=Visibility.INTERNAL, when=at(5, 12, 1),
        subject="Notification sent by e-mail", body="About: Police verlängert",
        meta={"notification": {"entry_id": note.id, "channel": "email", "status": "sent"}})
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert item_ids(page.text) == [note.id]
    folded = items(page.text)[note.id]
    assert "1 Systemeinträge" in folded
    assert "Benachrichtigt · E-Mail" in text_of(folded)  # (stored in English)
    assert "Notification sent" not in folded
    # live update about the notification: the server answers with the item it belongs to
    reply = await desk.get(f"/entries/{notification.id}/item")
    assert reply.status == 200
    assert reply.headers["X-Entry-Id"] == note.id
    assert reply.headers["X-Customer-Id"] == erika.id
    assert item_ids(reply.text) == [note.id]
    assert "Benachrichtigt · E-Mail" in text_of(reply.text)
    # the item of the note itself is the same item
    own = await desk.get(f"/entries/{note.id}/item")
    assert item_ids(own.text) == [note.id]


async def test_call_entries_show_outcome_duration_and_who(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    answered = await console.add(
        erika, channel=Channel.PHONE, kind="call", visibility=Visibility.INTERNAL,
        subject="Call from +49 171 1234567", when=at(3),
        meta={"outcome": "answered", "duration_seconds": 312, "answered_by": "Anna Admin",
              "number": "+491711234567", "call_direction": "in"})
    missed = await console.add(
        erika, channel=Channel.PHONE, kind="call", visibility=Visibility.INTERNAL,
        subject="Verpasst", when=at(4), meta={"outcome": "noAnswer", "missed": True})
    desk = await console.signed_in()
    page = items((await desk.get(f"/customers/{erika.id}")).text)
    shown = text_of(page[answered.id])
    # in the agent's language (the stored subject is English)
    assert "Anruf von +49 171 1234567" in shown and "Call from" not in shown
    assert "Ergebnis: angenommen" in shown
    assert "Dauer 5:12" in shown
    assert "angenommen von Anna Admin" in shown
    assert "Verpasster Anruf von unterdrückter Nummer" in text_of(page[missed.id])
    older = await console.add(  # a call stored with its "from" only (the demo's)
        erika, channel=Channel.PHONE, kind="call", visibility=Visibility.INTERNAL,
        subject="Call from +49 30 1234567", when=at(2), meta={"from": "+49301234567"})
    page = items((await desk.get(f"/customers/{erika.id}")).text)
    assert "Anruf von +49 30 1234567" in text_of(page[older.id])


async def test_thread_link_and_image_thumbnails(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    question = await console.add(erika, subject="Frage zum Vertrag", body="?", when=at(3))
    document = await console.record(
        erika, "document", subject="Unterlagen", visibility=Visibility.INTERNAL,
        files=(UploadedFile("Foto.png", "image/png", PNG),
               UploadedFile("Police.pdf", "application/pdf", PDF)),
        in_reply_to=question.id, occurred_at=at(4))
    desk = await console.signed_in()
    page = items((await desk.get(f"/customers/{erika.id}")).text)
    item = page[document.id]
    assert f'href="#e-{question.id}"' in item
    assert "Antwort auf einen früheren Eintrag" in text_of(item)
    images = re.findall(r'<img src="([^"]+)"', item)
    assert images == [f"/api/v1/entries/{document.id}/attachments/0"]
    assert f'href="/api/v1/entries/{document.id}/attachments/1"' in item
    assert "Police.pdf" in item
    # the thumbnail loads with the console's session (same origin, no token)
    picture = await desk.get(images[0])
    assert picture.status == 200
    assert picture.headers["Content-Type"] == "image/png"
    assert picture.body == PNG


async def test_mailed_pictures_sent_as_just_a_file_or_as_text_show_as_thumbnails(
        console: Console) -> None:
    """A phone's "application/octet-stream" photo and a scanner's picture labelled
    "text/plain" are pictures on the timeline, not a download link and a screen of
    mojibake."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    photo = base64.encodebytes(PNG)
    raw = (b"From: erika@example.de\nTo: buero@example.org\nSubject: Schaden\n"
           b"Message-ID: <schaden@example.de>\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/mixed; boundary="B"\n\n'
           b"--B\nContent-Type: text/plain\n\nFotos vom Schaden.\n"
           b'--B\nContent-Type: application/octet-stream; name="schaden.png"\n'
           b"Content-Transfer-Encoding: base64\n\n" + photo +
           b"--B\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" + photo +
           b"--B--\n")
    delivered = await MailIngest(console.state.ingest).deliver(console.office.id, raw, "test")
    assert delivered.outcome == "created" and delivered.result.entry is not None
    entry_id = delivered.result.entry.id
    desk = await console.signed_in()
    item = items((await desk.get(f"/customers/{erika.id}")).text)[entry_id]
    assert "Fotos vom Schaden." in text_of(item)
    assert "PNG" not in text_of(item)
    assert re.findall(r'<img src="([^"]+)"', item) == [
        f"/api/v1/entries/{entry_id}/attachments/{i}" for i in (0, 1)]
    for i in (0, 1):
        picture = await desk.get(f"/api/v1/entries/{entry_id}/attachments/{i}")
        assert (picture.status, picture.headers["Content-Type"], picture.body) == (
            200, "image/png", PNG)


# ============================================================================ compose
async def test_compose_preset_follows_office_then_agent_policy(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    status, body = await console.bearer(
        "PUT", "/policy/office", console.admin_token,
        json={"note": {"visibility": "internal"}, "phone_note": {"visibility": "internal"}})
    assert status == 200, body
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    got = presets(page.text)
    assert got["note"]["visibility"] == "internal"
    assert got["note"]["visibility_source"] == "office"
    assert got["document"]["visibility"] == "published"  # untouched: the system default
    # the form as rendered (phone note first) shows it, and says where it comes from
    assert checked(page.text, "vis-internal") and not checked(page.text, "vis-published")
    assert not checked(page.text, "c-notify")
    assert "Voreinstellung aus der Voreinstellung des Büros." in text_of(page.text)

    status, body = await console.bearer(
        "PUT", "/policy/agent", json={"note": {"visibility": "published", "notify": False},
                                      "phone_note": {"visibility": "published",
                                                     "notify": False}})
    assert status == 200, body
    page = await desk.get(f"/customers/{erika.id}")
    got = presets(page.text)
    assert got["note"] == {"visibility": "published", "notify": False,
                           "visibility_source": "agent", "notify_source": "agent"}
    assert checked(page.text, "vis-published") and not checked(page.text, "c-notify")
    assert "Voreinstellung aus Ihrer persönlichen Voreinstellung." in text_of(page.text)
    await desk.post("/settings/language", {"language": "en", "next": "/"})
    page = await desk.get(f"/customers/{erika.id}")
    assert "Preset from your personal default." in text_of(page.text)
    # only for this agent: Anna still gets the office's preset
    anna = await console.signed_in("anna.admin@buero.test")
    page = await anna.get(f"/customers/{erika.id}")
    assert presets(page.text)["note"]["visibility_source"] == "office"
    await anna.post("/settings/language", {"language": "en", "next": "/"})
    page = await anna.get(f"/customers/{erika.id}")
    assert "Preset from the office default." in text_of(page.text)


async def test_reply_to_an_internal_entry_starts_internal(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    internal = await console.record(erika, subject="Provision prüfen", body="…",
                                    visibility=Visibility.INTERNAL)
    mail = await console.add(erika, subject="Kündigung", body="Bitte bestätigen.")
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}?reply_to={internal.id}")
    assert checked(page.text, "kind-note")
    assert checked(page.text, "vis-internal") and not checked(page.text, "vis-published")
    assert not checked(page.text, "c-notify")
    assert f'name="in_reply_to" value="{internal.id}"' in page.text
    assert "Antwort auf einen internen Eintrag: beginnt intern" in text_of(page.text)
    page = await desk.get(f"/customers/{erika.id}?reply_to={mail.id}")
    assert checked(page.text, "kind-reply")
    assert re.search(r'<option value="email" selected>', page.text)
    assert 'value="Re: Kündigung"' in page.text


async def test_unanswered_hint(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    await console.add(erika, channel=Channel.EMAIL, direction=Direction.OUTBOUND,
                      kind="email", subject="Angebot", body="…", when=at(2))
    mail = await console.add(erika, subject="Rückfrage zum Angebot", body="…", when=at(3))
    await console.record(erika, body="Intern: erst Montag", visibility=Visibility.INTERNAL,
                         occurred_at=at(4))
    await console.add(erika, channel=Channel.NOTIFICATION, direction=Direction.OUTBOUND,
                      kind="notification", visibility=Visibility.INTERNAL, when=at(4, 13),
                      subject="Benachrichtigung", meta={"notification": {"entry_id": mail.id}})
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    hint = re.search(r'id="hint-unanswered">(.*?)</p>', page.text, re.S)
    assert hint, "an internal note and a notification do not answer the customer"
    assert "ist unbeantwortet" in text_of(hint.group(1))
    assert f'href="/customers/{erika.id}?focus={mail.id}#e-{mail.id}"' in hint.group(1)
    await console.add(erika, channel=Channel.EMAIL, direction=Direction.OUTBOUND,
                      kind="reply", subject="Re: Rückfrage", body="…", when=at(5))
    page = await desk.get(f"/customers/{erika.id}")
    assert 'id="hint-unanswered"' not in page.text


async def compose(desk: Desk, customer: Customer, *, page: str | None = None,
                  query: str = "", files: tuple[tuple[str, bytes, str], ...] = (),
                  **changes: str | None) -> Reply:
    """Fill in the compose form of the customer page (or of ``page``) the way a browser
    without JavaScript submits it: every control the page has, as the page set it, with
    ``changes`` typed, picked or ticked (``None`` unticks)."""
    if page is None:
        got = await desk.get(f"/customers/{customer.id}{query}")
        assert got.status == 200, got.status
        page = got.text
    form = browser_form(page, "compose-form").fill(**changes)
    assert form.action == f"/customers/{customer.id}/entries?csrf={desk.csrf}"
    return await desk.request("POST", form.action, data=form.body(files))


async def newest(console: Console, customer: Customer) -> Entry:
    page = await console.state.store.timeline(console.office.id, customer.id,
                                              TimelineQuery(limit=1))
    entry: Entry = page.items[0]
    return entry


async def test_compose_without_javascript(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    desk = await console.signed_in()
    # an internal note
    reply = await compose(desk, erika, kind="note", subject="Rückruf", body="Ruft Montag an",
                          visibility="internal")
    assert reply.status == 303
    note = await newest(console, erika)
    assert reply.location == f"/customers/{erika.id}#e-{note.id}"
    assert (note.kind, note.visibility, note.notify) == ("note", Visibility.INTERNAL, False)
    assert note.body == "Ruft Montag an" and note.author == console.agent.id
    # a document with two files, published without notification
    reply = await compose(desk, erika, kind="document", subject="Police 2027",
                          visibility="published", notify=None,
                          files=(("Police 2027.pdf", PDF, "application/pdf"),
                                 ("Foto.png", PNG, "image/png")))
    assert reply.status == 303
    doc = await newest(console, erika)
    assert doc.kind == "document" and doc.visibility is Visibility.PUBLISHED
    assert doc.notify is False
    assert [(a.name, a.content_type, a.size) for a in doc.attachments] == [
        ("Police 2027.pdf", "application/pdf", len(PDF)), ("Foto.png", "image/png", len(PNG))]
    status, data = await console.bearer("GET", f"/entries/{doc.id}/attachments/1")
    assert status == 200 and data == PNG
    # a reply marked internal (the page offers both without JavaScript): asked, not sent
    reply = await compose(desk, erika, kind="reply", reply_via="email",
                          subject="Ihre Police", body="Anbei Ihre Police.",
                          visibility="internal")
    assert reply.status == 400
    assert "kann nicht intern sein" in reply.text
    assert "Anbei Ihre Police." in reply.text  # the text is kept in the form
    assert (await newest(console, erika)).id == doc.id
    # a reply by e-mail: an outbound e-mail, published, sent
    reply = await compose(desk, erika, page=reply.text, visibility="published",
                          notify="false")  # (notify means nothing for a reply)
    assert reply.status == 303
    sent = await newest(console, erika)
    assert (sent.kind, sent.channel, sent.direction) == ("reply", Channel.EMAIL,
                                                         Direction.OUTBOUND)
    assert sent.visibility is Visibility.PUBLISHED and sent.notify is True
    assert sent.meta["reply_via"] == "email"
    page = await desk.get(f"/customers/{erika.id}")
    assert item_ids(page.text)[:3] == [sent.id, doc.id, note.id]


async def test_a_form_sent_twice_writes_once(console: Console) -> None:
    """Without JavaScript, Back after saving shows the filled form again; sending it again
    (or a reload that resends it) leads to the entry written the first time."""
    erika = await console.customer("Erika Mustermann")
    desk = await console.signed_in()
    page = (await desk.get(f"/customers/{erika.id}")).text
    first = await compose(desk, erika, page=page, kind="note", subject="Rückruf",
                          body="Ruft Montag an", visibility="internal")
    again = await compose(desk, erika, page=page, kind="note", subject="Rückruf",
                          body="Ruft Montag an", visibility="internal")
    assert first.status == again.status == 303 and first.location == again.location
    status, timeline = await console.bearer("GET", f"/customers/{erika.id}/timeline")
    assert [e["subject"] for e in timeline["items"]] == ["Rückruf"]
    # a new page is a new form
    later = await compose(desk, erika, kind="note", subject="Rückruf",
                          body="Ruft Montag an", visibility="internal")
    assert later.status == 303 and later.location != first.location
    status, timeline = await console.bearer("GET", f"/customers/{erika.id}/timeline")
    assert len(timeline["items"]) == 2


async def test_compose_form_must_be_multipart(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    desk = await console.signed_in()
    reply = await desk.post(f"/customers/{erika.id}/entries?csrf={desk.csrf}",
                            {"kind": "note", "body": "als urlencoded"})
    assert reply.status == 400
    assert "Diese Anfrage ist ungültig." in reply.text
    status, timeline = await console.bearer("GET", f"/customers/{erika.id}/timeline")
    assert timeline["items"] == []


async def test_a_reply_by_email_reaches_the_customer(make_console: MakeConsole, smtp: SmtpSink,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": smtp.host,
                       "CHRONIK_SMTP_PORT": str(smtp.port),
                       "CHRONIK_NOTIFY_WORKER": "true"}.items():
        monkeypatch.setenv(key, value)
    console = await make_console()
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    desk = await console.signed_in()
    reply = await compose(desk, erika, kind="reply", reply_via="email",
                          subject="Ihre Kündigung", body="Wir bestätigen die Kündigung.")
    assert reply.status == 303

    async def delivered() -> list[Any] | None:
        return [m for m in smtp.received if "erika@example.de" in m.recipients] or None

    mails = await eventually(delivered)
    assert "Wir bestätigen die Kündigung." in mails[0].text()


async def test_derogatory_wording_needs_confirmation_on_the_page(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    desk = await console.signed_in()
    text = "Kundin ist eine Querulantin, typisch."
    reply = await compose(desk, erika, kind="note", subject="Gespräch", body=text,
                          visibility="published", notify=None)  # notify unticked on purpose
    assert reply.status == 409
    warning = re.search(r'id="server-warning">(.*?)</div>', reply.text, re.S)
    assert warning and "Querulantin" in text_of(warning.group(1))
    assert re.search(r'<p class="check" id="confirm-row" >', reply.text) or \
        'id="confirm-row" hidden' not in reply.text
    assert 'id="c-confirm" name="confirm"' in reply.text
    assert text in unescape(reply.text)  # the draft is kept
    # links back to this page (the language switch) leave the form's CSRF token out
    nexts = re.findall(r'name="next" value="([^"]*)"', reply.text)
    assert f"/customers/{erika.id}/entries" in nexts
    assert not any("csrf" in n for n in nexts)
    back = await desk.get(f"/customers/{erika.id}/entries")  # where the switch leads
    assert back.status == 303 and back.location == f"/customers/{erika.id}"
    # the re-shown form keeps the agent's choices, not the preset
    assert checked(reply.text, "kind-note") and checked(reply.text, "vis-published")
    assert not checked(reply.text, "c-notify")
    status, timeline = await console.bearer("GET", f"/customers/{erika.id}/timeline")
    assert timeline["items"] == []
    # the agent only ticks "publish anyway" on the page shown again
    reply = await compose(desk, erika, page=reply.text, confirm="true")
    assert reply.status == 303
    stored = await newest(console, erika)
    assert stored.visibility is Visibility.PUBLISHED and stored.notify is False
    assert stored.meta["tone_confirmed"] == ["Querulantin"]


async def test_the_reshown_form_keeps_a_published_choice_against_an_internal_preset(
        console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    status, _ = await console.bearer(
        "PUT", "/policy/office", console.admin_token,
        json={"note": {"visibility": "internal"}, "phone_note": {"visibility": "internal"}})
    assert status == 200
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert checked(page.text, "vis-internal")
    reply = await compose(desk, erika, page=page.text, kind="note",
                          body="Querulantin, wie immer", visibility="published",
                          notify="true", complaint="true")
    assert reply.status == 409
    assert checked(reply.text, "vis-published") and not checked(reply.text, "vis-internal")
    assert checked(reply.text, "c-notify") and checked(reply.text, "c-complaint")
    reply = await compose(desk, erika, page=reply.text, confirm="true")
    assert reply.status == 303
    stored = await newest(console, erika)
    assert stored.visibility is Visibility.PUBLISHED and stored.notify is True
    assert stored.tags == ("complaint",)


DISCLOSURES = [
    ("colleague", "Das hat Tom Weber so entschieden."),
    ("internal_marker", "Bitte nicht weitergeben: Rabatt 10 %."),
    ("iban", "Überweisen Sie auf DE89 3704 0044 0532 0130 00."),
    ("card", "Ihre Karte 4111 1111 1111 1111 wurde belastet."),
    ("internal_address", "Fragen an anna.admin@buero.test"),
]


@pytest.mark.parametrize(("kind", "text"), DISCLOSURES)
async def test_disclosure_warnings_via_the_api_and_the_page(console: Console, kind: str,
                                                            text: str) -> None:
    await console.state.store.create_agent(console.office.id, "Tom Weber", Role.AGENT,
                                           "token-hash-weber")
    erika = await console.customer("Erika Mustermann")
    path = f"/customers/{erika.id}/entries"
    status, body = await console.bearer("POST", path, json={
        "kind": "note", "body": text, "visibility": "published"})
    assert status == 409, body
    assert body["error"]["code"] == "disclosure_warning"
    assert kind in [h["kind"] for h in body["error"]["details"]["disclosure"]]
    status, body = await console.bearer("POST", "/tone/check",
                                        json={"text": text, "customer_id": erika.id})
    assert status == 200
    assert kind in [h["kind"] for h in body["disclosure"]]
    # on the page (no JavaScript): a warning and the confirm box
    desk = await console.signed_in()
    reply = await compose(desk, erika, kind="note", body=text, visibility="published")
    assert reply.status == 409
    assert 'id="server-warning"' in reply.text
    status, timeline = await console.bearer("GET", f"/customers/{erika.id}/timeline")
    assert timeline["items"] == []
    # the same text kept internal needs no confirmation
    status, body = await console.bearer("POST", path, json={
        "kind": "note", "body": text, "visibility": "internal"})
    assert status == 201, body
    # published with confirm: stored, and the confirmation is recorded
    status, body = await console.bearer("POST", path, json={
        "kind": "note", "body": text, "visibility": "published", "confirm": True})
    assert status == 201, body
    stored = await console.entry(body["id"])
    assert stored.meta["disclosure_confirmed"]


async def test_the_customers_own_name_is_no_disclosure(console: Console) -> None:
    await console.state.store.create_agent(console.office.id, "Erika Mustermann", Role.AGENT,
                                           "token-hash-namesake")
    erika = await console.customer("Erika Mustermann")
    status, body = await console.bearer("POST", "/tone/check", json={
        "text": "Sehr geehrte Erika Mustermann, Ihre Police ist da.", "customer_id": erika.id})
    assert status == 200 and body["disclosure"] == [] and body["hits"] == []
    status, body = await console.bearer("POST", f"/customers/{erika.id}/entries", json={
        "kind": "note", "body": "Sehr geehrte Erika Mustermann, Ihre Police ist da.",
        "visibility": "published", "notify": False})
    assert status == 201, body


# ============================================================================ complaints, pins
async def test_complaint_marked_listed_and_resolved(console: Console) -> None:
    max_ = await console.customer("Max Müller", phones=("030 1234567",))
    mail = await console.add(max_, subject="Gutachter kam nicht",
                             body="Ich habe den ganzen Vormittag gewartet!")
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{max_.id}")
    assert "Als Beschwerde markieren" in text_of(items(page.text)[mail.id])
    reply = await desk.post(f"/entries/{mail.id}/complaint", {"action": "open"})
    assert reply.status == 303
    assert reply.location == f"/customers/{max_.id}?focus={mail.id}#e-{mail.id}"
    listed = await desk.get("/complaints")
    assert "Max Müller" in text_of(listed.text) and "Gutachter kam nicht" in listed.text
    banner = await desk.get("/calls/banner?number=" + quote("030 1234567"))
    assert "Gutachter kam nicht" in text_of(banner.text)
    assert "Offene Beschwerden" in text_of(banner.text)
    page = await desk.get(f"/customers/{max_.id}")
    assert "Beschwerde offen" in text_of(items(page.text)[mail.id])
    assert 'id="hint-complaint"' in page.text

    refused = await desk.post(f"/entries/{mail.id}/complaint", {"action": "resolve",
                                                                "how": "  "})
    assert refused.status == 400
    assert "Gutachter kam nicht" in (await desk.get("/complaints")).text

    reply = await desk.post(f"/entries/{mail.id}/complaint", {
        "action": "resolve", "how": "Neuer Termin am Montag, Entschuldigung ausgesprochen."})
    assert reply.status == 303
    listed = await desk.get("/complaints")
    assert "Gutachter kam nicht" not in listed.text
    assert "Keine offenen Beschwerden." in listed.text
    banner = await desk.get("/calls/banner?number=" + quote("030 1234567"))
    assert "Offene Beschwerden" not in text_of(banner.text)
    item = text_of(items((await desk.get(f"/customers/{max_.id}")).text)[mail.id])
    assert "Beschwerde gelöst" in item
    assert "Gelöst von Tom Agent: Neuer Termin am Montag, Entschuldigung ausgesprochen." in item


async def test_pin_internal_notes_only(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    internal = await console.record(erika, subject="Anrede", visibility=Visibility.INTERNAL,
                                    body="Möchte mit „Frau Dr. Mustermann“ angesprochen werden")
    published = await console.record(erika, body="Police verlängert",
                                     visibility=Visibility.PUBLISHED, notify=False)
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert "Gut zu wissen" not in page.text
    assert "Anheften" in text_of(items(page.text)[internal.id])
    assert "Anheften" not in text_of(items(page.text)[published.id])
    reply = await desk.post(f"/entries/{internal.id}/pin", {"action": "pin"})
    assert reply.status == 303
    page = await desk.get(f"/customers/{erika.id}")
    good_to_know = section(page.text, "<h2>Gut zu wissen</h2>", "</section>")
    assert "Frau Dr. Mustermann" in unescape(good_to_know)
    banner = await desk.get("/calls/banner?number=" + quote("0171 1234567"))
    assert "Frau Dr. Mustermann" in unescape(banner.text)

    refused = await desk.post(f"/entries/{published.id}/pin", {"action": "pin"})
    assert refused.status == 400
    assert "pinned" not in (await console.entry(published.id)).tags
    assert "Police verlängert" not in section(
        (await desk.get(f"/customers/{erika.id}")).text, "<h2>Gut zu wissen</h2>",
        "</section>")

    reply = await desk.post(f"/entries/{internal.id}/pin", {"action": "unpin"})
    assert reply.status == 303
    assert "Gut zu wissen" not in (await desk.get(f"/customers/{erika.id}")).text


# ============================================================================ merge
async def test_merge_preview_merge_and_undo(console: Console) -> None:
    source = await console.customer("Erika Musterfrau", phones=("0171 1234567",))
    target = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    moved = [await console.add(source, subject=f"Alt {n}", body="…", when=at(2 + n))
             for n in range(3)]
    kept = await console.add(target, subject="Neu", body="…", when=at(9))
    desk = await console.signed_in()
    picker = await desk.get(f"/customers/{source.id}/merge?q=Mustermann")
    assert f"/customers/{source.id}/merge?into={target.id}" in picker.text.replace("&amp;", "&")
    preview = await desk.get(f"/customers/{source.id}/merge?into={target.id}")
    assert preview.status == 200
    assert ("Es werden 3 Einträge und 1 Kennungen zu Erika Mustermann verschoben."
            in text_of(preview.text))
    reply = await desk.post(f"/customers/{source.id}/merge", {"into": target.id})
    assert reply.status == 303
    assert reply.location.startswith(f"/customers/{target.id}?merged=")
    merge_id = parse_qs(urlsplit(reply.location).query)["merged"][0]
    page = await desk.get(reply.location)
    ids = item_ids(page.text)
    assert {e.id for e in moved} | {kept.id} <= set(ids)
    assert f'action="/merges/{merge_id}/undo"' in page.text
    assert await lookup_ids(console, "0171 1234567") == [target.id]
    old = await desk.get(f"/customers/{source.id}")
    assert "zusammengeführt" in text_of(old.text)
    # the merged-away customer's page leads to where everything went, offers no compose
    merged = re.search(r'id="merged-notice">(.*?)</p>', old.text, re.S)
    assert merged and f'href="/customers/{target.id}">Erika Mustermann</a>' in merged.group(1)
    assert 'id="compose-form"' not in old.text

    reply = await desk.post(f"/merges/{merge_id}/undo", {})
    assert reply.status == 303 and reply.location == f"/customers/{source.id}"
    page = await desk.get(f"/customers/{source.id}")
    back = item_ids(page.text)
    assert {e.id for e in moved} <= set(back)
    assert f'action="/merges/{merge_id}/undo"' not in page.text  # undone: nothing to undo
    assert 'id="compose-form"' in page.text and 'id="merged-notice"' not in page.text
    target_page = await desk.get(f"/customers/{target.id}")
    assert f'action="/merges/{merge_id}/undo"' not in target_page.text
    remaining = item_ids((await desk.get(f"/customers/{target.id}")).text)
    assert not {e.id for e in moved} & set(remaining)
    assert kept.id in remaining
    assert await lookup_ids(console, "0171 1234567") == [source.id]


# ============================================================================ settings
async def test_settings_language_time_zone_and_defaults(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    winter = await console.add(erika, subject="Winter", body="…",
                               when=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    summer = await console.add(erika, subject="Sommer", body="…",
                               when=datetime(2026, 7, 15, 12, 0, tzinfo=UTC))
    desk = await console.signed_in()
    page = items((await desk.get(f"/customers/{erika.id}")).text)
    assert ">15.01.2026 13:00<" in page[winter.id]  # Europe/Berlin by default, CET
    assert ">15.07.2026 14:00<" in page[summer.id]  # CEST

    form = await desk.get("/settings")
    assert form.status == 200
    assert '<option value="Europe/Berlin" selected>' in form.text
    reply = await desk.post("/settings", {
        "language": "en", "timezone": "America/New_York", "policy-note": "internal",
        "policy-phone_note": "published", "policy-document": ""})
    assert reply.status == 303 and reply.location == "/settings?saved=1"
    saved = await desk.get(reply.location)
    assert "Saved." in saved.text and "My settings" in saved.text
    assert '<option value="America/New_York" selected>' in saved.text
    assert re.search(r'<option value="internal" selected>', section(
        saved.text, 'name="policy-note"', "</select>"))

    status, policy = await console.bearer("GET", "/policy")
    assert status == 200
    assert policy["agent"]["note"] == {"visibility": "internal", "notify": False}
    assert policy["agent"]["phone_note"] == {"visibility": "published", "notify": False}
    assert "document" not in policy["agent"] or policy["agent"]["document"] == {
        "visibility": None, "notify": None}
    assert policy["effective"]["note"]["source"]["visibility"] == "agent"
    assert policy["effective"]["document"]["source"]["visibility"] == "system"

    page = items((await desk.get(f"/customers/{erika.id}")).text)
    assert ">2026-01-15 07:00<" in page[winter.id]  # EST
    assert ">2026-07-15 08:00<" in page[summer.id]  # EDT


async def test_settings_refuse_an_unknown_time_zone(console: Console) -> None:
    desk = await console.signed_in()
    reply = await desk.post("/settings", {"language": "en", "timezone": "Mars/Olympus",
                                          "policy-note": "internal"})
    assert reply.status == 400
    login = await console.state.store.agent_login(console.agent.id)
    assert login is not None and login.timezone is None and login.language is None
    status, policy = await console.bearer("GET", "/policy")
    assert policy["agent"] == {}


async def test_language_switch_returns_to_the_page(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    desk = await console.signed_in()
    assert 'lang="de"' in (await desk.get("/")).text
    reply = await desk.post("/settings/language", {"language": "en",
                                                   "next": f"/customers/{erika.id}"})
    assert reply.status == 303 and reply.location == f"/customers/{erika.id}"
    page = await desk.get(reply.location)
    assert 'lang="en"' in page.text and "History" in text_of(page.text)
    # the choice is the agent's: a new sign-in keeps it
    again = await console.signed_in()
    assert 'lang="en"' in (await again.get("/")).text


# ============================================================================ search
async def test_full_text_search_page(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    hit = await console.add(erika, subject="Kündigung Hausrat", body="zum 31.12.")
    secret = await console.record(erika, subject="Kündigung intern", body="Provision",
                                  visibility=Visibility.INTERNAL)
    await console.add(erika, subject="Anderes", body="nichts")
    await console.state.indexer.drain()
    desk = await console.signed_in()
    page = await desk.get("/search?q=" + quote("kuendigung"))
    assert page.status == 200
    shown = text_of(page.text)
    assert "2 Treffer" in shown
    assert f"#e-{hit.id}" in page.text and f"#e-{secret.id}" in page.text
    assert "Anderes" not in shown
    assert "Erika Mustermann" in shown
    only_internal = await desk.get("/search?q=" + quote("Kündigung") + "&visibility=internal")
    assert f"#e-{secret.id}" in only_internal.text and f"#e-{hit.id}" not in only_internal.text


async def test_the_reshown_form_keeps_the_thread_and_the_call(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    mail = await console.add(erika, subject="Kündigung", body="Bitte bestätigen.", when=at(3))
    call = await console.add(erika, channel=Channel.PHONE, kind="call", when=at(4),
                             visibility=Visibility.INTERNAL, subject="Anruf",
                             meta={"outcome": "answered", "duration_seconds": 30})
    desk = await console.signed_in()
    # a note answering the mail
    reply = await compose(desk, erika, query=f"?reply_to={mail.id}", kind="note",
                          body="Querulantin, wie immer", visibility="published")
    assert reply.status == 409
    assert f'name="in_reply_to" value="{mail.id}"' in reply.text
    reply = await compose(desk, erika, page=reply.text, confirm="true")
    assert reply.status == 303
    note = await newest(console, erika)
    assert note.meta["in_reply_to"] == mail.id
    # a phone note about the call (the banner links to the page with ?call=)
    reply = await compose(desk, erika, query=f"?call={call.id}",
                          body="Querulantin, wie immer", visibility="published")
    assert reply.status == 409
    assert f'name="call_entry_id" value="{call.id}"' in reply.text
    reply = await compose(desk, erika, page=reply.text, confirm="true")
    assert reply.status == 303
    note = await newest(console, erika)
    assert note.kind == "phone_note" and note.meta["call_entry_id"] == call.id
    assert (await console.entry(call.id)).meta["phone_notes"] == [note.id]


async def test_live_events_reach_the_console_with_its_session(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    desk = await console.signed_in()
    async with desk.session.get(console.base + "/api/v1/events") as stream:
        assert stream.status == 200
        assert await stream.content.readline() == b": connected\n"
        reply = await compose(desk, erika, kind="note", body="Live", visibility="internal")
        assert reply.status == 303
        entry_id = reply.location.rsplit("#e-", 1)[1]
        event = ""
        async with asyncio.timeout(5):
            while not event.startswith("data: "):
                event = (await stream.content.readline()).decode()
        data = json.loads(event.removeprefix("data: "))
        assert data["id"] == entry_id and data["customer_id"] == erika.id
    item = await desk.get(f"/entries/{entry_id}/item")
    assert item.status == 200 and item_ids(item.text) == [entry_id]


async def test_preferences_form_takes_times_as_people_type_them(console: Console) -> None:
    """Where the browser shows the time fields as text, an agent types ``22 Uhr``."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    desk = await console.signed_in()
    reply = await desk.post(f"/customers/{erika.id}/preferences", {
        "channel0": "email", "consent_email": "on", "quiet_start": "22 Uhr",
        "quiet_end": "6.30", "quiet_tz": "Europe/Berlin", "digest": "on", "digest_at": "8 am",
        "digest_tz": "Europe/Berlin"})
    assert reply.status in (200, 303), reply.text[:500]
    status, prefs = await console.bearer("GET", f"/customers/{erika.id}/preferences")
    assert status == 200
    assert (prefs["quiet_hours"]["start"], prefs["quiet_hours"]["end"]) == ("22:00", "06:30")
    assert prefs["daily_digest"]["at"] == "08:00"


async def test_profile_mistakes_are_said_on_the_profile_not_an_error_page(
        console: Console) -> None:
    """Half a quiet-hours span (it was silently dropped) and a blank name (a bare error
    page): the profile comes back open, saying what is wrong; nothing changes."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    desk = await console.signed_in()
    half = await desk.post(f"/customers/{erika.id}/preferences", {
        "channel0": "email", "consent_email": "on", "quiet_start": "22:00", "quiet_end": "",
        "quiet_tz": "Europe/Berlin"})
    assert half.status == 400
    said = re.search(r'id="profile-error">(.*?)</p>', half.text, re.S)
    assert said and "Ruhezeiten brauchen Beginn und Ende" in unescape(said.group(1))
    assert "<details open>" in half.text.replace("<details  open>", "<details open>")
    status, timeline = await console.bearer(
        "GET", f"/customers/{erika.id}/timeline?kind=preferences")
    assert timeline["items"] == []  # nothing recorded, nothing changed
    blank = await desk.post(f"/customers/{erika.id}/update", {"name": "   "})
    assert blank.status == 400 and "Ein Kunde braucht einen Namen." in blank.text
    status, shown = await console.bearer("GET", f"/customers/{erika.id}")
    assert shown["name"] == "Erika Mustermann"


async def test_a_replys_quoted_history_is_folded_below_its_own_text(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    reply = await console.add(erika, subject="AW: Ihre Police", body=(
        "Danke, das passt so.\n\nErika Mustermann\n\n"
        "Am Di., 3. Nov. 2026 um 10:00 Uhr schrieb Büro Berger <service@berger.example>:\n"
        "> Sehr geehrte Frau Mustermann,\n> anbei Ihre neue Police."))
    plain = await console.add(erika, subject="Adresse", body="Neue Adresse: Hauptstr. 1")
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert page.status == 200
    item = page.text[page.text.index(f'id="e-{reply.id}"'):]
    item = item[:item.index("</li>")]
    own, _, folded = item.partition('<details class="quoted">')
    assert "Danke, das passt so." in own and "anbei Ihre neue Police" not in own
    assert "Zitierter Verlauf" in folded and "&gt; anbei Ihre neue Police." in folded
    other = page.text[page.text.index(f'id="e-{plain.id}"'):]
    assert 'class="quoted"' not in other[:other.index("</li>")]


async def test_a_telegram_album_is_one_item(console: Console) -> None:
    """Three photos sent at once (three Telegram messages of one album, the caption on the
    first) show as one item with all three pictures; the entries stay three."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    album = []
    for n in range(3):
        album.append(await console.add(
            erika, channel=Channel.CHAT, kind="message", when=at(3, 10, n),
            body="Wasserschaden im Keller" if n == 0 else "",
            attachments=(Attachment(name=f"photo-{n}.jpg", content_type="image/jpeg",
                                    size=100 + n, sha256=f"{n:064x}"),),
            meta={"telegram": {"chat_id": 1, "message_id": n, "media_group_id": "g1"}}))
    alone = await console.add(erika, channel=Channel.CHAT, kind="message", when=at(3, 11),
                              body="Und noch eine Frage")
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert page.status == 200
    items = re.findall(r'<li class="item[^"]*" id="e-(\w+)"', page.text)
    assert album[0].id in items and alone.id in items
    assert album[1].id not in items and album[2].id not in items
    shown = page.text[page.text.index(f'id="e-{album[0].id}"'):]
    shown = shown[:shown.find('<li class="item', 1)]
    assert "Wasserschaden im Keller" in shown
    assert [f"photo-{n}.jpg" for n in range(3)] == re.findall(r'alt="(photo-\d\.jpg)"', shown)
    for other in album[1:]:  # links to the other messages still land on the item
        assert f'id="e-{other.id}"' in shown
    # live: whichever of its messages arrives, the fragment is the whole album, and says
    # which other items it stands for (they were shown one by one until then)
    for message in album:
        live = await desk.get(f"/entries/{message.id}/item")
        assert live.status == 200
        assert live.headers["X-Entry-Id"] == album[0].id
        assert sorted(live.headers["X-Album"].split()) == sorted(e.id for e in album[1:])
        assert re.findall(r'alt="(photo-\d\.jpg)"', live.text) == [
            f"photo-{n}.jpg" for n in range(3)]
    single = await desk.get(f"/entries/{alone.id}/item")
    assert single.headers["X-Entry-Id"] == alone.id and single.headers["X-Album"] == ""



async def test_customers_waiting_for_a_reply(console: Console) -> None:
    """The start page and ``/waiting`` list whoever waits for an answer, the longest
    waiting first; an answer or "No reply needed" takes them off, and the item says who
    decided that (undoable); the period is a choice; another office's customers never show."""
    now = utcnow()
    erika = await console.customer("Erika Wartend", emails=("erika@example.de",))
    karl = await console.customer("Karl Anrufer", phones=("0171 7654321",))
    jonas = await console.customer("Jonas Beantwortet")
    olga = await console.customer("Olga Alt")
    mail = await console.add(erika, subject="Frage zur Police", body="…",
                             when=now - timedelta(hours=5))
    await console.add(karl, channel=Channel.PHONE, kind="call", subject="Anruf",
                      when=now - timedelta(hours=3),
                      meta={"outcome": "missed", "missed": True}, tags=("missed",))
    await console.add(jonas, subject="Adresse geändert", when=now - timedelta(hours=4))
    await console.record(jonas, body="Danke, ist eingetragen.", visibility=Visibility.PUBLISHED,
                         notify=False)
    await console.add(olga, subject="Alte Frage", when=now - timedelta(days=40))
    other = await console.state.store.create_office("Anderes Büro", "DE")
    stranger = await console.customer("Fremd Kunde", office=other)
    await console.add(stranger, subject="Fremde Frage", when=now - timedelta(hours=6))

    desk = await console.signed_in()
    home = text_of((await desk.get("/")).text)
    assert "Warten auf Antwort" in home
    assert home.index("Erika Wartend") < home.index("Karl Anrufer")  # longest waiting first
    assert "Frage zur Police" in home and "Verpasster Anruf" in home
    assert "(seit 5 Std.)" in home and "(seit 3 Std.)" in home  # how long each has waited
    for absent in ("Jonas Beantwortet", "Olga Alt", "Fremd"):
        assert absent not in home
    page = await desk.get("/waiting")
    assert page.status == 200
    assert f'href="/customers/{erika.id}?focus={mail.id}#e-{mail.id}"' in page.text
    assert "Olga Alt" in text_of((await desk.get("/waiting?days=90")).text)
    assert "Olga Alt" not in text_of((await desk.get("/waiting?days=9999")).text)  # -> 30
    fragment = await desk.get("/waiting/list?home=1")
    assert "Erika Wartend" in text_of(fragment.text) and "<html" not in fragment.text

    refused = await desk.post(f"/entries/{mail.id}/no-reply", {"action": "set"}, csrf="")
    assert refused.status == 403
    done = await desk.post(f"/entries/{mail.id}/no-reply",
                           {"action": "set", "next": "/waiting"})
    assert done.status == 303 and done.headers["Location"] == "/waiting"
    assert "Erika Wartend" not in text_of((await desk.get("/waiting")).text)
    timeline = text_of((await desk.get(f"/customers/{erika.id}")).text)
    assert f"Keine Antwort nötig ({console.agent.name})" in timeline
    assert "ist unbeantwortet" not in timeline
    await desk.post(f"/entries/{mail.id}/no-reply", {"action": "unset"})
    assert "Erika Wartend" in text_of((await desk.get("/waiting")).text)
    # only a customer's message can be marked
    note = await console.record(erika, body="intern", visibility=Visibility.INTERNAL)
    wrong = await desk.post(f"/entries/{note.id}/no-reply", {"action": "set"})
    assert wrong.status == 400
    # a reply by e-mail answers Erika; Karl's call back that nobody picked up does not
    await console.add(erika, direction=Direction.OUTBOUND, kind="reply", subject="Re: Frage")
    await console.add(karl, channel=Channel.PHONE, direction=Direction.OUTBOUND, kind="call",
                      subject="Rückruf", meta={"outcome": "not_reached"})
    page_text = text_of((await desk.get("/waiting")).text)
    assert "Erika Wartend" not in page_text and "Karl Anrufer" in page_text
    # a foreign office's message cannot be marked from here
    [foreign] = (await console.state.store.awaiting_reply(other.id, now - timedelta(days=1), 5))
    assert (await desk.post(f"/entries/{foreign.id}/no-reply", {"action": "set"})).status == 404


async def test_mail_the_server_took_for_spam_is_marked(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    await console.add(erika, subject="Gewinnspiel?", meta={"spam": "X-Spam-Flag: YES"})
    await console.add(erika, subject="Frage zur Police")
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    shown = text_of(page.text)
    assert shown.count("Vom Mailserver als Spam markiert") == 1
    assert 'title="X-Spam-Flag: YES"' in page.text


def test_how_long_someone_has_waited_reads_naturally() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    cases = [(timedelta(seconds=20), "seit 0 Min.", "0 min"),
             (timedelta(minutes=59, seconds=59), "seit 59 Min.", "59 min"),
             (timedelta(hours=1), "seit 1 Std.", "1 h"),
             (timedelta(hours=47, minutes=59), "seit 47 Std.", "47 h"),
             (timedelta(hours=48), "seit 2 Tagen", "2 days"),
             (timedelta(days=40, hours=3), "seit 40 Tagen", "40 days"),
             (timedelta(minutes=-3), "seit 0 Min.", "0 min")]  # a clock a little ahead
    for ago, de, en in cases:
        assert format_waited(now - ago, "de", now) == de
        assert format_waited(now - ago, "en", now) == en


async def test_a_customer_who_cannot_read_the_portal_is_said_so(console: Console) -> None:
    """Only a phone number: what goes to "the portal inbox" reaches nobody (signing in needs
    an e-mail address or Telegram), and compose says so -- also for a reply "by e-mail"."""
    hans = await console.customer("Hans Becker", phones=("0171 5550199",))
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{hans.id}")
    warning = re.search(r'<p class="notice warn" id="recipients-unread"\s*(hidden)?\s*>',
                        page.text)
    assert warning and warning.group(1) is None
    for via in ("", "email"):
        reply = await desk.get(f"/customers/{hans.id}/recipients?reply_via={via}")
        assert json.loads(reply.text)["unread"] is True
    page = await desk.get(f"/customers/{erika.id}")
    warning = re.search(r'<p class="notice warn" id="recipients-unread"\s*(hidden)?\s*>',
                        page.text)
    assert warning and warning.group(1) == "hidden"
    reply = await desk.get(f"/customers/{erika.id}/recipients?reply_via=portal")
    assert json.loads(reply.text)["unread"] is False


async def test_bookkeeping_titles_are_in_the_agents_language(console: Console) -> None:
    """A preference change is stored with an English subject (API, search); the console
    names it in the agent's language."""
    from chronik.preferences import record_preference_change

    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    await record_preference_change(console.state, console.office.id, erika.id,
                                   "by the customer (portal)", ["email consent withdrawn"],
                                   None)
    desk = await console.signed_in()
    page = (await desk.get(f"/customers/{erika.id}")).text
    assert "Benachrichtigungseinstellungen geändert" in page
    assert "Notification preferences changed" not in page


async def test_a_very_long_text_scrolls_inside_its_item(console: Console) -> None:
    """A 100,000-character portal message must not push the rest of the history tens of
    thousands of pixels down: a long text is marked to scroll within its item."""
    erika = await console.customer("Erika Mustermann")
    long = await console.add(erika, channel=Channel.PORTAL, kind="message",
                             body="Sehr lange Nachricht. " * 5000, when=at(3))
    short = await console.add(erika, channel=Channel.PORTAL, kind="message",
                              body="Kurz.", when=at(4))
    desk = await console.signed_in()
    page = items((await desk.get(f"/customers/{erika.id}")).text)
    assert '<div class="body long" tabindex="0">' in page[long.id]
    assert '<div class="body">' in page[short.id]


async def test_an_address_of_another_customer_is_not_added_silently(console: Console) -> None:
    """Erika's e-mail address added to Jana: a portal code sent there would open Jana's
    portal to Erika's mailbox. The profile says whose it is and offers the merge; the API
    answers 409; a number may be shared (a family's landline); a bad value is named."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",),
                                   phones=("030 1234567",))
    jana = await console.customer("Jana Merge")
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{jana.id}")
    reply = await desk.post(f"/customers/{jana.id}/identities",
                            {"kind": "email", "value": "Erika@Example.de"})
    assert reply.status == 409
    assert "gehört schon zu Erika Mustermann" in unescape(reply.text)
    assert f'href="/customers/{jana.id}/merge?q=Erika%20Mustermann"' in reply.text
    assert 'value="Erika@Example.de"' in reply.text  # what was typed stays
    status, body = await console.bearer("POST", f"/customers/{jana.id}/identities",
                                        json={"kind": "email", "value": "erika@example.de"})
    assert status == 409 and body["error"]["details"]["customer_id"] == erika.id
    status, shown = await console.bearer("GET", f"/customers/{jana.id}")
    assert shown["identities"] == []
    shared = await desk.post(f"/customers/{jana.id}/identities",
                             {"kind": "phone", "value": "030 1234567"})
    assert shared.status == 303
    bad = await desk.post(f"/customers/{jana.id}/identities",
                          {"kind": "email", "value": "kein-at-zeichen"})
    assert bad.status == 400 and "„kein-at-zeichen“ ist keine gültige Angabe" in unescape(
        bad.text)
    assert page.status == 200


async def test_why_nobody_would_be_notified_is_said_in_the_agents_language(
        console: Console) -> None:
    """The notifier's reasons are English (logs, API); compose says them in German."""
    quiet = await console.customer("Erika Leise", emails=("leise@example.de",))
    status, _ = await console.bearer("PUT", f"/customers/{quiet.id}/preferences",
                                     json={"automatic_notifications": False})
    assert status == 200
    desk = await console.signed_in()
    reply = await desk.get(f"/customers/{quiet.id}/recipients")
    assert json.loads(reply.text)["suppressed"] == (
        "der Kunde möchte keine automatischen Benachrichtigungen")
    refused = await console.customer("Otto Nein", emails=("nein@example.de",))
    status, _ = await console.bearer("PUT", f"/customers/{refused.id}/preferences", json={
        "channels": ["email"], "consents": {"email": False, "portal": False}})
    assert status == 200
    reply = await desk.get(f"/customers/{refused.id}/recipients")
    why = json.loads(reply.text)["suppressed"]
    assert "E-Mail: keine Einwilligung" in why and "consent" not in why


async def test_a_customers_mail_reply_links_to_the_mail_it_answers(console: Console) -> None:
    """An answer that came in by e-mail (or Telegram) knows the entry it answers
    (``meta.in_reply_to`` with its id, subject and channel): the timeline links to it, as it
    does for an agent's reply."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    first = await console.state.ingest.ingest(InboundMessage(
        office_id=console.office.id, channel=Channel.EMAIL, source_id="q1@kunde.example",
        sender_kind=IdentityKind.EMAIL, sender="erika@example.de", occurred_at=at(1),
        subject="Frage", body="Wann kommt die Police?"))
    answer = await console.state.ingest.ingest(InboundMessage(
        office_id=console.office.id, channel=Channel.EMAIL, source_id="q2@kunde.example",
        sender_kind=IdentityKind.EMAIL, sender="erika@example.de", occurred_at=at(2),
        subject="Re: Frage", body="Danke!", in_reply_to="q1@kunde.example"))
    assert first.entry is not None and answer.entry is not None
    desk = await console.signed_in()
    item = items((await desk.get(f"/customers/{erika.id}")).text)[answer.entry.id]
    assert f'href="#e-{first.entry.id}"' in item
    assert "Antwort auf einen früheren Eintrag" in text_of(item)


async def test_a_reply_is_offered_only_where_it_can_go(console: Console) -> None:
    """The reply's channel list holds where the customer can be reached: no "Telegram" for
    a customer without a linked chat, no "E-Mail" for one without an address (the portal
    always)."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    hans = await console.customer("Hans Ohnemail", phones=("+491711234567",))
    desk = await console.signed_in()
    for who, offered in ((erika, ["email", "portal"]), (hans, ["portal"])):
        page = (await desk.get(f"/customers/{who.id}")).text
        select = re.search(r'<select id="reply-via"[^>]*>(.*?)</select>', page, re.S)
        assert select, page[:500]
        assert re.findall(r'<option value="([a-z]+)"', select.group(1)) == offered
