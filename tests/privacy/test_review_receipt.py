"""Review: the erasure receipt is the office's proof of what it erased (accountability,
GDPR Art. 5(2)); its counts must be those the preview announced and the erasure removed.
The portal inbox items of a person's published entries were counted as 0 (they went with
their entries before the count was taken)."""

from __future__ import annotations

import asyncio

from tests.conftest import Hub
from tests.privacy.conftest import entry
from timeline.notifications import FINAL_STATUSES


async def test_the_receipt_counts_the_portal_inbox_it_erased(hub: Hub) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Ina Inbox",
                                                         "emails": ["ina@kunde.test"]})
    assert status == 201, c
    for subject in ("Ihr Antrag", "Ihre Police"):
        await entry(hub, c["id"], kind="note", subject=subject, body="Siehe Portal.",
                    visibility="published", notify=True)
    for _ in range(300):  # the notifier puts both into the portal inbox
        jobs = await hub.state.store.list_notify_jobs(hub.office.id, customer_id=c["id"])
        if len(jobs) == 2 and all(j.status in FINAL_STATUSES for j in jobs):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the notifier did not finish")
    assert len(await hub.state.store.list_inbox(hub.office.id, c["id"])) == 2
    status, preview = await hub.admin.get(f"/customers/{c['id']}/erasure")
    assert preview["counts"]["portal_inbox"] == 2
    status, receipt = await hub.admin.call("DELETE", f"/customers/{c['id']}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200, receipt
    assert receipt["counts"]["portal_inbox"] == 2
    status, receipts = await hub.admin.get("/erasures")
    assert receipts["items"][0]["counts"]["portal_inbox"] == 2
    assert await hub.state.store.list_inbox(hub.office.id, c["id"]) == []
