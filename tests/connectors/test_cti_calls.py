"""The call state machine on its own: any order, any repetition, the same call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connectors.phone import CallState, CtiEvent, parse_event
from connectors.phone.calls import MISSED_TAG

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def events(cause: str, answered: bool) -> list[CtiEvent]:
    out = [parse_event({"event": "newCall", "callId": "c", "from": "+491711234567",
                        "to": "+492111234567", "direction": "in"}, T0)]
    if answered:
        out.append(parse_event({"event": "answer", "callId": "c", "user": "Tom"},
                               T0 + timedelta(seconds=4)))
    out.append(parse_event({"event": "hangup", "callId": "c", "cause": cause},
                           T0 + timedelta(seconds=94)))
    return out


def play(sequence: list[CtiEvent]) -> CallState:
    state = CallState.start(sequence[0])
    for event in sequence:
        state.apply(event)
    return state


@given(st.sampled_from(["normalClearing", "noAnswer", "cancel", "busy", "forwarded"]),
       st.booleans(), st.data())
def test_order_and_duplicates_do_not_change_the_call(cause: str, answered: bool,
                                                     data: st.DataObject) -> None:
    base = events(cause, answered)
    expected = play(base).render()
    shuffled = data.draw(st.permutations(base))
    repeated = data.draw(st.lists(st.sampled_from(base), max_size=6))
    got = play([*shuffled, *repeated]).render()
    arrival = got.meta.pop("cti_events")
    assert sorted(arrival) == sorted(expected.meta.pop("cti_events"))
    assert got.model_dump() == expected.model_dump()
    missed = not answered and cause not in ("normalClearing", "forwarded")
    assert (MISSED_TAG in got.tags) is missed and got.meta["missed"] is missed
    assert got.meta["duration_seconds"] == (90 if answered else None)
    assert got.meta["started_at"] == T0.isoformat()


def test_a_call_that_is_still_ringing() -> None:
    (new_call, _) = events("noAnswer", answered=False)
    state = play([new_call])
    rendered = state.render()
    assert state.status == "ringing" and state.outcome is None
    assert rendered.subject == "Call from +491711234567 (ringing)" and rendered.tags == ()
