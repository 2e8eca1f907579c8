"""Inbound SMTP (or LMTP) listener: mail for an office's inbound addresses lands on the
timeline; any other recipient gets ``550 5.1.1`` at RCPT time.

aiosmtpd's protocol runs on *our* event loop (``loop.create_server``), not in its
``Controller`` thread. The listener answers ``250`` only after the message is stored (an
entry, or a quarantined record when it cannot be parsed); when storing fails it answers
``451`` so the sending server keeps the message and tries again -- unless the message's
own data cannot be stored (then it is quarantined and answered ``250``: a retry would fail
the same way forever). A message over the size
limit is refused with ``552`` (announced as ``SIZE`` in EHLO): the sender keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from timeline.ingest import BAD_MESSAGE
from timeline.store import InboundRepository

from .inbound import MailIngest
from .parse import normalize_email

log = logging.getLogger(__name__)


class InboundAddresses:
    """address -> office id, read from the store and kept for a short while.

    A hit is served from memory for ``ttl`` seconds; a miss re-reads the table when the
    copy is older than ``miss_ttl`` (so an address added through the API works at once,
    while a flood of unknown recipients costs at most a few reads per second)."""

    def __init__(self, store: InboundRepository, *, ttl: float = 5.0,
                 miss_ttl: float = 0.25) -> None:
        self.store = store
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self._map: dict[str, str] = {}
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    async def office_for(self, address: str) -> str | None:
        """The office of an inbound address; ``service+schaden@…`` (a sub-address, as mail
        providers and forwarding rules write them) is ``service@…``'s unless registered
        itself."""
        office = await self._office_for(normalize_email(address))
        local, at, domain = normalize_email(address).rpartition("@")
        if office is None and at and "+" in local.strip("+"):
            office = await self._office_for(f"{local.partition('+')[0]}@{domain}")
        return office

    async def _office_for(self, key: str) -> str | None:
        age = time.monotonic() - self._loaded
        office = self._map.get(key)
        if (office is not None and age < self.ttl) or (office is None and age < self.miss_ttl):
            return office
        async with self._lock:
            if time.monotonic() - self._loaded >= min(self.ttl, self.miss_ttl):
                self._map = {a.casefold(): o for a, o in
                             (await self.store.inbound_addresses()).items()}
                self._loaded = time.monotonic()
        return self._map.get(key)


@dataclass
class ListenerStats:
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    rejected_recipients: int = 0
    temporary_failures: int = 0
    last_error: str | None = None


class _Handler:
    def __init__(self, mail: MailIngest, addresses: InboundAddresses, stats: ListenerStats,
                 lmtp: bool) -> None:
        self.mail = mail
        self.addresses = addresses
        self.stats = stats
        self.lmtp = lmtp
        # the office of each accepted recipient, decided at RCPT time
        self._offices: weakref.WeakKeyDictionary[Envelope, list[str]] = (
            weakref.WeakKeyDictionary())

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        try:
            office = await self.addresses.office_for(address)
        except Exception as exc:  # the store is unavailable: the sender retries later
            self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("inbound SMTP: cannot read inbound addresses (%s)", type(exc).__name__)
            return "451 4.3.0 temporary failure, try again later"
        if office is None:
            self.stats.rejected_recipients += 1
            return "550 5.1.1 recipient address rejected: not an inbound address here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        self._offices.setdefault(envelope, []).append(office)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        offices = self._offices.pop(envelope, [])
        if not offices:
            return "503 5.5.1 no valid recipients"
        statuses: dict[str, str] = {}
        for office in dict.fromkeys(offices):  # one delivery per office, however many RCPTs
            statuses[office] = await self._deliver(office, raw, envelope.mail_from or "")
        replies = [statuses[o] for o in offices]
        if self.lmtp:  # LMTP: one reply per accepted recipient, in RCPT order
            return "\r\n".join(replies)
        failed = [r for r in replies if not r.startswith("250")]
        return failed[0] if failed else replies[0]

    async def _deliver(self, office: str, raw: bytes, mail_from: str) -> str:
        origin = f"smtp:{mail_from}"[:500]
        try:
            try:
                done = await self.mail.deliver(office, raw, origin)
            except BAD_MESSAGE as exc:  # this message's own data: keep it for review
                log.warning("inbound SMTP: message not storable (%s); quarantined",
                            type(exc).__name__)
                done = await self.mail.quarantine(office, raw,
                                                  f"unstorable: {type(exc).__name__}", origin)
        except Exception as exc:
            self.stats.temporary_failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.exception("inbound SMTP: could not store a message; answered 451")
            return "451 4.3.0 could not store the message, try again later"
        if done.outcome == "quarantined":
            self.stats.quarantined += 1
            return "250 2.0.0 OK: kept for review"
        if done.outcome == "duplicate":
            self.stats.duplicates += 1
        else:
            self.stats.accepted += 1
        entry = done.result.entry
        return f"250 2.0.0 OK: {entry.id if entry else 'stored'}"


class SmtpListener:
    """The inbound SMTP/LMTP listener as a supervised component."""

    kind = "connector"

    def __init__(self, mail: MailIngest, addresses: InboundAddresses, *, host: str, port: int,
                 lmtp: bool = False, hostname: str = "chronik") -> None:
        self.name = "email-lmtp" if lmtp else "email-smtp"
        self.mail = mail
        self.addresses = addresses
        self.host = host
        self.port = port
        self.lmtp = lmtp
        self.hostname = hostname
        self.bound_port: int | None = None
        self.stats = ListenerStats()
        self._handler = _Handler(mail, addresses, self.stats, lmtp)
        self.listening = asyncio.Event()

    def _protocol(self) -> SMTP:
        cls = LMTP if self.lmtp else SMTP
        return cls(self._handler, data_size_limit=self.mail.max_bytes, enable_SMTPUTF8=True,
                   decode_data=False, hostname=self.hostname, ident="Chronik",
                   loop=asyncio.get_running_loop())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self._protocol, self.host, self.port)
        self.bound_port = server.sockets[0].getsockname()[1]
        self.listening.set()
        log.info("inbound %s listening on %s:%s", "LMTP" if self.lmtp else "SMTP", self.host,
                 self.bound_port)
        try:
            await asyncio.Future()  # serve until cancelled
        finally:
            self.listening.clear()
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    def diagnostics(self) -> dict[str, Any]:
        s = self.stats
        return {"protocol": "lmtp" if self.lmtp else "smtp", "host": self.host,
                "port": self.bound_port or self.port, "listening": self.listening.is_set(),
                "max_message_bytes": self.mail.max_bytes, "accepted": s.accepted,
                "duplicates": s.duplicates, "quarantined": s.quarantined,
                "rejected_recipients": s.rejected_recipients,
                "temporary_failures": s.temporary_failures, "last_error": s.last_error}
