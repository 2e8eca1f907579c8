"""Attachment bytes and their searchable text in PostgreSQL (``timeline/pg_blobs.py``): a
file stored with its text gives both back, a text kept later replaces the earlier one, no
text is kept for a file that is not (or no longer) there, and deleting the file deletes its
text."""

from __future__ import annotations

import hashlib

from timeline.pg_blobs import PgBlobStore
from timeline.pg_store import PgStore


async def test_a_files_text_lives_and_goes_with_the_file(store: PgStore) -> None:
    blobs = PgBlobStore(store.db)
    police = b"%PDF-1.7 Police 4711"
    digest = await blobs.put(police, text="Hausratversicherung Police 4711")
    assert digest == hashlib.sha256(police).hexdigest()
    assert await blobs.get(digest) == police
    assert await blobs.get_text(digest) == "Hausratversicherung Police 4711"
    assert await blobs.put(police, text="Neu gelesen: Police 4711") == digest  # stored again
    assert await blobs.get_text(digest) == "Neu gelesen: Police 4711"
    await blobs.put_text(digest, "Kündigung zum 31.12.")
    assert await blobs.get_texts([digest]) == {digest: "Kündigung zum 31.12."}

    missing = hashlib.sha256(b"never stored").hexdigest()
    await blobs.put_text(missing, "Text ohne Datei")
    assert await blobs.get_text(missing) is None

    await blobs.delete(digest)
    assert await blobs.get(digest) is None
    assert await blobs.get_text(digest) is None
    await blobs.put_text(digest, "nach der Löschung gelesen")  # a read that finished late
    assert await blobs.get_text(digest) is None
