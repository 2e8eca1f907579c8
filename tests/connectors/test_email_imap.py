"""The IMAP connector against a real dovecot on 127.0.0.1 (``deploy/ci/mailservers.sh``):
messages APPENDed by the test are picked up (IDLE push and polling), moved or flagged
afterwards, and the connector survives a dovecot restart."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aioimaplib
import pytest

from chronik.components import Supervisor
from chronik.glue.email import components
from connectors.email.errors import ImapConnectionLost, ImapProtocolError
from connectors.email.imap import ImapConnector, imap_errors
from tests.conftest import Hub
from tests.support.live_server import child_pids
from tests.support.mailservers import (
    IMAP_HOST,
    IMAP_PASSWORD,
    IMAP_PORT,
    IMAP_PREFIXED_PORT,
    IMAP_USER,
    LOG_DIR,
    SETUP_SCRIPT,
    dovecot_in_use,
    require_mailservers,
)

ROOT = Path(__file__).resolve().parents[2]
DOVECOT_PIDFILE = Path("/run/chronik-dovecot/master.pid")


@pytest.fixture(autouse=True)
def _dovecot_to_ourselves(request: pytest.FixtureRequest) -> Iterator[None]:
    """The restart test waits for the IMAP tests of other test processes, and they for it."""
    with dovecot_in_use(restarting=request.node.get_closest_marker("restarts_dovecot")
                        is not None):
        yield


@pytest.fixture
async def folder() -> AsyncIterator[str]:
    """A fresh mailbox folder of the test user (parallel tests never share one)."""
    await asyncio.to_thread(require_mailservers)
    name = f"chronik-{uuid.uuid4().hex[:10]}"
    client = await imap_client()
    assert (await client.create(name)).result == "OK"
    await logout(client)
    yield name
    client = await imap_client()
    for box in (f"{name}/done", name):
        await client.delete(box)
    await logout(client)


async def imap_client(port: int = IMAP_PORT) -> aioimaplib.IMAP4:
    client = aioimaplib.IMAP4(IMAP_HOST, port, timeout=10)
    await client.wait_hello_from_server()
    assert (await client.login(IMAP_USER, IMAP_PASSWORD)).result == "OK"
    return client


async def logout(client: aioimaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        await client.logout()
    if client.protocol.transport is not None:
        client.protocol.transport.close()


def message(n: int, *, sender: str = "kunde@example.de", body: str = "") -> bytes:
    return (f"From: Karl Kunde <{sender}>\r\nTo: service@buero-test.de\r\n"
            f"Subject: Anfrage {n}\r\nMessage-ID: <imap-{n}-{uuid.uuid4().hex}@example.de>\r\n"
            f"Date: Tue, 03 Mar 2026 09:00:00 +0100\r\n\r\n"
            f"{body or f'Bitte um Rückruf wegen Vertrag {n}.'}\r\n").encode()


async def append(folder: str, *raws: bytes, port: int = IMAP_PORT) -> None:
    client = await imap_client(port)
    try:
        for raw in raws:
            assert (await client.append(raw, mailbox=folder)).result == "OK"
    finally:
        await logout(client)


async def folder_state(folder: str, port: int = IMAP_PORT) -> dict[str, Any]:
    """uids and flags of every message in ``folder``."""
    client = await imap_client(port)
    try:
        assert (await client.select(folder)).result == "OK"
        response = await client.uid("fetch", "1:*", "(UID FLAGS)")
        lines = [bytes(x).decode() for x in response.lines[:-1]]
        return {"count": len([x for x in lines if "FLAGS" in x]), "lines": lines}
    finally:
        await logout(client)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def entries_of(hub: Hub, email: str) -> list[dict[str, Any]]:
    _, found = await hub.agent.get(f"/lookup?email={email}")
    if not found["matches"]:
        return []
    items: list[dict[str, Any]] = found["matches"][0]["recent"]
    return items


@contextlib.asynccontextmanager
async def running(hub: Hub, monkeypatch: pytest.MonkeyPatch, folder: str, **env: str
                  ) -> AsyncIterator[tuple[ImapConnector, Supervisor]]:
    """The IMAP connector as the server builds it (from CHRONIK_EMAIL_* settings), under a
    supervisor with short backoff."""
    settings = {"IMAP_HOST": IMAP_HOST, "IMAP_PORT": str(IMAP_PORT), "IMAP_TLS": "none",
                "IMAP_USERNAME": IMAP_USER, "IMAP_PASSWORD": IMAP_PASSWORD,
                "IMAP_FOLDER": folder, "IMAP_OFFICE_ID": hub.office.id, **env}
    for key, value in settings.items():
        monkeypatch.setenv(f"CHRONIK_EMAIL_{key}", value)
    (connector,) = components(hub.state)
    assert isinstance(connector, ImapConnector)
    supervisor = Supervisor([connector], base_delay=0.3, max_delay=2.0)
    supervisor.start()
    try:
        yield connector, supervisor
    finally:
        await supervisor.stop()


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "poll"])
async def test_new_mail_is_picked_up_and_moved(hub: Hub, folder: str,
                                               monkeypatch: pytest.MonkeyPatch,
                                               idle: bool) -> None:
    await append(folder, message(1))  # waiting before the connector starts
    env = {"IMAP_IDLE": str(idle).lower(), "IMAP_PROCESSED_FOLDER": f"{folder}/done",
           # with IDLE, a new message must arrive by push long before the next poll
           "IMAP_POLL_SECONDS": "300" if idle else "0.5"}
    async with running(hub, monkeypatch, folder, **env) as (connector, supervisor):
        await eventually(lambda: _count(hub, 1), 10)
        assert connector.mode == ("idle" if idle else "poll")
        await append(folder, message(2))
        took = await eventually(lambda: _count(hub, 2), 10)
        assert took < 5
        report = supervisor.report()[0]
        assert report["state"] == "running" and report["restarts"] == 0
        assert report["diagnostics"]["password"] == "***"
        assert IMAP_PASSWORD not in repr(report)
    entries = await entries_of(hub, "kunde@example.de")
    assert sorted(e["subject"] for e in entries) == ["Anfrage 1", "Anfrage 2"]
    assert all(e["meta"]["to"] == ["service@buero-test.de"] for e in entries)
    assert (await folder_state(folder))["count"] == 0
    assert (await folder_state(f"{folder}/done"))["count"] == 2


async def test_folders_with_umlauts_and_symbols(hub: Hub, folder: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """German folder names: IMAP wants them in modified UTF-7 (RFC 3501 5.1.3), and dovecot
    refuses them as typed ("not valid mUTF-7") -- the connector never got a message."""
    source = f"{folder}/Antr&AOQ-ge"  # "Anträge", written by hand as the RFC says
    client = await imap_client()
    assert (await client.create(source)).result == "OK"
    await logout(client)
    await append(source, message(1))
    env = {"IMAP_IDLE": "false", "IMAP_POLL_SECONDS": "0.5",
           "IMAP_PROCESSED_FOLDER": f"{folder}/Erledigt ✓ & fertig"}
    async with running(hub, monkeypatch, f"{folder}/Anträge", **env):
        await eventually(lambda: _count(hub, 1), 10)
    assert (await folder_state(source))["count"] == 0
    done = f'"{folder}/Erledigt &JxM- &- fertig"'  # U+2713 is &JxM-, "&" is "&-"
    assert (await folder_state(done))["count"] == 1
    client = await imap_client()
    for box in (done, source):
        await client.delete(box)
    await logout(client)


async def test_a_server_that_keeps_folders_under_inbox(hub: Hub,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Courier and cPanel's dovecot keep a user's folders under ``INBOX.`` with ``.`` between
    levels; mail programs show them without the prefix, so that is how people type them.
    The server refuses ``Erledigt`` ("nonexistent namespace"): the folder was never read,
    and a processed folder was never created, so every message failed to move, forever."""
    await asyncio.to_thread(require_mailservers)
    name = f"chronik-{uuid.uuid4().hex[:10]}"  # as the mail program shows it
    source, done = f"INBOX.{name}", f"INBOX.{name}.Erledigt"
    client = await imap_client(IMAP_PREFIXED_PORT)
    assert (await client.create(name)).result == "NO"  # as typed: refused
    assert (await client.create(source)).result == "OK"
    await logout(client)
    await append(source, message(1), port=IMAP_PREFIXED_PORT)
    try:
        async with running(hub, monkeypatch, name, IMAP_PORT=str(IMAP_PREFIXED_PORT),
                           IMAP_IDLE="false", IMAP_POLL_SECONDS="0.3",
                           IMAP_PROCESSED_FOLDER=f"{name}/Erledigt") as (connector, supervisor):
            await eventually(lambda: _count(hub, 1), 10)
            await append(source, message(2), port=IMAP_PREFIXED_PORT)
            await eventually(lambda: _count(hub, 2), 10)
            report = supervisor.report()[0]
            assert report["restarts"] == 0 and report["last_error"] is None
            assert report["diagnostics"]["folder"] == source
            assert report["diagnostics"]["processed_folder"] == done
        assert (await folder_state(source, IMAP_PREFIXED_PORT))["count"] == 0
        assert (await folder_state(done, IMAP_PREFIXED_PORT))["count"] == 2

        # written with the prefix, the same folders; a folder that is nowhere is named
        async with running(hub, monkeypatch, source, IMAP_PORT=str(IMAP_PREFIXED_PORT),
                           IMAP_IDLE="false", IMAP_POLL_SECONDS="0.3",
                           IMAP_PROCESSED_FOLDER=done) as (connector, supervisor):
            await eventually(lambda: _connected(connector), 10)
            assert (connector.folder, connector.processed_folder) == (source, done)
        async with running(hub, monkeypatch, "Gibt es nicht",
                           IMAP_PORT=str(IMAP_PREFIXED_PORT)) as (connector, supervisor):
            async def failed() -> bool:
                return supervisor.report()[0]["restarts"] >= 1
            await eventually(failed, 10)
            error = supervisor.report()[0]["last_error"]
            assert "INBOX.Gibt es nicht" in error and "under 'INBOX.'" in error, error
    finally:
        client = await imap_client(IMAP_PREFIXED_PORT)
        for box in (done, source):
            await client.delete(box)
        await logout(client)


async def _connected(connector: ImapConnector) -> bool:
    return connector.connects >= 1


async def _count(hub: Hub, n: int) -> bool:
    return len(await entries_of(hub, "kunde@example.de")) >= n


async def test_without_processed_folder_mail_is_flagged_and_not_taken_twice(
        hub: Hub, folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = message(1)
    await append(folder, first, first)  # the same message twice in the mailbox
    async with running(hub, monkeypatch, folder, IMAP_IDLE="false",
                       IMAP_POLL_SECONDS="0.3") as (connector, _):
        await eventually(lambda: _count(hub, 1), 10)
        await eventually(lambda: _processed(connector, 2), 10)
        await asyncio.sleep(1.0)  # several more polls: nothing new
        assert connector.processed == 2
        await append(folder, message(2))
        await eventually(lambda: _count(hub, 2), 10)
    state = await folder_state(folder)
    assert state["count"] == 3
    assert all("\\Seen" in line and "ChronikProcessed" in line for line in state["lines"])
    assert len(await entries_of(hub, "kunde@example.de")) == 2


async def _processed(connector: ImapConnector, n: int) -> bool:
    return connector.processed >= n


async def test_oversized_and_unparseable_mail_is_quarantined_and_moved(
        hub: Hub, folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    big = message(1, body="x" * 60 + ("\r\n" + "y" * 60) * 200)
    await append(folder, big, b"Kein: Absender\r\n\r\nnur Text\r\n", message(3))
    async with running(hub, monkeypatch, folder, IMAP_IDLE="false", IMAP_POLL_SECONDS="0.3",
                       MAX_MESSAGE_BYTES="4096",
                       IMAP_PROCESSED_FOLDER=f"{folder}/done") as (connector, _):
        await eventually(lambda: _processed(connector, 3), 10)
    _, page = await hub.admin.get("/quarantine")
    reasons = sorted(i["reason"].split(":")[0] for i in page["items"])
    assert reasons == ["too_large", "unparseable"]
    too_large = next(i for i in page["items"] if i["reason"].startswith("too_large"))
    assert too_large["origin"].startswith(f"imap:{IMAP_USER}@{IMAP_HOST}/{folder};UID=")
    assert [e["subject"] for e in await entries_of(hub, "kunde@example.de")] == ["Anfrage 3"]
    assert (await folder_state(f"{folder}/done"))["count"] == 3  # the original is kept


def _restart_dovecot() -> None:
    """Stop this dovecot instance as a server restart does (master and its sessions), then
    start it again with the set-up script."""
    master = int(DOVECOT_PIDFILE.read_text().split()[0])
    pids = [master, *child_pids(master)]
    subprocess.run(["kill", *map(str, pids)], check=False)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run(["bash", str(ROOT / SETUP_SCRIPT)], check=True, capture_output=True,
                   timeout=120)


@pytest.mark.restarts_dovecot
async def test_connector_reconnects_after_a_dovecot_restart(
        hub: Hub, folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(hub, monkeypatch, folder, IMAP_POLL_SECONDS="300") as (
            connector, supervisor):
        await append(folder, message(1))
        await eventually(lambda: _count(hub, 1), 10)
        assert connector.connects == 1
        await asyncio.to_thread(_restart_dovecot)
        await append(folder, message(2))
        await eventually(lambda: _count(hub, 2), 30)
        status = supervisor.report()[0]
        assert status["restarts"] >= 1 and connector.connects >= 2, (
            f"see {LOG_DIR}/dovecot.log")
        assert status["last_error"].startswith("ImapConnectionLost")
        assert status["state"] == "running"


async def test_wrong_password_is_reported_and_retried_not_fatal(
        hub: Hub, folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(hub, monkeypatch, folder, IMAP_PASSWORD="falsch-geheim") as (
            _, supervisor):
        async def failed_twice() -> bool:
            return supervisor.report()[0]["restarts"] >= 2
        await eventually(failed_twice, 10)
        status = supervisor.report()[0]
        assert status["last_error"].startswith("ImapAuthFailed: login as chronik refused")
        assert "falsch-geheim" not in repr(status)
    status, health = await hub.anon.get("/health")
    assert status == 200


async def test_imap_exceptions_are_translated_at_the_boundary() -> None:
    cases: list[tuple[BaseException, type[Exception]]] = [
        (aioimaplib.Abort("command LOGIN illegal in state LOGOUT"), ImapProtocolError),
        (aioimaplib.Error("server not IMAP4 compliant"), ImapProtocolError),
        (aioimaplib.CommandTimeout(aioimaplib.Command("NOOP", "A1")), ImapConnectionLost),
        (TimeoutError(), ImapConnectionLost),
        (ConnectionRefusedError(111, "Connection refused"), ImapConnectionLost),
        (OSError(113, "No route to host"), ImapConnectionLost),
    ]
    for raised, expected in cases:
        with pytest.raises(expected):
            async with imap_errors("test"):
                raise raised


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def tls_proxy(cert: Path, key: Path, starttls: bool) -> AsyncIterator[int]:
    """TLS in front of the test dovecot (which speaks plain IMAP only): implicit TLS, or
    plain until the client's STARTTLS (answered here, then the client side is upgraded)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(IMAP_HOST, IMAP_PORT)
        try:
            await relay(client_r, client_w, up_r, up_w)
        except (ConnectionError, ssl.SSLError):  # e.g. a client that rejects our certificate
            for writer in (client_w, up_w):
                writer.close()
                with contextlib.suppress(ConnectionError, ssl.SSLError):
                    await writer.wait_closed()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                    up_r: asyncio.StreamReader, up_w: asyncio.StreamWriter) -> None:
        greeting = await up_r.readline()
        if starttls:
            client_w.write(greeting.replace(b"IMAP4rev1", b"IMAP4rev1 STARTTLS", 1))
            line = await client_r.readline()
            while not line.upper().split(b" ")[1:2] == [b"STARTTLS\r\n"]:
                up_w.write(line)  # CAPABILITY before STARTTLS goes to dovecot
                while (answer := await up_r.readline())[:1] == b"*":
                    client_w.write(answer)
                client_w.write(answer)
                line = await client_r.readline()
            client_w.write(line.split(b" ")[0] + b" OK Begin TLS negotiation now\r\n")
            await client_w.drain()
            await client_w.start_tls(ctx)
        else:
            client_w.write(greeting)
        for pipe in (_pipe(client_r, up_w), _pipe(up_r, client_w)):
            task = asyncio.create_task(pipe)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0,
                                        ssl=None if starttls else ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


@pytest.mark.parametrize("mode", ["tls", "starttls"])
async def test_tls_and_starttls(hub: Hub, folder: str, tls_files: tuple[Path, Path],
                                mode: str) -> None:
    from chronik.glue.email import mail_ingest
    from connectors.email.imap import ImapConfig

    cert, key = tls_files
    client_ctx = ssl.create_default_context(cafile=str(cert))
    await append(folder, message(1))
    async with tls_proxy(cert, key, starttls=mode == "starttls") as port:
        connector = ImapConnector(mail_ingest(hub.state), ImapConfig(
            host="127.0.0.1", port=port, username=IMAP_USER, password=IMAP_PASSWORD,
            office_id=hub.office.id, tls=mode, folder=folder,
            ssl_context=client_ctx, idle=False, poll_seconds=0.3))
        task = asyncio.create_task(connector.run())
        try:
            await eventually(lambda: _count(hub, 1), 10)
            assert connector.connects == 1 and connector.mode == "poll"
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        untrusting = ImapConnector(mail_ingest(hub.state), ImapConfig(
            host="127.0.0.1", port=port, username=IMAP_USER, password=IMAP_PASSWORD,
            office_id=hub.office.id, tls=mode, folder=folder))
        with pytest.raises(ImapConnectionLost, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.run()
