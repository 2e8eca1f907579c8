"""The FRITZ!Box call monitor as a phone source, end to end: a running Chronik (its own
supervisor, built from ``CHRONIK_FRITZBOX_*``) reads a local stand-in of the box's TCP port
1012, and what agents see is checked -- the ``call.ringing`` live event, the call entries on
the timelines, ``GET /api/v1/connectors``.

The stand-in (:class:`CallMonitorStandIn`) only speaks the box's side of the protocol: it
writes the bytes it is given to every connected client, and can drop the connections or
stop listening (port refused). It knows nothing of what a test expects."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import chronik.app
from chronik.components import Supervisor
from chronik.glue.phone import cti_service
from connectors.phone import fritzbox
from tests.api.test_customers_entries import make_customer
from tests.api.test_events import stream
from tests.conftest import Hub
from tests.connectors.test_cti import calls_of

CUSTOMER = "+491711234567"
OTHER = "+491609876543"


class CallMonitorStandIn:
    """The box's side of the call monitor on 127.0.0.1 (port 0 the first time, then the
    same port again after :meth:`stop` / :meth:`start`: a box restart)."""

    def __init__(self) -> None:
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._clients: list[asyncio.StreamWriter] = []
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        self._clients.append(writer)
        async with self._changed:
            self.accepted += 1
            self._changed.notify_all()
        await reader.read()  # the client says nothing; this returns when it goes away
        if writer in self._clients:
            self._clients.remove(writer)
        writer.close()

    async def connected(self, count: int, wait: float = 5.0) -> None:
        """Until ``count`` connections were accepted so far (counting from the start)."""
        async with asyncio.timeout(wait), self._changed:
            await self._changed.wait_for(lambda: self.accepted >= count)

    async def write(self, data: bytes) -> None:
        for writer in list(self._clients):
            writer.write(data)
            await writer.drain()

    async def lines(self, *lines: str, end: str = "\n") -> None:
        await self.write("".join(line + end for line in lines).encode())

    async def drop(self) -> None:
        for writer in self._clients:
            writer.close()
        self._clients.clear()

    async def stop(self) -> None:
        """Close every connection and stop listening: connections are refused."""
        await self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


@pytest.fixture
async def box() -> AsyncIterator[CallMonitorStandIn]:
    standin = CallMonitorStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
def fritz_env(box: CallMonitorStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The call monitor on, pointed at the stand-in, with the server's supervisor retrying
    within a fraction of a second (set before ``hub`` starts the server)."""
    monkeypatch.setenv("CHRONIK_FRITZBOX_ENABLED", "true")
    monkeypatch.setenv("CHRONIK_FRITZBOX_HOST", "127.0.0.1")
    monkeypatch.setenv("CHRONIK_FRITZBOX_PORT", str(box.port))
    monkeypatch.setattr(chronik.app, "Supervisor",
                        functools.partial(Supervisor, base_delay=0.05, max_delay=0.2))


@pytest.fixture
async def fhub(fritz_env: None, hub: Hub, box: CallMonitorStandIn) -> Hub:
    """A running Chronik whose call monitor reads ``box`` (connected once it returns)."""
    await box.connected(1)
    return hub


async def eventually(check: Callable[[], Awaitable[Any]], wait: float = 5.0) -> Any:
    """``check()``'s first truthy value (it is asked again every 20 ms)."""
    deadline = time.monotonic() + wait
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {wait}s (last: {value!r})")
        await asyncio.sleep(0.02)


async def connector(hub: Hub) -> dict[str, Any]:
    status, body = await hub.admin.get("/connectors")
    assert status == 200
    (item,) = [i for i in body["items"] if i["name"] == "phone-fritzbox"]
    return dict(item)


def ended(count: int = 1) -> Callable[[Hub, str], Awaitable[list[dict[str, Any]]]]:
    async def check(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
        calls = await calls_of(hub, customer_id)
        done = [c for c in calls if c["meta"]["status"] == "ended"]
        return calls if len(done) >= count else []
    return check


async def test_ringing_answered_ended_call(fhub: Hub, box: CallMonitorStandIn) -> None:
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    async with stream(fhub, fhub.agent, fhub.office.id) as live:
        await box.lines("06.12.26 15:01:02;RING;0;01711234567;030123456;SIP0;")
        ringing = await live.until("call.ringing")
    assert ringing["direction"] == "in" and ringing["number"] == CUSTOMER
    assert ringing["customer_id"] == c["id"]
    assert [m["customer"]["id"] for m in ringing["matches"]] == [c["id"]]
    await box.lines("06.12.26 15:01:09;CONNECT;0;10;01711234567;",
                    "06.12.26 15:03:40;DISCONNECT;0;151;")
    (call,) = await eventually(lambda: ended()(fhub, c["id"]))
    assert call["subject"] == f"Call from {CUSTOMER}"
    assert call["direction"] == "inbound" and call["channel"] == "phone"
    # the box's local time (CET in December) read in the office's zone
    assert datetime.fromisoformat(call["occurred_at"]) == datetime(2026, 12, 6, 14, 1, 2,
                                                                  tzinfo=UTC)
    meta = call["meta"]
    assert meta["outcome"] == "answered" and meta["duration_seconds"] == 151
    assert meta["answered_by"] == "extension 10" and meta["missed"] is False
    assert call["body"] == "Answered by extension 10. Duration 2:31."
    item = await connector(fhub)
    assert item["state"] == "running"
    assert item["diagnostics"]["status"] == "connected, idle"
    assert item["diagnostics"]["events"] == 3


async def test_ring_then_disconnect_is_a_missed_call(fhub: Hub, box: CallMonitorStandIn
                                                     ) -> None:
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    await box.lines("06.12.26 09:00:00;RING;2;01711234567;030123456;SIP0;",
                    "06.12.26 09:00:20;DISCONNECT;2;0;")
    (call,) = await eventually(lambda: ended()(fhub, c["id"]))
    assert call["subject"] == f"Missed call from {CUSTOMER}"
    assert call["meta"]["missed"] is True and "missed" in call["tags"]
    assert call["meta"]["duration_seconds"] is None


async def test_outgoing_call(fhub: Hub, box: CallMonitorStandIn) -> None:
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    async with stream(fhub, fhub.agent, fhub.office.id) as live:
        await box.lines("06.12.26 10:00:00;CALL;1;10;030123456;01711234567;SIP1;")
        ringing = await live.until("call.ringing")
    assert ringing["direction"] == "out" and ringing["customer_id"] == c["id"]
    await box.lines("06.12.26 10:00:07;CONNECT;1;10;01711234567;",
                    "06.12.26 10:01:07;DISCONNECT;1;60;")
    (call,) = await eventually(lambda: ended()(fhub, c["id"]))
    assert call["subject"] == f"Call to {CUSTOMER}" and call["direction"] == "outbound"
    assert call["meta"]["outcome"] == "answered" and call["meta"]["duration_seconds"] == 60


async def test_two_calls_at_once(fhub: Hub, box: CallMonitorStandIn) -> None:
    a = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    b = await make_customer(fhub, "Max Mustermann", phones=["+49 160 9876543"])
    await box.lines("06.12.26 11:00:00;RING;0;01711234567;030123456;SIP0;",
                    "06.12.26 11:00:01;RING;1;01609876543;030123456;SIP0;",
                    "06.12.26 11:00:05;CONNECT;1;11;01609876543;",
                    "06.12.26 11:00:30;DISCONNECT;0;0;",
                    "06.12.26 11:02:05;DISCONNECT;1;120;")
    (first,) = await eventually(lambda: ended()(fhub, a["id"]))
    (second,) = await eventually(lambda: ended()(fhub, b["id"]))
    assert first["meta"]["missed"] is True and first["meta"]["number"] == CUSTOMER
    assert second["meta"]["outcome"] == "answered" and second["meta"]["number"] == OTHER
    assert second["meta"]["duration_seconds"] == 120
    assert second["meta"]["answered_by"] == "extension 11"


async def test_split_lines_crlf_and_garbage_are_read_or_skipped(
        fhub: Hub, box: CallMonitorStandIn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    restarts = (await connector(fhub))["restarts"]
    await box.lines("hello box", "06.12.26 12:00:00;FAX;0;01711234567;",
                    "06.12.26 12:00:00;RING;x;01711234567;030123456;SIP0;",
                    "06.12.26 12:00:00;RING;0;01711234567",
                    "99.99.99 12:00:00;RING;0;01711234567;030123456;SIP0;",
                    "06.12.26 12:00:00;DISCONNECT;0;ten;", "x;" * 2000, end="\r\n")
    line = b"06.12.26 12:00:00;RING;3;01711234567;030123456;SIP0;\r\n"
    await box.write(line[:20])  # one line across several TCP reads
    await asyncio.sleep(0.05)
    await box.write(line[20:40])
    await asyncio.sleep(0.05)
    await box.write(line[40:] + b"06.12.26 12:00:09;CONNECT;3;10;01711234567;\r\n"
                    b"06.12.26 12:00:19;DISCONNECT;3;10;\r\n")
    (call,) = await eventually(lambda: ended()(fhub, c["id"]))
    assert call["meta"]["duration_seconds"] == 10
    item = await connector(fhub)
    assert item["state"] == "running" and item["restarts"] == restarts
    skipped = item["diagnostics"]["skipped"]
    assert skipped["unknown event 'FAX'"] == 1 and skipped["line too long"] >= 1
    assert skipped["RING with 4 fields, needs 6"] == 1
    assert skipped["a date that is not DD.MM.YY HH:MM:SS"] == 1
    assert skipped["RING with a connection id that is no number"] == 1
    assert skipped["DISCONNECT with a duration that is no number"] == 1
    assert skipped["not a call-monitor line"] >= 1
    assert "1711234567" not in caplog.text and "skipped" in caplog.text


@pytest.fixture
def office_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The box serves two offices: this one has the number 030 123456 and the line SIP2."""
    monkeypatch.setenv("CHRONIK_FRITZBOX_NUMBERS", "030 123456")
    monkeypatch.setenv("CHRONIK_FRITZBOX_LINES", "SIP2")


async def test_calls_of_another_office_on_the_same_box_are_left_alone(
        office_lines: None, fhub: Hub, box: CallMonitorStandIn) -> None:
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    await box.lines("06.12.26 16:00:00;RING;0;01711234567;030999999;SIP0;",
                    "06.12.26 16:00:10;DISCONNECT;0;0;",
                    "06.12.26 16:01:00;CALL;1;10;030999999;01711234567;SIP1;",
                    "06.12.26 16:01:10;DISCONNECT;1;0;",
                    "06.12.26 16:02:00;RING;2;01711234567;+4930123456;SIP0;",
                    "06.12.26 16:02:10;DISCONNECT;2;0;",
                    "06.12.26 16:03:00;CALL;3;10;040555666;01711234567;SIP2;",
                    "06.12.26 16:03:10;DISCONNECT;3;0;")
    calls = await eventually(lambda: ended(2)(fhub, c["id"]))
    assert sorted(call["meta"]["to"] for call in calls) == sorted(["+4930123456", CUSTOMER])
    item = await connector(fhub)
    assert item["diagnostics"]["other_office_calls"] == 2


async def test_withheld_number_still_rings(fhub: Hub, box: CallMonitorStandIn) -> None:
    async with stream(fhub, fhub.agent, fhub.office.id) as live:
        await box.lines("06.12.26 13:00:00;RING;0;;030123456;SIP0;")
        ringing = await live.until("call.ringing")
    assert ringing["number"] == "anonymous" and ringing["normalised"] is None
    assert ringing["matches"] == [] and ringing["quarantined"] is True


async def test_the_same_lines_again_after_a_reconnect_make_no_second_call(
        fhub: Hub, box: CallMonitorStandIn) -> None:
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    ring = "06.12.26 14:00:00;RING;0;01711234567;030123456;SIP0;"
    await box.lines(ring)
    await eventually(lambda: calls_of(fhub, c["id"]))
    await box.drop()  # the network drops; the box sends the ring again after it
    await box.connected(2)
    await box.lines(ring, "06.12.26 14:00:04;CONNECT;0;10;01711234567;",
                    "06.12.26 14:00:34;DISCONNECT;0;30;")
    (call,) = await eventually(lambda: ended()(fhub, c["id"]))
    assert call["meta"]["duration_seconds"] == 30


async def test_box_restart_reconnects_and_the_next_call_arrives(
        fhub: Hub, box: CallMonitorStandIn) -> None:
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    await box.stop()
    item = await eventually(lambda: _in_backoff(fhub))
    # first the connection closes, then the port is refused until the box is up again
    assert ("connection closed by the box" in item["last_error"]
            or "passes by itself" in item["last_error"])
    await box.start()  # back on the same port
    await box.connected(2)
    item = await eventually(lambda: _running(fhub))
    assert item["diagnostics"]["connects"] == 2
    await box.lines("06.12.26 15:10:00;RING;4;01711234567;030123456;SIP0;",
                    "06.12.26 15:10:30;DISCONNECT;4;0;")
    (call,) = await eventually(lambda: ended()(fhub, c["id"]))
    assert call["meta"]["missed"] is True


async def test_a_call_whose_end_never_came_is_forgotten(
        fhub: Hub, box: CallMonitorStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fritzbox, "MAX_CALL_SECONDS", 0.3)  # 12 hours, in the server
    c = await make_customer(fhub, "Erika Mustermann", phones=["+49 171 1234567"])
    await box.lines("06.12.26 15:20:00;RING;5;01711234567;030123456;SIP0;")
    await eventually(lambda: calls_of(fhub, c["id"]))
    item = await connector(fhub)
    assert item["diagnostics"]["status"] == "connected, 1 call in progress"
    await asyncio.sleep(0.35)  # the box restarted during the call: no DISCONNECT comes
    await box.lines("hello box")
    await eventually(lambda: _running(fhub))


async def _in_backoff(hub: Hub) -> dict[str, Any] | None:
    item = await connector(hub)
    return item if item["state"] == "backoff" and item["last_error"] else None


async def _running(hub: Hub) -> dict[str, Any] | None:
    item = await connector(hub)
    return item if item["diagnostics"]["status"] == "connected, idle" else None


async def test_refused_port_says_how_to_switch_the_call_monitor_on(
        fritz_env: None, box: CallMonitorStandIn, hub: Hub) -> None:
    await box.connected(1)
    await box.stop()  # nothing listens on the port any more: the call monitor is off
    item = await eventually(lambda: _refused(hub))
    assert item["state"] == "backoff"
    assert "dial #96*5* on a phone connected to the box" in item["last_error"]
    assert item["diagnostics"]["status"].startswith(
        "call monitor off: dial #96*5* on a phone connected to the box")


async def _refused(hub: Hub) -> dict[str, Any] | None:
    item = await connector(hub)
    return item if "call monitor off" in (item["last_error"] or "") else None


async def test_unknown_host_is_said(monkeypatch: pytest.MonkeyPatch, fritz_env: None,
                                    hub: Hub) -> None:
    monkeypatch.setenv("CHRONIK_FRITZBOX_HOST", "no-such-box.invalid")
    from chronik.glue.phone import components
    (monitor,) = [c for c in components(hub.state) if c.name == "phone-fritzbox"]
    supervisor = Supervisor([monitor], base_delay=0.05, max_delay=0.2)
    supervisor.start()
    try:
        report = await eventually(lambda: _first_error(supervisor))
    finally:
        await supervisor.stop()
    assert "host unknown: no-such-box.invalid" in report["last_error"]


async def _first_error(supervisor: Supervisor) -> dict[str, Any] | None:
    (report,) = supervisor.report()
    return report if report["last_error"] else None


async def test_invalid_settings_are_shown_not_raised(monkeypatch: pytest.MonkeyPatch,
                                                     hub: Hub) -> None:
    monkeypatch.setenv("CHRONIK_FRITZBOX_ENABLED", "true")
    monkeypatch.setenv("CHRONIK_FRITZBOX_TIMEZONE", "Europe/Nowhere")
    from chronik.glue.phone import components
    (monitor,) = [c for c in components(hub.state) if c.name == "phone-fritzbox"]
    assert "CHRONIK_FRITZBOX_TIMEZONE" in monitor.diagnostics()["problem"]


@pytest.fixture
def named_extensions(fritz_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONIK_FRITZBOX_EXTENSIONS", "10=Anna Admin, 11=Tom Agent")


async def test_named_extensions_say_who_answered(
        named_extensions: None, box: CallMonitorStandIn, hub: Hub) -> None:
    """``CHRONIK_FRITZBOX_EXTENSIONS=10=Anna Admin, 11=Tom Agent``: the call says who took
    it; an internal number not named stays ``extension 12``."""
    await box.connected(1)
    c = await make_customer(hub, "Erika Mustermann", phones=["+49 171 1234567"])
    await box.lines("06.12.26 15:01:02;RING;0;01711234567;030123456;SIP0;",
                    "06.12.26 15:01:09;CONNECT;0;11;01711234567;",
                    "06.12.26 15:03:40;DISCONNECT;0;151;",
                    "06.12.26 16:00:00;CALL;1;12;030123456;01711234567;SIP1;",
                    "06.12.26 16:00:07;CONNECT;1;12;01711234567;",
                    "06.12.26 16:01:07;DISCONNECT;1;60;")
    calls = await eventually(lambda: ended(2)(hub, c["id"]))
    by_direction = {call["direction"]: call for call in calls}
    assert by_direction["inbound"]["meta"]["answered_by"] == "Tom Agent"
    assert by_direction["inbound"]["body"] == "Answered by Tom Agent. Duration 2:31."
    assert by_direction["outbound"]["meta"]["answered_by"] == "extension 12"


def test_extension_names_must_be_number_equals_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.phone.settings import FritzboxSettings

    monkeypatch.setenv("CHRONIK_FRITZBOX_EXTENSIONS", "10=Anna Admin, 11 = Tom Agent")
    assert FritzboxSettings().extension_names == (("10", "Anna Admin"), ("11", "Tom Agent"))
    monkeypatch.setenv("CHRONIK_FRITZBOX_EXTENSIONS", "10 Anna")
    with pytest.raises(ValueError, match="not number=name"):
        FritzboxSettings()


#: When the calls of the restart tests begin: a little before now, as a restart finds them
#: (the process after it takes up only calls begun within ``MAX_CALL_SECONDS``).
RUNG_BEFORE = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)


def box_at(seconds: int) -> str:
    """The box's time stamp (its local time, Europe/Berlin) ``seconds`` after
    :data:`RUNG_BEFORE`."""
    at = RUNG_BEFORE + timedelta(seconds=seconds)
    return at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%d.%m.%y %H:%M:%S")


async def test_a_call_rung_before_a_restart_is_answered_and_ended_after_it(
        hub: Hub, box: CallMonitorStandIn) -> None:
    """Chronik restarts while a call rings: the monitor of the new process never read its
    ``RING``, yet the ``CONNECT`` and ``DISCONNECT`` that follow end that call (answered,
    its duration), instead of leaving it "in progress" for 12 hours. A ``CONNECT`` naming
    another number on the same connection id is not taken for it. (The monitors are run as
    a restart runs them: a new one on the same store.)"""
    c = await make_customer(hub, "Erika Mustermann", phones=["+49 171 1234567"])
    after = await restarted(hub, box, f"{box_at(62)};RING;0;01711234567;030123456;SIP0;",
                            f"{box_at(63)};RING;1;01609876543;030123456;SIP0;")
    try:
        await box.lines(f"{box_at(69)};CONNECT;0;10;01711234567;",
                        f"{box_at(70)};CONNECT;1;11;01711234567;",  # not its number
                        f"{box_at(220)};DISCONNECT;0;151;")
        (call,) = await eventually(lambda: ended()(hub, c["id"]))
    finally:
        await stopped(after)
    assert call["meta"]["outcome"] == "answered" and call["meta"]["duration_seconds"] == 151
    assert call["meta"]["answered_by"] == "extension 10"
    assert call["body"] == "Answered by extension 10. Duration 2:31."
    # the other caller's call still rings: the CONNECT naming another number was not its
    [(office_id, other)] = await hub.state.store.unended_calls(datetime.now(UTC), limit=10)
    state = await hub.state.store.call_state(office_id, other)
    assert state is not None and state["from_number"] == OTHER
    assert state["answered_at"] is None


async def test_after_a_restart_a_disconnect_ends_only_a_call_it_fits(
        hub: Hub, box: CallMonitorStandIn) -> None:
    """After a restart a ``DISCONNECT`` (which names no number) ends the call rung before
    only where its duration fits: the time since that call's answer (0 for a call not
    answered). A call of another office on the same connection id, begun after the
    restart, never ends one of ours."""
    c = await make_customer(hub, "Erika Mustermann", phones=["+49 171 1234567"])
    after = await restarted(
        hub, box, f"{box_at(0)};RING;0;01711234567;030123456;SIP2;",
        f"{box_at(5)};CONNECT;0;10;01711234567;",  # answered before the restart
        f"{box_at(10)};RING;1;01711234567;030123456;SIP2;",
        f"{box_at(15)};CONNECT;1;11;01711234567;",
        f"{box_at(20)};RING;2;01711234567;030123456;SIP2;")  # not answered
    try:
        await box.lines(f"{box_at(30)};RING;2;01609876543;030999999;SIP0;",  # theirs
                        f"{box_at(40)};DISCONNECT;2;0;",
                        f"{box_at(125)};DISCONNECT;1;9;",  # answered 110 s ago, not 9
                        f"{box_at(125)};DISCONNECT;0;120;")
        calls = await eventually(lambda: ended()(hub, c["id"]))
    finally:
        await stopped(after)
    (call,) = [call for call in calls if call["meta"]["status"] == "ended"]
    assert call["meta"]["duration_seconds"] == 120
    assert call["occurred_at"].startswith(RUNG_BEFORE.isoformat()[:19])
    async def unended() -> list[tuple[str, bool]]:
        left = [state for office_id, call_id in await hub.state.store.unended_calls(
                    datetime.now(UTC), limit=10)
                if (state := await hub.state.store.call_state(office_id, call_id)) is not None]
        return sorted((s["call_id"][-1], s["answered_at"] is not None) for s in left)

    async def settled() -> list[tuple[str, bool]] | None:
        # the call's state is saved as ended just after its entry is (connectors/phone/service.py)
        left = await unended()
        return None if any(number == "0" for number, _ in left) else left
    with contextlib.suppress(AssertionError):
        await eventually(settled)
    assert await unended() == [("1", True), ("2", False)]


async def restarted(hub: Hub, box: CallMonitorStandIn, *lines: str) -> asyncio.Task[None]:
    """A call monitor that reads ``lines`` (of calls that do not end) and stops (its process
    ends), and the one started after it (running: stop it with :func:`stopped`), both on
    ``hub``'s store (no calls before)."""
    config = fritzbox.FritzboxConfig(host="127.0.0.1", port=box.port, numbers=("030123456",),
                                     lines=("SIP2",))

    def monitor() -> asyncio.Task[None]:
        return asyncio.create_task(
            fritzbox.FritzboxCallMonitor(cti_service(hub.state), config).run())

    before = monitor()
    await box.connected(box.accepted + 1)
    await box.lines(*lines)
    rung = sum(";RING;" in line or ";CALL;" in line for line in lines)
    answered = sum(";CONNECT;" in line for line in lines)

    async def read() -> bool:  # every line stored before the process ends
        states = [await hub.state.store.call_state(office_id, call_id)
                  for office_id, call_id in await hub.state.store.unended_calls(
                      datetime.now(UTC), limit=100)]
        return (len(states) == rung
                and sum(s is not None and s["answered_at"] is not None for s in states)
                == answered)
    await eventually(read)
    await stopped(before)
    after = monitor()
    await box.connected(box.accepted + 1)
    return after


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
