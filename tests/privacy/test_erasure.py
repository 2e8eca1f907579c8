"""GDPR Art. 17 / invariant 7: after an erasure nothing of the person can be found — not
through the API, not in the search index, not in any byte of any file in the data folder —
and the next message from them does not re-create them."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest

from chronik.cli import main
from chronik.settings import Settings
from tests.conftest import Hub
from tests.privacy.conftest import (
    call,
    deliver_mail,
    document,
    entry,
    mail,
    old_entry,
    portal_message,
    quarantine_mail,
    telegram,
)
from timeline.ingest import InboundMessage
from timeline.models import Channel, IdentityKind, utcnow
from timeline.notifications import FINAL_STATUSES
from timeline.privacy_models import ErasedSenderPolicy

WORDS = ["Zyxwvutsname", "Quokkaprojekt", "zyxw@kunde.test", "0171 9876543", "+491719876543"]
SHARED = b"Allgemeine Versicherungsbedingungen 2026 (neutral)"


def _ours(caplog: pytest.LogCaptureFixture) -> bytes:
    """What Chronik logged (the test server's aiohttp access log echoes the test's own
    search queries; ``chronik serve`` runs without an access log)."""
    return "\n".join(r.getMessage() for r in caplog.records
                     if r.name != "aiohttp.access").lower().encode()


def _needles() -> list[bytes]:
    return [w.lower().encode() for w in WORDS]


def leaks_in(folder: Path) -> list[str]:
    """Every file of the data folder (databases, -wal, -shm, blobs, exports), read as bytes
    (like ``grep -a``), case-insensitively."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes().lower()
        found += [f"{path.relative_to(folder)}: {n.decode()}" for n in _needles() if n in data]
    return found


async def _person(hub: Hub) -> str:
    status, c = await hub.admin.post("/customers", json={
        "name": "Zyxwvutsname Quokkaprojekt", "emails": ["zyxw@kunde.test"],
        "phones": ["0171 9876543"]})
    assert status == 201, c
    cid = str(c["id"])
    got = await deliver_mail(hub, mail(
        "Zyxwvutsname <zyxw@kunde.test>", "Quokkaprojekt Anfrage",
        "Hallo, hier Zyxwvutsname zum Quokkaprojekt.", message_id="<zq1@kunde.test>",
        attachment=("quokkaprojekt-plan.txt", b"Zyxwvutsname Quokkaprojekt Anhang")))
    assert got.result.entry is not None and got.result.entry.customer_id == cid
    await telegram(hub, cid, "Zyxwvutsname schreibt zum Quokkaprojekt")
    await call(hub, cid, "0171 9876543", "Anruf Zyxwvutsname")
    await entry(hub, cid, kind="note", subject="Quokkaprojekt intern",
                body="Zyxwvutsname ruft oft an", visibility="internal")
    await entry(hub, cid, kind="note", subject="Quokkaprojekt Stand",
                body="Zyxwvutsname, Ihr Quokkaprojekt ist in Arbeit.", visibility="published",
                notify=True)
    await document(hub, cid, "Quokkaprojekt Vertrag", "zyxwvutsname-quokkaprojekt.txt",
                   b"Vertrag Zyxwvutsname Quokkaprojekt")
    await document(hub, cid, "Bedingungen", "avb.txt", SHARED)
    await portal_message(hub, cid, "Quokkaprojekt Frage", "Zyxwvutsname fragt im Portal")
    await quarantine_mail(hub, mail("Fremd <fremd@anders.test>", "Weiterleitung",
                                    "Bitte an zyxw@kunde.test (Zyxwvutsname) weiterleiten",
                                    message_id="<zq2@anders.test>"))
    return cid


async def _notified(hub: Hub, cid: str) -> None:
    """Wait until the running notifier finished every job of the customer."""
    for _ in range(200):
        jobs = await hub.state.store.list_notify_jobs(hub.office.id, customer_id=cid)
        if jobs and all(j.status in FINAL_STATUSES for j in jobs):
            inbox = await hub.state.store.list_inbox(hub.office.id, cid)
            assert inbox, "the portal inbox got the published note"
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier did not finish")


async def test_erasure_leaves_nothing_findable(hub: Hub, settings: Settings,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cid = await _person(hub)
    status, other = await hub.admin.post("/customers", json={"name": "Otto Anders"})
    await document(hub, other["id"], "Bedingungen", "avb.txt", SHARED)  # a shared blob
    await _notified(hub, cid)
    await hub.indexed()
    status, found = await hub.admin.get("/search?q=Quokkaprojekt")
    assert status == 200 and found["items"], "indexed before the erasure"
    status, started = await hub.admin.post(f"/customers/{cid}/export")
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()  # an export file that must go too
    assert leaks_in(settings.data_dir), "the words are in the data folder before"
    live = [e for e in await hub.state.store.events_after(0, 100_000) if e.customer_id == cid]
    assert live, "the live-event feed names the person's entries before"

    status, preview = await hub.admin.get(f"/customers/{cid}/erasure")
    assert status == 200, preview
    assert preview["counts"]["entries"] >= 8 and preview["counts"]["quarantine"] == 1
    assert preview["retained"] == [] and preview["confirm"]
    assert (await hub.agent.get(f"/customers/{cid}/erasure"))[0] == 403
    _, other_admin = await hub.new_office()
    assert (await other_admin.get(f"/customers/{cid}/erasure"))[0] == 404
    status, _ = await other_admin.call("DELETE", f"/customers/{cid}?confirm="
                                                 f"{preview['confirm']}")
    assert status in (400, 404)  # the token is bound to the office: never an erasure
    assert await hub.state.store.get_customer(hub.office.id, cid) is not None
    status, body = await hub.admin.call("DELETE", f"/customers/{cid}")
    assert status == 400 and body["error"]["code"] == "confirmation_required"
    status, body = await hub.admin.call("DELETE", f"/customers/{cid}?confirm=wrong")
    assert status == 400
    status, receipt = await hub.admin.call("DELETE", f"/customers/{cid}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200, receipt
    assert receipt["counts"]["customers"] == 1 and receipt["counts"]["quarantine"] == 1
    assert receipt["counts"]["exports"] == 1 and receipt["counts"]["notification_jobs"] >= 1

    # nothing through the API
    for path in ["/lookup?email=zyxw@kunde.test", "/lookup?phone=0171%209876543",
                 "/lookup?phone=%2B491719876543"]:
        status, body = await hub.admin.get(path)
        assert status == 200 and body["matches"] == [], path
    for word in ("Quokkaprojekt", "Zyxwvutsname", "zyxw"):
        status, body = await hub.admin.get(f"/search?q={word}")
        assert status == 200 and body["items"] == [], word
    assert (await hub.admin.get(f"/customers/{cid}/timeline"))[0] == 404
    assert (await hub.admin.get(f"/customers/{cid}"))[0] == 404
    status, listed = await hub.admin.get("/customers?limit=200")
    assert [c["name"] for c in listed["items"]] == ["Otto Anders"]
    assert (await hub.admin.get(f"/exports/{started['id']}"))[0] == 404
    # nothing in any byte of the data folder; the shared blob stays for Otto
    assert leaks_in(settings.data_dir) == []
    assert await hub.state.blobs.get(hashlib.sha256(SHARED).hexdigest()) == SHARED
    # nor in the live-event feed (ids only, but naming the person and their entries)
    gone = {e.entry_id for e in live}
    assert [e for e in await hub.state.store.events_after(0, 100_000)
            if e.customer_id == cid or e.entry_id in gone] == []
    # nor in the logs
    assert not [n for n in _needles() if n in _ours(caplog)]

    # the receipt stays, without personal content
    status, receipts = await hub.admin.get("/erasures")
    assert status == 200 and [r["id"] for r in receipts["items"]] == [receipt["receipt_id"]]
    assert not [n for n in _needles() if n in str(receipts).lower().encode()]

    # the next mail from the erased address is quarantined, no customer is created
    got = await deliver_mail(hub, mail("Zyxwvutsname <zyxw@kunde.test>", "Wieder da",
                                       "Hallo", message_id="<zq3@kunde.test>"))
    assert got.result.entry is None and got.result.quarantined is not None
    assert got.result.quarantined.reason == "erased_sender"
    assert (await hub.admin.get("/customers"))[1]["items"][0]["name"] == "Otto Anders"
    assert len((await hub.admin.get("/customers"))[1]["items"]) == 1
    # and a call from the number, with the setting on drop: nothing at all
    hub.state.ingest.erased_sender = ErasedSenderPolicy.DROP
    before = await hub.state.store.list_quarantine(hub.office.id, status=None)
    result = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=Channel.PHONE, source_id="call-99",
        sender_kind=IdentityKind.PHONE, sender="+49 171 9876543", occurred_at=utcnow(),
        kind="call"))
    assert result.dropped and result.entry is None and result.quarantined is None
    assert await hub.state.store.list_quarantine(hub.office.id, status=None) == before
    assert len((await hub.admin.get("/customers"))[1]["items"]) == 1
    # a real CTI call from the number through the PBX webhook: the call state keeps no
    # number either (only a tombstone), and its later events are ignored
    _, office = await hub.admin.get("/office")
    cti = office["cti_url_path"].removeprefix("/api/v1")
    for event in ({"event": "newCall", "callId": "erased-1", "from": "0171 9876543",
                   "to": "+49 30 5555", "direction": "in"},
                  {"event": "hangup", "callId": "erased-1", "cause": "normalClearing",
                   "from": "0171 9876543", "to": "+49 30 5555", "direction": "in"}):
        status, _ = await hub.anon.post(cti, json=event)
        assert status == 200
    await hub.state.store.scrub()
    phone = [b"0171 9876543", b"+491719876543", b"1719876543"]  # (the quarantined mail
    # above rightly keeps its sender's address for review; it has no phone number)
    assert [p for p in sorted(settings.data_dir.rglob("*")) if p.is_file()
            and any(n in p.read_bytes() for n in phone)] == []
    assert len((await hub.admin.get("/customers"))[1]["items"]) == 1
    # nor in the logs (the decision is logged without the address)
    assert "erased sender" in caplog.text
    assert not [n for n in _needles() if n in _ours(caplog)]


async def test_entries_kept_by_law_survive_detached_and_are_named(hub: Hub) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Rita Retain",
                                                         "emails": ["rita@kunde.test"]})
    cid = c["id"]
    status, _ = await hub.admin.put("/retention-rules/document",
                                    json={"action": "keep", "years": 10})
    assert status == 200
    doc = await document(hub, cid, "Beratungsprotokoll", "protokoll.txt", b"Protokoll")
    await entry(hub, cid, kind="note", subject="Notiz", body="weg", visibility="internal")
    status, preview = await hub.admin.get(f"/customers/{cid}/erasure")
    assert [r["entry_id"] for r in preview["retained"]] == [doc["id"]]
    assert "10 years" in preview["retained"][0]["reason"]
    status, receipt = await hub.admin.call("DELETE", f"/customers/{cid}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200 and receipt["counts"]["retained"] == 1
    assert receipt["counts"]["entries"] == 1
    kept = await hub.state.store.get_entry(hub.office.id, doc["id"])
    assert kept is not None and kept.customer_id == receipt["placeholder_id"]
    assert "retained-by-law" in kept.tags and kept.meta["retained"]["until"]
    assert await hub.state.blobs.get(kept.attachments[0].sha256) == b"Protokoll"
    holder = await hub.state.store.get_customer(hub.office.id, receipt["placeholder_id"])
    assert holder is not None and holder.identities == () and holder.name == "Erased customer"
    status, receipts = await hub.admin.get("/erasures")
    assert receipts["items"][0]["retained"][0]["entry_id"] == doc["id"]


async def test_retention_job_deletes_old_entries_of_a_kind(
        hub: Hub, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Alt Kunde"})
    cid = c["id"]
    old = await old_entry(hub, cid, "phone_note", "Uralte Telefonnotiz")
    new = await entry(hub, cid, kind="phone_note", subject="Neue Notiz", body="x",
                      visibility="internal")
    base = ["--data-dir", str(settings.data_dir)]
    assert await asyncio.to_thread(main, [*base, "retention-rule", "set", "--office",
                                          hub.office.id, "phone_note", "delete", "2"]) == 0
    assert await asyncio.to_thread(main, [*base, "retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert old.id in out and new["id"] not in out and "would delete 1 entries" in out
    assert await hub.state.store.get_entry(hub.office.id, old.id) is not None
    assert await asyncio.to_thread(main, [*base, "retention"]) == 0
    assert await hub.state.store.get_entry(hub.office.id, old.id) is None
    assert await hub.state.store.get_entry(hub.office.id, new["id"]) is not None


async def test_cli_erase(hub: Hub, settings: Settings,
                         capsys: pytest.CaptureFixture[str]) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Cli Person",
                                                         "phones": ["0171 2223334"]})
    base = ["--data-dir", str(settings.data_dir), "erase", "--customer", c["id"]]
    assert await asyncio.to_thread(main, [*base, "--dry-run"]) == 0
    assert "would erase" in capsys.readouterr().out
    assert await hub.state.store.get_customer(hub.office.id, c["id"]) is not None
    assert await asyncio.to_thread(main, base) == 2  # no terminal, no --yes
    assert "--yes" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*base, "--yes"]) == 0
    assert await hub.state.store.get_customer(hub.office.id, c["id"]) is None
    assert await asyncio.to_thread(main, [*base, "--yes"]) == 2
    assert "no customer" in capsys.readouterr().err


