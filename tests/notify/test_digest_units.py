"""The digest rules as pure functions: when the next daily digest is (time zones, daylight
saving), what a held job waits for, and how long texts are cut in a digest."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from notify.digest import digest_message_id, excerpt
from notify.evaluate import HOLD_DIGEST, HOLD_NOW, HOLD_QUIET, evaluate, next_digest
from timeline.models import (
    Customer,
    CustomerStatus,
    DailyDigest,
    Identity,
    IdentityKind,
    Preferences,
    QuietHours,
)

BERLIN = ZoneInfo("Europe/Berlin")


def _local(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(("now", "digest", "expected"), [
    (_local("Europe/Berlin", 2026, 3, 10, 7, 0), DailyDigest(),
     _local("Europe/Berlin", 2026, 3, 10, 8, 0)),
    (_local("Europe/Berlin", 2026, 3, 10, 8, 0), DailyDigest(),
     _local("Europe/Berlin", 2026, 3, 11, 8, 0)),
    (_local("Europe/Berlin", 2026, 3, 28, 23, 0), DailyDigest(at="08:00"),
     _local("Europe/Berlin", 2026, 3, 29, 8, 0)),
    (_local("Europe/Berlin", 2026, 3, 28, 23, 0), DailyDigest(at="02:30"),
     _local("Europe/Berlin", 2026, 3, 29, 3, 30)),
    (_local("Europe/Berlin", 2026, 3, 10, 7, 0),
     DailyDigest(at="08:00", timezone="America/New_York"),
     _local("America/New_York", 2026, 3, 10, 8, 0)),
], ids=["later-today", "at-the-time-is-tomorrow", "spring-forward-night",
        "a-time-that-does-not-exist-that-day", "customer-zone-not-office-zone"])
def test_next_digest(now: datetime, digest: DailyDigest, expected: datetime) -> None:
    got = next_digest(digest, now.astimezone(UTC))
    assert got is not None and got == expected.astimezone(UTC)


def test_no_digest_or_a_broken_one_means_no_wait() -> None:
    now = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    assert next_digest(None, now) is None
    assert next_digest(DailyDigest(timezone="Nowhere/Special"), now) is None


def _customer() -> Customer:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Customer(id="c1", office_id="o1", name="Erika", status=CustomerStatus.ACTIVE,
                    identities=(Identity(kind=IdentityKind.EMAIL, value="e@example.de"),),
                    created_at=now, updated_at=now)


def _plan(prefs: Preferences, now: datetime, held: str | None = None,
          reply_via: str | None = None) -> tuple[str | None, str | None, datetime | None]:
    plan = evaluate(_customer(), prefs, {}, available=("email", "portal"), now=now,
                    held=held, reply_via=reply_via)
    return plan.hold, plan.wait_reason, plan.wait_until


def test_what_a_job_waits_for() -> None:
    digest = Preferences(daily_digest=DailyDigest(at="08:00"),
                         quiet_hours=QuietHours(start="22:00", end="09:00"))
    night = _local("Europe/Berlin", 2026, 3, 10, 23, 0).astimezone(UTC)
    eight = _local("Europe/Berlin", 2026, 3, 11, 8, 0).astimezone(UTC)
    nine = _local("Europe/Berlin", 2026, 3, 11, 9, 0).astimezone(UTC)
    # a fresh job waits for the digest
    assert _plan(digest, night) == (HOLD_DIGEST, "daily digest at 08:00", eight)
    # at 08:00 it is released, but quiet hours last until 09:00: it waits on, and stays a
    # digest job (not held for the next day's digest again)
    assert _plan(digest, eight, held=HOLD_DIGEST) == (HOLD_DIGEST, "quiet hours until 09:00",
                                                     nine)
    assert _plan(digest, nine, held=HOLD_DIGEST) == (None, None, None)
    # an admin's retry does not wait for a digest either
    assert _plan(digest, nine, held=HOLD_NOW) == (None, None, None)
    # a job held by quiet hours alone still waits for the digest when one is set
    assert _plan(digest, nine, held=HOLD_QUIET)[0] == HOLD_DIGEST
    # a direct reply never waits for a digest, but keeps quiet hours
    assert _plan(digest, night, reply_via="email")[:2] == (HOLD_QUIET,
                                                          "quiet hours until 09:00")
    # the silent portal inbox is never held back
    portal_only = Preferences(channels=("portal",), daily_digest=DailyDigest())
    assert _plan(portal_only, night) == (None, None, None)


def test_excerpts_and_ids() -> None:
    assert excerpt("kurz") == "kurz"
    long = "Wort " * 100
    cut = excerpt(long, 50)
    assert cut.endswith(" …") and len(cut) <= 52 and "Wor …" not in cut
    assert excerpt("x" * 80, 50) == "x" * 50 + " …"
    a = digest_message_id(["b", "a"], "email", "buero.test")
    assert a == digest_message_id(["a", "b"], "email", "buero.test")
    assert a != digest_message_id(["a", "b", "c"], "email", "buero.test")
    assert a.startswith("<digest.") and a.endswith(".email@buero.test>")
