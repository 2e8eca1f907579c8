"""Contract: the connectors' and workers' states, stored by the process running them for
every process to show (``timeline.repositories.ComponentReports``)."""

from __future__ import annotations

from datetime import timedelta

from timeline.models import utcnow
from timeline.store import Store

COVERS = frozenset({"replace_component_reports", "component_reports"})


def report(name: str, state: str = "running", **kw: object) -> dict[str, object]:
    return {"name": name, "kind": "connector", "state": state, "restarts": 0,
            "last_error": None, "last_error_at": None, "next_attempt_in": None,
            "diagnostics": {"mode": "polling", "counters": {"messages": 3}}, **kw}


async def test_each_process_replaces_its_own_reports_and_every_handle_sees_them(
        store: Store, second_store: Store) -> None:
    assert await store.component_reports() == []
    at = utcnow()
    await store.replace_component_reports("host-a:101", [report("telegram"),
                                                         report("imap", "backoff")], at)
    got = await second_store.component_reports()
    assert [(r.name, r.process, r.report["state"]) for r in got] == [
        ("imap", "host-a:101", "backoff"), ("telegram", "host-a:101", "running")]
    assert got[1].report == report("telegram")
    assert abs(got[0].reported_at - at) < timedelta(milliseconds=1)
    # a notification worker elsewhere, and a second one: each keeps its own
    later = at + timedelta(seconds=5)
    await second_store.replace_component_reports("host-b:7", [report("notifier")], later)
    await store.replace_component_reports("host-c:9", [report("notifier")], later)
    assert [(r.name, r.process) for r in await store.component_reports()] == [
        ("imap", "host-a:101"), ("notifier", "host-b:7"), ("notifier", "host-c:9"),
        ("telegram", "host-a:101")]
    # a process restarted with another configuration: its old names go, nobody else's
    await store.replace_component_reports("host-a:101", [report("imap")], later)
    assert [(r.name, r.process) for r in await second_store.component_reports()] == [
        ("imap", "host-a:101"), ("notifier", "host-b:7"), ("notifier", "host-c:9")]
    await store.replace_component_reports("host-a:101", [], later)
    assert {r.process for r in await store.component_reports()} == {"host-b:7", "host-c:9"}


async def test_reports_not_renewed_for_an_hour_are_forgotten(store: Store) -> None:
    """A process killed long ago (or stopped and never started again) does not stay on the
    admins' page forever: the next report of any process removes it."""
    now = utcnow()
    await store.replace_component_reports("gone:1", [report("notifier", "stopped")],
                                          now - timedelta(minutes=61))
    await store.replace_component_reports("hung:2", [report("notifier")],
                                          now - timedelta(minutes=59))
    assert len(await store.component_reports()) == 2
    await store.replace_component_reports("alive:3", [report("telegram")], now)
    assert [(r.name, r.process) for r in await store.component_reports()] == [
        ("notifier", "hung:2"), ("telegram", "alive:3")]
