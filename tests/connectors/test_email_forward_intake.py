"""A mail forwarded as attachment, through the real intake into a running Chronik: the
forwarded mail is on the timeline as ``<Subject>.eml`` -- downloadable as sent, listed on
the console page, not read a second time for search, in the customer's privacy export and
gone after their erasure. SMTP and ``chronik import`` are checked here; IMAP hands its
messages to the same ``MailIngest.deliver`` as the SMTP listener."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import zipfile
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosmtplib
import pytest
from aiohttp import ClientSession

from chronik.cli import main
from connectors.email.inbound import MailIngest
from connectors.email.parse import parse_message
from connectors.email.smtp import SmtpListener
from tests.conftest import Hub
from tests.connectors.test_email_forward import PDF, letter, outlook, thunderbird
from tests.web.conftest import Console, MakeConsole, make_console

__all__ = ["make_console"]  # the page tests' running Chronik

INBOX = "service@buero.test"
LETTER = "Ihr Schaden 4711.eml"


async def _smtp_port(console: Console) -> int:
    assert console.state.supervisor is not None
    (listener,) = [c for c in console.state.supervisor.components
                   if isinstance(c, SmtpListener)]
    await asyncio.wait_for(listener.listening.wait(), 5)
    status, _ = await console.bearer("POST", "/office/inbound-addresses",
                                     console.admin_token, json={"address": INBOX})
    assert status == 201
    return listener.bound_port or 0


async def _timeline(call: Any, email: str = "erika@example.de") -> list[dict[str, Any]]:
    status, found = await call("GET", f"/lookup?email={email}")
    assert status == 200 and len(found["matches"]) == 1, found
    customer = found["matches"][0]["customer"]["id"]
    status, page = await call("GET", f"/customers/{customer}/timeline")
    assert status == 200
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_a_forward_by_smtp_offers_the_forwarded_mail_for_download(
        make_console: MakeConsole, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONIK_INBOUND_SMTP_PORT", "0")
    console = await make_console()
    port = await _smtp_port(console)
    inner = letter()
    raw = outlook(inner)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
        await client.sendmail("erika@example.de", [INBOX], raw)

    (entry,) = await _timeline(console.bearer)
    assert [(a["name"], a["content_type"]) for a in entry["attachments"]] == [
        ("Bescheid.pdf", "application/pdf"), (LETTER, "message/rfc822")]
    # downloaded: the insurer's mail as it was attached, offered as a mail file
    async with ClientSession() as session, session.get(
            console.base + entry["attachments"][1]["url"],
            headers={"Authorization": f"Bearer {console.agent_token}"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "message/rfc822"
        assert resp.headers["Content-Disposition"] == (
            "attachment; filename*=UTF-8''" + quote(LETTER, safe=""))
        assert await resp.read() == inner.as_bytes(policy=policy.SMTP)

    # search: the forwarded text is found (once); what only the kept file holds is not read
    await console.state.indexer.drain()
    status, found = await console.bearer("GET", "/search?q=regulieren")
    assert status == 200 and [i["entry"]["id"] for i in found["items"]] == [entry["id"]]
    status, found = await console.bearer("GET", "/search?q=Wolkenkuckucksheim")
    assert status == 200 and found["items"] == []

    # the console page lists it like any file, with its name and size, as a download
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{entry['customer_id']}")
    assert page.status == 200
    link = f'<a href="{entry["attachments"][1]["url"]}" download>'
    assert link in page.text
    assert page.text.split(link)[1].startswith(f'<span translate="no">{LETTER}</span>')


async def test_chronik_import_keeps_the_forwarded_mail(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inner = letter()
    source = tmp_path / "weitergeleitet.eml"
    source.write_bytes(thunderbird(inner))
    assert await asyncio.to_thread(main, ["--data-dir", str(hub.state.settings.data_dir),
                                          "import", str(source), "--office",
                                          hub.office.id]) == 0
    assert "imported 1, duplicates 0, quarantined 0" in capsys.readouterr().out
    (entry,) = await _timeline(lambda method, path: hub.agent.call(method, path))
    assert [a["name"] for a in entry["attachments"]] == ["Bescheid.pdf", LETTER]
    status, data = await hub.agent.get(entry["attachments"][1]["url"].removeprefix("/api/v1"))
    assert status == 200 and data == inner.as_bytes(policy=policy.SMTP)


async def test_the_kept_mail_is_exported_and_erased_with_the_customer(hub: Hub) -> None:
    status, person = await hub.admin.post("/customers", json={
        "name": "Erika Mustermann", "emails": ["erika@example.de"]})
    assert status == 201
    inner = letter(pdf=PDF + b"Bescheid Wolkenkuckucksheim")
    got = await MailIngest(hub.state.ingest).deliver(hub.office.id, outlook(inner), "test")
    assert got.result.entry is not None and got.result.entry.customer_id == person["id"]
    entry_id = got.result.entry.id

    status, started = await hub.admin.post(f"/customers/{person['id']}/export")
    assert status == 202 and hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    status, raw = await hub.admin.get(f"/exports/{started['id']}/download")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        data = json.loads(zf.read("data.json"))
        (exported,) = [e for e in data["entries"] if e["id"] == entry_id]
        assert exported["attachment_files"] == [
            f"attachments/{entry_id}/1-Bescheid.pdf",
            f"attachments/{entry_id}/2-Ihr_Schaden_4711.eml"]  # (as the export names files)
        assert zf.read(exported["attachment_files"][1]) == inner.as_bytes(policy=policy.SMTP)

    # the files are kept by the store's blob store: files in the data folder (SQLite), rows
    # of the database (PostgreSQL)
    kept = [a.sha256 for a in got.result.entry.attachments]
    files = [await hub.state.blobs.get(sha) or b"" for sha in kept]
    assert any(b"X-Schadenportal: Vorgang Wolkenkuckucksheim" in f for f in files), \
        "the kept mail is stored"
    status, preview = await hub.admin.get(f"/customers/{person['id']}/erasure")
    assert status == 200
    status, _ = await hub.admin.call(
        "DELETE", f"/customers/{person['id']}?confirm={preview['confirm']}")
    assert status == 200
    status, _ = await hub.agent.get(f"/entries/{entry_id}/attachments/1")
    assert status == 404
    assert [sha for sha in kept if await hub.state.blobs.get(sha) is not None] == []
    assert [p for p in hub.state.settings.data_dir.rglob("*")
            if p.is_file() and b"Wolkenkuckucksheim" in p.read_bytes()] == []


async def test_a_forward_stored_before_the_mail_was_kept_is_a_duplicate(hub: Hub) -> None:
    """A mail stored by the version that did not keep the forwarded mail (its text and
    files only), delivered again -- the mailbox imported a second time, the same mail by
    IMAP and SMTP -- is the same message: no second entry "with the same Message-ID"."""
    raw = outlook(letter())
    parsed = parse_message(raw)
    earlier = dataclasses.replace(parsed, attachments=tuple(
        a for a in parsed.attachments if a.content_type != "message/rfc822"))
    mail = MailIngest(hub.state.ingest)
    assert (await mail.deliver_parsed(hub.office.id, earlier, raw, "import")).outcome == \
        "created"
    assert (await mail.deliver(hub.office.id, raw, "import")).outcome == "duplicate"
    (entry,) = await _timeline(lambda method, path: hub.agent.call(method, path))
    assert [a["name"] for a in entry["attachments"]] == ["Bescheid.pdf"]
