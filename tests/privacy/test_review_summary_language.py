"""Review: ``summary.html`` is the part of an export the person reads. For a German customer
it was half English: every notification record ("Notification sent to the portal inbox",
"About: …"), the contact details' kinds ("phone"), the history's channels and kinds
("phone_note"), the notification states and the scope ("notification_jobs"). Now it says
them as the console does, in the customer's language; ``data.json`` keeps the stored codes."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile

from tests.conftest import Hub
from tests.privacy.conftest import entry
from timeline.notifications import FINAL_STATUSES


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_a_german_customers_summary_is_german(hub: Hub) -> None:
    status, c = await hub.admin.post("/customers", json={
        "name": "Greta Grün", "emails": ["greta@kunde.test"], "phones": ["0171 5550199"]})
    status, _ = await hub.admin.put(f"/customers/{c['id']}/preferences",
                                    json={"language": "de"})
    assert status == 200
    await entry(hub, c["id"], kind="phone_note", subject="Rückruf Glasbruch",
                body="Angebot folgt.", visibility="published", notify=True)
    for _ in range(300):  # the notifier records the notification on the timeline
        jobs = await hub.state.store.list_notify_jobs(hub.office.id, customer_id=c["id"])
        if jobs and all(j.status in FINAL_STATUSES for j in jobs):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the notifier did not finish")
    status, started = await hub.admin.post(f"/customers/{c['id']}/export")
    assert status == 202
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    status, raw = await hub.admin.get(f"/exports/{started['id']}/download")
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        text = _text(zf.read("summary.html").decode())
        document = json.loads(zf.read("data.json"))

    assert "Benachrichtigt · Portal-Postfach" in text
    assert "Rückruf Glasbruch" in text
    for english in ("Notification sent", "About:", "phone_note", "notification_jobs",
                    " phone ", " email "):
        assert english not in text, english
    assert "Telefonnotiz" in text and "Telefon" in text and "E-Mail" in text
    # the machine-readable copy keeps what is stored
    assert {e["kind"] for e in document["entries"]} == {"phone_note", "preferences",
                                                        "notification"}
    assert any(e["subject"].startswith("Notification sent") for e in document["entries"])
