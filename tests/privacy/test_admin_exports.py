"""The admin page of data requests starts an export per request and lists finished exports
with a download link (served by the API to the admin's browser session)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime

from tests.web.test_admin_pages import Site, site
from timeline.models import Channel, Direction, EntryDraft, Visibility

__all__ = ["site"]


async def test_export_button_starts_an_export_and_the_page_offers_the_download(
        site: Site) -> None:
    erika = await site.state.timeline.create_customer(site.office, "Erika Export", [])
    request, _ = await site.state.timeline.append(EntryDraft(
        office_id=site.office.id, customer_id=erika.id, channel=Channel.PORTAL,
        direction=Direction.INBOUND, kind="data_request", visibility=Visibility.PUBLISHED,
        occurred_at=datetime.now(UTC), subject="Was wissen Sie?", tags=("data-request",)))
    status, html, _ = await site.admin.get("/admin/data-requests",
                                           headers={"Accept-Language": "en"})
    assert status == 200 and f"/admin/data-requests/{request.id}/export" in html
    assert "No data exports." in html

    status, _, location = await site.admin.post(f"/admin/data-requests/{request.id}/export",
                                                {})
    assert status == 303 and location == "/admin/data-requests?msg=export_started"
    assert site.state.privacy is not None
    await site.state.privacy.wait_exports()
    status, html, _ = await site.admin.get("/admin/data-requests",
                                           headers={"Accept-Language": "en"})
    # made, not answered yet: the admin checks the copy, then provides it in the portal
    # (tests/privacy/test_data_copy_pages.py) or marks the request answered
    assert f"/admin/data-requests/{request.id}/answered" in html
    link = re.search(r'href="(/api/v1/exports/[^"]+/download)"', html)
    assert link and "Erika Export" in html and ">done<" in html
    async with site.admin.session.get(site.admin.base + link.group(1)) as resp:
        assert resp.status == 200 and resp.content_type == "application/zip"
        data = await resp.read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "Was wissen Sie?" in zf.read("summary.html").decode()

    # agents may not, other offices' requests are 404, and the other office sees nothing
    await site.agent.sign_in("tom@buero.test")
    token = await site.agent.session_csrf(site.state)
    status, _, _ = await site.agent.post(f"/admin/data-requests/{request.id}/export",
                                         {"csrf": token}, csrf=False)
    assert status == 403
    status, _ = await site.admin.api("GET", link.group(1)[len("/api/v1"):], site.other_token)
    assert status == 404
    for entry_id in ("01NOSUCHENTRY0000000000000",):
        status, _, _ = await site.admin.post(f"/admin/data-requests/{entry_id}/export", {})
        assert status == 404
