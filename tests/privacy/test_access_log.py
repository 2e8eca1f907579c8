"""The access record (accountability): every export and erasure leaves one row — who (an
agent id, or ``cli``), what (``export`` or ``erase``), whom (the customer's opaque id), when,
until when — and nothing else. Admins see their own office's rows only."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from chronik.cli import main
from chronik.settings import Settings
from tests.conftest import Api, Hub
from tests.web.test_admin_pages import Site, site
from timeline.models import Channel, Direction, EntryDraft, Visibility
from timeline.pg_migrate import asyncpg_dsn

__all__ = ["site"]


async def _me(api: Api) -> str:
    status, me = await api.get("/me")
    assert status == 200
    return str(me["agent_id"])


async def test_export_and_erasure_each_leave_one_record(hub: Hub) -> None:
    admin_id = await _me(hub.admin)
    status, c = await hub.admin.post("/customers", json={"name": "Lena Log",
                                                         "emails": ["lena@kunde.test"]})
    cid = c["id"]
    status, _ = await hub.admin.post(f"/customers/{cid}/export")
    assert status == 202
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    status, log = await hub.admin.get("/privacy-log")
    assert status == 200 and log["next_cursor"] is None
    (export,) = log["items"]
    assert export["action"] == "export" and export["agent_id"] == admin_id
    assert export["customer_id"] == cid
    at = datetime.fromisoformat(export["at"])
    expires = datetime.fromisoformat(export["expires_at"])
    assert timedelta(days=3 * 365) <= expires - at <= timedelta(days=3 * 366)

    status, preview = await hub.admin.get(f"/customers/{cid}/erasure")
    status, _ = await hub.admin.call("DELETE", f"/customers/{cid}?confirm={preview['confirm']}")
    assert status == 200
    status, log = await hub.admin.get("/privacy-log")
    assert [(r["action"], r["agent_id"], r["customer_id"]) for r in log["items"]] == [
        ("erase", admin_id, cid), ("export", admin_id, cid)]  # newest first
    # nothing else in it: no names, no addresses
    assert "Lena" not in str(log) and "lena@" not in str(log)
    assert set(log["items"][0]) == {"id", "agent_id", "action", "customer_id", "at",
                                    "expires_at"}

    # another office sees none; an agent may not look
    _, other_admin = await hub.new_office()
    status, theirs = await other_admin.get("/privacy-log")
    assert status == 200 and theirs["items"] == []
    assert (await hub.agent.get("/privacy-log"))[0] == 403


async def test_pages_and_cursor(hub: Hub) -> None:
    assert hub.state.privacy is not None
    ids = []
    for n in range(3):
        status, c = await hub.admin.post("/customers", json={"name": f"Kunde {n}"})
        await hub.admin.post(f"/customers/{c['id']}/export")
        await hub.state.privacy.wait_exports()
        ids.append(c["id"])
    status, first = await hub.admin.get("/privacy-log?limit=2")
    assert [r["customer_id"] for r in first["items"]] == [ids[2], ids[1]]
    assert first["next_cursor"]
    status, rest = await hub.admin.get(f"/privacy-log?limit=2&cursor={first['next_cursor']}")
    assert [r["customer_id"] for r in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    for bad in ("nope", "x" * 26, "'; DROP TABLE x"):
        status, body = await hub.admin.get("/privacy-log", params={"cursor": bad})
        assert status == 400, bad
    assert (await hub.admin.get("/privacy-log?limit=0"))[0] == 400


async def test_cli_export_and_erase_are_recorded_as_cli(
        hub: Hub, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Cli Kunde"})
    base = ["--data-dir", str(settings.data_dir)]
    out = tmp_path / "x.zip"
    assert await asyncio.to_thread(main, [*base, "export", "--customer", c["id"],
                                          "--out", str(out)]) == 0
    assert await asyncio.to_thread(main, [*base, "erase", "--customer", c["id"],
                                          "--yes"]) == 0
    status, log = await hub.admin.get("/privacy-log")
    assert [(r["action"], r["agent_id"], r["customer_id"]) for r in log["items"]] == [
        ("erase", "cli", c["id"]), ("export", "cli", c["id"])]
    # a dry run reads, but neither exports nor erases: no row
    status, d = await hub.admin.post("/customers", json={"name": "Nur Schauen"})
    assert await asyncio.to_thread(main, [*base, "erase", "--customer", d["id"],
                                          "--dry-run"]) == 0
    assert len((await hub.admin.get("/privacy-log"))[1]["items"]) == 2


async def test_the_table_holds_only_ids_and_times(hub: Hub, settings: Settings) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Spalten Test"})
    await hub.admin.post(f"/customers/{c['id']}/export")
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    if settings.store_url is None:
        conn = sqlite3.connect(settings.store_path)
        try:
            cols = [r[1] for r in conn.execute("PRAGMA table_info(privacy_access_log)")]
            rows = conn.execute("SELECT * FROM privacy_access_log").fetchall()
        finally:
            conn.close()
    else:  # the same table on PostgreSQL
        pg = await asyncpg.connect(asyncpg_dsn(settings.store_url))
        try:
            cols = [r[0] for r in await pg.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = "
                "'privacy_access_log' ORDER BY ordinal_position")]
            rows = [tuple(r) for r in await pg.fetch("SELECT * FROM privacy_access_log")]
        finally:
            await pg.close()
    assert cols == ["id", "office_id", "agent_id", "action", "customer_id", "at",
                    "expires_at"]
    assert len(rows) == 1 and "Spalten" not in repr(rows)


async def test_admin_data_requests_page_shows_the_record(site: Site) -> None:
    erika = await site.state.timeline.create_customer(site.office, "Erika Protokoll", [])
    request, _ = await site.state.timeline.append(EntryDraft(
        office_id=site.office.id, customer_id=erika.id, channel=Channel.PORTAL,
        direction=Direction.INBOUND, kind="data_request", visibility=Visibility.PUBLISHED,
        occurred_at=datetime.now(UTC), subject="Auskunft", tags=("data-request",)))
    status, html, _ = await site.admin.get("/admin/data-requests",
                                           headers={"Accept-Language": "en"})
    assert "No exports or erasures yet." in html
    await site.admin.post(f"/admin/data-requests/{request.id}/export", {})
    assert site.state.privacy is not None
    await site.state.privacy.wait_exports()
    status, html, _ = await site.admin.get("/admin/data-requests",
                                           headers={"Accept-Language": "en"})
    table = html[html.index('id="access-log"'):]
    assert re.search(r'<tr data-access="[0-9A-Z]{26}">', table)
    assert erika.id in table and "Export" in table
    name = (await site.state.store.get_agent(site.office.id, site.admin_id))
    assert name is not None and name.name in table
