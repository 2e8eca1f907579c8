"""Review (storage limitation, GDPR Art. 5(1)(e)): the state the CTI connector keeps per call
— the caller's and the called number, who answered, when — was kept for ever, for every
call, outside every retention rule: a rule that deletes calls after two years left the
numbers of every call in ``cti_calls``. The state only serves events of a call still going
on or arriving late; the retention job now forgets it after 7 days (the call itself is an
entry on the timeline, under the office's retention rules)."""

from __future__ import annotations

from datetime import timedelta

from chronik.glue.privacy import RetentionComponent
from tests.conftest import Hub


async def _call(hub: Hub, call_id: str, number: str) -> None:
    _, office = await hub.admin.get("/office")
    cti = office["cti_url_path"].removeprefix("/api/v1")
    for event in ({"event": "newCall", "callId": call_id, "from": number,
                   "to": "+49 30 5555", "direction": "in"},
                  {"event": "hangup", "callId": call_id, "cause": "normalClearing",
                   "from": number, "to": "+49 30 5555", "direction": "in"}):
        status, body = await hub.anon.post(cti, json=event)
        assert status == 200, body


async def test_call_states_are_forgotten_by_the_retention_job(hub: Hub) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Carla Call",
                                                         "phones": ["0171 5550777"]})
    assert status == 201, c
    await _call(hub, "call-old", "0171 5550777")
    store = hub.state.store
    state = await store.call_state(hub.office.id, "call-old")
    assert state is not None and "5550777" in str(state)
    status, timeline = await hub.admin.get(f"/customers/{c['id']}/timeline")
    assert [e["kind"] for e in timeline["items"]] == ["call"]

    # the default keeps a call's state for a week: a run now forgets nothing
    assert (await RetentionComponent(hub.state, 3600.0).run_once())["call_states_pruned"] == 0
    assert await store.call_state(hub.office.id, "call-old") is not None
    # a week later (the job's horizon moved to now): the state goes, the call entry stays
    last = await RetentionComponent(hub.state, 3600.0,
                                    call_state_keep=timedelta(0)).run_once()
    assert last["call_states_pruned"] == 1
    assert await store.call_state(hub.office.id, "call-old") is None
    status, timeline = await hub.admin.get(f"/customers/{c['id']}/timeline")
    assert [e["kind"] for e in timeline["items"]] == ["call"]
