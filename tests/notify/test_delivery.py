"""Retries, dead letters, fallback on permanent refusal, quiet hours, the office policy for
documents, attachments — all against the real SMTP sink and the real server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import FormData

import notify.worker
from chronik.glue.notify import NotifyComponent
from notify.worker import Worker
from tests.conftest import Hub
from tests.notify.conftest import SmtpSink, customer, eventually, note, outcome


async def _jobs(hub: Hub, customer_id: str) -> list[dict]:
    status, body = await hub.admin.get(f"/notifications?customer={customer_id}")
    assert status == 200, body
    return list(body["items"])


async def _jobs_where(hub: Hub, customer_id: str, test: Callable[[dict], bool]
                      ) -> list[dict] | None:
    jobs = await _jobs(hub, customer_id)
    return jobs if jobs and test(jobs[0]) else None


async def test_smtp_down_for_a_while_retries_then_exactly_one_email(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    await smtp_sink.stop()
    c = await customer(nhub, email="erika@example.de")
    e = await note(nhub, c["id"], "Beitragsrechnung folgt")
    jobs = await eventually(lambda: _jobs_where(nhub, c["id"], lambda j: j["attempts"] >= 2))
    assert jobs[0]["status"] == "pending" and jobs[0]["next_attempt_at"]
    assert "refused" in jobs[0]["reason"].lower() or "connect" in jobs[0]["reason"].lower()
    await smtp_sink.start()  # back on the same port
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"
    await asyncio.sleep(0.3)
    assert len(smtp_sink.received) == 1
    assert "Beitragsrechnung folgt" in smtp_sink.received[0].text()


async def test_dead_letter_after_max_attempts_and_admin_retry(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    await smtp_sink.stop()
    # No other channel to fall back to (the portal inbox would take it otherwise).
    c = await customer(nhub, email="erika@example.de", prefs={"consents": {"portal": False}})
    e = await note(nhub, c["id"], "Wichtig")
    failed = await outcome(nhub, c["id"], e["id"])
    assert failed["meta"]["notification"]["status"] == "failed"
    assert "gave up after 4 attempts" in failed["meta"]["notification"]["reason"]
    status, dead = await nhub.admin.get("/notifications?status=dead")
    assert status == 200 and [j["entry_id"] for j in dead["items"]] == [e["id"]]
    job = dead["items"][0]
    assert [a["outcome"] for a in job["history"]] == ["transient"] * 4
    status, body = await nhub.agent.post(f"/notifications/{job['id']}/retry")
    assert status == 403
    await smtp_sink.start()
    status, again = await nhub.admin.post(f"/notifications/{job['id']}/retry")
    assert status == 200 and again["status"] == "pending" and again["attempts"] == 0
    assert (await smtp_sink.wait(1))[0].message["Message-ID"] == f"<{e['id']}.email@buero.test>"
    await eventually(lambda: _jobs_where(nhub, c["id"], lambda j: j["status"] == "sent"))
    status, body = await nhub.admin.post(f"/notifications/{job['id']}/retry")
    assert status == 409 and body["error"]["code"] == "conflict"
    _, other = await nhub.new_office()
    status, _ = await other.post(f"/notifications/{job['id']}/retry")
    assert status == 404
    _, source = await nhub.agent.get(f"/entries/{e['id']}")
    assert source["meta"]["delivery"]["status"] == "sent"


async def test_permanent_refusal_falls_back_to_the_portal_inbox(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse["gone@example.de"] = (550, "5.1.1 no such user")
    c = await customer(nhub, email="gone@example.de")
    e = await note(nhub, c["id"], "Ihre Unterlagen sind da")
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["channel"] == "portal"
    assert "550" in done["meta"]["notification"]["reason"]
    _, inbox = await nhub.agent.get(f"/customers/{c['id']}/inbox")
    assert [i["entry_id"] for i in inbox["items"]] == [e["id"]]
    assert "Ihre Unterlagen sind da" in inbox["items"][0]["body"]
    assert smtp_sink.received == []


async def test_transient_4xx_refusal_is_retried(nhub: Hub, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse["busy@example.de"] = (451, "4.7.1 try again later")
    c = await customer(nhub, email="busy@example.de")
    e = await note(nhub, c["id"], "Bitte melden")
    await eventually(lambda: _jobs_where(nhub, c["id"], lambda j: j["attempts"] >= 1))
    del smtp_sink.refuse["busy@example.de"]
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["channel"] == "email"
    assert len(smtp_sink.received) == 1


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.offset = now - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def test_quiet_hours_hold_the_message_until_they_end(
        nhub: Hub, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    tomorrow = (datetime.now(berlin) + timedelta(days=1)).date()
    clock = _Clock(datetime(tomorrow.year, tomorrow.month, tomorrow.day, 7, 59, 55,
                            tzinfo=berlin))
    monkeypatch.setattr(notify.worker, "utcnow", clock)
    c = await customer(nhub, email="erika@example.de", prefs={
        "quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Europe/Berlin"}})
    e = await note(nhub, c["id"], "Guten Morgen")
    jobs = await eventually(lambda: _jobs_where(nhub, c["id"], lambda j: bool(j["reason"])))
    assert jobs[0]["status"] == "pending" and jobs[0]["reason"] == "quiet hours until 08:00"
    due = datetime.fromisoformat(jobs[0]["next_attempt_at"]).astimezone(berlin)
    assert (due.hour, due.minute, due.date()) == (8, 0, tomorrow)
    await asyncio.sleep(0.3)
    assert smtp_sink.received == []
    clock.offset += timedelta(seconds=10)  # 08:00:05 in Berlin
    got = await smtp_sink.wait(1)
    assert "Guten Morgen" in got[0].text()
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"


async def test_office_turns_document_notifications_off(nhub: Hub, smtp_sink: SmtpSink) -> None:
    status, _ = await nhub.admin.put("/policy/office", json={"document": {"notify": False}})
    assert status == 200
    c = await customer(nhub, email="erika@example.de")
    form = FormData()
    form.add_field("kind", "document")
    form.add_field("file", b"%PDF-1.4 police", filename="police.pdf",
                   content_type="application/pdf")
    status, doc = await nhub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert status == 201 and doc["notify"] is False
    marker = await note(nhub, c["id"], "Kontrollnachricht")
    await outcome(nhub, c["id"], marker["id"])
    assert [r.text().count("Kontrollnachricht") for r in smtp_sink.received] == [1]
    assert [j["entry_id"] for j in await _jobs(nhub, c["id"])] == [marker["id"]]


async def test_document_attachments_up_to_the_limit_then_a_portal_link(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    worker = await worker_of(nhub)
    worker.config = dataclasses.replace(worker.config, max_attachment_bytes=40_000)
    c = await customer(nhub, email="erika@example.de")
    form = FormData()
    form.add_field("kind", "document")
    form.add_field("subject", "Ihre Unterlagen")
    form.add_field("small", b"%PDF-1.4 klein", filename="Antrag ä.pdf",
                   content_type="application/pdf")
    form.add_field("big", b"x" * 50_000, filename="gross.bin",
                   content_type="application/octet-stream")
    status, doc = await nhub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert status == 201, doc
    msg = (await smtp_sink.wait(1))[0]
    parts = {p.get_filename(): p.get_content() for p in msg.message.iter_attachments()}
    assert parts == {"Antrag ä.pdf": b"%PDF-1.4 klein"}
    text = msg.text()
    assert "Angehängt: Antrag ä.pdf" in text
    assert f"Im Kundenportal abrufbar: gross.bin – {nhub.state.settings.base_url}/portal/" \
           f"entries/{doc['id']}" in text


async def worker_of(hub: Hub) -> Worker:
    assert hub.state.supervisor is not None
    (component,) = [c for c in hub.state.supervisor.components if c.name == "notify-worker"]
    assert isinstance(component, NotifyComponent)
    async def ready() -> Worker | None:
        return component.worker
    return await eventually(ready)
