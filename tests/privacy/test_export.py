"""GDPR Art. 15: one export holds everything stored about one person — every store their
data can reach — with attachments, a manifest of hashes and a readable summary."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chronik.cli import main
from chronik.settings import Settings
from tests.conftest import Hub
from tests.privacy.conftest import (
    call,
    deliver_mail,
    document,
    entry,
    fail_jobs,
    mail,
    portal_message,
    quarantine_mail,
    telegram,
)
from timeline.models import Preferences
from timeline.notifications import JobStatus


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHRONIK_NOTIFY_WORKER", "false")  # the test arranges the jobs
    return Settings(data_dir=tmp_path / "data", http_port=0, max_upload_bytes=64 * 1024)


async def _person(hub: Hub) -> dict[str, Any]:
    status, c = await hub.admin.post("/customers", json={
        "name": "Erna Exportmann", "emails": ["erna@kunde.test"], "phones": ["0171 5550123"]})
    assert status == 201, c
    return dict(c)


async def _fill(hub: Hub, cid: str) -> dict[str, str]:
    """Every kind of item; returns name -> entry id (or other id)."""
    ids: dict[str, str] = {}
    got = await deliver_mail(hub, mail("Erna <erna@kunde.test>", "Schaden Wasserrohr",
                                       "Das Rohr ist geplatzt.", message_id="<m1@kunde.test>",
                                       attachment=("rohr-foto.txt", b"Rohr Anhang Inhalt")))
    assert got.result.entry is not None and got.result.entry.customer_id == cid
    ids["email"] = got.result.entry.id
    ids["telegram"] = await telegram(hub, cid, "Telegram Nachricht Ernas")
    ids["call"] = await call(hub, cid, "0171 5550123", "Anruf wegen Rohr")
    ids["note"] = (await entry(hub, cid, kind="note", subject="Notiz veroeffentlicht",
                               body="Wir kuemmern uns.", visibility="published",
                               notify=True))["id"]
    ids["note2"] = (await entry(hub, cid, kind="note", subject="Zweite Info",
                                body="Noch eine Info.", visibility="published",
                                notify=True))["id"]
    ids["internal"] = (await entry(hub, cid, kind="note", subject="Interne Notiz",
                                   body="Nur fuer uns.", visibility="internal"))["id"]
    ids["document"] = (await document(hub, cid, "Police Dokument", "police.txt",
                                      b"Policennummer 4711"))["id"]
    ids["portal"] = (await portal_message(hub, cid, "Frage im Portal", "Wann zahlt ihr?"))["id"]
    store = hub.state.store
    await store.set_preferences(hub.office.id, cid, Preferences(language="en",
                                                                channels=("portal",)))
    await store.record_consent(hub.office.id, cid, "email", True, actor="customer",
                               route="portal")
    await store.record_consent(hub.office.id, cid, "email", False, actor="customer",
                               route="unsubscribe_link")
    await store.add_inbox_item(hub.office.id, cid, ids["note"], "Notiz veroeffentlicht",
                               "Wir kuemmern uns.", [])
    await fail_jobs(hub, {ids["note"]: JobStatus.FAILED, ids["note2"]: JobStatus.DEAD})
    for name in ("Dora Doppelt", "Egon Irrtum"):
        status, other = await hub.admin.post("/customers", json={"name": name})
        assert status == 201
        status, merge = await hub.admin.post(f"/customers/{other['id']}/merge",
                                             json={"into": cid})
        assert status == 201, merge
        ids[name] = merge["id"]
    status, _ = await hub.admin.post(f"/merges/{ids['Egon Irrtum']}/undo")
    assert status == 200
    ids["quarantine"] = await quarantine_mail(hub, mail(
        "Fremd <fremd@anders.test>", "Weiterleitung", "Bitte an erna@kunde.test weiterleiten",
        message_id="<q1@anders.test>"))
    ids["unrelated_quarantine"] = await quarantine_mail(hub, mail(
        "Fremd <fremd@anders.test>", "Spam", "Nichts ueber sie", message_id="<q2@anders.test>"))
    await hub.indexed()
    return ids


def _zip_members(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


async def test_export_holds_everything_about_the_person(hub: Hub) -> None:
    person = await _person(hub)
    cid = person["id"]
    ids = await _fill(hub, cid)

    status, started = await hub.admin.post(f"/customers/{cid}/export")
    assert status == 202 and started["status"] == "running" and set(started) >= {
        "id", "status", "progress"}
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    status, done = await hub.admin.get(f"/exports/{started['id']}")
    assert status == 200 and done["status"] == "done" and done["progress"] == 100
    status, raw = await hub.admin.get(f"/exports/{started['id']}/download")
    assert status == 200 and isinstance(raw, bytes)
    files = _zip_members(raw)
    data = json.loads(files["data.json"])
    manifest = json.loads(files["manifest.json"])

    # the manifest names every other file with its SHA-256
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name

    assert data["customer"]["id"] == cid
    assert {i["value"] for i in data["customer"]["identities"]} >= {"erna@kunde.test",
                                                                   "+491715550123"}
    by_id = {e["id"]: e for e in data["entries"]}
    for key in ("email", "telegram", "call", "note", "note2", "internal", "document",
                "portal"):
        assert ids[key] in by_id, key
    assert by_id[ids["internal"]]["visibility"] == "internal"
    # attachments: the mail's and the document's bytes
    email_files = by_id[ids["email"]]["attachment_files"]
    assert email_files == [f"attachments/{ids['email']}/1-rohr-foto.txt"]
    assert files[email_files[0]].strip() == b"Rohr Anhang Inhalt"
    doc_file = by_id[ids["document"]]["attachment_files"][0]
    assert files[doc_file] == b"Policennummer 4711"
    # preferences and the whole consent history
    assert data["preferences"]["language"] == "en"
    assert [(c["granted"], c["route"]) for c in data["consent_history"]] == [
        (True, "portal"), (False, "unsubscribe_link")]
    # notification jobs with every attempt
    jobs = {j["entry_id"]: j for j in data["notification_jobs"]}
    assert jobs[ids["note"]]["status"] == "failed"
    assert jobs[ids["note2"]]["status"] == "dead"
    assert all(len(jobs[ids[k]]["attempts_made"]) == 1 for k in ("note", "note2"))
    assert [i["entry_id"] for i in data["portal_inbox"]] == [ids["note"]]
    # both merges, the undone one too; merged-away records
    merges = {m["id"]: m for m in data["merges"]}
    assert set(merges) == {ids["Dora Doppelt"], ids["Egon Irrtum"]}
    assert merges[ids["Egon Irrtum"]]["undone_at"] is not None
    assert [c["name"] for c in data["merged_records"]] == ["Dora Doppelt"]
    # the quarantined mail that names them, with its raw bytes; not the unrelated one
    assert [q["id"] for q in data["quarantine"]] == [ids["quarantine"]]
    assert b"erna@kunde.test" in files[data["quarantine"][0]["raw_file"]]
    # call state, tokens (no hashes), portal sessions as counts
    assert data["phone_calls"][0]["call_id"] == "call-77"
    assert data["customer_tokens"] and all(set(t) == {"purpose", "created_at", "expires_at"}
                                           for t in data["customer_tokens"])
    assert "count" in data["portal_sessions"]
    assert manifest["counts"]["entries"] == len(data["entries"])

    html = files["summary.html"].decode()
    assert "The data we hold about you" in html  # the customer's language (en)
    for subject in ("Schaden Wasserrohr", "Anruf wegen Rohr", "Interne Notiz",
                    "Police Dokument", "Frage im Portal"):
        assert subject in html
    assert "<script" not in html.lower() and "http" not in html.lower()
    assert "src=" not in html and "<link" not in html

    # the request is recorded as answered on the timeline
    status, timeline = await hub.admin.get(f"/customers/{cid}/timeline?kind=data_request")
    assert status == 200
    assert [e["tags"] for e in timeline["items"]] == [["data-request", "data-request:done"]]
    assert timeline["items"][0]["meta"]["deadline"]


async def test_export_answers_an_open_portal_request_and_stays_in_its_office(hub: Hub) -> None:
    person = await _person(hub)
    status, _ = await hub.admin.post(f"/customers/{person['id']}/entries", json={
        "kind": "note", "subject": "Auskunft bitte", "visibility": "internal",
        "tags": ["data-request"]})
    assert status == 201
    status, started = await hub.admin.post(f"/customers/{person['id']}/export")
    assert status == 202
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    requests = await hub.state.store.entries_with_tag(hub.office.id, "data-request",
                                                      customer_id=person["id"])
    assert [e.tags for e in requests] == [("data-request", "data-request:done")]
    # another office's admin sees nothing of it; agents may not export
    _, other = await hub.new_office()
    assert (await other.get(f"/exports/{started['id']}"))[0] == 404
    assert (await other.get(f"/exports/{started['id']}/download"))[0] == 404
    assert (await other.post(f"/customers/{person['id']}/export"))[0] == 404
    assert (await hub.agent.post(f"/customers/{person['id']}/export"))[0] == 403
    assert (await hub.admin.get("/exports/nope"))[0] == 404


async def test_cli_export_writes_the_zip_and_refuses_unknown_customers(
        hub: Hub, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = await _person(hub)
    await entry(hub, person["id"], kind="note", subject="Kurz", body="x",
                visibility="internal")
    out = tmp_path / "erna.zip"
    base = ["--data-dir", str(settings.data_dir), "export"]
    code = await asyncio.to_thread(main, [*base, "--customer", person["id"], "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    files = _zip_members(out.read_bytes())
    assert {"data.json", "summary.html", "manifest.json"} <= set(files)
    assert "Ihre bei uns gespeicherten Daten" in files["summary.html"].decode()  # de default
    code = await asyncio.to_thread(main, [*base, "--customer", "01NOPE"])
    assert code == 2 and "no customer" in capsys.readouterr().err


async def test_exports_older_than_seven_days_are_gone(hub: Hub, settings: Settings) -> None:
    from datetime import timedelta

    from timeline.ids import new_ulid
    from timeline.models import utcnow
    from timeline.privacy_models import ExportRecord, ExportStatus

    person = await _person(hub)
    folder = settings.data_dir / "exports"
    folder.mkdir(exist_ok=True)
    old_id = new_ulid()
    (folder / f"{old_id}.zip").write_bytes(b"PK old")
    await hub.state.store.add_export(ExportRecord(
        id=old_id, office_id=hub.office.id, customer_id=person["id"], requested_by="x",
        status=ExportStatus.DONE, progress=100, created_at=utcnow() - timedelta(days=8),
        file=f"{old_id}.zip"))
    assert (await hub.admin.get(f"/exports/{old_id}/download"))[0] == 404
    assert not (folder / f"{old_id}.zip").exists()


async def test_the_summary_says_system_written_entries_in_the_customers_language(
        hub: Hub) -> None:
    """A preference change is stored in English (search, the API); the customer's own
    summary says it in their language, as the console does."""
    person = await _person(hub)
    status, _ = await hub.admin.put(f"/customers/{person['id']}/preferences", json={
        "consents": {"email": False}, "language": "de"})
    assert status == 200
    status, started = await hub.admin.post(f"/customers/{person['id']}/export")
    assert status == 202
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    status, raw = await hub.admin.get(f"/exports/{started['id']}/download")
    assert status == 200
    summary = _zip_members(raw)["summary.html"].decode()
    assert "Einwilligung für E-Mail widerrufen" in summary
    assert "email consent withdrawn" not in summary
    document = json.loads(_zip_members(raw)["data.json"])
    assert any("email consent withdrawn" in e["body"] for e in document["entries"])  # as stored
