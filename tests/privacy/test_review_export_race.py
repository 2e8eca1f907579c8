"""Review: an admin makes a copy of a person's data in the pages and erases the person
before the copy is written (a large export runs for a while). The export went on, wrote its
zip — everything about the person — into ``DATA_DIR/exports`` and marked a row that the
erasure had already removed: the file stayed, known to nothing, never purged. Now the
erasure also takes the file a running export is about to write, and an export whose row is
gone removes what it wrote."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from chronik.settings import Settings
from tests.conftest import Hub
from timeline.models import Attachment, Channel, Direction, EntryDraft, Visibility, utcnow

FILES = 60
SIZE = 1024 * 1024


def _holding(folder: Path, word: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and word in p.read_bytes()]


async def test_a_copy_still_being_written_goes_with_the_erased_person(
        hub: Hub, settings: Settings) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Rita Rennlauf"})
    assert status == 201, c
    for n in range(FILES):
        data = b"Rennlaufgeheimnis " + os.urandom(SIZE)
        sha = await hub.state.blobs.put(data)
        await hub.state.timeline.append(EntryDraft(
            office_id=hub.office.id, customer_id=c["id"], channel=Channel.DOCUMENT,
            direction=Direction.INTERNAL, kind="document", visibility=Visibility.INTERNAL,
            occurred_at=utcnow(), subject=f"Scan {n}",
            attachments=(Attachment(name=f"scan-{n}.bin", content_type="application/pdf",
                                    size=len(data), sha256=sha),)))
    service = hub.state.privacy
    assert service is not None
    admin = (await hub.state.store.list_agents(hub.office.id))[0]
    record = await service.start_export(hub.office, c["id"], admin.agent.id, answer=False)
    for _ in range(500):  # the export has read the person's data and writes the zip now
        current = await hub.state.store.get_export(hub.office.id, record.id)
        assert current is not None
        if current.progress >= 30:
            break
        await asyncio.sleep(0.01)
    assert current.status.value == "running"

    status, preview = await hub.admin.get(f"/customers/{c['id']}/erasure")
    status, receipt = await hub.admin.call("DELETE", f"/customers/{c['id']}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200, receipt
    assert receipt["counts"]["exports"] == 1
    await service.wait_exports()

    exports = settings.data_dir / "exports"
    assert await asyncio.to_thread(os.listdir, exports) == []
    assert await asyncio.to_thread(_holding, settings.data_dir, b"Rennlaufgeheimnis") == []
