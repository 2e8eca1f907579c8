"""Whoever writes by e-mail keeps their own copy: Chronik sends none back — not for a real
mail through the inbound SMTP listener, and not even when something asks for one. A message
written in the portal still gets its copy (the control that shows the notifier runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import pytest

from chronik.settings import Settings
from connectors.email.smtp import SmtpListener
from tests.conftest import Hub
from tests.notify.conftest import (
    SmtpSink,
    customer,
    eventually,
    free_port,
    outcome,
    start_hub,
)
from timeline.ingest import InboundMessage
from timeline.models import Channel, IdentityKind

INBOX = "service@buero-test.de"


@pytest.fixture
async def mail_hub(tmp_path: Path, notify_env: dict[str, str],
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    """Notifications to the SMTP sink; inbound mail through the real SMTP listener."""
    assert notify_env
    monkeypatch.setenv("CHRONIK_INBOUND_SMTP_PORT", "0")
    hub, session = await start_hub(Settings(data_dir=tmp_path / "data", http_port=free_port()))
    yield hub
    await session.close()
    await hub.server.close()


async def _listener_port(hub: Hub) -> int:
    status, _ = await hub.admin.post("/office/inbound-addresses", json={"address": INBOX})
    assert status == 201
    assert hub.state.supervisor is not None
    (found,) = [c for c in hub.state.supervisor.components if isinstance(c, SmtpListener)]
    await asyncio.wait_for(found.listening.wait(), 5)
    assert found.bound_port
    return found.bound_port


async def _portal_token(hub: Hub, customer_id: str) -> str:
    status, body = await hub.agent.post(f"/customers/{customer_id}/portal-token")
    assert status == 201, body
    return str(body["token"])


async def test_no_copy_of_an_inbound_email_only_of_a_portal_message(
        mail_hub: Hub, smtp_sink: SmtpSink) -> None:
    hub = mail_hub
    c = await customer(hub, email="erika@example.de", prefs={"language": "en"})
    port = await _listener_port(hub)
    raw = (f"From: Erika <erika@example.de>\r\nTo: {INBOX}\r\nSubject: Schaden am Dach\r\n"
           "Message-ID: <dach-1@example.de>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "Das Dach ist undicht.\r\n").encode()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
        await client.sendmail("erika@example.de", [INBOX], raw)

    async def mailed() -> list[dict[str, object]] | None:
        _, page = await hub.agent.get(f"/customers/{c['id']}/timeline?channel=email")
        return list(page["items"]) or None
    (inbound,) = await eventually(mailed)
    assert inbound["direction"] == "inbound" and inbound["subject"] == "Schaden am Dach"

    # the control: what she writes in the portal comes back as a copy ...
    me = hub.anon.as_(await _portal_token(hub, c["id"]))
    status, written = await me.post("/portal/messages",
                                    json={"subject": "Fotos", "body": "Fotos folgen"})
    assert status == 201, written
    copy = (await smtp_sink.wait(1))[0]
    assert copy.message["Subject"].startswith("Copy of your message")
    await outcome(hub, c["id"], written["id"])
    # ... and her e-mail does not: the one message out is the portal copy
    assert [m.message["Subject"] for m in smtp_sink.received] == [copy.message["Subject"]]
    assert "Das Dach ist undicht" not in smtp_sink.received[0].text()
    status, jobs = await hub.admin.get(f"/notifications?customer={c['id']}")
    assert [j["entry_id"] for j in jobs["items"]] == [written["id"]]


async def test_even_a_requested_copy_of_an_inbound_email_is_not_sent(
        mail_hub: Hub, smtp_sink: SmtpSink) -> None:
    """A connector that asks for a copy of an inbound e-mail (``notify``) gets none: the job
    is suppressed, and the item says why."""
    hub = mail_hub
    c = await customer(hub, email="erika@example.de")
    result = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=Channel.EMAIL, source_id="<kopie-1@example.de>",
        sender_kind=IdentityKind.EMAIL, sender="erika@example.de",
        occurred_at=datetime.now(UTC), subject="Bitte Kopie", body="Mit Kopie an mich",
        notify=True))
    assert result.entry is not None and result.entry.notify
    done = await outcome(hub, c["id"], result.entry.id)
    info = done["meta"]["notification"]
    assert info["status"] == "suppressed"
    assert info["reason"].startswith("no copy of what the customer sent by e-mail")
    _, source = await hub.agent.get(f"/entries/{result.entry.id}")
    assert source["meta"]["delivery"]["status"] == "suppressed"
    assert smtp_sink.received == []
    _, inbox = await hub.agent.get(f"/customers/{c['id']}/inbox")
    assert inbox["items"] == []
