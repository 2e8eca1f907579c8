"""IMAP connector: picks up new mail from one mailbox folder, IDLE when the server has it,
polling otherwise.

One cycle: ``UID SEARCH`` for messages not yet processed, fetch each (at most
``max_bytes + 1`` bytes of it), hand it to :class:`MailIngest` (an entry, or a quarantined
record), and only then mark it processed -- moved to ``processed_folder`` when one is set,
else flagged ``\\Seen`` plus the keyword ``processed_keyword`` (and searched with
``UNKEYWORD`` next time). A crash between storing and marking means the message is fetched
again and deduplicated by its Message-ID: nothing is lost, nothing doubled.

A lost connection (a server restart) ends ``run()`` with :class:`ImapConnectionLost`; the
supervisor reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aioimaplib

from .errors import ImapAuthFailed, ImapConnectionLost, ImapError, ImapProtocolError
from .inbound import MailIngest

log = logging.getLogger(__name__)

T = TypeVar("T")
_FETCH_HEAD = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")
_PUSH_WORDS = (b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH")


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    username: str
    password: str
    office_id: str
    tls: Literal["none", "starttls", "tls"] = "tls"
    folder: str = "INBOX"
    processed_folder: str | None = None
    processed_keyword: str = "ChronikProcessed"
    poll_seconds: float = 60.0
    idle: bool = True
    """Use IDLE when the server offers it (``False``: always poll)."""
    idle_seconds: float = 600.0
    """Renew IDLE after this long (servers drop IDLE after 30 minutes)."""
    timeout: float = 30.0
    connect_timeout: float = 10.0
    """Connection and greeting (a server going down may accept and then never greet)."""
    ssl_context: ssl.SSLContext | None = None


@contextlib.asynccontextmanager
async def imap_errors(what: str) -> AsyncIterator[None]:
    """Translate aioimaplib's and the socket layer's exceptions, once, at the boundary."""
    try:
        yield
    except ImapError:
        raise
    except aioimaplib.CommandTimeout as exc:
        raise ImapConnectionLost(f"{what}: the server did not answer in time") from exc
    except (aioimaplib.Abort, aioimaplib.Error) as exc:
        raise ImapProtocolError(f"{what}: {exc}") from exc
    except TimeoutError as exc:
        raise ImapConnectionLost(f"{what}: the server did not answer in time") from exc
    except (ConnectionError, OSError) as exc:
        raise ImapConnectionLost(f"{what}: {exc.strerror or exc}") from exc


def _check(response: Any, what: str) -> Any:
    if response.result != "OK":
        text = b" ".join(bytes(x) for x in response.lines[-1:]).decode("utf-8", "replace")
        raise ImapProtocolError(f"{what} failed: {response.result} {text}"[:300])
    return response


def _login_ok(response: Any, cfg: ImapConfig) -> None:
    if response.result != "OK":
        raise ImapAuthFailed(f"login as {cfg.username} refused by {cfg.host}")


def parse_fetch(lines: list[Any]) -> tuple[int | None, int | None, bytes]:
    """(uid, size, literal bytes) of a single-message FETCH response."""
    uid = size = None
    data = b""
    for line in lines:
        if isinstance(line, bytearray):
            data = bytes(line)
            continue
        for m in _FETCH_HEAD.finditer(line):
            if m.group(1):
                uid = int(m.group(1))
            elif m.group(2):
                size = int(m.group(2))
    return uid, size, data


class ImapConnector:
    """One mailbox folder of one account, feeding one office."""

    kind = "connector"

    def __init__(self, mail: MailIngest, config: ImapConfig, name: str = "email-imap") -> None:
        self.name = name
        self.mail = mail
        self.config = config
        self.mode = "disconnected"
        self.processed = 0
        self.quarantined = 0
        self.last_check: float | None = None
        self.connects = 0
        self.folder = config.folder
        """The folder as this server spells it (see :func:`_mailbox`), once connected."""
        self.processed_folder = config.processed_folder
        self._lost = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        client = await self._connect()
        try:
            idle = self.config.idle and client.has_capability("IDLE")
            self.mode = "idle" if idle else "poll"
            while True:
                await self.check(client)
                if idle:
                    await self._idle(client)
                else:
                    await self._wait(asyncio.sleep(self.config.poll_seconds))
        finally:
            self.mode = "disconnected"
            await self._disconnect(client)

    async def _connect(self) -> aioimaplib.IMAP4:
        cfg = self.config
        self._lost = asyncio.Event()
        lost = self._lost
        ctx = cfg.ssl_context or ssl.create_default_context()

        def on_lost(_exc: Exception | None) -> None:
            lost.set()

        async with imap_errors(f"connect to {cfg.host}:{cfg.port}"):
            if cfg.tls == "tls":
                client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, ssl_context=ctx)
                client.protocol.conn_lost_cb = on_lost
            else:
                client = aioimaplib.IMAP4(cfg.host, cfg.port, timeout=cfg.timeout,
                                          conn_lost_cb=on_lost)
        try:
            async with imap_errors(f"connect to {cfg.host}:{cfg.port}"):
                await asyncio.wait_for(client.wait_hello_from_server(), cfg.connect_timeout)
                if cfg.tls == "starttls":
                    await self._starttls(client, ctx)
            async with imap_errors("login"):
                _login_ok(await client.login(cfg.username, cfg.password), cfg)
            async with imap_errors("folders"):
                place = await _personal_namespace(client)
                self.folder = await _mailbox(client, cfg.folder, place)
                self.processed_folder = None
                if cfg.processed_folder:
                    self.processed_folder = await _mailbox(client, cfg.processed_folder, place,
                                                           create=True)
            async with imap_errors(f"select {self.folder}"):
                where = (f" (this server keeps folders under {place.prefix!r})"
                         if place.prefix else "")
                _check(await client.select(_quote(self.folder)), f"select {self.folder}{where}")
        except BaseException:
            await self._disconnect(client)
            raise
        self.connects += 1
        log.info("IMAP %s@%s:%s/%s connected", cfg.username, cfg.host, cfg.port, self.folder)
        return client

    async def _starttls(self, client: aioimaplib.IMAP4, ctx: ssl.SSLContext) -> None:
        protocol = client.protocol
        _check(await asyncio.wait_for(protocol.execute(aioimaplib.Command(
            "STARTTLS", protocol.new_tag(), loop=protocol.loop)), self.config.timeout),
            "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(protocol.transport, protocol, ctx,
                                         server_hostname=self.config.host)
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self.config.timeout)

    async def _disconnect(self, client: aioimaplib.IMAP4) -> None:
        protocol = client.protocol
        if not self._lost.is_set() and protocol.state in (aioimaplib.AUTH,
                                                         aioimaplib.SELECTED):
            with contextlib.suppress(Exception):
                if client.has_pending_idle():
                    client.idle_done()
                await asyncio.wait_for(client.logout(), 3)
        if protocol.transport is not None:
            protocol.transport.close()
        client._client_task.cancel()
        for task in (*client.tasks, *protocol.tasks):
            task.cancel()

    # ------------------------------------------------------------------ waiting
    async def _wait(self, aw: Awaitable[T]) -> T:
        """Wait for ``aw`` unless the connection drops first."""
        task = asyncio.ensure_future(aw)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if not task.done() or task.cancelled():
            raise ImapConnectionLost(f"connection to {self.config.host} lost")
        return task.result()

    async def _idle(self, client: aioimaplib.IMAP4) -> None:
        """IDLE until the server reports a change (or the renewal time is up)."""
        async with imap_errors("IDLE"):
            idle = await client.idle_start(timeout=self.config.idle_seconds)
            try:
                while client.has_pending_idle():
                    push = await self._wait(client.wait_server_push(
                        timeout=self.config.idle_seconds + 30))
                    if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                        break
                    if any(w in bytes(line) for line in push for w in _PUSH_WORDS):
                        break
            finally:
                if client.has_pending_idle() and not self._lost.is_set():
                    client.idle_done()
                    await self._wait(asyncio.wait_for(idle, self.config.timeout))

    # ------------------------------------------------------------------ one cycle
    async def check(self, client: aioimaplib.IMAP4) -> int:
        """Ingest every message not processed yet; returns how many were handled."""
        cfg = self.config
        criteria = ["UNDELETED"]
        if not self.processed_folder:
            criteria += ["UNKEYWORD", cfg.processed_keyword]
        async with imap_errors("search"):
            response = _check(await self._wait(client.uid_search(*criteria, charset=None)),
                              "UID SEARCH")
        uids = [int(u) for line in response.lines[:-1] for u in bytes(line).split()
                if u.isdigit()]
        for uid in uids:
            await self._one(client, uid)
        self.last_check = time.time()
        return len(uids)

    async def _one(self, client: aioimaplib.IMAP4, uid: int) -> None:
        cfg = self.config
        limit = self.mail.max_bytes
        async with imap_errors(f"fetch UID {uid}"):
            response = _check(await self._wait(client.uid(
                "fetch", str(uid), f"(UID RFC822.SIZE BODY.PEEK[]<0.{limit + 1}>)")),
                f"UID FETCH {uid}")
        _, size, raw = parse_fetch(response.lines)
        origin = f"imap:{cfg.username}@{cfg.host}/{self.folder};UID={uid}"
        if size is not None and size > limit:
            done = await self.mail.quarantine(
                cfg.office_id, raw, f"too_large: message is {size} bytes, more than the "
                f"limit of {limit} bytes (only the first {limit + 1} bytes are kept here; the "
                f"whole message stays in the mailbox)", origin)
        else:
            done = await self.mail.deliver(cfg.office_id, raw, origin)
        self.quarantined += done.outcome == "quarantined"
        self.processed += 1
        await self._mark_processed(client, uid)

    async def _mark_processed(self, client: aioimaplib.IMAP4, uid: int) -> None:
        cfg = self.config
        async with imap_errors(f"mark UID {uid} processed"):
            if self.processed_folder and client.has_capability("MOVE"):
                _check(await self._wait(client.uid("move", str(uid),
                                                   _quote(self.processed_folder))), "UID MOVE")
            elif self.processed_folder:
                _check(await self._wait(client.uid("copy", str(uid),
                                                   _quote(self.processed_folder))), "UID COPY")
                _check(await self._wait(client.uid("store", str(uid), "+FLAGS.SILENT",
                                                   "(\\Deleted)")), "UID STORE")
                if client.has_capability("UIDPLUS"):
                    _check(await self._wait(client.uid("expunge", str(uid))), "UID EXPUNGE")
            else:
                _check(await self._wait(client.uid(
                    "store", str(uid), "+FLAGS.SILENT",
                    f"(\\Seen {cfg.processed_keyword})")), "UID STORE")

    def diagnostics(self) -> dict[str, Any]:
        cfg = self.config
        return {"host": cfg.host, "port": cfg.port, "tls": cfg.tls, "username": cfg.username,
                "password": "***" if cfg.password else None, "folder": self.folder,
                "processed_folder": self.processed_folder, "office_id": cfg.office_id,
                "mode": self.mode, "processed": self.processed,
                "quarantined": self.quarantined, "last_check": self.last_check,
                "connects": self.connects}


@dataclass(frozen=True)
class _Namespace:
    """Where this user's folders live (RFC 2342 NAMESPACE, the personal one): ``""`` and
    ``"/"`` on most servers; ``"INBOX."`` and ``"."`` on Courier and cPanel's dovecot, which
    refuse ``Erledigt`` ("nonexistent namespace") and want ``INBOX.Erledigt``."""

    prefix: str = ""
    separator: str | None = None


_NAMESPACE = re.compile(rb'^\(\("((?:[^"\\]|\\.)*)" (?:"((?:[^"\\]|\\.)*)"|NIL)\)')
_LISTED = re.compile(rb'^\([^)]*\) (?:"(?:[^"\\]|\\.)*"|NIL) (?:"((?:[^"\\]|\\.)*)"|(\S+))$')
_ESCAPED = re.compile(rb"\\(.)")


async def _personal_namespace(client: aioimaplib.IMAP4) -> _Namespace:
    if not client.has_capability("NAMESPACE"):
        return _Namespace()
    response = await client.namespace()
    if response.result != "OK":
        return _Namespace()
    for line in response.lines[:-1]:
        m = _NAMESPACE.match(bytes(line))
        if m:
            prefix = _ESCAPED.sub(rb"\1", m.group(1)).decode("utf-8", "replace")
            sep = m.group(2)
            return _Namespace(prefix, None if sep is None else
                              _ESCAPED.sub(rb"\1", sep).decode("utf-8", "replace"))
    return _Namespace()


async def _exists(client: aioimaplib.IMAP4, wire_name: str) -> bool:
    response = await client.list('""', _quote(wire_name))
    if response.result != "OK":
        return False
    for line in response.lines[:-1]:
        m = _LISTED.match(bytes(line).strip())
        if m is None:
            continue
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        name = _ESCAPED.sub(rb"\1", raw).decode("utf-8", "replace")
        if name == imap_utf7(wire_name) or name.upper() == wire_name.upper() == "INBOX":
            return True
    return False


async def _mailbox(client: aioimaplib.IMAP4, name: str, place: _Namespace, *,
                   create: bool = False) -> str:
    """``name`` as this server spells it: as written when it exists; else inside the
    user's namespace (``Erledigt`` -> ``INBOX.Erledigt``, ``Chronik/Erledigt`` ->
    ``INBOX.Chronik.Erledigt`` where the separator is ``.``) when that exists or when
    ``create`` makes it there; a folder that cannot be created is an error, not a loop of
    failed moves."""
    if name.upper() == "INBOX":
        return "INBOX"
    candidates = [name]
    sep = place.separator
    nested = name.replace("/", sep) if sep and sep != "/" else name
    if place.prefix and not nested.upper().startswith(place.prefix.upper()):
        candidates.append(place.prefix + nested)
    elif nested != name:
        candidates.append(nested)
    for candidate in candidates:
        if await _exists(client, candidate):
            return candidate
    target = candidates[-1]
    if create:
        response = await client.create(_quote(target))
        if response.result != "OK" and not await _exists(client, target):  # not a race
            _check(response, f"create folder {target}")
    return target


def _quote(mailbox: str) -> str:
    name = imap_utf7(mailbox)
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ENCODED = re.compile(r"&[A-Za-z0-9+,]*-")


def imap_utf7(mailbox: str) -> str:
    """A folder name as IMAP servers take it (RFC 3501 5.1.3, "modified UTF-7"): dovecot
    and others refuse ``Anträge`` as it is ("not valid mUTF-7") and want ``Antr&AOQ-ge``.
    A name that is already written that way (ASCII with ``&…-`` runs) is left alone."""
    if mailbox.isascii() and ("&" not in mailbox or all(
            _ENCODED.match(mailbox, at) for at in range(len(mailbox)) if mailbox[at] == "&")):
        return mailbox
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            packed = base64.b64encode("".join(run).encode("utf-16-be")).rstrip(b"=")
            out.append("&" + packed.replace(b"/", b",").decode("ascii") + "-")
            run.clear()

    for char in mailbox:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)
