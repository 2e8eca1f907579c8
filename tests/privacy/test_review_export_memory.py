"""Review: an export held every attachment of the person in memory at once before writing
the zip, so exporting a long-standing customer (years of scanned documents: gigabytes) could
take the server down. The zip is now written file by file: the export's memory stays at
about one file, whatever the person's total."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

from tests.conftest import Hub
from timeline.models import Attachment, Channel, Direction, EntryDraft, Visibility, utcnow

FILES = 24
SIZE = 1024 * 1024


async def test_an_export_holds_one_file_in_memory_not_all_of_them(hub: Hub,
                                                                   tmp_path: Path) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Dora Dokumente"})
    assert status == 201, c
    digests = []
    for n in range(FILES):
        data = os.urandom(SIZE)
        sha = await hub.state.blobs.put(data)
        digests.append(sha)
        await hub.state.timeline.append(EntryDraft(
            office_id=hub.office.id, customer_id=c["id"], channel=Channel.DOCUMENT,
            direction=Direction.INTERNAL, kind="document", visibility=Visibility.INTERNAL,
            occurred_at=utcnow(), subject=f"Scan {n}",
            attachments=(Attachment(name=f"scan-{n}.pdf", content_type="application/pdf",
                                    size=SIZE, sha256=sha),)))
    assert hub.state.privacy is not None
    out = tmp_path / "exports" / "export.zip"

    tracemalloc.start()
    try:
        counts = await hub.state.privacy.export_to(hub.office, c["id"], out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert counts["attachments"] == FILES
    assert peak < 8 * SIZE, f"the export held {peak / SIZE:.0f} MB at its peak"
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = [n for n in zf.namelist() if n.startswith("attachments/")]
        assert len(names) == FILES
        for name in names:
            assert hashlib.sha256(zf.read(name)).hexdigest() == manifest["files"][name]
        assert sorted(manifest["files"][n] for n in names) == sorted(digests)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert await asyncio.to_thread(os.listdir, out.parent) == ["export.zip"]  # no leftover
