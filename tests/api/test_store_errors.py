"""Domain failures the store reports (typed ``NotFound``/``Conflict`` from the repositories)
reach the client as the same status and JSON body as before the store was split; a bare
``KeyError`` from the store is a bug and stays a 500, never a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.models import utcnow


async def test_undo_of_an_unknown_merge_is_404_with_its_body(hub: Hub) -> None:
    status, body = await hub.agent.post("/merges/01NOSUCHMERGE0000000000000/undo")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert body["error"]["message"] == "no such merge"


async def test_merge_conflicts_are_409_with_their_message(hub: Hub) -> None:
    a = await make_customer(hub, "Erika M.", emails=["erika@example.de"])
    b = await make_customer(hub, "Erika Mustermann")
    c = await make_customer(hub, "Erika Musterfrau")
    status, merge = await hub.agent.post(f"/customers/{a['id']}/merge", json={"into": b["id"]})
    assert status == 201, merge
    status, body = await hub.agent.post(f"/customers/{a['id']}/merge", json={"into": c["id"]})
    assert status == 409
    assert body["error"] == {"code": "conflict",
                             "message": f"customer {a['id']} was already merged"}
    status, _ = await hub.agent.post(f"/merges/{merge['id']}/undo")
    assert status == 200
    status, body = await hub.agent.post(f"/merges/{merge['id']}/undo")
    assert status == 409
    assert body["error"]["message"] == "this merge was already undone"


async def test_retrying_a_job_that_is_not_retryable_is_409(hub: Hub) -> None:
    customer = await make_customer(hub, "Erika Mustermann", emails=["erika@example.de"])
    status, entry = await hub.agent.post(f"/customers/{customer['id']}/entries", json={
        "kind": "note", "body": "Ihre Police liegt bei.", "visibility": "published",
        "notify": True})
    assert status == 201, entry
    store = hub.state.store
    now = utcnow()
    await store.claim_notify_jobs("test", now, now + timedelta(minutes=5), 10)
    jobs = await store.list_notify_jobs(hub.office.id, customer_id=customer["id"])
    assert [j.entry_id for j in jobs] == [entry["id"]]
    status, body = await hub.admin.post(f"/notifications/{jobs[0].id}/retry")
    assert status == 409
    assert body["error"]["code"] == "conflict"
    assert body["error"]["message"].endswith(" notification cannot be retried")
    status, body = await hub.admin.post("/notifications/01NOSUCHJOB000000000000000/retry")
    assert status == 404 and body["error"]["message"] == "no such notification"


async def test_a_bare_key_error_from_the_store_is_a_bug_not_a_404(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(office_id: str, merge_id: str) -> None:
        raise KeyError(merge_id)
    monkeypatch.setattr(hub.state.store, "undo_merge", broken)
    status, body = await hub.agent.post("/merges/01ANYMERGE0000000000000000/undo")
    assert status == 500
    assert body["error"]["code"] == "internal"
