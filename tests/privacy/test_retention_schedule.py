"""The retention job as a supervised component of the server: it applies every office's
``delete`` rules on its own (no ``chronik retention`` call), removes expired exports, prunes
the access record, and reports its last run (counts only) at ``GET /api/v1/connectors``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from chronik.glue.privacy import FIRST_RUN_DELAY, RetentionComponent, components
from chronik.settings import Settings
from tests.conftest import Hub
from tests.privacy.conftest import entry, old_entry
from timeline.ids import new_ulid
from timeline.models import Channel, Direction, EntryDraft, Visibility, utcnow
from timeline.privacy_models import (
    AccessAction,
    AccessRecord,
    ExportRecord,
    ExportStatus,
    RetentionAction,
    RetentionRule,
)

INTERVAL_HOURS = 0.3 / 3600  # a run every 0.3 seconds


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", http_port=0, max_upload_bytes=64 * 1024,
                    retention_interval_hours=INTERVAL_HOURS)


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll a condition (never a fixed sleep standing in for it), for at most 15 s."""
    for _ in range(750):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


def _component(hub: Hub) -> RetentionComponent:
    assert hub.state.supervisor is not None
    (found,) = [c for c in hub.state.supervisor.components if c.name == "retention"]
    assert isinstance(found, RetentionComponent)
    return found


async def test_old_entries_disappear_without_any_cli_call(hub: Hub) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Alt Kunde"})
    cid = c["id"]
    old = await old_entry(hub, cid, "phone_note", "Uralte Telefonnotiz")
    kept_kind = await old_entry(hub, cid, "note", "Alte Notiz, keine Regel")
    new = await entry(hub, cid, kind="phone_note", subject="Neue Notiz", body="x",
                      visibility="internal")
    # an export older than 7 days, with its file
    export_dir = hub.state.settings.data_dir / "exports"
    export_dir.mkdir(parents=True, exist_ok=True)
    stale = ExportRecord(id=new_ulid(), office_id=hub.office.id, customer_id=cid,
                         requested_by="a", status=ExportStatus.DONE, progress=100,
                         created_at=utcnow() - timedelta(days=8), file="stale.zip")
    (export_dir / "stale.zip").write_bytes(b"zip")
    await hub.state.store.add_export(stale)
    status, _ = await hub.admin.put("/retention-rules/phone_note",
                                    json={"action": "delete", "years": 2})
    assert status == 200
    await hub.indexed()

    async def gone() -> bool:
        return await hub.state.store.get_entry(hub.office.id, old.id) is None
    await wait_for(gone, "the retention component deleted the old phone note")
    assert await hub.state.store.get_entry(hub.office.id, new["id"]) is not None
    assert await hub.state.store.get_entry(hub.office.id, kept_kind.id) is not None

    async def export_gone() -> bool:
        return await hub.state.store.get_export(hub.office.id, stale.id) is None
    await wait_for(export_gone, "the expired export was removed")
    assert not (export_dir / "stale.zip").exists()
    # and the search index forgot it (scrub_after_erasure drained the drop rows)
    await hub.indexed()
    status, found = await hub.admin.get("/search?q=Uralte")
    assert status == 200 and found["items"] == []

    # the last run, counts only, at /api/v1/connectors and /admin/connectors
    component = _component(hub)
    seen = component.runs

    async def reported() -> bool:
        return component.runs >= seen + 2
    await wait_for(reported, "a whole run after the deletion")
    assert component.last_run is not None
    assert component.last_run["deleted_entries"][hub.office.id] == 0  # nothing left
    status, body = await hub.admin.get("/connectors")
    assert status == 200
    (item,) = [i for i in body["items"] if i["name"] == "retention"]
    assert item["kind"] == "worker" and item["state"] == "running"
    diag = item["diagnostics"]
    assert diag["runs"] >= 2 and diag["last_run"]["at"]
    assert set(diag["last_run"]) == {"at", "deleted_entries", "expired_exports",
                                     "access_log_pruned", "call_states_pruned"}
    assert all(isinstance(n, int) for n in diag["last_run"]["deleted_entries"].values())
    assert "Uralte" not in str(body) and cid not in str(body)


async def test_component_runs_once_with_counts_per_office(hub: Hub) -> None:
    """``run_once`` directly: which office deleted how many."""
    assert hub.state.supervisor is not None
    await hub.state.supervisor.stop()  # this test runs the job itself
    other, _ = await hub.new_office()
    status, c = await hub.admin.post("/customers", json={"name": "Zwei Alte"})
    for n in range(2):
        await hub.state.timeline.append(EntryDraft(
            office_id=hub.office.id, customer_id=c["id"], channel=Channel.NOTE,
            direction=Direction.INTERNAL, kind="memo", visibility=Visibility.INTERNAL,
            occurred_at=utcnow() - timedelta(days=400 + n), subject=f"Memo {n}"))
    component = RetentionComponent(hub.state, 3600.0)
    await hub.state.store.set_retention_rule(
        hub.office.id, RetentionRule("memo", RetentionAction.DELETE, 1))
    last = await component.run_once()
    assert last["deleted_entries"][hub.office.id] == 2
    assert last["deleted_entries"][other.id] == 0
    assert sum(last["deleted_entries"].values()) == 2
    assert component.diagnostics()["last_run"] == last


async def test_expired_access_records_are_pruned_by_the_job(hub: Hub) -> None:
    now = utcnow()
    store = hub.state.store
    expired = AccessRecord(id=new_ulid(), office_id=hub.office.id, agent_id="cli",
                           action=AccessAction.EXPORT, customer_id=new_ulid(),
                           at=now - timedelta(days=3 * 366), expires_at=now - timedelta(days=1))
    current = AccessRecord(id=new_ulid(), office_id=hub.office.id, agent_id="cli",
                           action=AccessAction.ERASE, customer_id=new_ulid(),
                           at=now, expires_at=now + timedelta(days=3 * 365))
    await store.add_access_record(expired)
    await store.add_access_record(current)

    async def pruned() -> bool:
        return [r.id for r in await store.access_records(hub.office.id)] == [current.id]
    await wait_for(pruned, "the retention component pruned the expired row")


def test_interval_zero_is_off_and_the_first_run_is_not_at_start(tmp_path: Path) -> None:
    class State:
        settings = Settings(data_dir=tmp_path, retention_interval_hours=0)
    assert components(State()) == []
    State.settings = Settings(data_dir=tmp_path)
    (component,) = components(State())
    assert isinstance(component, RetentionComponent)
    assert component.interval == 24 * 3600 and component.first_delay == FIRST_RUN_DELAY > 60
