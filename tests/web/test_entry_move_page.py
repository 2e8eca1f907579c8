"""The console's "Move…" on an entry: find the customer it belongs to, see what happens
(a published entry was perhaps told to the wrong customer already), confirm, land on the
entry in its new timeline."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.web.conftest import Console
from tests.web.test_console_pages import text_of
from timeline.models import Channel, Visibility


async def test_move_an_entry_from_the_timeline(console: Console) -> None:
    hans = await console.customer("Hans Mustermann", emails=("familie@example.de",))
    erika = await console.customer("Erika Mustermann")
    await console.customer("Erika Musterfrau (alt)")
    mail = await console.add(hans, subject="Schaden an Erikas Golf", body="Fotos anbei",
                             when=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    bookkeeping = await console.add(hans, channel=Channel.NOTIFICATION, kind="notification",
                                    visibility=Visibility.INTERNAL, subject="Zugestellt")
    desk = await console.signed_in()

    page = await desk.get(f"/customers/{hans.id}")
    assert f'href="/entries/{mail.id}/move"' in page.text
    assert f'href="/entries/{bookkeeping.id}/move"' not in page.text  # the system's own

    picker = await desk.get(f"/entries/{mail.id}/move?q=Erika")
    assert picker.status == 200
    links = picker.text.replace("&amp;", "&")
    assert f"/entries/{mail.id}/move?to={erika.id}" in links
    assert f"?to={hans.id}" not in links  # not where it is already
    preview = await desk.get(f"/entries/{mail.id}/move?to={erika.id}&q=Erika")
    shown = text_of(preview.text)
    assert "Schaden an Erikas Golf" in shown
    assert "Hans Mustermann" in shown and "Erika Mustermann" in shown
    assert "veröffentlicht" in shown  # Hans may have been told already

    reply = await desk.post(f"/entries/{mail.id}/move", {"to": erika.id})
    assert reply.status == 303
    assert reply.location == f"/customers/{erika.id}?focus={mail.id}#e-{mail.id}"
    landed = await desk.get(reply.location)
    assert landed.status == 200
    assert f'id="e-{mail.id}"' in landed.text
    assert "Von einem anderen Kunden hierher verschoben" in text_of(landed.text)
    left = await desk.get(f"/customers/{hans.id}")
    assert f'id="e-{mail.id}"' not in left.text


async def test_moving_onto_the_same_or_an_unknown_customer_is_refused(console: Console
                                                                      ) -> None:
    hans = await console.customer("Hans Mustermann")
    mail = await console.add(hans, subject="Rückruf")
    desk = await console.signed_in()
    same = await desk.post(f"/entries/{mail.id}/move", {"to": hans.id})
    assert same.status == 400
    unknown = await desk.post(f"/entries/{mail.id}/move", {"to": "01NOSUCHCUSTOMER0000000000"})
    assert unknown.status == 404
    missing = await desk.get("/entries/01NOSUCHENTRY000000000000/move")
    assert missing.status == 404
    status, entry = await console.bearer("GET", f"/entries/{mail.id}")
    assert status == 200 and entry["customer_id"] == hans.id
