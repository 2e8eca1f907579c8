"""The caller banner for a number several customers share (a family's landline): each of
them with their own last contacts, so the agent can ask for and pick the right person."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import quote

from tests.web.conftest import Console
from timeline.models import Channel, utcnow


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def caller_sections(html: str) -> dict[str, str]:
    """Each customer's block of the banner, by the name it is headed with."""
    blocks = re.findall(r'<section class="col caller"[^>]*>(.*?)</section>', html, re.S)
    return {text_of(b.split("</h2>")[0]).strip(): b for b in blocks}


async def test_a_shared_number_shows_each_customer_with_their_own_last_contacts(
        console: Console) -> None:
    landline = "030 7654321"
    erika = await console.customer("Erika Mustermann", phones=(landline,))
    max_ = await console.customer("Max Mustermann", phones=(landline,))
    now = utcnow()
    await console.add(erika, subject="Kündigung Hausrat", when=now - timedelta(days=3))
    await console.add(erika, channel=Channel.PORTAL, kind="message", subject="Danke",
                      when=now - timedelta(days=2))
    await console.add(max_, subject="Schaden am Auto", when=now - timedelta(days=1))
    desk = await console.signed_in()
    reply = await desk.get("/calls/banner?number=" + quote(landline) + "&call=c7")
    assert reply.status == 200
    assert "Diese Nummer haben 2 Kunden – fragen Sie, wer anruft." in text_of(reply.text)
    sections = caller_sections(reply.text)
    assert set(sections) == {"Erika Mustermann", "Max Mustermann"}, reply.text
    erika_shown = text_of(sections["Erika Mustermann"])
    max_shown = text_of(sections["Max Mustermann"])
    assert "Letzte Kontakte" in erika_shown and "Letzte Kontakte" in max_shown
    assert "Kündigung Hausrat" in erika_shown and "Danke" in erika_shown
    assert "Schaden am Auto" not in erika_shown
    assert "Schaden am Auto" in max_shown and "Kündigung Hausrat" not in max_shown
    assert f'href="/customers/{erika.id}' in sections["Erika Mustermann"]
    assert f'href="/customers/{max_.id}' in sections["Max Mustermann"]
    assert 'action="/customers"' not in reply.text  # known: nothing to create


async def test_a_number_of_more_customers_than_the_banner_holds_links_to_the_rest(
        console: Console) -> None:
    switchboard = "089 1000"
    for name in ("Anna A", "Bernd B", "Clara C", "Dieter D", "Eva E"):
        await console.customer(name, phones=(switchboard,))
    desk = await console.signed_in()
    reply = await desk.get("/calls/banner?number=" + quote(switchboard))
    shown = text_of(reply.text)
    assert len(caller_sections(reply.text)) == 3
    assert "Diese Nummer haben 5 Kunden" in shown and "2 weitere anzeigen" in shown
    rest = re.search(r'<a href="(/find\?list=1[^"]*)">2 weitere anzeigen</a>', reply.text)
    assert rest, reply.text
    listed = text_of((await desk.get(unescape(rest.group(1)))).text)
    assert all(name in listed for name in ("Anna A", "Bernd B", "Clara C", "Dieter D", "Eva E"))


async def test_one_caller_keeps_the_two_column_banner(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    await console.add(erika, subject="Angebot Hausrat")
    desk = await console.signed_in()
    reply = await desk.get("/calls/banner?number=" + quote("0171 1234567"))
    assert 'class="col caller"' not in reply.text and "fragen Sie" not in reply.text
    assert "Letzte Kontakte" in text_of(reply.text) and "Angebot Hausrat" in text_of(reply.text)


async def test_a_withheld_caller_named_by_a_sip_uri_shows_number_withheld(
        console: Console) -> None:
    """RFC 3323's anonymous SIP address is no number to show (or to create a customer
    with): the banner says the number is withheld."""
    desk = await console.signed_in()
    for number in ("sip:anonymous@anonymous.invalid",
                   '"Anonymous" <sip:anonymous@anonymous.invalid>', "anonymous"):
        reply = await desk.get("/calls/banner?number=" + quote(number) + "&call=w1")
        assert reply.status == 200
        shown = text_of(reply.text)
        assert "Nummer unterdrückt" in shown, shown
        assert "sip:" not in shown and 'action="/customers"' not in reply.text
