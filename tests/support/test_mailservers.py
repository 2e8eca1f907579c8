"""Smoke test of the real local mail servers set up by deploy/ci/mailservers.sh."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import aiosmtplib
import pytest
from aioimaplib import IMAP4

from tests.support import mailservers as ms

pytestmark = pytest.mark.mailservers


@pytest.fixture(autouse=True)
def _servers_up() -> Iterator[None]:
    with ms.dovecot_in_use():  # (not while another test process restarts it)
        ms.require_mailservers()  # fails (not skips) when the servers are missing
        yield


async def _login(user: str = ms.IMAP_USER) -> IMAP4:
    client = IMAP4(host=ms.IMAP_HOST, port=ms.IMAP_PORT, timeout=10)
    await client.wait_hello_from_server()
    response = await client.login(user, ms.IMAP_USERS[user])
    assert response.result == "OK", response
    return client


async def _logout(client: IMAP4) -> None:
    try:
        await client.logout()
    finally:
        # aioimaplib leaves closing the socket to the server's EOF, which may only arrive
        # after the test's event loop is gone -> ResourceWarning (an error here).
        if client.protocol.transport is not None:
            client.protocol.transport.close()
        await asyncio.sleep(0)


@pytest.fixture
async def imap() -> AsyncIterator[IMAP4]:
    client = await _login()
    yield client
    await _logout(client)


def _message(marker: str, to: str = f"{ms.IMAP_USER}@{ms.MAIL_DOMAIN}") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Kundin <kundin@example.com>"
    msg["To"] = to
    msg["Subject"] = f"Chronik smoke {marker}"
    msg["Message-ID"] = f"<{marker}@chronik.test>"
    msg.set_content(f"Grüße aus dem Test {marker}\n")
    return msg


async def _search_subject(client: IMAP4, marker: str) -> list[bytes]:
    response = await client.search("HEADER", "Subject", marker)
    assert response.result == "OK", response
    return response.lines[0].split()


async def _delete(client: IMAP4, ids: list[bytes]) -> None:
    for num in ids:
        await client.store(num.decode(), "+FLAGS", r"(\Deleted)")
    await client.expunge()


async def test_imap_login_append_select_search(imap: IMAP4) -> None:
    assert imap.has_capability("IDLE")
    marker = uuid.uuid4().hex
    response = await imap.append(_message(marker).as_bytes(), mailbox="INBOX")
    assert response.result == "OK", response

    response = await imap.select("INBOX")
    assert response.result == "OK", response
    found = await _search_subject(imap, marker)
    assert len(found) == 1
    await _delete(imap, found)
    assert await _search_subject(imap, marker) == []


async def test_second_user_has_own_mailbox() -> None:
    marker = uuid.uuid4().hex
    first, second = await _login(ms.IMAP_USER), await _login(ms.IMAP_USER2)
    try:
        await second.append(_message(marker).as_bytes(), mailbox="INBOX")
        await second.select("INBOX")
        await first.select("INBOX")
        assert await _search_subject(first, marker) == []
        found = await _search_subject(second, marker)
        assert len(found) == 1
        await _delete(second, found)
    finally:
        await _logout(first)
        await _logout(second)
    assert ms.imap_maildir(ms.IMAP_USER2).is_dir()


async def test_imap_idle_pushes_new_message(imap: IMAP4) -> None:
    await imap.select("INBOX")
    idle = await imap.idle_start(timeout=10)
    marker = uuid.uuid4().hex
    other = await _login()
    try:
        await other.append(_message(marker).as_bytes(), mailbox="INBOX")
        pushed: list[bytes] = []
        async with asyncio.timeout(10):
            while not any(line.endswith(b"EXISTS") for line in pushed):
                pushed += await imap.wait_server_push()
    finally:
        imap.idle_done()
        await asyncio.wait_for(idle, 10)
        await _logout(other)
    found = await _search_subject(imap, marker)
    assert len(found) == 1
    await _delete(imap, found)


async def test_smtp_relay_delivers_into_maildir() -> None:
    recipient = ms.smtp_address("smoke")
    marker = uuid.uuid4().hex
    errors, reply = await aiosmtplib.send(
        _message(marker, to=recipient), hostname=ms.SMTP_HOST, port=ms.SMTP_PORT,
        start_tls=False, timeout=10)
    assert errors == {}
    assert reply.startswith("OK"), reply

    raw = await ms.wait_for_delivery(recipient, marker.encode(), seconds=10)
    assert f"Envelope-to: {recipient}".encode() in raw
    assert f"Subject: Chronik smoke {marker}".encode() in raw
    assert (ms.smtp_maildir(recipient) / "new").is_dir()


async def test_smtp_relay_rejects_other_domains() -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            _message("x", to="someone@example.com"), hostname=ms.SMTP_HOST,
            port=ms.SMTP_PORT, start_tls=False, timeout=10)
    assert [err.code for err in refused.value.recipients] == [550]
