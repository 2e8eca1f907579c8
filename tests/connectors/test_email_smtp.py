"""The inbound SMTP/LMTP listener: real SMTP conversations (aiosmtplib) into a running
Chronik, checked through the HTTP API (timeline, search, quarantine, connectors)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from chronik.settings import Settings
from connectors.email.smtp import SmtpListener
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub

INBOX = "service@buero-test.de"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHRONIK_INBOUND_SMTP_PORT", "0")
    monkeypatch.setenv("CHRONIK_EMAIL_MAX_MESSAGE_BYTES", str(2 * 1024 * 1024))
    return Settings(data_dir=tmp_path / "data", http_port=0, max_upload_bytes=64 * 1024)


async def listener(hub: Hub) -> SmtpListener:
    assert hub.state.supervisor is not None
    found = [c for c in hub.state.supervisor.components if isinstance(c, SmtpListener)]
    assert len(found) == 1
    await asyncio.wait_for(found[0].listening.wait(), 5)
    return found[0]


async def inbox(hub: Hub, address: str = INBOX) -> int:
    status, _ = await hub.admin.post("/office/inbound-addresses", json={"address": address})
    assert status == 201
    return (await listener(hub)).bound_port or 0


def mail(subject: str = "Schaden am Dach", body: str = "Das Dach ist undicht.",
         *, sender: str = "Erika Muster <erika@example.de>", to: str = INBOX,
         message_id: str = "<m1@example.de>", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{body}\r\n").encode()


async def send(port: int, raw: bytes, rcpts: list[str] | None = None,
               sender: str = "erika@example.de") -> dict[str, Any]:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
        errors, reply = await client.sendmail(sender, rcpts or [INBOX], raw)
    return {"errors": errors, "reply": reply}


async def customer_for(hub: Hub, email: str) -> dict[str, Any]:
    status, body = await hub.agent.get(f"/lookup?email={email}")
    assert status == 200 and len(body["matches"]) == 1, body
    customer: dict[str, Any] = body["matches"][0]["customer"]
    return customer


async def timeline(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    status, body = await hub.agent.get(f"/customers/{customer_id}/timeline")
    assert status == 200
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_accepted_mail_is_on_the_timeline_and_searchable_within_a_second(
        hub: Hub) -> None:
    port = await inbox(hub)
    started = time.monotonic()
    result = await send(port, mail(body="Wasserschaden im Dachgeschoss, bitte melden."))
    assert result["reply"].startswith("2.0.0 OK")
    while True:  # the search API, as a user would poll it
        status, found = await hub.agent.get("/search?q=Dachgeschoss")
        assert status == 200
        if found["items"]:
            break
        assert time.monotonic() - started < 1.0, "not searchable within a second"
        await asyncio.sleep(0.02)
    customer = await customer_for(hub, "erika@example.de")
    assert customer["name"] == "Erika Muster" and customer["status"] == "unverified"
    (entry,) = await timeline(hub, customer["id"])
    assert (entry["channel"], entry["kind"], entry["direction"]) == ("email", "email", "inbound")
    assert entry["subject"] == "Schaden am Dach" and entry["source_id"] == "m1@example.de"
    assert entry["meta"]["to"] == [INBOX]
    assert found["items"][0]["entry"]["id"] == entry["id"]


async def test_unknown_recipient_gets_550_and_nothing_is_stored(hub: Hub) -> None:
    port = await inbox(hub)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(port, mail(), rcpts=["nobody@buero-test.de"])
    (error,) = refused.value.recipients
    assert error.code == 550 and "5.1.1" in error.message
    _, found = await hub.agent.get("/lookup?email=erika@example.de")
    assert found["matches"] == []
    # one good, one unknown recipient: accepted for the good one only
    result = await send(port, mail(), rcpts=["nobody@buero-test.de", INBOX])
    assert list(result["errors"]) == ["nobody@buero-test.de"]
    assert len(await timeline(hub, (await customer_for(hub, "erika@example.de"))["id"])) == 1


async def test_a_sub_address_of_an_inbound_address_is_accepted(hub: Hub) -> None:
    """``service+schaden@…`` (a forwarding rule's or a provider's sub-address) was refused
    with 550: the sending server bounced the customer's mail."""
    port = await inbox(hub)
    result = await send(port, mail(), rcpts=["Service+Schaden@buero-test.de"])
    assert result["reply"].startswith("2.0.0 OK")
    assert len(await timeline(hub, (await customer_for(hub, "erika@example.de"))["id"])) == 1
    for other in ("nobody+service@buero-test.de", "+service@buero-test.de",
                  "service+x@other.example"):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await send(port, mail(message_id="<m2@example.de>"), rcpts=[other])


async def test_an_address_added_through_the_api_works_at_once(hub: Hub) -> None:
    port = await inbox(hub)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(port, mail(), rcpts=["neu@buero-test.de"])
    status, _ = await hub.admin.post("/office/inbound-addresses",
                                     json={"address": "Neu@Buero-Test.de"})
    assert status == 201
    await asyncio.sleep(0.3)
    result = await send(port, mail(), rcpts=["neu@buero-test.de"])
    assert result["errors"] == {}
    status, _ = await hub.admin.call("DELETE", "/office/inbound-addresses/neu@buero-test.de")
    assert status == 200
    await asyncio.sleep(5.1)  # a removed address stops working after the cache time
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(port, mail(message_id="<m2@example.de>"), rcpts=["neu@buero-test.de"])


async def test_mail_for_two_offices_lands_in_each(hub: Hub) -> None:
    port = await inbox(hub)
    other, other_admin = await hub.new_office()
    status, _ = await other_admin.post("/office/inbound-addresses",
                                       json={"address": "info@anderes-buero.de"})
    assert status == 201
    await send(port, mail(), rcpts=[INBOX, "info@anderes-buero.de"])
    assert len(await timeline(hub, (await customer_for(hub, "erika@example.de"))["id"])) == 1
    _, found = await other_admin.get("/lookup?email=erika@example.de")
    assert len(found["matches"]) == 1


async def test_too_large_message_is_refused_with_552_and_not_stored(hub: Hub) -> None:
    port = await inbox(hub)
    big = mail(body="x" * 70 + ("\r\n" + "y" * 70) * 40_000)  # ~2.9 MB, limit 2 MB
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await send(port, big)
    assert refused.value.code == 552
    _, found = await hub.agent.get("/lookup?email=erika@example.de")
    assert found["matches"] == []
    _, q = await hub.admin.get("/quarantine")
    assert q["items"] == []
    status, report = await hub.admin.get("/connectors")
    smtp = next(c for c in report["items"] if c["name"] == "email-smtp")
    assert smtp["state"] == "running" and smtp["diagnostics"]["max_message_bytes"] == 2097152


async def test_redelivery_dedupes_and_a_reused_message_id_is_kept_apart(hub: Hub) -> None:
    port = await inbox(hub)
    await send(port, mail())
    again = await send(port, mail())
    assert again["reply"].startswith("2.0.0 OK")
    await send(port, mail(subject="Anderer Inhalt", body="Ganz anders."))
    customer = await customer_for(hub, "erika@example.de")
    items = await timeline(hub, customer["id"])
    assert sorted(e["subject"] for e in items) == ["Anderer Inhalt", "Schaden am Dach"]
    ids = {e["subject"]: e["source_id"] for e in items}
    assert ids["Schaden am Dach"] == "m1@example.de"
    assert ids["Anderer Inhalt"].startswith("m1@example.de#")


async def test_a_reply_links_to_the_entry_it_answers(hub: Hub) -> None:
    port = await inbox(hub)
    await send(port, mail())
    await send(port, mail(subject="Re: Schaden am Dach", body="Noch eine Frage.",
                          message_id="<m2@example.de>",
                          extra="In-Reply-To: <m1@example.de>\r\n"
                                "References: <m0@example.de> <m1@example.de>\r\n"))
    customer = await customer_for(hub, "erika@example.de")
    reply, first = await timeline(hub, customer["id"])
    assert reply["subject"] == "Re: Schaden am Dach"
    assert reply["meta"]["in_reply_to"] == {"entry_id": first["id"],
                                            "subject": "Schaden am Dach", "channel": "email"}
    assert reply["meta"]["references"] == ["m0@example.de", "m1@example.de"]  # the thread
    assert "references" not in first["meta"]
    status, shown = await hub.agent.get(f"/entries/{reply['id']}")
    assert status == 200 and shown["meta"]["in_reply_to"]["entry_id"] == first["id"]


async def test_auto_reply_is_stored_marked_and_internal(hub: Hub) -> None:
    await make_customer(hub, "Erika Muster", emails=["erika@example.de"])
    port = await inbox(hub)
    await send(port, mail(subject="Abwesenheitsnotiz: Schaden am Dach",
                          body="Ich bin bis Montag nicht im Büro.",
                          extra="Auto-Submitted: auto-replied\r\n"))
    (entry,) = await timeline(hub, (await customer_for(hub, "erika@example.de"))["id"])
    assert entry["kind"] == "auto_reply" and entry["visibility"] == "internal"
    assert entry["meta"]["automated"] == "auto_reply" and "automated" in entry["tags"]
    assert entry["notify"] is False


def bounce_for(address: str, message_id: str = "<b1@mx.example.net>") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {INBOX}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n"
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--R--\r\n").encode()


async def test_bounce_lands_on_the_owner_of_the_address_which_becomes_undeliverable(
        hub: Hub) -> None:
    port = await inbox(hub)
    owner = await make_customer(hub, "Gerd Weg", emails=["gerd@example.com"])
    await send(port, bounce_for("Gerd@Example.com"), sender="")
    items = await timeline(hub, owner["id"])
    bounce = next(e for e in items if e["kind"] == "bounce")
    assert bounce["visibility"] == "internal" and bounce["meta"]["automated"] == "bounce"
    assert bounce["meta"]["bounced_recipients"] == ["Gerd@Example.com"]
    assert any(e["kind"] == "identity_undeliverable" for e in items)
    _, customer = await hub.agent.get(f"/customers/{owner['id']}")
    (identity,) = customer["identities"]
    assert identity["undeliverable"] is True
    _, daemon = await hub.agent.get("/lookup?email=MAILER-DAEMON@mx.example.net")
    assert daemon["matches"] == []  # no customer for the mail system


async def test_unattributed_bounce_waits_in_quarantine_and_can_be_assigned(hub: Hub) -> None:
    port = await inbox(hub)
    result = await send(port, bounce_for("fremd@example.com"), sender="")
    assert "kept for review" in result["reply"]
    _, q = await hub.admin.get("/quarantine?reason=unattributed_bounce")
    (item,) = q["items"]
    assert item["reason"] == "unattributed_bounce: fremd@example.com"
    assert item["channel"] == "email" and item["origin"] == "smtp:<>"
    customer = await make_customer(hub, "Franz Fremd")
    status, done = await hub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                        json={"customer_id": customer["id"]})
    assert status == 200 and done["status"] == "processed"
    (entry,) = [e for e in await timeline(hub, customer["id"]) if e["kind"] == "bounce"]
    assert entry["id"] == done["entry_id"]


async def test_unparseable_mail_is_kept_raw_in_the_quarantine(hub: Hub) -> None:
    port = await inbox(hub)
    garbage = b"\x00\x01binary \xff\xfe junk without any headers\r\n" * 20
    result = await send(port, garbage)
    assert "kept for review" in result["reply"]
    _, q = await hub.admin.get("/quarantine")
    (item,) = q["items"]
    assert item["reason"].startswith("unparseable: ")
    status, raw = await hub.admin.get(f"/quarantine/{item['id']}/raw")
    assert status == 200 and raw == garbage
    status, again = await hub.admin.post(f"/quarantine/{item['id']}/reprocess")
    assert status == 200 and again["status"] == "open"
    assert again["reason"].startswith("unparseable: ")


async def test_lmtp_answers_per_recipient(hub: Hub) -> None:
    from chronik.glue.email import mail_ingest
    from connectors.email.smtp import InboundAddresses

    lmtp = SmtpListener(mail_ingest(hub.state), InboundAddresses(hub.state.store),
                        host="127.0.0.1", port=0, lmtp=True)
    task = asyncio.create_task(lmtp.run())
    try:
        await asyncio.wait_for(lmtp.listening.wait(), 5)
        await inbox(hub)
        await inbox(hub, "zwei@buero-test.de")

        reader, writer = await asyncio.open_connection("127.0.0.1", lmtp.bound_port)
        replies: list[bytes] = []

        async def command(line: bytes | None, answers: int = 1) -> None:
            if line is not None:
                writer.write(line + b"\r\n")
            for _ in range(answers):
                while (reply := await reader.readline())[3:4] == b"-":
                    pass  # continuation lines of a multi-line reply
                replies.append(reply.rstrip())

        await command(None)  # greeting
        await command(b"LHLO client.example")
        await command(b"MAIL FROM:<erika@example.de>")
        for rcpt in (INBOX.encode(), b"unbekannt@buero-test.de", b"zwei@buero-test.de"):
            await command(b"RCPT TO:<" + rcpt + b">")
        await command(b"DATA")
        await command(mail() + b".", answers=2)  # one reply per accepted recipient
        await command(b"QUIT")
        writer.close()
        await writer.wait_closed()
        codes = [r[:3] for r in replies]
        assert codes == [b"220", b"250", b"250", b"250", b"550", b"250", b"354", b"250",
                         b"250", b"221"]
        assert replies[7] == replies[8]  # the same entry for both addresses of the office
        assert len(await timeline(hub, (await customer_for(hub, "erika@example.de"))["id"])) == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
