"""Attachments' contents are searchable (``search/attachments.py``): a policy number inside
an uploaded PDF or a Word file attached to a mail finds the entry, the hit says which file
it was found in; the text is read once and kept beside the file, and goes with it when the
person is erased. Runs on both stores (the PostgreSQL pass keeps the text in the database)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from aiohttp import FormData

from chronik.app import attachment_texts
from chronik.glue.email import mail_ingest
from chronik.settings import Settings
from search import attachments
from search.indexer import reindex
from tests.conftest import Hub
from tests.support.documents import docx, pdf

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def _customer(hub: Hub, **kw: object) -> dict:
    status, body = await hub.agent.post("/customers", json={"name": "Erika Müller", **kw})
    assert status == 201, body
    return body


async def _upload(hub: Hub, customer_id: str, name: str, data: bytes, ctype: str) -> dict:
    form = FormData()
    form.add_field("subject", "Unterlagen")
    form.add_field("notify", "false")
    form.add_field("file", data, filename=name, content_type=ctype)
    status, entry = await hub.agent.post(f"/customers/{customer_id}/entries", data=form)
    assert status == 201, entry
    return entry


async def _search(hub: Hub, q: str) -> list[dict]:
    status, page = await hub.agent.get("/search", params={"q": q})
    assert status == 200, page
    items: list[dict] = page["items"]
    return items


async def test_words_inside_an_uploaded_pdf_and_a_mailed_word_file_are_found(hub: Hub) -> None:
    erika = await _customer(hub, emails=["erika@example.de"])
    police = pdf(["Versicherungsschein VS-4711-0815", "Hausratversicherung, Beginn 01.01.2027"],
                 ["Seite 2: Selbstbeteiligung 150 Euro"])
    upload = await _upload(hub, erika["id"], "Police.pdf", police, "application/pdf")

    mail = EmailMessage()
    mail["From"], mail["To"] = "Erika Müller <erika@example.de>", "service@buero.test"
    mail["Subject"], mail["Message-ID"] = "Schaden", "<schaden-1@example.de>"
    mail.set_content("Anbei die Unterlagen.")
    mail.add_attachment(docx("Schadensmeldung Wasserschaden", "Aktenzeichen AZ-2027-31"),
                        maintype="application", subtype=DOCX.split("/")[1],
                        filename="Meldung.docx")
    delivered = await mail_ingest(hub.state).deliver(hub.office.id, mail.as_bytes(), "test")
    assert delivered.outcome == "created", delivered
    await hub.indexed()

    hits = await _search(hub, "VS-4711-0815")
    assert [h["entry"]["id"] for h in hits] == [upload["id"]]
    assert hits[0]["attachment"] == {"index": 0, "name": "Police.pdf",
                                     "url": f"/api/v1/entries/{upload['id']}/attachments/0"}
    assert "<mark>VS</mark>" in hits[0]["snippet"] and "<mark>4711</mark>" in hits[0]["snippet"]
    # a later page, a word form ("Selbstbeteiligungen"), the mail's Word file
    assert [h["entry"]["id"] for h in await _search(hub, "Selbstbeteiligungen")] == [
        upload["id"]]
    found = await _search(hub, "Wasserschaden")
    assert len(found) == 1 and found[0]["entry"]["subject"] == "Schaden"
    assert found[0]["attachment"]["name"] == "Meldung.docx"
    assert "<mark>Wasserschaden</mark>" in found[0]["snippet"]
    # words of the entry's own text: the snippet is from there, no file named
    own = await _search(hub, "Unterlagen")
    assert {h["entry"]["id"] for h in own} >= {upload["id"]}
    assert all(h["attachment"] is None for h in own)

    # read once, kept beside the file; a rebuilt index finds it again
    sha = upload["attachments"][0]["sha256"]
    assert "VS-4711-0815" in (await hub.state.blobs.get_text(sha) or "")
    await reindex(hub.state.store, hub.state.backend, texts=hub.state.indexer.texts)
    assert len(await _search(hub, "Hausratversicherung")) == 1

    # erasing the person: the file, its text and the hits go
    status, preview = await hub.admin.get(f"/customers/{erika['id']}/erasure")
    status, _ = await hub.admin.call(
        "DELETE", f"/customers/{erika['id']}?confirm={preview['confirm']}")
    assert status == 200
    await hub.indexed()
    assert await hub.state.blobs.get(sha) is None
    assert await hub.state.blobs.get_text(sha) is None
    assert await _search(hub, "VS-4711-0815") == []
    assert await _search(hub, "Wasserschaden") == []


async def test_switched_off_only_names_are_searchable(hub: Hub) -> None:
    assert attachment_texts(Settings(data_dir=hub.state.settings.data_dir,
                                     search_attachments=False), hub.state.blobs) is None
    hub.state.indexer.texts = None  # what CHRONIK_SEARCH_ATTACHMENTS=false builds
    erika = await _customer(hub)
    entry = await _upload(hub, erika["id"], "Police-Hausrat.pdf",
                          pdf(["Versicherungsschein VS-4711-0815"]), "application/pdf")
    await hub.indexed()
    assert await _search(hub, "4711") == []
    assert [h["entry"]["id"] for h in await _search(hub, "Hausrat")] == [entry["id"]]
    assert await hub.state.blobs.get_text(entry["attachments"][0]["sha256"]) is None


async def test_unreadable_and_image_files_leave_the_entry_searchable(hub: Hub) -> None:
    erika = await _customer(hub)
    broken = await _upload(hub, erika["id"], "kaputt.pdf", b"%PDF-1.4 nur ein Rest",
                           "application/pdf")
    photo = await _upload(hub, erika["id"], "Schaden.jpg", b"\xff\xd8\xff\xe0" + bytes(64),
                          "image/jpeg")
    await hub.indexed()
    assert {h["entry"]["id"] for h in await _search(hub, "Unterlagen")} == {
        broken["id"], photo["id"]}
    assert await hub.state.blobs.get_text(broken["attachments"][0]["sha256"]) == ""
    assert await hub.state.blobs.get_text(photo["attachments"][0]["sha256"]) is None


async def test_a_file_that_takes_too_long_is_given_up_and_indexing_goes_on(hub: Hub) -> None:
    """A file is read in a process of its own, given ``timeout`` seconds (a hostile PDF
    that loops would otherwise stop the index for everyone): then it is kept as "no text",
    the reader is replaced, and the next file is read."""
    texts = hub.state.indexer.texts
    assert texts is not None
    erika = await _customer(hub)
    texts.timeout = 1e-6  # nothing can be read that fast
    slow = await _upload(hub, erika["id"], "Langsam.pdf", pdf(["Aktenzeichen AZ-1111"]),
                         "application/pdf")
    await hub.indexed()
    assert await _search(hub, "AZ-1111") == []
    assert [h["entry"]["id"] for h in await _search(hub, "Unterlagen")] == [slow["id"]]
    assert await hub.state.blobs.get_text(slow["attachments"][0]["sha256"]) == ""
    texts.timeout = 60.0
    fine = await _upload(hub, erika["id"], "Schnell.pdf", pdf(["Aktenzeichen AZ-2222"]),
                         "application/pdf")
    await hub.indexed()
    assert [h["entry"]["id"] for h in await _search(hub, "AZ-2222")] == [fine["id"]]


async def test_without_a_reader_process_files_are_read_in_a_thread(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host where no process can be started (no semaphores in a locked-down container)
    still gets its files' text -- indexing must not stop over it."""
    def refused(*_args: object, **_kw: object) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(attachments, "ProcessPoolExecutor", refused)
    erika = await _customer(hub)
    entry = await _upload(hub, erika["id"], "Police.pdf", pdf(["Aktenzeichen AZ-3333"]),
                          "application/pdf")
    await hub.indexed()
    assert [h["entry"]["id"] for h in await _search(hub, "AZ-3333")] == [entry["id"]]


async def test_a_reader_process_that_died_is_replaced(hub: Hub,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The reader process killed between two files (out of memory, an operator): the next
    file is read by a new one -- not given up, and not moved into the server's threads."""
    erika = await _customer(hub)
    first = await _upload(hub, erika["id"], "Eins.pdf", pdf(["Aktenzeichen AZ-4444"]),
                          "application/pdf")
    await hub.indexed()
    assert [h["entry"]["id"] for h in await _search(hub, "AZ-4444")] == [first["id"]]
    texts = hub.state.indexer.texts
    assert texts is not None and texts._pool is not None
    for process in list(texts._pool._processes.values()):  # type: ignore[attr-defined]
        process.kill()
        process.join(10)
    second = await _upload(hub, erika["id"], "Zwei.pdf", pdf(["Aktenzeichen AZ-5555"]),
                           "application/pdf")
    await hub.indexed()
    assert [h["entry"]["id"] for h in await _search(hub, "AZ-5555")] == [second["id"]]
    assert "reading in a thread" not in caplog.text
