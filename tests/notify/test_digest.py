"""Held items go out as one message: when quiet hours end, and at the time of the customer's
daily digest (in their time zone). Real SMTP sink, the real server and worker; the worker's
clock is moved, nothing else."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import notify.worker
from tests.conftest import Hub
from tests.notify.conftest import SmtpSink, customer, eventually, note, outcome
from tests.support.telegram_standin import BotApiStandIn

BERLIN = ZoneInfo("Europe/Berlin")
QUIET = {"quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Europe/Berlin"}}


class Clock:
    """The worker's ``utcnow``, set to a chosen moment and moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.offset = now - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def move(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def tomorrow_at(zone: ZoneInfo, hour: int, minute: int, second: int = 0) -> datetime:
    day = (datetime.now(zone) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], Clock]:
    def set_to(now: datetime) -> Clock:
        c = Clock(now)
        monkeypatch.setattr(notify.worker, "utcnow", c)
        return c
    return set_to


async def jobs(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    status, body = await hub.admin.get(f"/notifications?customer={customer_id}")
    assert status == 200, body
    return list(body["items"])


async def held(hub: Hub, customer_id: str, n: int, reason: str) -> list[dict[str, Any]]:
    """Wait until ``n`` jobs wait with ``reason``."""
    async def check() -> list[dict[str, Any]] | None:
        found = [j for j in await jobs(hub, customer_id)
                 if j["status"] == "pending" and j["reason"] == reason]
        return found if len(found) == n else None
    return await eventually(check)


def link(hub: Hub, entry_id: str) -> str:
    return f"{hub.state.settings.base_url}/portal/entries/{entry_id}"


# ---------------------------------------------------------------- quiet hours
async def test_quiet_hours_end_with_one_message_listing_every_held_item(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    now = clock(tomorrow_at(BERLIN, 7, 59, 50))
    c = await customer(nhub, email="erika@example.de", prefs=QUIET)
    entries = [await note(nhub, c["id"], body, subject=subject) for subject, body in (
        ("Kfz-Police verlängert", "Ihre Police läuft ein Jahr weiter."),
        ("Beitragsrechnung", "Die Rechnung über 312,40 € liegt im Portal."),
        ("Termin", "Dienstag 10 Uhr passt."))]
    await held(nhub, c["id"], 3, "quiet hours until 08:00")
    assert smtp_sink.received == []
    now.move(15)  # 08:00:05 in Berlin
    (mail,) = await smtp_sink.wait(1)
    done = [await outcome(nhub, c["id"], e["id"]) for e in entries]
    assert len(smtp_sink.received) == 1  # every job is settled: no second message can come
    assert mail.message["Subject"] == "Büro Müller & Partner: 3 neue Nachrichten für Sie"
    assert mail.message["Message-ID"].startswith("<digest.")
    text, html = mail.text(), mail.html()
    for e, subject in zip(entries, ("Kfz-Police verlängert", "Beitragsrechnung", "Termin"),
                          strict=True):
        assert f"„{subject}“" in text and link(nhub, e["id"]) in text
        assert link(nhub, e["id"]) in html
    assert "312,40 €" in text and "Keine E-Mail-Benachrichtigungen mehr" in text
    assert text.index("Kfz-Police") < text.index("Beitragsrechnung") < text.index("Termin")
    for d in done:
        info = d["meta"]["notification"]
        assert (info["status"], info["channel"]) == ("sent", "email")
        assert info["reason"] == "one message with 3 items (held during quiet hours)"
        assert info["digest"]["items"] == 3
    _, source = await nhub.agent.get(f"/entries/{entries[0]['id']}")
    assert "one message with 3 items" in source["meta"]["delivery"]["reason"]


async def test_a_single_held_item_is_an_ordinary_message(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    now = clock(tomorrow_at(BERLIN, 7, 59, 50))
    c = await customer(nhub, email="erika@example.de", prefs=QUIET)
    e = await note(nhub, c["id"], "Guten Morgen", subject="Hallo")
    await held(nhub, c["id"], 1, "quiet hours until 08:00")
    now.move(15)
    (mail,) = await smtp_sink.wait(1)
    assert mail.message["Message-ID"] == f"<{e['id']}.email@buero.test>"
    assert "Guten Morgen" in mail.text()


async def test_a_direct_reply_held_by_quiet_hours_goes_on_its_own(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    """A reply is a conversation: it is not folded into the other items' message."""
    now = clock(tomorrow_at(BERLIN, 7, 59, 50))
    c = await customer(nhub, email="erika@example.de", prefs=QUIET)
    first = await note(nhub, c["id"], "Erste Info", subject="Eins")
    second = await note(nhub, c["id"], "Zweite Info", subject="Zwei")
    reply = await note(nhub, c["id"], "Ja, das geht so.", kind="reply", reply_via="email")
    await held(nhub, c["id"], 3, "quiet hours until 08:00")
    now.move(15)
    got = await smtp_sink.wait(2)
    for e in (first, second, reply):
        assert (await outcome(nhub, c["id"], e["id"]))["meta"]["notification"]["status"] \
            == "sent"
    assert len(smtp_sink.received) == 2
    by_id = {m.message["Message-ID"]: m for m in got}
    own = by_id.pop(f"<{reply['id']}.email@buero.test>")
    assert "Ja, das geht so." in own.text() and "Erste Info" not in own.text()
    (digest,) = by_id.values()
    assert "Erste Info" in digest.text() and "Zweite Info" in digest.text()
    assert "Ja, das geht so." not in digest.text()


async def test_opting_out_before_quiet_hours_end_sends_nothing(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    now = clock(tomorrow_at(BERLIN, 7, 59, 50))
    c = await customer(nhub, email="erika@example.de", prefs=QUIET)
    entries = [await note(nhub, c["id"], f"Info {i}") for i in range(3)]
    await held(nhub, c["id"], 3, "quiet hours until 08:00")
    status, _ = await nhub.agent.put(f"/customers/{c['id']}/preferences",
                                     json={"automatic_notifications": False})
    assert status == 200
    now.move(15)
    for e in entries:
        done = await outcome(nhub, c["id"], e["id"])
        assert done["meta"]["notification"]["status"] == "suppressed"
    assert smtp_sink.received == []


@pytest.fixture
def refusing_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        yield int(sock.getsockname()[1])


async def test_held_items_fall_back_together_when_the_mail_server_is_down(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch, refusing_port: int,
        clock: Callable[[datetime], Clock]) -> None:
    """Quiet hours end while SMTP refuses: after the retries the held items reach Telegram
    as one message — the digest moves to the fallback channel whole."""
    from tests.notify.test_fallback_channels import CHAT, _hub, _smtp_env, _telegram_env

    _smtp_env(monkeypatch, refusing_port)
    async with BotApiStandIn() as tg:
        tg.add_chat(CHAT)
        _telegram_env(monkeypatch, tg)
        async with _hub(tmp_path) as hub:
            now = clock(tomorrow_at(BERLIN, 7, 59, 50))
            c = await customer(hub, email="erika@example.de", telegram=CHAT,
                               prefs={**QUIET, "channels": ["email", "telegram"]})
            entries = [await note(hub, c["id"], f"Nachricht {i}", subject=f"Betreff {i}")
                       for i in range(3)]
            await held(hub, c["id"], 3, "quiet hours until 08:00")
            now.move(15)
            for e in entries:
                info = (await outcome(hub, c["id"], e["id"]))["meta"]["notification"]
                assert (info["status"], info["channel"]) == ("sent", "telegram")
                assert info["reason"].startswith("email: gave up after 4 attempts")
                assert "one message with 3 items" in info["reason"]
            (text,) = [s["text"] for s in tg.sent if s["method"] == "sendMessage"]
            for i, e in enumerate(entries):
                assert f"Betreff {i}" in text and link(hub, e["id"]) in text
            history = [(a["channel"], a["outcome"]) for a in (await jobs(hub, c["id"]))[0][
                "history"]]
            assert history == [("email", "transient")] * 4 + [("telegram", "sent")]


# ---------------------------------------------------------------- the daily digest
async def test_daily_digest_at_eight_in_the_customers_time_zone(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    new_york = ZoneInfo("America/New_York")
    now = clock(tomorrow_at(new_york, 7, 59, 50))
    c = await customer(nhub, email="erika@example.de", prefs={
        "language": "en", "daily_digest": {"at": "08:00", "timezone": "America/New_York"}})
    _, prefs = await nhub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["daily_digest"] == {"at": "08:00", "timezone": "America/New_York"}
    status, page = await nhub.agent.get(
        f"/customers/{c['id']}/timeline?kind=preferences")
    assert status == 200
    assert "daily digest: off (one message per item) → daily at 08:00 America/New_York" in \
        page["items"][0]["body"]
    entries = [await note(nhub, c["id"], f"Detail {i}", subject=f"Item {i}") for i in range(3)]
    waiting = await held(nhub, c["id"], 3, "daily digest at 08:00")
    due = datetime.fromisoformat(waiting[0]["next_attempt_at"]).astimezone(new_york)
    assert (due.hour, due.minute) == (8, 0)
    # an agent's direct reply is a conversation: it does not wait for the digest
    reply = await note(nhub, c["id"], "Yes, Tuesday works.", kind="reply", reply_via="email")
    (answer,) = await smtp_sink.wait(1)
    assert answer.message["Message-ID"] == f"<{reply['id']}.email@buero.test>"
    now.move(15)  # 08:00:05 in New York
    got = await smtp_sink.wait(2)
    for e in entries:
        info = (await outcome(nhub, c["id"], e["id"]))["meta"]["notification"]
        assert info["reason"] == "one message with 3 items (daily digest)"
    assert len(smtp_sink.received) == 2
    digest = got[1]
    assert digest.message["Subject"] == "Büro Müller & Partner: 3 new items for you"
    assert "(your daily digest)" in digest.text()
    for i, e in enumerate(entries):
        assert f'"Item {i}"' in digest.text() and link(nhub, e["id"]) in digest.text()


async def test_an_item_after_the_digest_waits_for_the_next_day(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    now = clock(tomorrow_at(BERLIN, 8, 0, 30))
    c = await customer(nhub, email="erika@example.de", prefs={"daily_digest": {}})
    _, prefs = await nhub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["daily_digest"] == {"at": "08:00", "timezone": "Europe/Berlin"}  # defaults
    await note(nhub, c["id"], "Zu spät für heute")
    (job,) = await held(nhub, c["id"], 1, "daily digest at 08:00")
    due = datetime.fromisoformat(job["next_attempt_at"]).astimezone(BERLIN)
    assert (due - now().astimezone(BERLIN)) > timedelta(hours=23)
    assert due.hour == 8 and due.minute == 0
    assert smtp_sink.received == []


async def test_turning_the_digest_off_sends_the_waiting_items_together_now(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    clock(tomorrow_at(BERLIN, 12, 0))
    c = await customer(nhub, email="erika@example.de",
                       prefs={"daily_digest": {"at": "08:00"}})
    entries = [await note(nhub, c["id"], f"Wartet {i}", subject=f"W{i}") for i in range(2)]
    await held(nhub, c["id"], 2, "daily digest at 08:00")
    status, _ = await nhub.agent.put(f"/customers/{c['id']}/preferences",
                                     json={"daily_digest": None})
    assert status == 200
    (mail,) = await smtp_sink.wait(1)
    for e in entries:
        info = (await outcome(nhub, c["id"], e["id"]))["meta"]["notification"]
        assert info["reason"] == "one message with 2 items (held back, released together)"
    assert "Wartet 0" in mail.text() and "Wartet 1" in mail.text()
    assert len(smtp_sink.received) == 1
    # and the next item goes on its own, at once
    later = await note(nhub, c["id"], "Sofort")
    await outcome(nhub, c["id"], later["id"])
    assert smtp_sink.received[1].message["Message-ID"] == f"<{later['id']}.email@buero.test>"


async def test_moving_the_digest_time_moves_the_waiting_items(
        nhub: Hub, smtp_sink: SmtpSink, clock: Callable[[datetime], Clock]) -> None:
    now = clock(tomorrow_at(BERLIN, 12, 0))
    c = await customer(nhub, email="erika@example.de",
                       prefs={"daily_digest": {"at": "08:00"}})
    for i in range(2):
        await note(nhub, c["id"], f"Info {i}")
    await held(nhub, c["id"], 2, "daily digest at 08:00")
    status, _ = await nhub.agent.put(f"/customers/{c['id']}/preferences",
                                     json={"daily_digest": {"at": "12:01"}})
    assert status == 200
    waiting = await held(nhub, c["id"], 2, "daily digest at 12:01")
    due = datetime.fromisoformat(waiting[0]["next_attempt_at"]).astimezone(BERLIN)
    assert (due.date(), due.hour, due.minute) == (now().astimezone(BERLIN).date(), 12, 1)
    assert smtp_sink.received == []
    now.move(65)
    (mail,) = await smtp_sink.wait(1)
    assert "Info 0" in mail.text() and "Info 1" in mail.text()


@pytest.mark.parametrize(("body", "field"), [
    ({"daily_digest": {"at": "8 Uhr"}}, "daily_digest.at"),
    ({"daily_digest": {"at": "24:00"}}, "daily_digest.at"),
    ({"daily_digest": {"timezone": "Mars/Olympus_Mons"}}, "daily_digest.timezone"),
    ({"daily_digest": {"at": "08:00", "when": "daily"}}, "daily_digest.when"),
    ({"daily_digest": "daily"}, "daily_digest"),
], ids=["not-hh-mm", "hour-24", "unknown-zone", "unknown-field", "not-an-object"])
async def test_bad_digest_settings_are_a_400_and_change_nothing(
        nhub: Hub, body: dict[str, Any], field: str) -> None:
    c = await customer(nhub, email="erika@example.de")
    status, answer = await nhub.agent.put(f"/customers/{c['id']}/preferences", json=body)
    assert status == 400, answer
    assert answer["error"]["code"] in ("invalid_input", "validation_error")
    assert field.split(".")[-1] in str(answer["error"])
    _, prefs = await nhub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["daily_digest"] is None
    _, page = await nhub.agent.get(f"/customers/{c['id']}/timeline?kind=preferences")
    assert page["items"] == []


async def test_the_digest_zone_defaults_to_the_quiet_hours_zone(nhub: Hub) -> None:
    c = await customer(nhub, email="erika@example.de", prefs={
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Vienna"}})
    status, prefs = await nhub.agent.put(f"/customers/{c['id']}/preferences",
                                         json={"daily_digest": {"at": "18:30"}})
    assert status == 200
    assert prefs["daily_digest"] == {"at": "18:30", "timezone": "Europe/Vienna"}
