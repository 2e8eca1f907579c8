"""E-mail with aiosmtplib: one pool of SMTP connections per process, reused across messages
(STARTTLS, implicit TLS or plain; optional auth); proper MIME built by ``build_email``.

Addresses go out with their domain in ASCII (IDNA) form. An address whose local part is not
ASCII (``jörg@…``) needs a server that offers SMTPUTF8 (RFC 6531): the message is then sent
with it, otherwise e-mail cannot reach that address (``Permanent``: the next channel takes
over). A message larger than the server announces (EHLO ``SIZE``) or refused for its size
(552, 5.3.4) is ``TooLarge``: the worker sends it again with its files as portal links."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from dataclasses import dataclass
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import MIMEPart
from email.utils import formatdate, quote
from typing import ClassVar, Literal

import aiosmtplib

from notify.errors import Bug, Permanent, TooLarge, Transient, TransportError
from notify.message import OutgoingMessage, Receipt
from notify.ratelimit import RateLimiter
from notify.transports import Transport, describe
from timeline.identity import ascii_address

TlsMode = Literal["none", "starttls", "tls"]

PART_HEADER_BYTES = 2048
"""What the MIME headers of one attached file take at most (a long name, RFC 2231-encoded)."""
MESSAGE_RESERVE_BYTES = 64 * 1024
"""Kept free of files below the server's size limit: headers, text and HTML."""
_LINE = 78
"""Header lines are folded to this length (RFC 5322 2.1.1)."""
_ENCODED_LINE = 76
"""A line with RFC 2047 encoded-words: at most 76 characters, each word at most 75."""
_SPECIALS = frozenset('()<>[]:;@\\,."')
"""Characters that make a display name a quoted string (RFC 5322 3.2.3)."""


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


def mailbox(address: str) -> str:
    """An address as it goes out: one line, its domain in ASCII (IDNA) form, its local part
    quoted where it must be (``email.headerregistry.Address``)."""
    local, at, domain = ascii_address(_clean(address)).rpartition("@")
    if not at:
        return _clean(address)
    return Address(username=local, domain=domain).addr_spec


def utf8_addresses(message: OutgoingMessage, mail_from: str) -> list[str]:
    """The addresses of the message that are not ASCII even with their domain in IDNA form
    (``jörg@…``): only a server offering SMTPUTF8 takes them (RFC 6531/6532)."""
    return [a for a in (message.address, mail_from, message.reply_to or "")
            if not mailbox(a).isascii()]


def _folded(name: str, text: str) -> str:
    """``text`` for the header ``name`` (its value, without the name), folded at spaces:
    ASCII as it is, anything else as RFC 2047 encoded-words of at most 75 characters on
    lines of at most 76 (``email.header.Header``: the folder of the ``policy.SMTP`` header
    registry writes longer encoded-words on Python 3.11 and loses the space where it splits
    one)."""
    ascii_text = text.isascii()
    value = Header(text, "us-ascii" if ascii_text else "utf-8",
                   maxlinelen=_LINE if ascii_text else _ENCODED_LINE,
                   header_name=name).encode(splitchars=" ", linesep="\r\n")
    return value.removeprefix("\r\n ")


def _address_header(name: str, display: str, address: str) -> str:
    """``display <address>`` for the header ``name``: the name quoted where it must be, or
    RFC 2047-encoded; folded before the address when the line would get too long."""
    spec = f"<{mailbox(address)}>"
    display = _clean(display)
    if not display:
        return spec
    if display.isascii() and not _SPECIALS.isdisjoint(display):
        display = f'"{quote(display)}"'
    phrase = _folded(name, display)
    last = phrase.rpartition("\n")[2] if "\n" in phrase else f"{name}: {phrase}"
    limit = _LINE if display.isascii() else _ENCODED_LINE
    return phrase + (" " if len(last) + 1 + len(spec) <= limit else "\r\n ") + spec


def _file_headers(content_type: str, name: str) -> str:
    """``Content-Type`` and ``Content-Disposition`` of an attached file: its name as an
    RFC 2231 parameter, in continuations on folded lines where it is long or not ASCII
    (the stdlib's ``policy.SMTP`` writes them)."""
    part = MIMEPart(policy=policy.SMTP)
    part["Content-Type"] = content_type
    part["Content-Disposition"] = "attachment"
    if name:
        part.set_param("name", name)
        part.set_param("filename", name, header="Content-Disposition")
    return "".join(policy.SMTP.fold(header, part[header])
                   for header in ("Content-Type", "Content-Disposition"))


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def encoded_size(size: int) -> int:
    """Octets a file of ``size`` bytes takes in the message: base64, 76 characters and
    CRLF a line."""
    chars = (size + 2) // 3 * 4
    return chars + 2 * ((chars + 75) // 76)


def _part(headers: str, data: bytes) -> bytes:
    return f"{headers}Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii") + _b64(data)


def _multipart(subtype: str, parts: list[bytes]) -> tuple[str, bytes]:
    boundary = "=_chronik_" + secrets.token_hex(12)  # "=" and "_" never occur in base64
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p for p in parts)
    return (f'multipart/{subtype};\r\n boundary="{boundary}"',
            body + b"--" + boundary.encode() + b"--\r\n")


def build_email(message: OutgoingMessage, mail_from: str) -> bytes:
    """The raw message: text + HTML alternatives (UTF-8, base64), UTF-8 subject and names
    (RFC 2047), stable Message-ID, ``Auto-Submitted``, RFC 8058 one-click
    ``List-Unsubscribe``, attachments (RFC 2231 names); every header line folded (at most
    78 characters where the text allows, never over 998). Addresses have their domain in
    IDNA form; one whose local part is not ASCII is written in UTF-8, for a server that
    offers SMTPUTF8 (``utf8_addresses``). The MIME structure is written directly (the
    stdlib's generator costs several milliseconds per message); header values are encoded
    by the stdlib's ``email.header``, ``email.headerregistry`` and ``policy.SMTP``."""
    parts = [_part('Content-Type: text/plain; charset="utf-8"\r\n',
                   message.text.encode("utf-8"))]
    if message.html is not None:
        parts.append(_part('Content-Type: text/html; charset="utf-8"\r\n',
                           message.html.encode("utf-8")))
    content_type, body = _multipart("alternative", parts)
    if message.attachments:
        mixed = [f"Content-Type: {content_type}\r\n\r\n".encode("ascii") + body]
        for att in message.attachments:
            mime = att.content_type.strip().lower()
            if not _MIME_TYPE.match(mime) or mime.startswith("multipart/"):
                mime = "application/octet-stream"
            mixed.append(_part(_file_headers(mime, _clean(att.name)), att.data))
        content_type, body = _multipart("mixed", mixed)
    headers = [
        ("From", _address_header("From", message.sender_name, mail_from)),
        ("To", _address_header("To", message.recipient_name, message.address)),
    ]
    if message.reply_to:
        headers.append(("Reply-To", _address_header("Reply-To", message.sender_name,
                                                    message.reply_to)))
    headers += [
        ("Subject", _folded("Subject", _clean(message.subject))),
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
    return head.encode("utf-8") + b"\r\n" + body


def _folded_ids(ids: tuple[str, ...]) -> str:
    """Message-IDs for ``References``, one per line (folded: a long thread stays within the
    line length limit), at most the 20 newest."""
    return "\r\n ".join(_clean(i) for i in ids[-20:])


_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_TOO_LARGE = re.compile(r"\b5\.(?:3\.4|2\.3)\b")
"""Enhanced status codes of a size refusal: message too big for the system, message length
exceeds an administrative limit (RFC 3463)."""


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
        self.size_limit: int | None = None
        """The largest message the server takes (its EHLO ``SIZE``), once connected."""

    async def _connect(self) -> _Conn:
        c = self.config
        smtp = aiosmtplib.SMTP(hostname=c.host, port=c.port, timeout=c.timeout,
                               use_tls=c.tls == "tls", start_tls=c.tls == "starttls",
                               username=c.username, password=c.password)
        await smtp.connect()
        try:  # the server's extensions (SIZE, SMTPUTF8) before the first mail
            if smtp.is_ehlo_or_helo_needed:
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()
        except BaseException:
            smtp.close()
            raise
        self.size_limit = _announced_size(smtp)
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

    def attachment_cost(self, size: int) -> int:
        return encoded_size(size) + PART_HEADER_BYTES

    def attachment_budget(self, configured: int) -> int:
        if self.size_limit is None:
            return configured
        return max(0, min(configured, self.size_limit - MESSAGE_RESERVE_BYTES))

    async def deliver(self, message: OutgoingMessage) -> Receipt:
        raw = build_email(message, self.config.mail_from)
        utf8 = utf8_addresses(message, self.config.mail_from)
        async with self._slots:
            conn = await self._checkout()
            try:
                options = _mail_options(conn.smtp, raw, utf8)
            except TransportError:  # refused before anything was sent: the connection is fine
                self._idle.append(conn)
                raise
            ok = False
            try:
                await conn.smtp.sendmail(mailbox(self.config.mail_from),
                                         [mailbox(message.address)], raw,
                                         mail_options=options)
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
                "mail_from": c.mail_from, "size_limit": self.size_limit,
                "pool_size": c.pool_size, "idle_connections": len(self._idle),
                "connections_opened": self.connections_opened, "sent": self.sent}


def _announced_size(smtp: aiosmtplib.SMTP) -> int | None:
    """The server's EHLO ``SIZE`` (RFC 1870; 0 or none: no limit announced)."""
    size = smtp.esmtp_extensions.get("size", "").strip()
    return int(size) if size.isdigit() and int(size) > 0 else None


def _mail_options(smtp: aiosmtplib.SMTP, raw: bytes, utf8: list[str]) -> list[str]:
    """``MAIL FROM`` options for this server; refuses what it would refuse anyway, before
    anything is sent: a message over its announced ``SIZE``, a non-ASCII address where it
    does not offer SMTPUTF8."""
    limit = _announced_size(smtp)
    if limit is not None and len(raw) > limit:
        raise TooLarge(f"the message ({len(raw)} bytes) is larger than the mail server "
                       f"takes ({limit} bytes)")
    if not utf8:
        return []
    if not smtp.supports_extension("smtputf8"):
        raise Permanent(f"{', '.join(utf8)}: not ASCII before the @, and the mail server "
                        "does not offer SMTPUTF8")
    return ["SMTPUTF8"]


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
    """aiosmtplib's exceptions (and socket errors) → Transient / Permanent / TooLarge / Bug.
    A refusal of the message for its size (552 at ``MAIL FROM`` or after ``DATA``, or
    5.3.4 / 5.2.3) is ``TooLarge``: sent again with its files as links. A 5xx refusal of the
    recipient or of the message is permanent for this address; a 4xx reply, a connection
    problem or a server-side configuration refusal (sender, auth, TLS) is transient (it
    dead-letters after the configured attempts, where an admin sees it)."""
    text = describe(exc)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError) and \
            (exc.code == 552 or (500 <= exc.code < 600 and _TOO_LARGE.search(exc.message))):
        return TooLarge(f"the mail server refused the message for its size: {text}")
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
