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


async def test_the_last_report_is_all_there_is_and_every_handle_sees_it(
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
    # the process restarted with another configuration: the old names go
    later = at + timedelta(seconds=5)
    await second_store.replace_component_reports("host-b:7", [report("notifier")], later)
    [only] = await store.component_reports()
    assert (only.name, only.process, only.reported_at) == ("notifier", "host-b:7", later)
    await store.replace_component_reports("host-b:7", [], later)
    assert await store.component_reports() == []
