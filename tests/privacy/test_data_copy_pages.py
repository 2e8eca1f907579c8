"""A customer's request for their data, answered in the browser end to end: the customer
asks in the portal, the admin makes the export on the data-request page, checks it and
provides it in the portal; the customer is notified (a real e-mail through an SMTP sink),
downloads the zip from their portal, and nobody else can. Then erasure from the pages:
the admin finds it on the customer's page, sees what goes and what stays, and confirms
by typing the name."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import timeline.privacy
from chronik.web.auth import hash_password
from tests.notify.conftest import eventually
from tests.web.test_portal_pages import (
    ERIKA,
    Browser,
    Page,
    Site,
    running_site,
    sign_in,
)
from timeline.models import Channel, Direction, EntryDraft, Role, Visibility, utcnow
from timeline.privacy import EXPORT_KEEP

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    async with running_site(tmp_path, monkeypatch) as s:
        yield s


async def staff(site: Site, role: Role) -> Browser:
    """A signed-in browser of the office's admin (Anna) or agent (Tom)."""
    state = site.hub.state
    [agent] = [a.agent for a in await state.store.list_agents(site.hub.office.id)
               if a.agent.role is role]
    email = f"{agent.name.split()[0].lower()}@buero.test"
    await state.store.set_agent_login(agent.id, email=email,
                                      password_hash=await hash_password(PASSWORD))
    browser = site.browser()
    form = await browser.get("/signin")
    done = await browser.post("/signin", data={
        "csrf": form.field("csrf"), "email": email, "password": PASSWORD,
        "method": "password", "next": "/"})
    assert done.status == 303, done.text[:500]
    return browser


async def submit(browser: Browser, page: Page, action: str, **fields: str) -> Page:
    """Submit the form of ``page`` whose action is ``action`` (with the page's token)."""
    assert f'action="{action}"' in page.text, page.text[:2000]
    found = CSRF.search(page.text)
    assert found
    return await browser.post(action, data={"csrf": found.group(1), **fields})


async def export_ready(site: Site, admin: Browser) -> Page:
    state = site.hub.state
    assert state.privacy is not None
    await state.privacy.wait_exports()
    page = await admin.get("/admin/data-requests")
    assert page.status == 200
    return page


def export_id(page: Page) -> str:
    found = re.search(r'/api/v1/exports/([0-9A-Z]+)/download', page.text)
    assert found, page.text[:3000]
    return found.group(1)


async def test_the_request_is_answered_by_a_copy_in_the_portal(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    erika = await site.customer()
    await site.entry(erika["id"], "Beitragsrechnung 2026 ist unterwegs")
    internal = await site.entry(erika["id"], "Kundin wirkt verärgert", visibility="internal")
    customer = site.browser()
    await sign_in(site, customer)
    data = await customer.get("/portal/data")
    asked = await customer.post("/portal/data", data={"csrf": data.field("csrf")})
    assert asked.status == 303

    admin = await staff(site, Role.ADMIN)
    requests = await admin.get("/admin/data-requests")
    [request_id] = re.findall(r'/admin/data-requests/([0-9A-Z]+)/export', requests.text)
    started = await submit(admin, requests, f"/admin/data-requests/{request_id}/export")
    assert started.status == 303
    page = await export_ready(site, admin)
    # made, not yet answered: the admin checks the copy first
    assert f"/admin/data-requests/{request_id}/answered" in page.text
    export = export_id(page)
    async with admin.session.get(f"{admin.base}/api/v1/exports/{export}/download") as resp:
        assert resp.status == 200
        checked = await resp.read()
    assert "Kundin wirkt verärgert" in zipfile.ZipFile(io.BytesIO(checked)).read(
        "summary.html").decode()  # the export holds everything, internal notes too

    provided = await submit(admin, page, f"/admin/exports/{export}/provide")
    assert provided.status == 303 and "msg=provided" in provided.location
    page = await admin.get(provided.location)
    assert "Die Datenkopie steht im Kundenportal bereit" in page.text
    assert f"/admin/data-requests/{request_id}/answered" not in page.text  # answered
    assert "im Portal bereitgestellt" in page.text
    assert f"/admin/exports/{export}/provide" not in page.text
    again = await admin.post(f"/admin/exports/{export}/provide",
                             data={"csrf": CSRF.search(page.text).group(1)})  # type: ignore[union-attr]
    assert again.status == 303
    copies = await site.timeline(erika["id"], "&kind=data_copy")
    assert len(copies) == 1 and copies[0]["visibility"] == "published"

    # the customer is told on her channel, in her language, with the way to the portal
    async def told() -> Any:
        return [r for r in site.sink.received
                if ERIKA in r.recipients and "Ihre Datenkopie" in r.text()] or None
    [mail] = await eventually(told)
    assert "Meine Daten" in mail.text() and "/portal/" in mail.text()
    assert "verärgert" not in mail.text()

    mine = await customer.get("/portal/data")
    assert "Ihre Anfrage von heute ist beantwortet" in mine.text
    assert "Wir antworten bis" not in mine.text.split("Ihre Datenkopien")[0]
    link = re.search(r'href="(/portal/data/copies/[0-9A-Z]+)"', mine.text)
    assert link and "Herunterladen (ZIP)" in mine.text
    async with customer.session.get(customer.base + link.group(1)) as resp:
        assert resp.status == 200 and resp.content_type == "application/zip"
        assert "no-store" in resp.headers["Cache-Control"]
        assert await resp.read() == checked
    inbox = await customer.get("/portal/")
    assert "Ihre Datenkopie" in inbox.text and "/portal/data#copies" in inbox.text
    assert internal["body"] not in inbox.text

    # nobody else: another customer, a signed-out browser, a made-up id
    await site.customer("Max Muster", emails=("max@example.de",))
    max_browser = site.browser()
    await sign_in(site, max_browser, "max@example.de")
    assert (await max_browser.get(link.group(1))).status == 404
    assert "Ihre Datenkopien" not in (await max_browser.get("/portal/data")).text
    stranger = site.browser()
    assert (await stranger.get(link.group(1))).status == 303  # to sign-in
    assert (await customer.get("/portal/data/copies/01NOSUCHITEM00000000000000")).status == 404

    # after the keeping period the copy is gone, and the page says so
    later = utcnow() + EXPORT_KEEP + timedelta(minutes=1)
    monkeypatch.setattr(timeline.privacy, "utcnow", lambda: later)
    assert (await customer.get(link.group(1))).status == 404
    gone = await customer.get("/portal/data")
    assert "nicht mehr verfügbar" in gone.text and link.group(1) not in gone.text


async def test_providing_is_refused_where_it_cannot_reach_the_customer(site: Site) -> None:
    """No e-mail address or Telegram chat: no way into the portal -- said on the page,
    nothing written; the request stays open to be answered another way."""
    status, paul = await site.hub.agent.post("/customers", json={
        "name": "Paul Papier", "phones": ["+49 30 1234567"]})
    assert status == 201
    state = site.hub.state
    await state.timeline.append(EntryDraft(
        office_id=site.hub.office.id, customer_id=paul["id"], channel=Channel.NOTE,
        direction=Direction.INBOUND, kind="data_request", visibility=Visibility.INTERNAL,
        occurred_at=utcnow(), subject="Auskunft per Brief", tags=("data-request",)))
    admin = await staff(site, Role.ADMIN)
    customer_page = await admin.get(f"/customers/{paul['id']}")
    started = await submit(admin, customer_page, f"/admin/customers/{paul['id']}/export")
    assert started.status == 303 and started.location.endswith("msg=export_started")
    page = await export_ready(site, admin)
    export = export_id(page)
    refused = await submit(admin, page, f"/admin/exports/{export}/provide")
    assert refused.status == 409
    assert "kann sich nicht im Kundenportal anmelden" in refused.text
    assert await site.timeline(paul["id"], "&kind=data_copy") == []
    assert "Auskunft per Brief" in refused.text  # still open


async def test_erasing_from_the_pages(site: Site) -> None:
    erika = await site.customer()
    await site.entry(erika["id"], "Schadensmeldung Wasserrohrbruch")
    state = site.hub.state
    agent = await staff(site, Role.AGENT)
    assert "/erase" not in (await agent.get(f"/customers/{erika['id']}")).text
    assert (await agent.get(f"/admin/customers/{erika['id']}/erase")).status == 403

    admin = await staff(site, Role.ADMIN)
    profile = await admin.get(f"/customers/{erika['id']}")
    assert f'href="/admin/customers/{erika["id"]}/erase"' in profile.text
    preview = await admin.get(f"/admin/customers/{erika['id']}/erase")
    assert preview.status == 200 and "Kunde löschen: Erika Mustermann" in preview.text
    assert re.search(r"<dt>Einträge im Verlauf</dt><dd>1</dd>", preview.text)
    assert "Löschbestätigung" in preview.text

    wrong = await submit(admin, preview, f"/admin/customers/{erika['id']}/erase",
                         name="Erika Musterfrau", confirm=preview.field("confirm"))
    assert wrong.status == 400 and "Der eingegebene Name passt nicht" in wrong.text
    assert await state.store.get_customer(site.hub.office.id, erika["id"]) is not None

    await site.entry(erika["id"], "Noch ein Anruf")  # arrives while the page is open
    stale = await submit(admin, preview, f"/admin/customers/{erika['id']}/erase",
                         name="erika  mustermann", confirm=preview.field("confirm"))
    assert stale.status == 409 and "etwas Neues gespeichert" in stale.text
    assert re.search(r"<dt>Einträge im Verlauf</dt><dd>2</dd>", stale.text)
    assert await state.store.get_customer(site.hub.office.id, erika["id"]) is not None

    done = await submit(admin, stale, f"/admin/customers/{erika['id']}/erase",
                        name="Erika Mustermann", confirm=stale.field("confirm"))
    assert done.status == 303 and "msg=erased" in done.location
    receipt = re.search(r"receipt=([0-9A-Z]+)", done.location)
    assert receipt
    page = await admin.get(done.location)
    assert "Der Kunde ist gelöscht" in page.text
    assert f'data-receipt="{receipt.group(1)}" class="just-done"' in page.text
    assert "Erika" not in page.text.split('id="receipts"')[1].split("</table>")[0]
    assert (await admin.get(f"/customers/{erika['id']}")).status == 404
    found = await admin.get("/search?q=Wasserrohrbruch")
    assert found.status == 200 and "Erika" not in found.text
    status, _ = await site.hub.agent.get(f"/customers/{erika['id']}")
    assert status == 404
