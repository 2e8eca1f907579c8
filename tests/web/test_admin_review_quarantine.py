"""A call from a withheld number waits in the quarantine until an admin, told by the agent
who it was, assigns it: its page says what the call was (from, to, when, who answered),
not the raw record ``{"office_id": …, "call_id": …}``."""

from __future__ import annotations

import re
from html import unescape

from tests.web.conftest import ADMIN_EMAIL, Console


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def test_a_quarantined_call_says_what_the_call_was(console: Console) -> None:
    status, office = await console.bearer("GET", "/office", token=console.admin_token)
    assert status == 200
    desk = await console.desk()
    for event in ({"event": "newCall", "callId": "anon-7", "from": "anonymous",
                   "to": "+49 30 5555", "direction": "in"},
                  {"event": "answer", "callId": "anon-7", "user": "Tom Agent"}):
        reply = await desk.request("POST", office["cti_url_path"], json=event)
        assert reply.status == 200, reply.text
    status, items = await console.bearer("GET", "/quarantine", token=console.admin_token)
    assert status == 200
    item = next(i for i in items["items"] if i["channel"] == "cti")

    admin = await console.signed_in(ADMIN_EMAIL)
    page = await admin.get(f"/admin/quarantine/{item['id']}")
    assert page.status == 200
    shown = _text(page.text)
    assert "Kanal Telefonanlage (Anruf)" in shown
    assert "Anruf von Nummer unterdrückt" in shown
    assert "an +49305555" in shown.replace("+49 30 5555", "+49305555")
    assert "Angenommen von Tom Agent" in shown
    assert "call_id" not in shown and "office_id" not in shown
