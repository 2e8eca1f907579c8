"""Fixtures for the privacy tests: a hub, and ways to fill every store a person's data can
reach (mail, Telegram, a call, notes, a document, the portal, preferences, consent, merges,
notification jobs, the quarantine)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.email.inbound import RAW_CHANNEL, MailIngest
from tests.conftest import Hub
from timeline.ingest import InboundMessage
from timeline.models import Channel, Direction, Entry, EntryDraft, IdentityKind, Visibility, utcnow
from timeline.notifications import JobOutcome, JobStatus


def mail(sender: str, subject: str, body: str, *, message_id: str,
         attachment: tuple[str, bytes] | None = None) -> bytes:
    head = (f"From: {sender}\r\nTo: service@buero.test\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\nDate: Mon, 01 Jun 2026 10:00:00 +0200\r\n"
            "MIME-Version: 1.0\r\n")
    if attachment is None:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
                ).encode()
    name, data = attachment
    return (head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--b1\r\n"
            f'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="{name}"'
            "\r\n\r\n" + data.decode() + "\r\n--b1--\r\n").encode()


async def deliver_mail(hub: Hub, raw: bytes) -> Any:
    return await MailIngest(hub.state.ingest).deliver(hub.office.id, raw, "test")


async def quarantine_mail(hub: Hub, raw: bytes) -> str:
    item = await hub.state.ingest.quarantine(hub.office.id, RAW_CHANNEL, raw,
                                             "unparseable: test", "test")
    return item.id


async def telegram(hub: Hub, customer_id: str, text: str, source: str = "tg:1:1") -> str:
    result = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=Channel.CHAT, source_id=source,
        sender_kind=IdentityKind.TELEGRAM, sender="424242", sender_name="Tele Gram",
        occurred_at=utcnow(), body=text, customer_id=customer_id))
    assert result.entry is not None
    return result.entry.id


async def call(hub: Hub, customer_id: str, number: str, subject: str) -> str:
    result = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=Channel.PHONE, source_id="call-77",
        sender_kind=IdentityKind.PHONE, sender=number, occurred_at=utcnow(), kind="call",
        subject=subject, customer_id=customer_id))
    assert result.entry is not None
    await hub.state.store.save_call_state(hub.office.id, "call-77",
                                          {"from": number, "state": "ended"}, customer_id)
    return result.entry.id


async def entry(hub: Hub, customer_id: str, **body: Any) -> dict[str, Any]:
    status, out = await hub.admin.post(f"/customers/{customer_id}/entries", json=body)
    assert status == 201, out
    return dict(out)


async def document(hub: Hub, customer_id: str, subject: str, name: str, data: bytes
                   ) -> dict[str, Any]:
    from aiohttp import FormData

    form = FormData()
    form.add_field("kind", "document")
    form.add_field("subject", subject)
    form.add_field("visibility", "internal")
    form.add_field("file", data, filename=name, content_type="text/plain")
    status, out = await hub.admin.post(f"/customers/{customer_id}/entries", data=form)
    assert status == 201, out
    return dict(out)


async def portal_message(hub: Hub, customer_id: str, subject: str, body: str) -> dict[str, Any]:
    status, tok = await hub.admin.post(f"/customers/{customer_id}/portal-token")
    assert status in (200, 201), tok
    status, out = await hub.anon.as_(tok["token"]).post(
        "/portal/messages", json={"subject": subject, "body": body})
    assert status == 201, out
    return dict(out)


async def fail_jobs(hub: Hub, entry_ids: dict[str, JobStatus]) -> None:
    """Claim the notification jobs of these entries and finish each with the status given
    (``failed`` after a permanent refusal, ``dead`` after giving up), as the worker would."""
    store = hub.state.store
    now = utcnow()
    lease = now + timedelta(minutes=5)
    jobs = await store.claim_notify_jobs("test-worker", now, lease, 50)
    done = set()
    for job in jobs:
        status = entry_ids.get(job.entry_id)
        if status is None:
            continue
        start = await store.begin_delivery(job.id, "test-worker", lease, job.entry_id, "email")
        outcome = "permanent" if status is JobStatus.FAILED else "transient"
        await store.complete_notify_job(job.id, "test-worker", JobOutcome(
            status=status, channel="email", reason=f"{outcome}: 550 mailbox unknown",
            attempt_id=start.attempt_id, attempt_outcome=outcome, delivery_state="failed"),
            None)
        done.add(job.entry_id)
    assert done == set(entry_ids), (done, entry_ids, jobs)


async def old_entry(hub: Hub, customer_id: str, kind: str, subject: str,
                    years: int = 3) -> Entry:
    """An internal entry dated ``years`` back (what retention rules are about)."""
    created, _ = await hub.state.timeline.append(EntryDraft(
        office_id=hub.office.id, customer_id=customer_id, channel=Channel.NOTE,
        direction=Direction.INTERNAL, kind=kind, visibility=Visibility.INTERNAL,
        occurred_at=utcnow() - timedelta(days=366 * years), subject=subject))
    return created
