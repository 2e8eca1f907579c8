"""What a search answers beyond the hits, for every backend (``backend`` fixture of
``tests/search/conftest.py``): each hit's ``snippet`` (hits in ``<mark>``, the text as
written), whether the words were found in an attached file (``attachment``), and the
"did you mean" ``suggestions`` -- the parts ``search.service`` shares between backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from search.attachments import ATTACHMENT_TEXT, AttachmentTexts
from search.backend import SearchBackend
from search.query import SearchFilters
from search.service import Results, SearchService
from timeline.blobs import BlobStore
from timeline.ids import seq_base
from timeline.models import Attachment, Channel, Direction, Entry, Visibility

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
_n = count(1)


@dataclass
class Entries:
    """The store's one read a search needs (``entries_by_seq``)."""

    by_seq: dict[int, Entry] = field(default_factory=dict)

    async def entries_by_seq(self, office_id: str, seqs: list[int]) -> list[Entry]:
        return [e for s in seqs if (e := self.by_seq.get(s)) and e.office_id == office_id]


@dataclass
class Office:
    backend: SearchBackend
    entries: Entries
    blobs: BlobStore
    service: SearchService

    async def add(self, body: str, *, subject: str = "", minutes: int = 0,
                  office: str = "OFFICEA", files: dict[str, str] | None = None) -> Entry:
        """An entry (``files``: name -> the text read from it), indexed as the indexer
        indexes it: with its files' text."""
        n = next(_n)
        when = T0 + timedelta(minutes=minutes)
        attachments = []
        for name, text in (files or {}).items():
            sha = await self.blobs.put(f"{name} {n}".encode(), text=text)
            attachments.append(Attachment(name=name, content_type="text/plain",
                                          size=len(text), sha256=sha))
        entry = Entry(id=f"V{n:06d}", seq=seq_base(when) + n % 1000, office_id=office,
                      customer_id="CUST1", channel=Channel.NOTE, direction=Direction.INTERNAL,
                      kind="note", visibility=Visibility.INTERNAL, occurred_at=when,
                      recorded_at=when, subject=subject, body=body, attachments=attachments)
        meta: dict[str, Any] = {ATTACHMENT_TEXT: "\n".join(files.values())} if files else {}
        await self.backend.index([entry.model_copy(update={"meta": meta})])
        self.entries.by_seq[entry.seq] = entry
        return entry

    async def search(self, q: str, office: str = "OFFICEA") -> Results:
        return await self.service.search(q, SearchFilters(office_id=office))

    async def suggestions(self, q: str) -> list[str]:
        results = await self.search(q)
        assert results.items == [], q
        return results.suggestions


@pytest.fixture
def office(backend: SearchBackend, tmp_path: Path) -> Office:
    entries, blobs = Entries(), BlobStore(tmp_path / "blobs")
    return Office(backend, entries, blobs,
                  SearchService(entries, backend, texts=AttachmentTexts(blobs)))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ snippets
async def test_decomposed_umlauts_are_highlighted_in_the_entry(office: Office) -> None:
    """macOS and PDF copies write ``u`` + a combining diaeresis: still one word, marked."""
    entry = await office.add("Zebrafink Ku\u0308ndigungsschreiben von Frau Mu\u0308ller",
                             files={"brief.txt": "Das Kündigungsschreiben von Frau Müller"})
    for q, marked in [("Kündigungsschreiben", "Ku\u0308ndigungsschreiben"),
                      ("Müller", "Mu\u0308ller"), ("Mueller", "Mu\u0308ller")]:
        [hit] = (await office.search(q)).items
        assert hit.entry.id == entry.id
        assert f"<mark>{marked}</mark>" in hit.snippet, q
        assert hit.attachment is None, q  # found in the entry's own text, not the file's


@pytest.mark.parametrize(("q", "written", "marked"), [
    ("Hausrat", "Die Hausratversicherung ist gekündigt.", "Hausratversicherung"),
    ("Beiträge", "Die Beitragsrechnung kommt im Januar.", "Beitragsrechnung"),
    ("Miete", "Der Mietvertrag liegt bei.", "Mietvertrag"),
    ("Versicherung", "Die Hausratversicherung ist gekündigt.", "Hausratversicherung"),
])
async def test_a_compound_found_by_one_of_its_parts_is_highlighted(
        office: Office, q: str, written: str, marked: str) -> None:
    await office.add(written)
    [hit] = (await office.search(q)).items
    assert f"<mark>{marked}</mark>" in hit.snippet


async def test_found_in_a_file_only_when_the_entry_itself_does_not_hold_the_words(
        office: Office) -> None:
    entry = await office.add("Hausratversicherung ist gekündigt",
                             files={"liste.txt": "Inventar Hausrat Liste Okapifeld"})
    [hit] = (await office.search("Hausrat")).items
    assert hit.attachment is None
    assert hit.snippet == "<mark>Hausratversicherung</mark> ist gekündigt"
    # a word only the file holds: the snippet is from the file, which is named
    for q in ["Okapifeld", "Hausrat Okapifeld"]:
        [hit] = (await office.search(q)).items
        assert hit.entry.id == entry.id and hit.attachment == 0, q
        assert "<mark>Okapifeld</mark>" in hit.snippet and "Inventar" in hit.snippet, q


@pytest.mark.parametrize(("subject", "body", "starts"), [
    ("", "-150,00 € Gutschrift Gnuherde", "-150,00 € Gutschrift <mark>Gnuherde</mark>"),
    ("„Nicht zustellbar“", "Gnuherde", "„Nicht zustellbar“ <mark>Gnuherde</mark>"),
    ("", "<script>alert(1)</script> Gnuherde",
     "&lt;script&gt;alert(1)&lt;/script&gt; <mark>Gnuherde</mark>"),
    ("", "(Kopie) Gnuherde", "(Kopie) <mark>Gnuherde</mark>"),
    # a snippet starting further in: from the start of its first word's stretch
    ("", " ".join(f"Wort{i}" for i in range(30)) + " -150,00 € Gutschrift eins zwei drei vier "
     "fünf Gnuherde", "…-150,00 € Gutschrift eins zwei drei vier fünf <mark>Gnuherde</mark>"),
    ("", " ".join(f"Wort{i}" for i in range(30)) + " „Nicht zustellbar“ eins zwei drei vier "
     "fünf sechs Gnuherde", "…„Nicht zustellbar“ eins zwei drei vier fünf sechs <mark>"),
], ids=["minus", "quote", "html", "bracket", "later-minus", "later-quote"])
async def test_the_snippet_keeps_what_is_written_before_its_first_word(
        office: Office, subject: str, body: str, starts: str) -> None:
    await office.add(body, subject=subject)
    [hit] = (await office.search("Gnuherde")).items
    assert hit.snippet.startswith(starts), hit.snippet


# ------------------------------------------------------------------------------ suggestions
async def test_operators_and_excluded_words_are_kept_as_typed(office: Office) -> None:
    await office.add("Geheimwort Quokkaverein Zebrafink Seite Order")
    assert await office.suggestions("Geheimwrt OR Quokkavrein") == [
        "Geheimwort OR Quokkaverein"]
    assert await office.suggestions("Geheimwrt ODER Quokkavrein") == [
        "Geheimwort ODER Quokkaverein"]
    assert await office.suggestions("Geheimwrt | Quokkavrein") == [
        "Geheimwort | Quokkaverein"]
    assert await office.suggestions("Zebrafnk UND +Quokkavrein") == [
        "Zebrafink UND +Quokkaverein"]
    for excluded in ["!Seitte", "-Seitte", "NICHT Seitte", "NOT Seitte", '-"Seitte"']:
        assert await office.suggestions(f"Zebrafnk {excluded}") == [
            f"Zebrafink {excluded}"], excluded


async def test_corrected_words_are_spelled_as_the_entries_write_them(office: Office) -> None:
    """The newest hit of a corrected query need not hold the corrected word itself (a
    stemmed word, the other side of an OR): its spelling is looked up by itself."""
    await office.add("Ich kündige den Vertrag.", minutes=1)
    await office.add("Die Kündigung ist da, Frau Müller.", minutes=2)
    await office.add("Zebrafink gesehen bei Frau Müller.", minutes=3)
    assert await office.suggestions("Kündigng") == ["Kündigung", "kündige"]
    assert await office.suggestions("kundigng") == ["Kündigung", "kündige"]
    assert await office.suggestions("Kündigng OR Zebrafnk") == [
        "Kündigung OR Zebrafink", "kündige OR Zebrafink"]
    # the words the user typed right stay exactly as typed
    assert await office.suggestions("Zebrafnk MÜLLER") == ["Zebrafink MÜLLER"]
    assert await office.suggestions("Kündigng Mu\u0308ller") == [
        "Kündigung Mu\u0308ller", "kündige Mu\u0308ller"]
