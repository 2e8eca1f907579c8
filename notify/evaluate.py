"""Preference evaluation, done at send time: opt-out, consent, channel order, quiet hours,
daily digest.

Consent when never decided: a channel is implicitly granted for a customer who has that
identity (the portal inbox: always) — transactional messages of an existing relationship.
Only an explicit record (agent, portal, ``/stop``, unsubscribe link, bounce) withdraws it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from timeline.models import (
    Consent,
    Customer,
    DailyDigest,
    IdentityKind,
    Preferences,
    QuietHours,
)

CHANNELS = ("email", "telegram", "portal")
PUSH_CHANNELS = frozenset({"email", "telegram"})
"""Channels that reach the customer's device; quiet hours and the daily digest hold these
back (the silent portal inbox gets every item at once)."""
HOLD_QUIET, HOLD_DIGEST, HOLD_NOW = "quiet_hours", "digest", "now"
"""Why a job was held (``NotifyJob.held``); ``digest`` and ``now`` do not wait for a digest."""


@dataclass(frozen=True)
class Route:
    channel: str
    address: str


SKIP_CODES = ("failed", "no_consent", "not_configured", "no_address", "undeliverable")


@dataclass(frozen=True)
class Skip:
    """Why one channel was left out: ``code`` (one of ``SKIP_CODES``) for pages to say in
    their reader's language, ``text`` the English reason (logs, API, stored notes)."""

    code: str
    channel: str

    @property
    def text(self) -> str:
        if self.code == "failed":
            return f"{self.channel} failed"
        if self.code == "no_consent":
            return f"no consent for {self.channel}"
        if self.code == "not_configured":
            return f"{self.channel} is not configured"
        if self.code == "no_address":
            return "no e-mail address" if self.channel == "email" else "no linked Telegram chat"
        return f"{self.channel} address is undeliverable"


OPTED_OUT = "customer opted out of automatic notifications"
"""``Plan.suppressed`` for a customer who wants no automatic notifications."""
NO_CHANNEL = "no channel to reach the customer"
"""``Plan.suppressed`` when no channel is left, and none was skipped for a reason."""


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...] = ()
    """Channels that may be tried, best first."""
    skips: tuple[Skip, ...] = ()
    """Why preferred channels were left out, in order."""
    suppressed: str | None = None
    """Set when nothing may be sent at all (English: ``OPTED_OUT``, or the skips' texts)."""
    opted_out: bool = False
    """Suppressed because the customer wants no automatic notifications."""
    wait_until: datetime | None = None
    """Quiet hours or the daily digest: try again then."""
    wait_reason: str | None = None
    hold: str | None = None
    """With ``wait_until``: what the job waits for (``HOLD_QUIET``, ``HOLD_DIGEST``)."""

    @property
    def skipped(self) -> tuple[str, ...]:
        """Why preferred channels were left out, in English (``no consent for email``, …)."""
        return tuple(skip.text for skip in self.skips)


def channel_order(customer: Customer, prefs: Preferences) -> list[str]:
    """The customer's order; when none is set, the identities decide (email, Telegram);
    the portal inbox is always the last resort."""
    if prefs.channels:
        order = [c for c in dict.fromkeys(prefs.channels) if c in CHANNELS]
    else:
        kinds = {i.kind for i in customer.identities}
        order = [c for c, k in (("email", IdentityKind.EMAIL),
                                ("telegram", IdentityKind.TELEGRAM)) if k in kinds]
    if "portal" not in order:
        order.append("portal")
    return order


def consent_state(customer: Customer, consents: Mapping[str, Consent], channel: str
                  ) -> tuple[bool, bool]:
    """(granted, explicit) for one channel."""
    record = consents.get(channel)
    if record is not None:
        return record.granted, True
    return True, False


def _address(customer: Customer, channel: str) -> tuple[str | None, str]:
    """The address to use on ``channel``, or None and why not (a ``Skip`` code)."""
    if channel == "portal":
        return customer.id, ""
    kind = IdentityKind.EMAIL if channel == "email" else IdentityKind.TELEGRAM
    idents = [i for i in customer.identities if i.kind is kind]
    if not idents:
        return None, "no_address"
    usable = [i for i in idents if not i.undeliverable]
    if not usable:
        return None, "undeliverable"
    # Telegram: the chat linked last (a customer who links a new Telegram account wants the
    # news there, and the old one may be gone); e-mail: the first address
    return (usable[-1] if kind is IdentityKind.TELEGRAM else usable[0]).value, ""


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """The end of the quiet period ``now`` falls in (aware, UTC), or None."""
    if quiet is None:
        return None
    try:
        zone = ZoneInfo(quiet.timezone)
        start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    if start == end:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if (start < end or t < end) else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def next_digest(digest: DailyDigest | None, now: datetime) -> datetime | None:
    """The next daily digest time strictly after ``now`` (aware, UTC), or None."""
    if digest is None:
        return None
    try:
        zone = ZoneInfo(digest.timezone)
        at = time.fromisoformat(digest.at)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    local = now.astimezone(zone)
    when = datetime.combine(local.date(), at, tzinfo=zone)
    if when <= local:
        when = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return when.astimezone(UTC)


def notified_channels(customer: Customer, prefs: Preferences,
                      consents: Mapping[str, Consent], *, available: Collection[str],
                      now: datetime) -> list[str]:
    """The channels a notification would go out on now, best first, as if automatic
    notifications were on (what a preferences page shows; consent, unsubscribes and
    addresses applied)."""
    plan = evaluate(customer, prefs.model_copy(update={"automatic_notifications": True}),
                    consents, available=available, now=now)
    return [route.channel for route in plan.routes]


def evaluate(customer: Customer, prefs: Preferences, consents: Mapping[str, Consent], *,
             available: Collection[str], now: datetime, skip: Collection[str] = (),
             reply_via: str | None = None, held: str | None = None) -> Plan:
    """Which channels to try for this customer now, in order.

    ``reply_via``: an agent's direct reply on that channel. It is a conversation, not an
    automatic notification, so "no automatic notifications" and the daily digest do not
    hold it back; consent, quiet hours and undeliverable addresses still do, and the
    customer's other channels are the fallback.

    ``held``: what the job already waited for (``NotifyJob.held``): a job that waited for
    the daily digest (or was released by an admin) does not wait for the next one."""
    if not prefs.automatic_notifications and reply_via is None:
        return Plan(suppressed=OPTED_OUT, opted_out=True)
    routes: list[Route] = []
    skips: list[Skip] = []
    order = channel_order(customer, prefs)
    if reply_via in CHANNELS:
        order = [reply_via, *(c for c in order if c != reply_via)]
    for channel in order:
        if channel in skip:
            skips.append(Skip("failed", channel))
            continue
        granted, _ = consent_state(customer, consents, channel)
        if not granted:
            skips.append(Skip("no_consent", channel))
            continue
        if channel not in available:
            skips.append(Skip("not_configured", channel))
            continue
        address, why = _address(customer, channel)
        if address is None:
            skips.append(Skip(why, channel))
            continue
        routes.append(Route(channel, address))
    if not routes:
        return Plan(skips=tuple(skips),
                    suppressed="; ".join(s.text for s in skips) or NO_CHANNEL)
    if routes[0].channel in PUSH_CHANNELS:
        digest_done = held in (HOLD_DIGEST, HOLD_NOW)
        digest = next_digest(prefs.daily_digest, now) if reply_via is None else None
        if digest is not None and prefs.daily_digest is not None and not digest_done:
            return Plan(routes=tuple(routes), skips=tuple(skips), wait_until=digest,
                        wait_reason=f"daily digest at {prefs.daily_digest.at}",
                        hold=HOLD_DIGEST)
        until = quiet_until(prefs.quiet_hours, now)
        if until is not None and prefs.quiet_hours is not None:
            return Plan(routes=tuple(routes), skips=tuple(skips), wait_until=until,
                        wait_reason=f"quiet hours until {prefs.quiet_hours.end}",
                        hold=held if digest_done else HOLD_QUIET)
    return Plan(routes=tuple(routes), skips=tuple(skips))
