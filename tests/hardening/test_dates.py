"""Dates outside the supported window (1970-01-01 .. 2200-01-01): inbound messages are
stored at the time of receipt with the original kept; agents get a clear 400; an import
goes on past any one bad message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chronik.settings import Settings
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from tests.connectors.test_email_import import chronik, eml, quarantine, subjects, summary
from tests.connectors.test_email_smtp import customer_for, inbox, mail, send
from timeline.ingest import InboundMessage
from timeline.models import Channel, IdentityKind


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHRONIK_INBOUND_SMTP_PORT", "0")
    return Settings(data_dir=tmp_path / "data", http_port=0, max_upload_bytes=64 * 1024)


def recent(stamp: str) -> bool:
    return abs(datetime.fromisoformat(stamp) - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.mark.parametrize("when", ["6500-01-01T10:00:00+00:00", "1969-12-31T23:00:00+00:00",
                                  "2200-01-01T00:00:00+00:00"],
                         ids=["year-6500", "before-1970", "window-end"])
async def test_agent_occurred_at_outside_the_window_is_400(hub: Hub, when: str) -> None:
    c = await make_customer(hub)
    status, body = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "Termin bestätigt.", "occurred_at": when})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input"
    assert "1970-01-01 and 2200-01-01" in body["error"]["message"]
    _, page = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert page["items"] == []


async def test_agent_occurred_at_inside_the_window_is_kept(hub: Hub) -> None:
    c = await make_customer(hub)
    status, body = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "Alte Notiz.", "occurred_at": "1999-05-01T10:00:00+00:00"})
    assert status == 201, body
    assert body["occurred_at"].startswith("1999-05-01")


async def test_smtp_mail_dated_year_9999_is_250_and_stored_at_receipt(hub: Hub) -> None:
    port = await inbox(hub)
    raw = mail(message_id="<future@example.de>").replace(
        b"Date: Mon, 02 Mar 2026 10:00:00 +0100", b"Date: Fri, 31 Dec 9999 23:59:59 -1200")
    reply = await send(port, raw)
    assert reply["reply"].startswith("2.0.0 OK") or "OK" in reply["reply"], reply
    customer = await customer_for(hub, "erika@example.de")
    _, page = await hub.agent.get(f"/customers/{customer['id']}/timeline")
    (entry,) = page["items"]
    assert entry["subject"] == "Schaden am Dach" and "undicht" in entry["body"]
    assert recent(entry["occurred_at"])
    assert entry["meta"]["original_date"].startswith("9999-12-31")


async def test_import_stores_every_good_mail_and_the_far_future_one_at_receipt(
        hub: Hub, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for n in (1, 2, 3):
        (folder / f"{n}.eml").write_bytes(eml(n))
    (folder / "4.eml").write_bytes(eml(4).replace(b"Date: Wed, 04 Mar 2026 14:00:00 +0100",
                                                  b"Date: Wed, 04 Mar 6500 14:00:00 +0100"))
    assert summary(chronik(hub, "import", str(folder), "--office", hub.office.id)) == (
        "imported 4, duplicates 0, quarantined 0")
    assert await subjects(hub) == [f"Nachricht {n}" for n in (1, 2, 3, 4)]


async def test_one_unstorable_message_is_quarantined_and_the_batch_goes_on(hub: Hub) -> None:
    def msg(n: int, body: str) -> tuple[InboundMessage, bytes, str]:
        m = InboundMessage(office_id=hub.office.id, channel=Channel.EMAIL,
                           source_id=f"<batch-{n}@example.de>", sender_kind=IdentityKind.EMAIL,
                           sender="kunde@example.de", subject=f"Nachricht {n}", body=body,
                           occurred_at=datetime(2026, 3, 4, 10, n, tzinfo=UTC))
        return m, f"raw {n}".encode(), f"test:{n}"

    # a lone surrogate cannot be stored as UTF-8 text: the store refuses that one draft
    items = [msg(1, "gut"), msg(2, "kaputt \ud800"), msg(3, "auch gut")]
    results = await hub.state.ingest.ingest_many(items, raw_channel="email")
    assert [r.created for r in results] == [True, False, True]
    assert results[1].quarantined is not None
    assert results[1].quarantined.reason.startswith("unstorable")
    assert await subjects(hub) == ["Nachricht 1", "Nachricht 3"]
    held = await quarantine(hub)
    assert [q["reason"].split(":")[0] for q in held] == ["unstorable"]


async def test_cti_timestamp_in_year_8307_is_taken_as_the_time_of_receipt(hub: Hub) -> None:
    status, office = await hub.admin.get("/office")
    path = office["cti_url_path"].removeprefix("/api/v1")
    event: dict[str, Any] = {"event": "newCall", "callId": "far", "from": "491711234567",
                             "to": "4921112345670", "direction": "in",
                             "timestamp": "200000000000"}
    status, body = await hub.anon.post(path, json=event)
    assert status == 200, body
    _, page = await hub.agent.get(f"/customers/{body['customer_id']}/timeline")
    (entry,) = page["items"]
    assert recent(entry["occurred_at"])
    assert entry["meta"]["original_date"] == {"newCall": "200000000000"}


@pytest.mark.parametrize("when", [datetime(7000, 1, 1, tzinfo=UTC),
                                  datetime(1960, 1, 1, tzinfo=UTC)],
                         ids=["year-7000", "year-1960"])
async def test_telegram_message_with_an_implausible_date_is_stored_at_receipt(
        hub: Hub, when: datetime) -> None:
    result = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=Channel.CHAT, source_id="tg:1:2",
        sender_kind=IdentityKind.TELEGRAM, sender="4711", sender_name="Karl Kunde",
        body="Hallo, wie ist der Stand?", occurred_at=when))
    assert result.entry is not None and result.created
    assert recent(result.entry.occurred_at.isoformat())
    assert result.entry.meta["original_date"] == when.isoformat()


async def test_smtp_answers_250_and_quarantines_a_message_that_cannot_be_stored(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.email.inbound import MailIngest

    async def overflow(self: MailIngest, office_id: str, raw: bytes, origin: str) -> Any:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    port = await inbox(hub)
    monkeypatch.setattr(MailIngest, "deliver", overflow)
    reply = await send(port, mail(message_id="<overflow@example.de>"))
    assert "kept for review" in reply["reply"], reply
    (held,) = await quarantine(hub)
    assert held["reason"] == "unstorable: OverflowError"
