"""CTI webhook events in the generic PBX format (sipgate.io style): ``newCall``, ``answer``,
``hangup``, form-encoded or JSON, turned into one validated :class:`CtiEvent`.

Pure: no I/O, no web framework. Everything wrong with an event is reported at once as an
``InvalidInput`` whose details list the ``missing`` and ``invalid`` fields, so the PBX admin
sees exactly what to fix and nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from timeline.errors import InvalidInput
from timeline.ids import in_window


class CtiEventType(StrEnum):
    NEW_CALL = "newCall"
    ANSWER = "answer"
    HANGUP = "hangup"


class CallDirection(StrEnum):
    IN = "in"
    OUT = "out"


HANGUP_CAUSES = ("normalClearing", "busy", "cancel", "noAnswer", "congestion", "notFound",
                 "forwarded", "rejected", "other")
"""``other``: a cause this format has no word for (kept as the PBX sent it in
``cause_raw``): the call still ends."""

MAX_ID = 200
MAX_NUMBER = 64
MAX_NAME = 200
MAX_USERS = 50

FieldValue = str | Sequence[str]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain(text: str) -> str:
    """A name or value as compared: lower case, without ``_``, ``-``, ``.`` and blanks."""
    return "".join(c for c in text.lower() if c not in "_-. \t")


def _aliases(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {_plain(alias): canonical for canonical, aliases in table.items()
            for alias in (canonical, *aliases)}


# What other PBXs and CTI bridges call the same things (Placetel, Twilio, Asterisk AMI
# scripts, FreePBX/3CX webhooks): read as this format's names, so an event is not refused
# for its spelling. Names are compared without case, "_", "-", "." and blanks.
_FIELDS = _aliases({
    "event": ("eventtype",), "callStatus": (), "callId": ("callsid", "uniqueid", "callUuid"),
    "from": ("caller", "callerid", "callernumber", "fromnumber", "ani"),
    "to": ("callee", "called", "callednumber", "tonumber", "dnis", "destination"),
    "direction": (), "user": ("users", "peer"), "answeringNumber": ("answerednumber",),
    "cause": ("hangupcause", "reason", "type"), "dialStatus": (),
    "timestamp": ("time", "datetime", "eventtime"),
})
"""``callStatus`` (Twilio names the event so) and ``dialStatus`` (Asterisk's
``${DIALSTATUS}``) are read when ``event`` / ``cause`` are not sent. Placetel names the
agent who took a call ``peer``."""
_EVENTS = _aliases({
    "newCall": ("new_call", "ringing", "incomingcall", "outgoingcall", "callstart", "start",
                "initiated", "queued"),
    "answer": ("answered", "callaccepted", "accepted", "pickup", "connect", "connected",
               "inprogress"),
    "hangup": ("hungup", "hang_up", "end", "ended", "callended", "completed",
               "disconnect", "disconnected", "terminated",
               # Twilio's final CallStatus values name how the call ended
               "busy", "noanswer", "failed", "canceled", "cancelled"),
})
_IMPLIED_DIRECTION = {_plain("incomingcall"): "in", _plain("outgoingcall"): "out"}
_IMPLIED_CAUSE = {_plain("completed"): "normalClearing", _plain("busy"): "busy",
                  _plain("noanswer"): "noAnswer", _plain("failed"): "congestion",
                  _plain("canceled"): "cancel", _plain("cancelled"): "cancel"}
"""An end event whose word says how the call ended (Twilio's ``CallStatus``)."""
_DIRECTIONS = _aliases({"in": ("inbound", "incoming", "inc"),
                        "out": ("outbound", "outgoing", "outboundapi", "outbounddial")})
_INTERNAL = frozenset(_plain(w) for w in ("internal", "intern", "local", "internalcall",
                                           "inhouse", "extension"))
"""Directions PBXs write for a call between two of the office's own extensions."""
_CAUSES = _aliases({
    "normalClearing": ("normal", "completed", "accepted", "answered", "ok", "success",
                       "answer", "normalunspecified",
                       "16", "31"),  # Q.850: normal call clearing, normal, unspecified
    "busy": ("userbusy", "17"),
    "cancel": ("cancelled", "canceled", "abandoned", "originatorcancel"),
    "noAnswer": ("missed", "timeout", "noreply", "nouserresponse", "voicemail",
                 "18", "19"),  # Q.850: no user responding, no answer from user
    "congestion": ("failed", "failure", "error", "networkoutoforder", "unavailable",
                   "chanunavail", "subscriberabsent", "destinationoutoforder",
                   "normalcircuitcongestion", "switchcongestion", "temporaryfailure",
                   "20", "27", "34", "38", "41", "42"),
    "notFound": ("unallocatednumber", "unallocated", "invalidnumber", "invalid",
                 "invalidnumberformat", "noroutedestination", "numberchanged",
                 "1", "3", "22", "28"),
    "forwarded": ("forward", "redirected", "transferred", "transfer"),
    "rejected": ("blocked", "callrejected", "declined", "dontcall", "21"),
    "other": (),
})


@dataclass(frozen=True)
class CtiEvent:
    type: CtiEventType
    call_id: str
    at: datetime
    """The event's ``timestamp`` when the PBX sends one, else the time it was received."""
    from_number: str | None = None
    to_number: str | None = None
    direction: CallDirection | None = None
    users: tuple[str, ...] = ()
    """newCall: the users whose phones ring; answer: the user who answered."""
    answering_number: str | None = None
    cause: str | None = None
    cause_raw: str | None = None
    """The PBX's own word for the cause when it differs from ``cause`` (``16``,
    ``CALL_REJECTED``; and any cause this format has no word for: ``cause`` is ``other``)."""
    original_timestamp: str | None = None
    """The PBX's ``timestamp`` when it lay outside the supported dates (``at`` is then the
    time of receipt)."""
    internal: bool = False
    """A call between two of the office's extensions (the PBX said so, or both numbers are
    extensions): no customer's call, nothing on a timeline."""


class _Fields:
    def __init__(self, raw: Mapping[str, FieldValue]) -> None:
        self.values: dict[str, list[str]] = {}
        self.blank: set[str] = set()
        """Fields sent, but empty."""
        self.missing: list[str] = []
        self.invalid: list[dict[str, str]] = []
        for key, value in raw.items():
            name = key[:-2] if key.endswith("[]") else key
            name = _FIELDS.get(_plain(name), name)
            items = [value] if isinstance(value, str) else list(value)
            if any(_CONTROL.search(v) for v in items):
                self.invalid.append({"field": name, "problem": "control characters"})
                items = []
            self.values.setdefault(name, []).extend(v.strip() for v in items if v.strip())
            if not self.values[name]:
                self.blank.add(name)

    def one(self, name: str, *, required: bool = False, limit: int = MAX_NUMBER) -> str | None:
        values = self.values.get(name, [])
        if not values:
            if required:
                self.missing.append(name)
            return None
        if len(values) > 1:
            self.invalid.append({"field": name, "problem": "give one value"})
            return None
        if len(values[0]) > limit:
            self.invalid.append({"field": name, "problem": f"longer than {limit} characters"})
            return None
        return values[0]

    def many(self, name: str) -> tuple[str, ...]:
        values = self.values.get(name, [])
        if len(values) > MAX_USERS or any(len(v) > MAX_NAME for v in values):
            self.invalid.append({"field": name, "problem": f"at most {MAX_USERS} names of "
                                                           f"{MAX_NAME} characters"})
            return ()
        return tuple(values)

    def problem(self, name: str, text: str) -> None:
        self.invalid.append({"field": name, "problem": text})


def _timestamp(fields: _Fields, received_at: datetime) -> tuple[datetime, str | None]:
    """The event's time, and the raw ``timestamp`` when it was replaced by ``received_at``
    for lying outside the supported dates."""
    raw = fields.one("timestamp", limit=40)
    if raw is None:
        return received_at, None
    numeric = raw.isascii() and raw.replace(".", "", 1).isdigit()
    try:
        if numeric:
            seconds = float(raw)
            if len(raw.split(".")[0]) == 13:  # Unix milliseconds (Java, JavaScript PBXs)
                seconds /= 1000
            value = datetime.fromtimestamp(seconds, UTC)
        else:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        if numeric:  # a number, but no time we can tell: the call happened now
            return received_at, raw
        fields.problem("timestamp", "an ISO 8601 date-time or Unix seconds")
        return received_at, None
    if value.tzinfo is None:  # local time of an unknown zone: the time of receipt, kept
        return received_at, raw
    if not in_window(value):  # a PBX with a broken clock: the call happened now
        return received_at, raw
    return value, None


def parse_event(raw: Mapping[str, FieldValue], received_at: datetime) -> CtiEvent:
    """Validate one webhook body (already decoded to names and string values)."""
    fields = _Fields(raw)
    if "event" not in fields.values and "callStatus" in fields.values:
        fields.values["event"] = fields.values.pop("callStatus")
    kind_raw = fields.one("event", required=True, limit=40)
    kind: CtiEventType | None = None
    if kind_raw is not None:
        try:
            kind = CtiEventType(_EVENTS.get(_plain(kind_raw), kind_raw))
        except ValueError:
            fields.problem("event", "must be newCall, answer or hangup")
    call_id = fields.one("callId", required=True, limit=MAX_ID)
    new_call = kind is CtiEventType.NEW_CALL
    # an inbound call's caller sent empty, as null or not at all is a withheld number (as
    # Asterisk, the Fritz!Box and JSON bridges write it), not a broken event
    withheld = new_call and not fields.values.get("from")
    from_number = "anonymous" if withheld else fields.one("from")
    to_number = fields.one("to", required=new_call)
    implied = _IMPLIED_DIRECTION.get(_plain(kind_raw or ""))
    direction_raw = fields.one("direction", required=new_call and implied is None, limit=20)
    direction: CallDirection | None = None
    internal = direction_raw is not None and _plain(direction_raw) in _INTERNAL
    if internal:
        direction_raw = None
    if direction_raw is not None or implied is not None:
        try:
            direction = CallDirection(
                _DIRECTIONS.get(_plain(direction_raw), direction_raw) if direction_raw
                else implied or "")
        except ValueError:
            fields.problem("direction", "must be in, out or internal")
    users = fields.many("user")
    answering = fields.one("answeringNumber")
    cause, cause_raw = _cause(fields, kind, kind_raw)
    if kind is CtiEventType.ANSWER and not users and answering is None:
        fields.missing.append("user")
    at, original = _timestamp(fields, received_at)
    if fields.missing or fields.invalid or kind is None or call_id is None:
        parts = []
        if fields.missing:
            parts.append("missing " + ", ".join(fields.missing))
        if fields.invalid:
            parts.append("invalid " + ", ".join(p["field"] for p in fields.invalid))
        what = f"{kind.value} event" if kind else "CTI event"
        raise InvalidInput(f"{what}: " + "; ".join(parts),
                           {"missing": fields.missing, "invalid": fields.invalid})
    return CtiEvent(type=kind, call_id=call_id, at=at, from_number=from_number,
                    to_number=to_number, direction=direction, users=users,
                    answering_number=answering, cause=cause, cause_raw=cause_raw,
                    original_timestamp=original, internal=internal)


def _cause(fields: _Fields, kind: CtiEventType | None, kind_raw: str | None
           ) -> tuple[str | None, str | None]:
    """How the call ended (one of :data:`HANGUP_CAUSES`) and the PBX's own word for it when
    that differs. The cause may be implied by the event (Twilio's ``completed``, ``busy``)
    or sent as Asterisk's ``DIALSTATUS``; on an end event a cause without a word here, or
    sent empty, is ``other`` (the call ends all the same)."""
    hangup = kind is CtiEventType.HANGUP
    name = "dialStatus" if "dialStatus" in fields.values and "cause" not in fields.values \
        else "cause"
    implied = _IMPLIED_CAUSE.get(_plain(kind_raw or "")) if hangup else None
    raw = fields.one(name, required=hangup and implied is None and name not in fields.blank,
                     limit=40)
    if raw is None:
        if hangup and name in fields.blank and implied is None:
            return "other", None
        return implied, None
    cause = _CAUSES.get(_plain(raw))
    if cause is None:
        return "other", raw
    return cause, (raw if raw != cause else None)
