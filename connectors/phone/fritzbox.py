"""The call monitor of an AVM FRITZ!Box as a phone source.

The box writes one line per call event to every client of its TCP port 1012 (on after
dialling ``#96*5*`` on a phone connected to it, off after ``#96*4*``), ``;``-separated, its
times local (``DD.MM.YY HH:MM:SS``)::

    06.12.26 15:01:02;RING;0;01711234567;030123456;SIP0;      caller (empty: withheld), called, line
    06.12.26 15:01:02;CALL;1;10;030123456;01711234567;SIP1;   extension, own number, called, line
    06.12.26 15:01:09;CONNECT;0;10;01711234567;               extension, number
    06.12.26 15:03:40;DISCONNECT;0;151;                       duration in seconds

Each line becomes the :class:`CtiEvent` a webhook would have sent and goes through the same
:class:`CtiService` (caller banner, one call entry, missed/answered/duration, notes).

* The box numbers its connections 0, 1, 2, … and reuses them: a call's id is the time of its
  ``RING``/``CALL`` with the connection id (``fritzbox-20261206T150102-0``), so the same
  line read twice (after a reconnect) is the same call, and the webhook path's idempotency
  keeps it one entry. ``CONNECT``/``DISCONNECT`` find their call by connection id (kept in
  this object, across reconnects); after a restart of Chronik during a call, among the stored
  calls that have not ended (the newest on that connection id that the line fits: a
  ``CONNECT``'s number, a ``DISCONNECT``'s duration), so the call rung before the restart is
  answered and ended as usual.
* ``DISCONNECT`` without ``CONNECT`` is a missed call (inbound) / not reached (outbound);
  one with a duration whose ``CONNECT`` was not read (it came while the connection was
  down) is answered, ``duration`` seconds before its end.
* Calls on numbers or lines not of the office (``numbers``/``lines``) are left alone.
* A line that cannot be read (unknown event, malformed, too long) is logged by its event
  word and what is wrong -- never its numbers -- and skipped.
* A lost connection, a refused port or an unknown host end ``run()`` with a
  :class:`FritzboxError` saying what to do; the supervisor reconnects with backoff and shows
  it at ``GET /api/v1/connectors``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.phone.events import CallDirection, CtiEvent, CtiEventType
from connectors.phone.numbers import e164_or_raw
from connectors.phone.service import CtiService
from timeline.ids import in_window
from timeline.models import Office

log = logging.getLogger(__name__)

DEFAULT_PORT = 1012
MAX_LINE = 1024
"""Bytes of one line at most (a real one has well under 100)."""
HOW_TO_ENABLE = "dial #96*5* on a phone connected to the box"
_DATE = "%d.%m.%y %H:%M:%S"
_FIELDS = {"RING": 6, "CALL": 7, "CONNECT": 5, "DISCONNECT": 4}
"""Fields of each event, date and event word included (the box ends a line with ``;``:
one more, empty; later firmware may add fields, which are ignored)."""


class FritzboxError(Exception):
    """The call monitor cannot be read now; the supervisor reconnects with backoff."""


class CallMonitorOff(FritzboxError):
    """The box refuses port 1012: its call monitor is switched off."""


class BoxUnknown(FritzboxError):
    """The box's name does not resolve."""


class BoxUnreachable(FritzboxError):
    """No answer from the box (off, rebooting, another network) or the connection broke."""


class FritzboxConfigError(FritzboxError):
    """The settings name no office Chronik has."""


class MalformedLine(ValueError):
    """A line that is no call-monitor event; the message says what is wrong (no data)."""


@dataclass(frozen=True)
class BoxEvent:
    """One line of the call monitor, split (no meaning attached yet)."""

    kind: str
    """``RING``, ``CALL``, ``CONNECT`` or ``DISCONNECT``."""
    at_raw: str
    connection: str
    fields: tuple[str, ...]
    """The fields after the connection id."""


def parse_line(line: str) -> BoxEvent:
    """Split one call-monitor line (without its line end); :class:`MalformedLine` says why
    it is none."""
    parts = line.split(";")
    if len(parts) < 3:
        raise MalformedLine("not a call-monitor line")
    at_raw, kind, connection = parts[0].strip(), parts[1].strip().upper(), parts[2].strip()
    needed = _FIELDS.get(kind)
    if needed is None:
        raise MalformedLine(f"unknown event {kind[:20]!r}" if kind.isalpha()
                            else "not a call-monitor line")
    if len(parts) < needed:
        raise MalformedLine(f"{kind} with {len(parts)} fields, needs {needed}")
    if not (connection.isascii() and connection.isdigit()):
        raise MalformedLine(f"{kind} with a connection id that is no number")
    fields = tuple(p.strip() for p in parts[3:])
    if kind == "DISCONNECT" and not (fields[0].isascii() and fields[0].isdigit()):
        raise MalformedLine("DISCONNECT with a duration that is no number")
    return BoxEvent(kind=kind, at_raw=at_raw, connection=connection, fields=fields)


def box_time(raw: str, zone: ZoneInfo, received_at: datetime) -> tuple[datetime, str | None]:
    """The event's time read in the box's time zone, and the raw text when it could not be
    used (a box whose clock is not set yet: the time of receipt is taken)."""
    try:
        local = datetime.strptime(raw, _DATE)  # the zone is attached next
    except ValueError:
        raise MalformedLine("a date that is not DD.MM.YY HH:MM:SS") from None
    value = local.replace(tzinfo=zone).astimezone(UTC)
    if not in_window(value):
        return received_at, raw
    return value, None


@dataclass(frozen=True)
class FritzboxConfig:
    host: str = "fritz.box"
    port: int = DEFAULT_PORT
    office_id: str | None = None
    numbers: tuple[str, ...] = ()
    """The office's numbers on the box; empty: every call of the box is the office's."""
    lines: tuple[str, ...] = ()
    """The office's lines (``SIP0``); empty: every line."""
    timezone: str = "Europe/Berlin"
    extensions: tuple[tuple[str, str], ...] = ()
    """Who answers at which of the box's internal numbers (``("10", "Anna Admin")``): the
    call says "Answered by Anna Admin" instead of "extension 10"."""
    connect_timeout: float = 10.0
    keepalive_seconds: int = 60
    """TCP keep-alive: a box that vanished without closing (network drop) is noticed after
    about this plus 30 seconds (the call monitor itself is silent between calls)."""


MAX_CALL_SECONDS = 12 * 3600
"""A call whose end was never read (the box restarted during it) is forgotten after this."""

DURATION_SLACK = 30
"""Seconds a ``DISCONNECT``'s duration may differ from the time since a call's answer, for
that call to be taken as the one it ends (after a restart of Chronik; the box counts whole
seconds, its clock and ours read the same lines)."""


@dataclass
class _Call:
    call_id: str
    connected: bool = False
    began: float = field(default_factory=time.monotonic)


@dataclass
class _Counters:
    events: int = 0
    skipped_lines: int = 0
    other_lines: int = 0
    """Calls on numbers or lines of another office."""
    failed_events: int = 0
    connects: int = 0
    last_event_at: float | None = None
    connected_since: float | None = None
    skipped: dict[str, int] = field(default_factory=dict)


class FritzboxCallMonitor:
    """Reads one box's call monitor into one office's calls."""

    kind = "connector"

    def __init__(self, cti: CtiService, config: FritzboxConfig,
                 name: str = "phone-fritzbox") -> None:
        self.name = name
        self.cti = cti
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.status = "connecting"
        self.office_id = config.office_id
        self.counters = _Counters()
        self._calls: dict[str, _Call] = {}
        self._foreign: set[str] = set()
        """Connection ids whose current call is not the office's."""
        self._begun: dict[str, float] = {}
        """Ids of the calls this monitor read the start of (monotonic time): no call of the
        process before."""

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        office = await self._office()
        reader, writer = await self._connect()
        self.counters.connects += 1
        self.counters.connected_since = time.time()
        self.status = self._idle_status()
        log.info("fritzbox: call monitor connected")
        try:
            while True:
                line = await self._read_line(reader)
                if line is not None:
                    await self._handle_line(office, line)
                self.status = self._idle_status()
        finally:
            self.counters.connected_since = None
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, RuntimeError):  # a reset connection is closed all the same
                pass

    def _idle_status(self) -> str:
        now = time.monotonic()
        for connection, call in list(self._calls.items()):
            if now - call.began > MAX_CALL_SECONDS:
                del self._calls[connection]
        for call_id, began in list(self._begun.items()):
            if now - began > MAX_CALL_SECONDS:
                del self._begun[call_id]
        calls = len(self._calls)
        return ("connected, idle" if calls == 0 else
                f"connected, {calls} call{'s' if calls > 1 else ''} in progress")

    async def _office(self) -> Office:
        store = self.cti.store
        if self.config.office_id:
            office = await store.get_office(self.config.office_id)
            if office is None:
                self.status = f"no office {self.config.office_id} (CHRONIK_FRITZBOX_OFFICE_ID)"
                raise FritzboxConfigError(self.status)
            return office
        offices = await store.list_offices()
        if len(offices) != 1:
            self.status = (f"there are {len(offices)} offices; set CHRONIK_FRITZBOX_OFFICE_ID "
                           "to the one the box belongs to")
            raise FritzboxConfigError(self.status)
        self.office_id = offices[0].id
        return offices[0]

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        self.status = f"connecting to {where}"
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                reader, writer = await asyncio.open_connection(cfg.host, cfg.port,
                                                               limit=MAX_LINE)
        except ConnectionRefusedError:
            self.status = f"call monitor off: {HOW_TO_ENABLE} ({where} refused the connection"
            self.status += ("; right after a restart of the box this passes by itself)"
                            if self.counters.connects else ")")
            raise CallMonitorOff(self.status) from None
        except socket.gaierror:
            self.status = (f"host unknown: {cfg.host} (set CHRONIK_FRITZBOX_HOST to the box's "
                           "name or address)")
            raise BoxUnknown(self.status) from None
        except TimeoutError:
            self.status = f"box not reachable: {where} did not answer"
            raise BoxUnreachable(self.status) from None
        except OSError as exc:
            self.status = f"box not reachable: {where}: {exc.strerror or type(exc).__name__}"
            raise BoxUnreachable(self.status) from None
        _keepalive(writer, cfg.keepalive_seconds)
        return reader, writer

    async def _read_line(self, reader: asyncio.StreamReader) -> str | None:
        """The next line without its end (``\\n`` or ``\\r\\n``); ``None`` for one too long
        to be an event (skipped). The box closing the connection raises."""
        try:
            raw = await reader.readline()
        except ValueError:  # longer than MAX_LINE: the rest of it comes as another line
            self._skip("line too long")
            return None
        except OSError as exc:
            self.status = f"connection lost: {exc.strerror or type(exc).__name__}"
            raise BoxUnreachable(self.status) from None
        if not raw:
            self.status = "connection closed by the box (restarting?)"
            raise BoxUnreachable(self.status)
        if not raw.endswith(b"\n"):  # closed in the middle of a line: nothing to act on
            self.status = "connection closed by the box (restarting?)"
            raise BoxUnreachable(self.status)
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def _skip(self, why: str) -> None:
        self.counters.skipped_lines += 1
        self.counters.skipped[why] = self.counters.skipped.get(why, 0) + 1
        log.warning("fritzbox: call-monitor line skipped: %s", why)

    # ------------------------------------------------------------------ events
    async def _handle_line(self, office: Office, line: str) -> None:
        if not line.strip():
            return
        received = datetime.now(UTC)
        try:
            box = parse_line(line)
            at, original = box_time(box.at_raw, self.zone, received)
            events = await self._events(office, box, at, original)
        except MalformedLine as exc:
            self._skip(str(exc))
            return
        for event in events:
            try:
                await self.cti.handle(office, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store outage: said, and the next line read
                self.counters.failed_events += 1
                log.warning("fritzbox: a %s event could not be stored: %s",
                            event.type.value, type(exc).__name__)
            else:
                self.counters.events += 1
                self.counters.last_event_at = time.time()

    async def _events(self, office: Office, box: BoxEvent, at: datetime,
                      original: str | None) -> list[CtiEvent]:
        if box.kind in ("RING", "CALL"):
            return self._new_call(office, box, at, original)
        call = self._calls.get(box.connection) or await self._rung_before(office, box, at)
        if call is None:  # another office's call, or one that began before we connected
            log.info("fritzbox: %s for a connection not seen starting; skipped", box.kind)
            return []
        common: dict[str, Any] = {"call_id": call.call_id, "original_timestamp": original}
        if box.kind == "CONNECT":
            call.connected = True
            return [CtiEvent(type=CtiEventType.ANSWER, at=at,
                             users=self._who(box.fields[0]), **common)]
        del self._calls[box.connection]
        duration = int(box.fields[0])
        out = []
        if duration > 0 and not call.connected:  # its CONNECT came while we were away
            out.append(CtiEvent(type=CtiEventType.ANSWER, at=at - timedelta(seconds=duration),
                                **common))
        answered = call.connected or duration > 0
        out.append(CtiEvent(type=CtiEventType.HANGUP, at=at,
                            cause="normalClearing" if answered else "noAnswer", **common))
        return out

    async def _rung_before(self, office: Office, box: BoxEvent, at: datetime
                           ) -> _Call | None:
        """The call a ``CONNECT``/``DISCONNECT`` belongs to whose ``RING``/``CALL`` the
        process before this one read (Chronik restarted during the call): the office's
        newest call from this box on the same connection id that this monitor did not see
        begin (begun at most ``MAX_CALL_SECONDS`` ago) and has not ended, and that the line
        fits -- a ``CONNECT`` names its number, a ``DISCONNECT``'s duration is the time
        since its answer (0 for one not answered). None for a connection whose current
        call is another office's, and for a line no such call fits (the 12-hour rule ends a
        call whose end never came)."""
        if box.connection in self._foreign:
            return None
        suffix = f"-{box.connection}"
        since = datetime.now(UTC) - timedelta(seconds=MAX_CALL_SECONDS)
        named = box.fields[1].strip() if box.kind == "CONNECT" else ""
        number = e164_or_raw(named, office.region) if named else None  # as the call keeps it
        for state in await self.cti.unended(
                office, lambda call_id: call_id.startswith("fritzbox-")
                and call_id.endswith(suffix)):
            if state.call_id in self._begun:
                continue  # this monitor read its start: not one of the process before
            if state.first_seen_at < since:
                break
            if box.kind == "CONNECT" and (state.answered_at is not None
                                          or number not in (None, state.number)):
                continue
            if box.kind == "DISCONNECT" and not _lasted(state.answered_at, at,
                                                        int(box.fields[0])):
                continue
            call = _Call(state.call_id, connected=state.answered_at is not None)
            self._calls[box.connection] = call
            log.info("fritzbox: %s for a call that rang before this process started",
                     box.kind)
            return call
        return None

    def _new_call(self, office: Office, box: BoxEvent, at: datetime, original: str | None
                  ) -> list[CtiEvent]:
        if box.kind == "RING":
            caller, own, line = box.fields[0], box.fields[1], box.fields[2]
            direction, frm, to = CallDirection.IN, caller or "anonymous", own
            users: tuple[str, ...] = ()
        else:
            extension, own, called, line = box.fields[:4]
            if not called:
                raise MalformedLine("CALL without the called number")
            direction, frm, to = CallDirection.OUT, own, called
            users = self._who(extension)
        if not self._ours(office, own, line):
            self.counters.other_lines += 1
            self._calls.pop(box.connection, None)
            self._foreign.add(box.connection)
            return []
        self._foreign.discard(box.connection)
        call_id = f"fritzbox-{_id_time(box.at_raw)}-{box.connection}"
        self._calls[box.connection] = _Call(call_id)
        self._begun[call_id] = time.monotonic()
        return [CtiEvent(type=CtiEventType.NEW_CALL, call_id=call_id, at=at, from_number=frm,
                         to_number=to or None, direction=direction, users=users,
                         original_timestamp=original)]

    def _who(self, extension: str) -> tuple[str, ...]:
        """Who is at the box's internal number ``extension`` (its name when the settings
        give one, else ``extension 10``); nobody for an empty field."""
        extension = extension.strip()
        if not extension:
            return ()
        return (dict(self.config.extensions).get(extension, f"extension {extension}"),)

    def _ours(self, office: Office, own: str, line: str) -> bool:
        cfg = self.config
        if not cfg.numbers and not cfg.lines:
            return True
        if line and line.casefold() in {x.casefold() for x in cfg.lines}:
            return True
        if not own:
            return False
        wanted = {e164_or_raw(n, office.region) for n in cfg.numbers}
        return own in cfg.numbers or e164_or_raw(own, office.region) in wanted

    def diagnostics(self) -> dict[str, Any]:
        cfg, c = self.config, self.counters
        return {"host": cfg.host, "port": cfg.port, "office_id": self.office_id,
                "numbers": len(cfg.numbers), "lines": list(cfg.lines),
                "timezone": cfg.timezone, "status": self.status,
                "calls_in_progress": len(self._calls), "connects": c.connects,
                "connected_since": c.connected_since, "events": c.events,
                "last_event_at": c.last_event_at, "skipped_lines": c.skipped_lines,
                "skipped": dict(c.skipped), "other_office_calls": c.other_lines,
                "failed_events": c.failed_events}


def _lasted(answered_at: datetime | None, ended_at: datetime, seconds: int) -> bool:
    """Whether a call answered at ``answered_at`` (None: not answered) and ended at
    ``ended_at`` is one the box says lasted ``seconds``."""
    if answered_at is None:
        return seconds == 0
    return abs((ended_at - answered_at).total_seconds() - seconds) <= DURATION_SLACK


def _id_time(raw: str) -> str:
    """``06.12.26 15:01:02`` -> ``20261206T150102`` (the box's local time, as written)."""
    return datetime.strptime(raw, _DATE).strftime("%Y%m%dT%H%M%S")


def _keepalive(writer: asyncio.StreamWriter, idle: int) -> None:
    """TCP keep-alive on the connection, so a box gone without closing it is noticed."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    except OSError:  # not supported here: a dead box is noticed at its next restart
        pass
