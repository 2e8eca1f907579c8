"""The console's search page in German: "Meinten Sie" one click away, system entries opt-in."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

from aiohttp import FormData

from tests.support.documents import pdf
from tests.web.conftest import Console
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
