"""E-mail with aiosmtplib: one pool of SMTP connections per process, reused across messages
(STARTTLS, implicit TLS or plain; optional auth); proper MIME built by ``build_email``."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from dataclasses import dataclass
from email.utils import formataddr, formatdate
from typing import ClassVar, Literal
from urllib.parse import quote

import aiosmtplib

from notify.errors import Bug, Permanent, Transient, TransportError
from notify.message import OutgoingMessage, Receipt
from notify.ratelimit import RateLimiter
from notify.transports import Transport, describe
from timeline.identity import ascii_address

TlsMode = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    mail_from: str
    username: str | None = None
    password: str | None = None
    tls: TlsMode = "starttls"
    timeout: float = 30.0
    pool_size: int = 2
    messages_per_connection: int = 100
    idle_check_seconds: float = 10.0
    """A pooled connection idle for longer is checked with NOOP before it is used."""


def message_host(mail_from: str) -> str:
    return mail_from.rpartition("@")[2].strip(" >") or "localhost"


def _clean(value: str) -> str:
    """One line, no CR/LF: user text can never inject a header."""
    return " ".join(value.split())


def _addr(name: str, address: str) -> str:
    return formataddr((_clean(name), _clean(address)), charset="utf-8")


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded-words (each at most 75 characters), folded."""
    text = _clean(text)
    if text.isascii():
        return text
    chunks: list[str] = []
    current = ""
    for char in text:
        if len((current + char).encode("utf-8")) > 45:
            chunks.append(current)
            current = char
        else:
            current += char
    chunks.append(current)
    return "\r\n ".join("=?utf-8?b?" + base64.b64encode(c.encode("utf-8")).decode("ascii")
                         + "?=" for c in chunks)


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _part(content_type: str, data: bytes, extra: str = "") -> bytes:
    return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
            f"{extra}\r\n").encode("ascii") + _b64(data)


def _multipart(subtype: str, parts: list[bytes]) -> tuple[str, bytes]:
    boundary = "=_chronik_" + secrets.token_hex(12)  # "=" and "_" never occur in base64
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p for p in parts)
    return (f'multipart/{subtype}; boundary="{boundary}"',
            body + b"--" + boundary.encode() + b"--\r\n")


def build_email(message: OutgoingMessage, mail_from: str) -> bytes:
    """The raw message: text + HTML alternatives (UTF-8, base64), UTF-8 subject and names
    (RFC 2047), stable Message-ID, ``Auto-Submitted``, RFC 8058 one-click
    ``List-Unsubscribe``, attachments (RFC 2231 names). Written directly: the stdlib's
    generator costs several milliseconds per message."""
    parts = [_part('text/plain; charset="utf-8"', message.text.encode("utf-8"))]
    if message.html is not None:
        parts.append(_part('text/html; charset="utf-8"', message.html.encode("utf-8")))
    content_type, body = _multipart("alternative", parts)
    if message.attachments:
        mixed = [f"Content-Type: {content_type}\r\n\r\n".encode("ascii") + body]
        for att in message.attachments:
            mime = att.content_type.strip().lower()
            if not _MIME_TYPE.match(mime) or mime.startswith("multipart/"):
                mime = "application/octet-stream"
            name = quote(_clean(att.name), safe="")
            mixed.append(_part(f"{mime}; name*=utf-8''{name}", att.data,
                               f"Content-Disposition: attachment; filename*=utf-8''{name}\r\n"))
        content_type, body = _multipart("mixed", mixed)
    headers = [
        ("From", _addr(message.sender_name, mail_from)),
        ("To", _addr(message.recipient_name, ascii_address(message.address))),
    ]
    if message.reply_to:
        headers.append(("Reply-To", _addr(message.sender_name, message.reply_to)))
    headers += [
        ("Subject", _encoded_words(message.subject)),
        ("Date", formatdate(localtime=False, usegmt=True)),
        ("Message-ID", _clean(message.message_id)),
    ]
    if message.in_reply_to:
        headers.append(("In-Reply-To", _clean(message.in_reply_to)))
    if message.references:
        headers.append(("References", _folded_ids(message.references)))
    if not message.personal:
        headers += [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")]
    if message.unsubscribe_url and not message.personal:
        headers += [("List-Unsubscribe", f"<{_clean(message.unsubscribe_url)}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    headers += [("MIME-Version", "1.0"), ("Content-Type", content_type)]
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("ascii") + b"\r\n" + body


def _folded_ids(ids: tuple[str, ...]) -> str:
    """Message-IDs for ``References``, one per line (folded: a long thread stays within the
    line length limit), at most the 20 newest."""
    return "\r\n ".join(_clean(i) for i in ids[-20:])


_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


class _Conn:
    def __init__(self, smtp: aiosmtplib.SMTP) -> None:
        self.smtp = smtp
        self.sent = 0
        self.last_used = time.monotonic()


class SmtpTransport(Transport):
    channel: ClassVar[str] = "email"

    def __init__(self, config: SmtpConfig, limiter: RateLimiter | None = None) -> None:
        super().__init__(limiter)
        self.config = config
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(config.pool_size)
        self.connections_opened = 0
        self.sent = 0

    async def _connect(self) -> _Conn:
        c = self.config
        smtp = aiosmtplib.SMTP(hostname=c.host, port=c.port, timeout=c.timeout,
                               use_tls=c.tls == "tls", start_tls=c.tls == "starttls",
                               username=c.username, password=c.password)
        await smtp.connect()
        self.connections_opened += 1
        return _Conn(smtp)

    async def _checkout(self) -> _Conn:
        while self._idle:
            conn = self._idle.pop()
            if not conn.smtp.is_connected:
                continue
            if time.monotonic() - conn.last_used > self.config.idle_check_seconds:
                try:
                    await conn.smtp.noop()
                except (aiosmtplib.SMTPException, OSError):
                    await _close(conn)
                    continue
            return conn
        return await self._connect()

    async def deliver(self, message: OutgoingMessage) -> Receipt:
        raw = build_email(message, self.config.mail_from)
        async with self._slots:
            conn = await self._checkout()
            ok = False
            try:
                await conn.smtp.sendmail(self.config.mail_from,
                                         [ascii_address(message.address)], raw)
                ok = True
            finally:
                conn.sent += 1
                conn.last_used = time.monotonic()
                if ok and conn.sent < self.config.messages_per_connection:
                    self._idle.append(conn)
                else:
                    await _close(conn, polite=ok)
        self.sent += 1
        return Receipt(message.message_id)

    async def shutdown(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close(conn, polite=True)

    def translate(self, exc: Exception) -> TransportError:
        return translate_smtp_error(exc)

    def diagnostics(self) -> dict[str, object]:
        c = self.config
        return {"channel": self.channel, "host": c.host, "port": c.port, "tls": c.tls,
                "username": c.username, "password": "***" if c.password else None,
                "mail_from": c.mail_from,
                "pool_size": c.pool_size, "idle_connections": len(self._idle),
                "connections_opened": self.connections_opened, "sent": self.sent}


async def _close(conn: _Conn, polite: bool = False) -> None:
    if polite and conn.smtp.is_connected:
        try:
            async with asyncio.timeout(2):
                await conn.smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        else:
            return
    conn.smtp.close()


def translate_smtp_error(exc: Exception) -> TransportError:
    """aiosmtplib's exceptions (and socket errors) → Transient / Permanent / Bug. A 5xx
    refusal of the recipient or of the message is permanent for this address; a 4xx reply,
    a connection problem or a server-side configuration refusal (sender, auth, TLS) is
    transient (it dead-letters after the configured attempts, where an admin sees it)."""
    text = describe(exc)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        if codes and all(500 <= c < 600 for c in codes):
            return Permanent(f"the mail server refused the address: {text}")
        return Transient(text)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError) and \
            500 <= exc.code < 600:
        return Permanent(f"the mail server refused the message for this address: {text}")
    if isinstance(exc, aiosmtplib.SMTPException | OSError | asyncio.TimeoutError):
        return Transient(text)
    return Bug(text)
