"""Boundary translation (every lower-layer error is mapped), rate limits, quiet hours,
channel order and unsubscribe tokens."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest
from telegram import error as tg

from notify.errors import Bug, Permanent, Transient
from notify.evaluate import channel_order, evaluate, quiet_until
from notify.ratelimit import RateLimiter
from notify.tokens import sign_unsubscribe, verify_unsubscribe
from notify.transports.email import translate_smtp_error
from notify.transports.telegram import retry_after_seconds, translate_telegram_error
from timeline.models import Consent, Customer, Identity, IdentityKind, Preferences, QuietHours


def _smtp_instance(cls: type[Exception], code: int) -> Exception:
    params = inspect.signature(cls).parameters
    if cls is aiosmtplib.SMTPRecipientsRefused:
        return cls([aiosmtplib.SMTPRecipientRefused(code, "no", "a@b.c")])
    if "recipient" in params:
        return cls(code, "no", "a@b.c")  # type: ignore[call-arg]
    if "sender" in params:
        return cls(code, "no", "a@b.c")  # type: ignore[call-arg]
    if "code" in params:
        return cls(code, "no")  # type: ignore[call-arg]
    return cls("no")


SMTP_ERRORS = [c for _, c in inspect.getmembers(aiosmtplib.errors, inspect.isclass)
               if issubclass(c, Exception) and c.__module__.startswith("aiosmtplib")]
TG_ERRORS = [c for _, c in inspect.getmembers(tg, inspect.isclass)
             if issubclass(c, tg.TelegramError)]


@pytest.mark.parametrize("cls", SMTP_ERRORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("code", [451, 550], ids=["4xx", "5xx"])
def test_every_smtp_error_is_mapped(cls: type[Exception], code: int) -> None:
    mapped = translate_smtp_error(_smtp_instance(cls, code))
    assert isinstance(mapped, Transient | Permanent)
    if code == 451:
        assert isinstance(mapped, Transient)
    if code == 550 and cls in (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPRecipientsRefused,
                               aiosmtplib.SMTPDataError):
        assert isinstance(mapped, Permanent)


def test_socket_errors_are_transient_and_surprises_are_bugs() -> None:
    assert isinstance(translate_smtp_error(ConnectionRefusedError("refused")), Transient)
    assert isinstance(translate_smtp_error(TimeoutError()), Transient)
    assert isinstance(translate_smtp_error(KeyError("x")), Bug)
    assert isinstance(translate_telegram_error(KeyError("x")), Bug)


def _tg_instance(cls: type[tg.TelegramError]) -> tg.TelegramError:
    if cls is tg.RetryAfter:
        return cls(timedelta(seconds=7))  # type: ignore[arg-type]
    if cls is tg.ChatMigrated:
        return cls(-100)
    if cls is tg.InvalidToken:
        return cls("The token `123:SECRET` was rejected by the server.")
    return cls("Forbidden: bot was blocked by the user")


@pytest.mark.parametrize("cls", TG_ERRORS, ids=lambda c: c.__name__)
def test_every_telegram_error_is_mapped(cls: type[tg.TelegramError],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    mapped = translate_telegram_error(_tg_instance(cls))
    if cls in (tg.EndPointNotFound, tg.PassportDecryptionError):
        assert isinstance(mapped, Bug)
    elif cls in (tg.Forbidden, tg.BadRequest, tg.ChatMigrated, tg.InvalidToken):
        assert isinstance(mapped, Permanent)  # a rejected token: fall back at once
    else:
        assert isinstance(mapped, Transient)
    if cls is tg.RetryAfter:
        assert isinstance(mapped, Transient) and mapped.retry_after == 7
    assert "SECRET" not in str(mapped)


def test_retry_after_as_number_or_timedelta() -> None:
    assert retry_after_seconds(timedelta(seconds=3)) == 3 and retry_after_seconds(5) == 5.0


def test_rate_limiter_overall_and_per_key() -> None:
    lim = RateLimiter(per_second=30, per_key_interval=1.0)
    assert lim.reserve("a", 100.0) == 0
    assert lim.reserve("b", 100.0) == pytest.approx(1 / 30)
    assert lim.reserve("a", 100.0) == pytest.approx(1.0)  # same chat: a second later


def _customer(*kinds: IdentityKind, undeliverable: bool = False) -> Customer:
    now = datetime.now(UTC)
    idents = tuple(Identity(kind=k, value="x@y.z" if k is IdentityKind.EMAIL else "42",
                            undeliverable=undeliverable) for k in kinds)
    return Customer(id="c1", office_id="o1", name="E", identities=idents, created_at=now,
                    updated_at=now)


def test_channel_order_follows_identities_then_portal() -> None:
    both = _customer(IdentityKind.TELEGRAM, IdentityKind.EMAIL)
    assert channel_order(both, Preferences()) == ["email", "telegram", "portal"]
    assert channel_order(both, Preferences(channels=("telegram",))) == ["telegram", "portal"]
    assert channel_order(_customer(), Preferences()) == ["portal"]


def test_evaluate_consent_and_undeliverable() -> None:
    now = datetime.now(UTC)
    c = _customer(IdentityKind.EMAIL, undeliverable=True)
    plan = evaluate(c, Preferences(), {}, available=["email", "portal"], now=now)
    assert [r.channel for r in plan.routes] == ["portal"]
    assert plan.skipped == ("email address is undeliverable",)
    withdrawn = {"portal": Consent(channel="portal", granted=False, at=now, actor="customer",
                                   route="portal")}
    plan = evaluate(_customer(), Preferences(), withdrawn, available=["portal"], now=now)
    assert plan.suppressed == "no consent for portal"


@pytest.mark.parametrize("local,expected", [
    ("23:30", "08:00+1"), ("07:59", "08:00"), ("08:00", None), ("12:00", None),
    ("22:00", "08:00+1"), ("21:59", None)], ids=str)
def test_quiet_hours_across_midnight(local: str, expected: str | None) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Berlin")
    h, m = map(int, local.split(":"))
    now = datetime(2026, 3, 28, h, m, tzinfo=zone)  # the night before DST starts
    got = quiet_until(QuietHours(start="22:00", end="08:00", timezone="Europe/Berlin"), now)
    if expected is None:
        assert got is None
    else:
        day = 29 if expected.endswith("+1") else 28
        assert got is not None and got.astimezone(zone) == datetime(2026, 3, day, 8, 0,
                                                                    tzinfo=zone)


def test_unsubscribe_tokens_are_signed() -> None:
    token = sign_unsubscribe(b"k" * 32, "OFFICE", "CUSTOMER")
    target = verify_unsubscribe(b"k" * 32, token)
    assert target is not None and (target.office_id, target.customer_id) == ("OFFICE",
                                                                              "CUSTOMER")
    assert verify_unsubscribe(b"other-key", token) is None
    payload, mac = token.split(".")
    forged = sign_unsubscribe(b"k" * 32, "OFFICE", "OTHER").split(".")[0] + "." + mac
    assert verify_unsubscribe(b"k" * 32, forged) is None
    assert verify_unsubscribe(b"k" * 32, "…") is None
