"""Changing a customer's notification preferences and consent: the one use case behind
``PUT /api/v1/customers/{id}/preferences`` (an agent) and the portal's preferences page (the
customer). Everything is checked before anything is written; every change is recorded on
the customer's timeline as one internal ``preferences`` entry."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chronik.state import AppState
from notify.evaluate import CHANNELS
from timeline.errors import InvalidInput
from timeline.models import (
    Channel,
    Customer,
    DailyDigest,
    Direction,
    EntryDraft,
    Preferences,
    QuietHours,
    Visibility,
    utcnow,
)

LANGUAGES = ("de", "en")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?(?::\d{2}(?:\.\d+)?)?\s*"
                    r"(am|pm|a\.m\.|p\.m\.|uhr|h)?$", re.IGNORECASE)


def clock(raw: str) -> str:
    """A time of day as a form sends it, as ``HH:MM``: a time field gives ``22:00`` (or
    ``22:00:00``); where the browser shows a plain text field people type ``7:30``,
    ``22.00``, ``22 Uhr``, ``10 pm``. Anything else comes back as it was (and is refused
    where it is checked)."""
    text = raw.strip()
    match = _CLOCK.match(text)
    if match is None:
        return text
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").lower().replace(".", "")
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            return text
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return text
    return f"{hour:02d}:{minute:02d}"


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP
"""``PreferenceChange.quiet_hours``/``daily_digest`` left as they are (``None`` removes
them)."""
DEFAULT_DIGEST_AT = "08:00"
"""The daily digest's time of day when none is chosen (the customer's time zone)."""


@dataclass(frozen=True)
class PreferenceChange:
    """Only what is set changes."""

    channels: Sequence[str] | None = None
    """Preferred channels, best first (empty: follow the identities)."""
    automatic_notifications: bool | None = None
    quiet_hours: QuietHours | _Keep | None = KEEP
    language: str | None = None
    daily_digest: DailyDigest | _Keep | None = KEEP
    """One message a day at ``at`` instead of one per item (``None``: one per item)."""
    consents: Mapping[str, bool] = field(default_factory=dict)
    """Consent given (true) or withdrawn (false) per channel."""


@dataclass(frozen=True)
class Change:
    """One change of preferences or consent as the timeline records it: ``what`` changed
    (``channels``, ``automatic_notifications``, ``quiet_hours``, ``language``,
    ``daily_digest``, ``consent``) from ``old`` to ``new`` (JSON values; ``channel`` for a
    consent). Stored in ``meta.system`` and shown in the reader's language; ``english()``
    is the stored line (API, search, export)."""

    what: str
    old: Any = None
    new: Any = None
    channel: str | None = None

    def english(self) -> str:
        if self.what == "channels":
            return (f"channels: {', '.join(self.old) or 'automatic'} → "
                    f"{', '.join(self.new) or 'automatic'}")
        if self.what == "automatic_notifications":
            return f"automatic notifications: {'on' if self.new else 'off'}"
        if self.what == "quiet_hours":
            return f"quiet hours: {_qh_text(self.old)} → {_qh_text(self.new)}"
        if self.what == "language":
            return f"language: {self.old} → {self.new}"
        if self.what == "daily_digest":
            return f"daily digest: {_digest_text(self.old)} → {_digest_text(self.new)}"
        return f"{self.channel} consent {'given' if self.new else 'withdrawn'}"

    def as_meta(self) -> dict[str, Any]:
        out = {"what": self.what, "old": self.old, "new": self.new}
        if self.channel is not None:
            out["channel"] = self.channel
        return out


def _json(value: QuietHours | DailyDigest | None) -> dict[str, Any] | None:
    return None if value is None else value.model_dump(mode="json")


def _qh_text(qh: Mapping[str, Any] | None) -> str:
    return "none" if qh is None else f"{qh['start']}–{qh['end']} {qh['timezone']}"


def _digest_text(digest: Mapping[str, Any] | None) -> str:
    return "off (one message per item)" if digest is None else \
        f"daily at {digest['at']} {digest['timezone']}"


async def _check_zone(field: str, name: str) -> None:
    try:
        await asyncio.to_thread(ZoneInfo, name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{field}.timezone: unknown time zone {name!r}") from None


async def _check(change: PreferenceChange) -> None:
    if change.channels is not None:
        unknown = [c for c in change.channels if c not in CHANNELS]
        if unknown:
            raise InvalidInput(f"channels: unknown channel {unknown[0]!r}")
        if len(set(change.channels)) != len(change.channels):
            raise InvalidInput("channels: each channel may appear once")
    if change.language is not None and change.language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    for channel in change.consents:
        if channel not in CHANNELS:
            raise InvalidInput(f"consents: unknown channel {channel!r}")
    qh = change.quiet_hours
    if isinstance(qh, QuietHours):
        for name, value in (("start", qh.start), ("end", qh.end)):
            if not _HHMM.match(value):
                raise InvalidInput(f"quiet_hours.{name}: must be HH:MM (00:00 to 23:59)")
        await _check_zone("quiet_hours", qh.timezone)
    digest = change.daily_digest
    if isinstance(digest, DailyDigest):
        if not _HHMM.match(digest.at):
            raise InvalidInput("daily_digest.at: must be HH:MM (00:00 to 23:59)")
        await _check_zone("daily_digest", digest.timezone)


async def apply_preferences(state: AppState, customer: Customer, change: PreferenceChange, *,
                            actor: str, route: str, who: str, author: str | None = None
                            ) -> list[str]:
    """Apply ``change`` to the customer's preferences and consent and record it on the
    timeline. ``actor``/``route`` go with every consent record (an agent id and ``agent``,
    or ``customer`` and ``portal``); ``who`` ends the timeline entry's subject ("by Anna");
    ``author`` is the entry's author (an agent id, or None for the customer). Returns the
    changes as recorded (empty: nothing changed, nothing recorded). Bad input raises
    ``InvalidInput`` before anything is written."""
    await _check(change)
    office_id = customer.office_id
    old = await state.store.get_preferences(office_id, customer.id)
    update: dict[str, object] = {}
    changes: list[Change] = []
    if change.channels is not None:
        update["channels"] = tuple(change.channels)
        changes.append(Change("channels", list(old.channels), list(change.channels)))
    if change.automatic_notifications is not None:
        update["automatic_notifications"] = change.automatic_notifications
        changes.append(Change("automatic_notifications", old.automatic_notifications,
                              change.automatic_notifications))
    if not isinstance(change.quiet_hours, _Keep):
        update["quiet_hours"] = change.quiet_hours
        changes.append(Change("quiet_hours", _json(old.quiet_hours),
                              _json(change.quiet_hours)))
    if change.language is not None:
        update["language"] = change.language
        if author is None or change.language != old.language:  # (an agent's form that
            update["language_chosen"] = True                    # kept it chooses nothing)
        changes.append(Change("language", old.language, change.language))
    digest = change.daily_digest
    digest_changed = not isinstance(digest, _Keep) and digest != old.daily_digest
    if not isinstance(digest, _Keep) and digest_changed:
        update["daily_digest"] = digest
        changes.append(Change("daily_digest", _json(old.daily_digest), _json(digest)))
    if update:
        new = Preferences.model_validate({**old.model_dump(), **update})
        await state.store.set_preferences(office_id, customer.id, new)
        if digest_changed or new.quiet_hours != old.quiet_hours:
            # Held notifications follow the new times: due now, evaluated again (those
            # that waited for a digest that is now off go out together at once).
            await state.store.release_held_jobs(
                office_id, customer.id,
                digest_held="now" if new.daily_digest is None else None)
            state.timeline.notify_reindex()  # wakes every listener, the notifier too
    for channel, granted in change.consents.items():
        await state.store.record_consent(office_id, customer.id, channel, granted,
                                         actor=actor, route=route)
        changes.append(Change("consent", None, granted, channel=channel))
    if changes:
        await record_preference_change(state, office_id, customer.id, who, changes, author,
                                       by=route)
    return [c.english() for c in changes]


async def record_preference_change(state: AppState, office_id: str, customer_id: str,
                                   who: str, changes: Sequence[str | Change],
                                   author: str | None, *, by: str | None = None) -> None:
    """An internal timeline entry for a change of preferences or consent. Its subject and
    body are English (API, search, export); when every change is a ``Change``, ``meta.system``
    says the same for the console and portal to show in their reader's language (``by``:
    the route it came by, ``agent``, ``portal`` or ``unsubscribe_link``)."""
    lines = [c if isinstance(c, str) else c.english() for c in changes]
    meta: dict[str, Any] = {"preferences_change": lines}
    if all(isinstance(c, Change) for c in changes):
        meta["system"] = {"key": "preferences", "by": by,
                          "changes": [c.as_meta() for c in changes if isinstance(c, Change)]}
    await state.timeline.append(EntryDraft(
        office_id=office_id, customer_id=customer_id, channel=Channel.NOTE,
        direction=Direction.INTERNAL, kind="preferences", author=author,
        visibility=Visibility.INTERNAL, notify=False, occurred_at=utcnow(),
        subject=f"Notification preferences changed {who}", body="\n".join(lines),
        meta=meta))
