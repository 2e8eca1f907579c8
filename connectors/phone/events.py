"""CTI webhook events in the generic PBX format (sipgate.io style): ``newCall``, ``answer``,
``hangup``, form-encoded or JSON, turned into one validated :class:`CtiEvent`.

Pure: no I/O, no web framework. Everything wrong with an event is reported at once as an
``InvalidInput`` whose details list the ``missing`` and ``invalid`` fields, so the PBX admin
sees exactly what to fix and nothing is stored.
"""

from __future__ import annotations

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
                 "forwarded")

MAX_ID = 200
MAX_NUMBER = 64
MAX_NAME = 200
MAX_USERS = 50

FieldValue = str | Sequence[str]


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
    "event": ("eventtype",), "callId": ("callsid", "uniqueid", "callUuid"),
    "from": ("caller", "callerid", "callernumber", "fromnumber", "ani"),
    "to": ("callee", "called", "callednumber", "tonumber", "dnis", "destination"),
    "direction": (), "user": ("users",), "answeringNumber": ("answerednumber",),
    "cause": ("hangupcause", "reason", "type"), "timestamp": ("time", "datetime", "eventtime"),
})
_EVENTS = _aliases({
    "newCall": ("new_call", "ringing", "incomingcall", "outgoingcall", "callstart", "start",
                "initiated"),
    "answer": ("answered", "callaccepted", "accepted", "pickup", "connect", "connected",
               "inprogress"),
    "hangup": ("hungup", "hang_up", "end", "ended", "callended", "completed",
               "disconnect", "disconnected", "terminated"),
})
_IMPLIED_DIRECTION = {_plain("incomingcall"): "in", _plain("outgoingcall"): "out"}
_DIRECTIONS = _aliases({"in": ("inbound", "incoming", "inc"),
                        "out": ("outbound", "outgoing", "outboundapi", "outbounddial")})
_CAUSES = _aliases({
    "normalClearing": ("normal", "completed", "accepted", "answered", "ok", "success"),
    "busy": ("userbusy",),
    "cancel": ("cancelled", "canceled", "abandoned", "originatorcancel"),
    "noAnswer": ("missed", "timeout", "noreply", "nouserresponse", "voicemail"),
    "congestion": ("failed", "failure", "error", "networkoutoforder"),
    "notFound": ("unallocatednumber", "invalidnumber", "invalid"),
    "forwarded": ("forward", "redirected", "transferred", "transfer"),
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
    original_timestamp: str | None = None
    """The PBX's ``timestamp`` when it lay outside the supported dates (``at`` is then the
    time of receipt)."""


class _Fields:
    def __init__(self, raw: Mapping[str, FieldValue]) -> None:
        self.values: dict[str, list[str]] = {}
        self.blank: set[str] = set()
        """Fields sent, but empty."""
        for key, value in raw.items():
            name = key[:-2] if key.endswith("[]") else key
            name = _FIELDS.get(_plain(name), name)
            items = [value] if isinstance(value, str) else list(value)
            self.values.setdefault(name, []).extend(v.strip() for v in items if v.strip())
            if not self.values[name]:
                self.blank.add(name)
        self.missing: list[str] = []
        self.invalid: list[dict[str, str]] = []

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
    try:
        if raw.replace(".", "", 1).isdigit():
            value = datetime.fromtimestamp(float(raw), UTC)
        else:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
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
    kind_raw = fields.one("event", required=True, limit=40)
    kind: CtiEventType | None = None
    if kind_raw is not None:
        try:
            kind = CtiEventType(_EVENTS.get(_plain(kind_raw), kind_raw))
        except ValueError:
            fields.problem("event", "must be newCall, answer or hangup")
    call_id = fields.one("callId", required=True, limit=MAX_ID)
    new_call = kind is CtiEventType.NEW_CALL
    # an inbound call's caller sent as an empty field is a withheld number (as Asterisk
    # and the Fritz!Box write it), not a broken event
    withheld = new_call and "from" in fields.blank
    from_number = "anonymous" if withheld else fields.one("from", required=new_call)
    to_number = fields.one("to", required=new_call)
    implied = _IMPLIED_DIRECTION.get(_plain(kind_raw or ""))
    direction_raw = fields.one("direction", required=new_call and implied is None, limit=20)
    direction: CallDirection | None = None
    if direction_raw is not None or implied is not None:
        try:
            direction = CallDirection(
                _DIRECTIONS.get(_plain(direction_raw), direction_raw) if direction_raw
                else implied or "")
        except ValueError:
            fields.problem("direction", "must be in or out")
    users = fields.many("user")
    answering = fields.one("answeringNumber")
    cause = fields.one("cause", required=kind is CtiEventType.HANGUP, limit=40)
    if cause is not None:
        cause = _CAUSES.get(_plain(cause), cause)
        if cause not in HANGUP_CAUSES:
            fields.problem("cause", "must be one of " + ", ".join(HANGUP_CAUSES))
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
                    answering_number=answering, cause=cause, original_timestamp=original)
