"""Review of what outlives an erasure or a retention rule (GDPR Art. 5(1)(e), 17):

* entries an erasure kept by law (``retained-by-law``, ``meta.retained.until``) are erased by
  the retention job once that time is over — a keep rule is a reason to keep something for
  a while, not for ever;
* a retention rule that deletes an entry also deletes the quarantined raw message the entry
  was made from (else the mail it removes stays, whole, in the quarantine);
* a record merged into another one is not a person any more: exporting or erasing it is
  refused (409, naming the customer it went into) instead of a near-empty export or an
  "erasure" that leaves all of the person's data on the other record."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from chronik.glue.privacy import RetentionComponent
from chronik.settings import Settings
from tests.conftest import Hub
from tests.privacy.conftest import entry, mail, quarantine_mail
from timeline.models import Attachment, Channel, Direction, EntryDraft, Visibility, utcnow


def _in_folder(folder: Path, word: bytes) -> list[str]:
    """Files of the data folder holding ``word`` (case-insensitive, like ``grep -ai``)."""
    return [str(p) for p in folder.rglob("*")
            if p.is_file() and word.lower() in p.read_bytes().lower()]


async def _run_retention(hub: Hub) -> dict[str, int]:
    assert hub.state.supervisor is not None
    last = await RetentionComponent(hub.state, 3600.0).run_once()
    return dict(last["deleted_entries"])


async def test_entries_kept_by_law_are_erased_when_their_time_is_over(
        hub: Hub, settings: Settings) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Rudi Retentius",
                                                         "emails": ["rudi@kunde.test"]})
    assert status == 201, c
    status, _ = await hub.admin.put("/retention-rules/contract",
                                    json={"action": "keep", "years": 1})
    assert status == 200
    sha = await hub.state.blobs.put(b"Vertrag Retentiusplan unterschrieben")
    # signed a year ago, less two seconds: kept by law for two more seconds
    ending, _ = await hub.state.timeline.append(EntryDraft(
        office_id=hub.office.id, customer_id=c["id"], channel=Channel.NOTE,
        direction=Direction.INTERNAL, kind="contract", visibility=Visibility.INTERNAL,
        occurred_at=utcnow().replace(year=utcnow().year - 1) + timedelta(seconds=2),
        subject="Vertrag Retentiusplan", body="Retentiusplan unterschrieben",
        attachments=(Attachment(name="retentiusplan.txt", content_type="text/plain",
                                size=36, sha256=sha),)))
    lasting, _ = await hub.state.timeline.append(EntryDraft(
        office_id=hub.office.id, customer_id=c["id"], channel=Channel.NOTE,
        direction=Direction.INTERNAL, kind="contract", visibility=Visibility.INTERNAL,
        occurred_at=utcnow(), subject="Folgevertrag Dauerhaftus"))
    status, preview = await hub.admin.get(f"/customers/{c['id']}/erasure")
    assert {r["entry_id"] for r in preview["retained"]} == {ending.id, lasting.id}
    status, receipt = await hub.admin.call("DELETE", f"/customers/{c['id']}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200 and receipt["counts"]["retained"] == 2, receipt
    kept = await hub.state.store.get_entry(hub.office.id, ending.id)
    assert kept is not None and "retained-by-law" in kept.tags

    until = ending.occurred_at.replace(year=ending.occurred_at.year + 1)
    await asyncio.sleep(max(0.0, (until - utcnow()).total_seconds()) + 0.05)
    assert await _run_retention(hub) == {hub.office.id: 1}

    assert await hub.state.store.get_entry(hub.office.id, ending.id) is None
    assert await hub.state.blobs.get(sha) is None
    assert await hub.state.store.get_entry(hub.office.id, lasting.id) is not None
    status, timeline = await hub.admin.get(f"/customers/{receipt['placeholder_id']}/timeline")
    assert status == 200 and [e["id"] for e in timeline["items"]] == [lasting.id]
    status, found = await hub.admin.get("/search?q=Retentiusplan")
    assert status == 200 and found["items"] == []
    assert _in_folder(settings.data_dir, b"Retentiusplan") == []
    assert await _run_retention(hub) == {hub.office.id: 0}  # the one still kept stays


async def test_a_retention_rule_takes_the_raw_message_an_entry_was_made_from(
        hub: Hub, settings: Settings) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Quentin Quell"})
    raw = mail("Quentin <quentin@kunde.test>", "Quellwasserschaden",
               "Der Quellwasserschaden von damals.", message_id="<old@kunde.test>")
    raw = raw.replace(b"Mon, 01 Jun 2026", b"Mon, 01 Jun 2020")
    item = await quarantine_mail(hub, raw)
    quarantined = await hub.state.store.get_quarantine(hub.office.id, item)
    assert quarantined is not None
    status, done = await hub.admin.post(f"/quarantine/{item}/reprocess",
                                        json={"customer_id": c["id"]})
    assert status == 200 and done["status"] == "processed", done
    await entry(hub, c["id"], kind="note", subject="Neu", body="bleibt",
                visibility="internal")
    status, _ = await hub.admin.put("/retention-rules/email",
                                    json={"action": "delete", "years": 2})
    assert status == 200
    await hub.indexed()
    assert await hub.state.blobs.get(quarantined.raw_sha256) == raw

    assert await _run_retention(hub) == {hub.office.id: 1}

    assert (await hub.admin.get(f"/quarantine/{item}"))[0] == 404
    assert (await hub.admin.get(f"/quarantine/{item}/raw"))[0] == 404
    assert await hub.state.blobs.get(quarantined.raw_sha256) is None
    status, timeline = await hub.admin.get(f"/customers/{c['id']}/timeline")
    assert [e["subject"] for e in timeline["items"]] == ["Neu"]
    assert _in_folder(settings.data_dir, b"Quellwasserschaden") == []


async def test_a_merged_record_is_neither_exported_nor_erased_on_its_own(hub: Hub) -> None:
    status, source = await hub.admin.post("/customers", json={
        "name": "Mia Doppelt", "emails": ["mia@kunde.test"]})
    status, target = await hub.admin.post("/customers", json={"name": "Mia Doppelt-Haupt"})
    await entry(hub, source["id"], kind="note", subject="Mias Notiz", body="x",
                visibility="internal")
    status, merged = await hub.admin.post(f"/customers/{source['id']}/merge",
                                          json={"into": target["id"]})
    assert status == 201, merged

    status, body = await hub.admin.get(f"/customers/{source['id']}/erasure")
    assert status == 409, body
    assert body["error"]["details"] == {"reason": "merged", "merged_into": target["id"]}
    assert "merged into another" in body["error"]["message"]
    status, body = await hub.admin.call("DELETE", f"/customers/{source['id']}?confirm=x")
    assert status == 409 and body["error"]["details"]["reason"] == "merged"
    status, body = await hub.admin.post(f"/customers/{source['id']}/export")
    assert status == 409 and body["error"]["details"]["merged_into"] == target["id"]
    # the one it went into is exported and erased with the merged record
    status, preview = await hub.admin.get(f"/customers/{target['id']}/erasure")
    assert status == 200 and preview["counts"]["customers"] == 2
    assert preview["counts"]["identities"] == 1
    status, receipt = await hub.admin.call("DELETE", f"/customers/{target['id']}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200, receipt
    status, found = await hub.admin.get("/lookup?email=mia@kunde.test")
    assert found["matches"] == []
