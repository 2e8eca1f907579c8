"""One call as a small state machine fed by CTI events in any order.

``CallState`` is what the connector remembers per call id (persisted as JSON); each event
is applied once (a repeated event type is a duplicate and changes nothing); ``render()``
turns the state into what the timeline entry shows. Pure: no I/O.

Rules (the spec was silent on the details; these are the choices):

* the customer's number is the caller for inbound calls and the callee for outbound ones;
  ``newCall`` is authoritative for from/to/direction, an earlier answer/hangup that carried
  them is corrected by it;
* start = the earliest event time known; duration = hangup - answer (whole seconds, never
  negative; ``None`` when either is unknown);
* a second ``answer`` naming another user is a transfer (the call was put through to a
  colleague): ``answered_by`` stays who took the call first, ``transferred_to`` lists who
  it went to, in order of the events' times; an ``answer`` naming the same user again is a
  duplicate;
* outcome once hung up: ``answered`` (an answer was seen, or the cause is
  ``normalClearing``), else ``forwarded`` (cause ``forwarded``), else ``missed`` for inbound
  calls / ``not_reached`` for outbound ones. Missed calls carry the tag ``missed`` and
  ``meta.missed = true``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from connectors.phone.events import CallDirection, CtiEvent, CtiEventType
from connectors.phone.numbers import display_number

MISSED_TAG = "missed"


class Rendered(BaseModel):
    subject: str
    body: str
    tags: tuple[str, ...]
    meta: dict[str, Any]


class CallState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    call_id: str
    direction: CallDirection | None = None
    from_number: str | None = None
    to_number: str | None = None
    ringing_users: list[str] = []
    first_seen_at: datetime
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None
    answering_number: str | None = None
    transfers: list[tuple[datetime, str]] = []
    """Later answers by other users (a transfer): when, and who."""
    ended_at: datetime | None = None
    cause: str | None = None
    cause_raw: str | None = None
    seen: list[str] = []
    original_timestamps: dict[str, str] = {}
    """Event type -> the PBX's timestamp, where it lay outside the supported dates."""
    duplicates: int = 0
    from_new_call: bool = False
    entry_id: str | None = None
    customer_id: str | None = None
    quarantine_id: str | None = None
    internal: bool = False
    """Between two of the office's extensions: kept only to know its later events."""
    dropped: bool = False
    """A call from an erased person under the ``drop`` policy: only this tombstone is kept
    (no numbers, no times), so later events of the call are ignored, not re-collected."""
    end_unreported: bool = False
    """Closed by :meth:`close_unreported`: the phone system never reported the end, so its
    time and the duration are unknown (a late ``hangup`` still corrects it)."""

    @classmethod
    def start(cls, event: CtiEvent) -> CallState:
        return cls(call_id=event.call_id, first_seen_at=event.at)

    def tombstone(self) -> CallState:
        return CallState(call_id=self.call_id, first_seen_at=self.first_seen_at.replace(
            hour=0, minute=0, second=0, microsecond=0), dropped=True)

    # ------------------------------------------------------------------ events
    def apply(self, event: CtiEvent) -> bool:
        """Apply one event; ``False`` (and nothing changed but the counter) for a duplicate."""
        if event.type.value in self.seen:
            if event.type is CtiEventType.ANSWER and self._transfer(event):
                return True
            self.duplicates += 1
            return False
        self.seen.append(event.type.value)
        self.internal = self.internal or event.internal
        if event.original_timestamp is not None:
            self.original_timestamps[event.type.value] = event.original_timestamp
        self.first_seen_at = min(self.first_seen_at, event.at)
        authoritative = event.type is CtiEventType.NEW_CALL
        if authoritative or not self.from_new_call:
            self.from_number = event.from_number or self.from_number
            self.to_number = event.to_number or self.to_number
            self.direction = event.direction or self.direction
            self.from_new_call = self.from_new_call or authoritative
        if event.type is CtiEventType.NEW_CALL:
            self.ringing_at = event.at
            self.ringing_users = list(event.users)
        elif event.type is CtiEventType.ANSWER:
            self.answered_at = event.at
            self.answered_by = ", ".join(event.users) or None
            self.answering_number = event.answering_number
        else:
            self.ended_at = event.at
            self.end_unreported = False
            self.cause, self.cause_raw = event.cause, event.cause_raw
            self.answering_number = self.answering_number or event.answering_number
        return True

    def close_unreported(self) -> bool:
        """End a call whose end the phone system never reported (a lost ``hangup``, a PBX
        or FRITZ!Box restarted mid-call): ended as of its last known event, duration
        unknown; an answered call stays answered, one never answered is missed (not
        reached, outbound). ``False`` when there is nothing to end."""
        if self.ended_at is not None or self.dropped or self.internal:
            return False
        self.ended_at = max(t for t in (self.first_seen_at, self.ringing_at,
                                        self.answered_at, *(at for at, _ in self.transfers))
                            if t is not None)
        self.end_unreported = True
        return True

    def _transfer(self, event: CtiEvent) -> bool:
        """A further ``answer``: another user took the call (``True``), or a repeat."""
        who = ", ".join(event.users)
        if not who or who == self.answered_by or who in self.transferred_to:
            return False
        if self.answered_by is None:  # the first answer named only the answering number
            self.answered_by = who
            return True
        if self.answered_at is not None and event.at < self.answered_at:
            # events out of order: this user took the call first, then passed it on
            self.transfers.append((self.answered_at, self.answered_by))
            self.answered_at, self.answered_by = event.at, who
        else:
            self.transfers.append((event.at, who))
        self.transfers.sort(key=lambda t: t[0])
        self.first_seen_at = min(self.first_seen_at, event.at)
        return True

    @property
    def transferred_to(self) -> list[str]:
        return [who for _at, who in self.transfers]

    # ------------------------------------------------------------------ derived
    @property
    def number(self) -> str | None:
        """The customer's side of the call (``None`` until an event names it)."""
        if self.direction is CallDirection.OUT:
            return self.to_number
        if self.direction is CallDirection.IN:
            return self.from_number
        return None

    @property
    def started_at(self) -> datetime:
        times = [t for t in (self.ringing_at, self.answered_at, self.ended_at) if t]
        return min(times, default=self.first_seen_at)

    @property
    def status(self) -> str:
        if self.ended_at is not None:
            return "ended"
        return "answered" if self.answered_at is not None else "ringing"

    @property
    def outcome(self) -> str | None:
        if self.ended_at is None:
            return None
        if self.answered_at is not None or self.cause == "normalClearing":
            return "answered"
        if self.cause == "forwarded":
            return "forwarded"
        return "not_reached" if self.direction is CallDirection.OUT else "missed"

    @property
    def missed(self) -> bool:
        return self.outcome == "missed"

    @property
    def duration_seconds(self) -> int | None:
        if self.answered_at is None or self.ended_at is None or self.end_unreported:
            return None
        return max(0, round((self.ended_at - self.answered_at).total_seconds()))

    # ------------------------------------------------------------------ rendering
    def render(self) -> Rendered:
        number = display_number(self.number)
        outbound = self.direction is CallDirection.OUT
        outcome = self.outcome
        if outbound:
            subject = f"Call to {number}"
        elif outcome == "missed":
            subject = f"Missed call from {number}"
        else:
            subject = f"Call from {number}"
        if outcome == "forwarded":
            subject += " (forwarded)"
        elif outcome == "not_reached":
            subject += " (not reached)"
        elif outcome is None:
            subject += " (in progress)" if self.answered_at else " (ringing)"
        lines = []
        if self.answered_by or self.answering_number:
            who = self.answered_by or self.answering_number
            lines.append(f"Answered by {who}" + (
                ", transferred to " + ", then ".join(self.transferred_to) + "."
                if self.transferred_to else "."))
        elif self.ringing_users and not outbound:
            lines.append("Rang for " + ", ".join(self.ringing_users) + ".")
        if self.duration_seconds is not None:
            minutes, seconds = divmod(self.duration_seconds, 60)
            lines.append(f"Duration {minutes}:{seconds:02d}.")
        if self.cause and outcome != "answered":
            cause = f"{self.cause} ({self.cause_raw})" if self.cause_raw else self.cause
            lines.append(f"Ended: {cause}.")
        if self.end_unreported:
            lines.append("The phone system did not report the end of this call.")
        meta: dict[str, Any] = {
            "call_id": self.call_id, "number": self.number,
            "call_direction": self.direction.value if self.direction else None,
            "from": self.from_number, "to": self.to_number, "users": self.ringing_users,
            "started_at": self.started_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "answered_by": self.answered_by, "answering_number": self.answering_number,
            "transferred_to": self.transferred_to,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_seconds": self.duration_seconds, "cause": self.cause,
            "cause_raw": self.cause_raw,
            "status": self.status, "outcome": outcome, "missed": self.missed,
            "cti_events": list(self.seen)}
        if self.ended_at is not None:  # False: ended by Chronik, not the phone system
            meta["end_reported"] = not self.end_unreported
        if self.original_timestamps:  # a broken PBX clock: times are those of receipt
            meta["original_date"] = dict(self.original_timestamps)
        return Rendered(subject=subject, body=" ".join(lines),
                        tags=(MISSED_TAG,) if self.missed else (), meta=meta)
