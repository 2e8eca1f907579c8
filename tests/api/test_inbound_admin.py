"""Quarantine, merges, office config, connector supervision and live events over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from chronik.api.base import hash_token, new_token
from chronik.components import Supervisor, redact
from chronik.settings import Settings
from connectors.email.inbound import NO_SENDER, MailIngest
from tests.api.test_customers_entries import make_customer
from tests.conftest import Api, Hub, serving
from timeline.ingest import InboundMessage
from timeline.models import Channel, IdentityKind, Role, utcnow


async def test_quarantine_list_raw_reprocess_and_discard(hub: Hub) -> None:
    ingest = hub.state.ingest
    msg = InboundMessage(office_id=hub.office.id, channel=Channel.EMAIL, source_id="<q@x>",
                         sender_kind=IdentityKind.EMAIL, sender="kaputt",
                         occurred_at=datetime(2026, 1, 1, tzinfo=UTC), body="Text")
    result = await ingest.ingest(msg)
    assert result.quarantined is not None
    status, body = await hub.agent.get("/quarantine")
    assert status == 403
    status, page = await hub.admin.get("/quarantine")
    assert status == 200 and [i["id"] for i in page["items"]] == [result.quarantined.id]
    item = page["items"][0]
    assert item["reason"].startswith("unattributable sender")
    status, raw = await hub.admin.get(f"/quarantine/{item['id']}/raw")
    assert status == 200 and b"kaputt" in raw
    c = await make_customer(hub, "Zuordnung")
    status, done = await hub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                        json={"customer_id": c["id"]})
    assert status == 200 and done["status"] == "processed" and done["entry_id"]
    _, tl = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert [e["body"] for e in tl["items"]] == ["Text"]
    status, again = await hub.admin.post(f"/quarantine/{item['id']}/reprocess", json={})
    assert status == 409
    other = await ingest.quarantine(hub.office.id, "fax", b"junk", "no parser", "t")
    status, body = await hub.admin.post(f"/quarantine/{other.id}/reprocess")
    assert status == 409 and "no connector" in body["error"]["message"]
    status, gone = await hub.admin.post(f"/quarantine/{other.id}/discard")
    assert gone["status"] == "discarded"
    status, again = await hub.admin.post(f"/quarantine/{other.id}/discard")  # no change
    assert status == 200 and again["status"] == "discarded"
    # a message processed into an entry is not "discarded" afterwards
    status, body = await hub.admin.post(f"/quarantine/{item['id']}/discard")
    assert status == 409 and "already processed" in body["error"]["message"]
    status, kept = await hub.admin.get(f"/quarantine/{item['id']}")
    assert kept["status"] == "processed" and kept["entry_id"] == done["entry_id"]
    _, page = await hub.admin.get("/quarantine")
    assert page["items"] == []
    _, page = await hub.admin.get("/quarantine?status=all")
    assert len(page["items"]) == 2
    _, other_admin = await hub.new_office()
    status, _ = await other_admin.get(f"/quarantine/{item['id']}")
    assert status == 404


async def test_merge_and_undo_over_http(hub: Hub) -> None:
    a = await make_customer(hub, "Erika M.", emails=["erika@example.de"])
    b = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    await hub.agent.post(f"/customers/{a['id']}/entries", json={
        "kind": "note", "body": "von A", "visibility": "internal"})
    status, merge = await hub.agent.post(f"/customers/{a['id']}/merge", json={"into": b["id"]})
    assert status == 201, merge
    _, lookup = await hub.agent.get("/lookup", params={"email": "erika@example.de"})
    assert [m["customer"]["id"] for m in lookup["matches"]] == [b["id"]]
    _, tl = await hub.agent.get(f"/customers/{b['id']}/timeline")
    assert "von A" in [e["body"] for e in tl["items"]]
    status, body = await hub.agent.post(f"/customers/{a['id']}/merge", json={"into": a["id"]})
    assert status == 400
    status, undone = await hub.agent.post(f"/merges/{merge['id']}/undo")
    assert status == 200 and undone["undone_at"]
    _, lookup = await hub.agent.get("/lookup", params={"email": "erika@example.de"})
    assert [m["customer"]["id"] for m in lookup["matches"]] == [a["id"]]
    status, _ = await hub.agent.post(f"/merges/{merge['id']}/undo")
    assert status == 409
    _, other = await hub.new_office()
    status, _ = await other.post(f"/customers/{a['id']}/merge", json={"into": b["id"]})
    assert status == 404


async def test_office_config_and_inbound_addresses(hub: Hub) -> None:
    status, office = await hub.admin.get("/office")
    assert status == 200 and office["cti_token"].startswith("cti_")
    assert office["cti_url_path"] == f"/api/v1/cti/{office['cti_token']}"
    status, _ = await hub.agent.get("/office")
    assert status == 403
    status, office = await hub.admin.post("/office/inbound-addresses",
                                          json={"address": "Service@Buero.example"})
    assert status == 201 and office["inbound_addresses"] == ["service@buero.example"]
    _, other = await hub.new_office()
    status, body = await other.post("/office/inbound-addresses",
                                    json={"address": "service@buero.example"})
    assert status == 409
    status, body = await hub.admin.post("/office/inbound-addresses", json={"address": "nope"})
    assert status == 400
    status, office = await hub.admin.call("DELETE",
                                          "/office/inbound-addresses/service@buero.example")
    assert status == 200 and office["inbound_addresses"] == []


class Flaky:
    kind = "connector"

    def __init__(self, name: str, failures: int) -> None:
        self.name = name
        self.failures = failures
        self.runs = 0
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise ConnectionRefusedError(f"server down (password=hunter2) #{self.runs}")
        self.running.set()
        await asyncio.Event().wait()

    def diagnostics(self) -> dict[str, Any]:
        return redact({"host": "imap.example", "password": "hunter2",
                       "nested": {"api_token": "abc"}})


async def test_supervisor_restarts_with_backoff_and_isolates_failures() -> None:
    flaky, broken = Flaky("flaky", failures=2), Flaky("broken", failures=10**6)
    sup = Supervisor([flaky, broken], base_delay=0.01, max_delay=0.05)
    sup.start()
    await asyncio.wait_for(flaky.running.wait(), 5)
    await asyncio.sleep(0.1)
    report = {r["name"]: r for r in sup.report()}
    assert report["flaky"]["state"] == "running" and report["flaky"]["restarts"] == 2
    assert report["broken"]["state"] == "backoff" and report["broken"]["restarts"] >= 2
    assert "ConnectionRefusedError" in report["broken"]["last_error"]
    diag = report["flaky"]["diagnostics"]
    assert diag["password"] == "***" and diag["nested"]["api_token"] == "***"
    assert diag["host"] == "imap.example"
    await sup.stop()
    assert {r["state"] for r in sup.report()} == {"stopped"}


async def test_connectors_endpoint_is_admin_only(hub: Hub) -> None:
    status, body = await hub.admin.get("/connectors")
    assert status == 200 and isinstance(body["items"], list)
    status, _ = await hub.agent.get("/connectors")
    assert status == 403


async def test_sse_stream_carries_entry_created_for_own_office_only(hub: Hub) -> None:
    c = await make_customer(hub)
    _, other = await hub.new_office()
    received: list[dict[str, Any]] = []
    leaked: list[str] = []

    async def listen(api: Any, sink: list[Any], want: int) -> None:
        async with ClientSession() as s, s.get(api.base + "/events", headers={
                "Authorization": f"Bearer {api.token}"}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            event = None
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "entry.created":
                    sink.append(json.loads(line[6:]))
                    if len(sink) >= want:
                        return

    mine = asyncio.create_task(listen(hub.agent, received, 1))
    theirs = asyncio.create_task(listen(other, leaked, 1))
    for _ in range(100):
        if hub.state.events.subscriber_count(hub.office.id):
            break
        await asyncio.sleep(0.01)
    await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "live", "visibility": "internal"})
    await asyncio.wait_for(mine, 5)
    assert received[0]["customer_id"] == c["id"] and received[0]["kind"] == "note"
    await asyncio.sleep(0.2)
    theirs.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await theirs
    assert leaked == []


async def test_every_process_shows_the_connectors_of_the_one_running_them(
        hub: Hub, settings: Settings) -> None:
    """``serve --processes N`` or API processes beside ``chronik worker --all``: an admin's
    request may reach a process that does not run the connectors; it shows what the process
    running them reported (who, when), not an empty list."""
    _, live = await hub.admin.get("/connectors")
    assert live["items"], "the test server runs components"
    async with serving(settings, workers=False) as (_, base), ClientSession() as session:
        _, shown = await Api(session, base, hub.admin.token).get("/connectors")
    assert [(i["name"], i["kind"], i["state"]) for i in shown["items"]] == [
        (i["name"], i["kind"], i["state"]) for i in sorted(live["items"],
                                                           key=lambda i: i["name"])]
    assert {i["reported_by"] for i in shown["items"]} == {live["items"][0]["reported_by"]}
    assert live["items"][0]["reported_by"].endswith(f":{os.getpid()}")


async def test_a_process_that_stopped_reporting_shows_unknown_and_a_stop_shows_stopped(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", http_port=0)
    async with serving(settings, workers=True) as (state, _):  # runs, then stops
        office = await state.store.create_office("Büro", "DE")
        token = new_token()
        await state.store.create_agent(office.id, "Anna", Role.ADMIN, hash_token(token))
        names = sorted(c.name for c in state.components)
    async with serving(settings, workers=False) as (state, base), \
            ClientSession() as session:
        admin = Api(session, base, token)
        _, shown = await admin.get("/connectors")
        assert [(i["name"], i["state"]) for i in shown["items"]] == [
            (n, "stopped") for n in names]
        # another process runs the first one; its report is 20 s old: it was killed or
        # hangs. It is shown (unknown), and replaces that component's clean stop
        item = {**shown["items"][0], "state": "running"}
        del item["reported_by"], item["reported_at"]
        await state.store.replace_component_reports(
            "gone:1", [item], utcnow() - timedelta(seconds=20))
        _, shown = await admin.get("/connectors")
        assert [(i["name"], i["state"]) for i in shown["items"]] == [
            (item["name"], "unknown"), *((n, "stopped") for n in names[1:])]
        assert shown["items"][0]["reported_by"] == "gone:1"


async def test_a_mail_without_a_sender_is_stored_for_the_customer_an_admin_names(
        hub: Hub) -> None:
    """No From, Sender, Reply-To or Return-Path: quarantined; processing it again alone
    cannot help, but assigning it to a customer stores it for them."""
    mail = MailIngest(hub.state.ingest)
    mail.register()
    raw = (b"To: buero@example.com\r\nSubject: Unterlagen\r\nMessage-ID: <ohne@x>\r\n"
           b"Date: Fri, 04 Dec 2026 09:00:00 +0100\r\n\r\nAnbei die Unterlagen.\r\n")
    delivered = await mail.deliver(hub.office.id, raw, "test")
    item = delivered.result.quarantined
    assert item is not None and "no sender" in item.reason
    status, again = await hub.admin.post(f"/quarantine/{item.id}/reprocess", json={})
    assert again["status"] == "open"
    c = await make_customer(hub, "Max Müller")
    status, done = await hub.admin.post(f"/quarantine/{item.id}/reprocess",
                                        json={"customer_id": c["id"]})
    assert status == 200 and done["status"] == "processed", done
    _, tl = await hub.agent.get(f"/customers/{c['id']}/timeline")
    (entry,) = tl["items"]
    assert entry["subject"] == "Unterlagen" and entry["body"] == "Anbei die Unterlagen."
    assert entry["meta"]["from"] == NO_SENDER
    assert any("names no sender" in n for n in entry["meta"]["parse_notes"])
    _, customer = await hub.agent.get(f"/customers/{c['id']}")
    assert NO_SENDER not in json.dumps(customer)  # not made one of the customer's addresses
