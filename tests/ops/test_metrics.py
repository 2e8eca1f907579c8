"""``GET /metrics`` as Prometheus reads it: route templates (never raw paths), latency
histograms, delivery outcomes after a real notification, queue depths, ingest and index
counters, open live-event streams — and who may read it at all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer, make_mocked_request
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from chronik.app import create_app
from chronik.metrics import Attempt, DeliveryTally, StoreSnapshot
from chronik.ops import metrics_access
from chronik.settings import Settings
from tests.conftest import Hub
from tests.notify.conftest import SmtpSink, customer, eventually, note, outcome
from timeline.ids import new_ulid

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(hub: Hub, headers: dict[str, str] | None = None) -> Samples:
    async with hub.anon.session.get(str(hub.server.make_url("/metrics")),
                                    headers=headers or {}) as resp:
        text = await resp.text()
        assert resp.status == 200, text
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (n, labels) in samples if n == name]


async def test_requests_are_labelled_by_route_template(hub: Hub) -> None:
    status, c = await hub.agent.post("/customers", json={"name": "Erika Mustermann"})
    assert status == 201
    status, _ = await hub.agent.get(f"/customers/{c['id']}")
    assert status == 200
    samples = await scrape(hub)
    assert value(samples, "chronik_http_request_duration_seconds_count",
                 method="GET", route="/api/v1/customers/{id}") == 1
    assert value(samples, "chronik_http_responses_total", method="GET",
                 route="/api/v1/customers/{id}", status="200") == 1
    assert value(samples, "chronik_http_responses_total", method="POST",
                 route="/api/v1/customers", status="201") == 1
    buckets = [labels for labels in series(samples, "chronik_http_request_duration_seconds_bucket")
               if labels["route"] == "/api/v1/customers/{id}"]
    assert {b["le"] for b in buckets} >= {"0.05", "0.1", "+Inf"}
    assert c["id"] not in str(samples)


async def test_cardinality_stays_bounded_across_many_ids(hub: Hub) -> None:
    before = await scrape(hub)
    ids = [new_ulid() for _ in range(100)]
    for i, some_id in enumerate(ids):
        status, _ = await hub.agent.get(f"/customers/{some_id}")  # 404: no such customer
        assert status == 404
        async with hub.anon.session.get(str(hub.server.make_url(f"/no/such/page/{i}"))) as r:
            assert r.status == 404
    after = await scrape(hub)
    grown = set(after) - set(before)
    names = {"chronik_http_request_duration_seconds_count", "chronik_http_responses_total"}
    routes = {dict(labels)["route"] for name, labels in grown if name in names}
    assert routes <= {"/api/v1/customers/{id}", "unmatched", "/metrics"}, routes
    assert len(grown) < 100  # a few routes × 15 histogram series, not 16 series per id
    assert value(after, "chronik_http_responses_total", method="GET",
                 route="/api/v1/customers/{id}", status="404") == 100
    assert value(after, "chronik_http_responses_total", method="GET", route="unmatched",
                 status="404") == 100
    text = str(after)
    assert not any(some_id in text for some_id in ids) and "/no/such" not in text


async def test_a_real_notification_shows_as_a_delivery_outcome(nhub: Hub,
                                                               smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, email="erika@example.de")
    e = await note(nhub, c["id"], "Ihr Vertrag ist verlängert.", visibility="published",
                   notify=True)
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"
    assert len(await smtp_sink.wait(1)) == 1
    samples = await scrape(nhub)
    assert value(samples, "chronik_delivery_attempts_total", channel="email",
                 outcome="sent") == 1
    assert value(samples, "chronik_notify_jobs", status="pending") == 0
    assert value(samples, "chronik_notify_due_jobs") == 0
    assert value(samples, "chronik_store_scrape_ok") == 1
    assert value(samples, "chronik_entries_stored_total", channel="note") == 1  # ingest


async def test_index_counter_and_queue_depth(hub: Hub) -> None:
    status, c = await hub.agent.post("/customers", json={"name": "Erika Mustermann"})
    for text in ("Rückruf vereinbart", "Police verschickt", "Schaden gemeldet"):
        status, _ = await hub.agent.post(f"/customers/{c['id']}/entries",
                                         json={"kind": "note", "body": text,
                                               "visibility": "internal"})  # no notification
        assert status == 201                                                 # entries later
    await hub.indexed()
    samples = await scrape(hub)
    assert value(samples, "chronik_index_queue") == 0
    assert (value(samples, "chronik_index_tasks_total") or 0) >= 3
    assert value(samples, "chronik_quarantine_open") == 0


async def test_open_event_streams_are_counted(hub: Hub) -> None:
    headers = {"Authorization": f"Bearer {hub.agent.token}"}
    assert value(await scrape(hub), "chronik_sse_clients") == 0
    resp = await hub.agent.session.get(hub.agent.base + "/events", headers=headers)
    try:
        assert resp.status == 200
        await resp.content.readline()  # ": connected" — the stream is open
        assert value(await scrape(hub), "chronik_sse_clients") == 1
    finally:
        resp.close()

    async def closed() -> bool:
        return value(await scrape(hub), "chronik_sse_clients") == 0

    await eventually(closed, timeout=5)
    assert value(await scrape(hub), "chronik_http_request_duration_seconds_count",
                 method="GET", route="/api/v1/events") is None  # no multi-minute "latency"


async def _status(session: ClientSession, server: TestServer,
                  headers: dict[str, str]) -> tuple[int, Any]:
    async with session.get(str(server.make_url("/metrics")), headers=headers) as resp:
        return resp.status, await resp.json() if resp.status != 200 else None


async def test_a_token_guards_metrics_when_set(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", http_port=0,
                        metrics_token=SecretStr("m3trics-t0ken"))
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as session:
            status, body = await _status(session, server, {})
            assert status == 401 and body["error"]["code"] == "unauthorized"
            status, _ = await _status(session, server, {"Authorization": "Bearer wrong"})
            assert status == 401
            status, _ = await _status(session, server,
                                      {"Authorization": "Bearer m3trics-t0ken"})
            assert status == 200
    finally:
        await server.close()


async def test_without_a_token_only_this_machine_may_read(hub: Hub) -> None:
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):  # came through a proxy
        status, body = await _status(hub.anon.session, hub.server, {header: "203.0.113.9"})
        assert status == 403 and body["error"]["code"] == "forbidden", header
    status, _ = await _status(hub.anon.session, hub.server, {})
    assert status == 200


class _Peer:
    def __init__(self, address: str) -> None:
        self.address = address

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.address, 40000) if name == "peername" else default


def test_remote_peers_are_refused_without_a_token() -> None:
    """A request from another machine (no second network to send one from here: the peer
    address is what the server's transport reports)."""
    for address, allowed in (("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
                             ("10.1.2.3", False), ("192.0.2.7", False), ("2001:db8::1", False)):
        request = make_mocked_request("GET", "/metrics", transport=_Peer(address))
        refused = metrics_access(request, None)
        assert (refused is None) == allowed, address
        if refused is not None:
            assert refused.status == 403
        with_token = make_mocked_request("GET", "/metrics", transport=_Peer(address),
                                         headers={"Authorization": "Bearer t"})
        assert metrics_access(with_token, "t") is None, address


class _Attempts:
    """The store's delivery attempts as the metrics read them: rows that are added, finish
    (``sending`` -> an outcome) or vanish (erasure)."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, str]] = {}

    async def snapshot(self) -> StoreSnapshot:
        return StoreSnapshot()

    async def last_attempt_id(self) -> int:
        return max(self.rows, default=0)

    async def attempts_after(self, after_id: int, limit: int) -> list[Attempt]:
        return [(i, *self.rows[i]) for i in sorted(self.rows) if i > after_id][:limit]

    async def attempts_by_id(self, ids: Sequence[int]) -> list[Attempt]:
        return [(i, *self.rows[i]) for i in ids if i in self.rows]


async def test_delivery_outcomes_count_each_finished_attempt_once() -> None:
    store = _Attempts()
    store.rows[1] = ("email", "sent")  # before the server started: not counted
    tally = DeliveryTally()
    await tally.update(store)
    store.rows.update({2: ("email", "sent"), 3: ("telegram", "sending"),
                       4: ("portal", "sending")})
    await tally.update(store)
    assert tally.totals == {("email", "sent"): 1}
    store.rows[3] = ("telegram", "transient")  # finished after the scrape that saw it start
    del store.rows[4]  # erased while in flight
    store.rows[5] = ("email", "permanent")
    await tally.update(store)
    await tally.update(store)  # nothing new: nothing counted twice
    assert tally.totals == {("email", "sent"): 1, ("telegram", "transient"): 1,
                            ("email", "permanent"): 1}
    assert tally.in_flight == {}
