"""A real Chronik server in a subprocess, and a private SMTP sink it sends its mail to.

For end-to-end tests (``tests/browser``): everything here is synchronous, so it can be used
from plain sync tests next to Playwright's sync API (see ``tests/browser/conftest.py``).

* :class:`MailSink` -- aiosmtpd on ``127.0.0.1``, port 0 (its own thread and loop); keeps
  every message as an :class:`email.message.EmailMessage` (``policy.default``);
  :meth:`MailSink.wait_for` polls for a message to an address, with a deadline.
* :func:`start_chronik` -- seeds a data dir through the CLI (``chronik office create``,
  ``chronik agent create``), starts ``python -m chronik.cli --data-dir D serve --port P``
  with :data:`SERVER_ENV` (notifications to the sink, fast polling and retries), waits for
  ``GET /api/v1/health`` and returns a :class:`ChronikServer` with ``api()`` for
  arranging data through the real HTTP API. The server is stopped with SIGTERM; an early
  exit or an unclean stop raises :class:`ServerFailed` with the server's stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import email.utils
import functools
import io
import json as jsonlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

if TYPE_CHECKING:
    from timeline.ingest import InboundMessage

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MAIL_FROM = "office@chronik.test"
START_TIMEOUT = 30.0  # seconds for the server to answer /api/v1/health
STOP_TIMEOUT = 10.0   # seconds after SIGTERM before SIGKILL

SERVER_ENV: dict[str, str] = {
    # CHRONIK_SMTP_PORT is the sink's port, added by start_chronik()
    "CHRONIK_SMTP_HOST": HOST,
    "CHRONIK_SMTP_TLS": "none",
    "CHRONIK_MAIL_FROM": MAIL_FROM,
    "CHRONIK_NOTIFY_POLL_SECONDS": "0.2",
    "CHRONIK_NOTIFY_RETRY_BASE_SECONDS": "0.5",
}
"""The environment of the server process (besides ``CHRONIK_SMTP_PORT``). Every other
``CHRONIK_*`` variable of the test process is removed, so a developer's settings never
leak in; pass ``env=`` to :func:`start_chronik` for more."""

T = TypeVar("T")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from each process's ``/proc/PID/stat``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def wait_until(condition: Callable[[], T | None], *, timeout: float = 10.0,
               interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something other than None/False; return that.

    Raises TimeoutError naming ``what`` after ``timeout`` seconds. No fixed sleeps: the
    condition is checked at once and then every ``interval`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------- SMTP sink

@dataclass(frozen=True)
class Delivery:
    """The SMTP envelope of one received message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


class _Port0Controller(Controller):
    """aiosmtpd's Controller connects to (host, port) to check the server is up: with port 0
    it must learn the real port first."""

    def _trigger_server(self) -> None:
        server = self.server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MailSink:
    """A private SMTP server (aiosmtpd, own thread) that accepts and keeps every message.

    ``messages`` is a snapshot list of parsed messages (oldest first), ``envelopes`` the
    matching envelopes. Use :meth:`wait_for` to wait for a message to an address.
    """

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[Delivery] = []
        self._controller: _Port0Controller | None = None

    # aiosmtpd handler hook (runs in the sink's thread)
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(bytes(raw), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
            self._envelopes.append(Delivery(str(envelope.mail_from),
                                             tuple(str(r) for r in envelope.rcpt_tos)))
        return "250 Message accepted"

    def start(self) -> MailSink:
        controller = _Port0Controller(self, hostname=self.host, port=0,
                                      server_hostname="sink.chronik.test", ident="chronik-sink")
        controller.start()
        self._controller = controller
        self.port = controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[Delivery]:
        with self._lock:
            return list(self._envelopes)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._envelopes.clear()

    def to(self, address: str) -> list[EmailMessage]:
        """Messages for ``address`` (envelope recipient or To/Cc), case-insensitive."""
        wanted = address.strip().lower()
        with self._lock:
            pairs = list(zip(self._messages, self._envelopes, strict=True))
        return [m for m, env in pairs
                if wanted in {r.lower() for r in env.rcpt_tos} | _header_addresses(m)]

    def wait_for(self, address: str, *, timeout: float = 10.0,
                 match: Callable[[EmailMessage], bool] | None = None) -> EmailMessage:
        """The first message to ``address`` (that ``match`` accepts); waits up to
        ``timeout`` seconds, polling; TimeoutError lists what did arrive."""
        def found() -> EmailMessage | None:
            return next((m for m in self.to(address) if match is None or match(m)), None)
        try:
            return wait_until(found, timeout=timeout, what=f"a message to {address}")
        except TimeoutError:
            seen = [f"to={m.get('To')!r} subject={m.get('Subject')!r}" for m in self.messages]
            raise TimeoutError(f"no message to {address} within {timeout:g}s; the sink has "
                               f"{len(seen)}: {seen}") from None


def _header_addresses(message: EmailMessage) -> set[str]:
    values = [str(v) for name in ("To", "Cc") for v in message.get_all(name, [])]
    return {addr.lower() for _, addr in email.utils.getaddresses(values) if addr}


def message_text(message: EmailMessage) -> str:
    """The plain-text body (or the HTML one if there is no plain part)."""
    body = message.get_body(("plain", "html"))
    return "" if body is None else str(body.get_content())


# ------------------------------------------------------------------------- the server

class ServerFailed(AssertionError):
    """The Chronik subprocess did not start, exited early or did not stop cleanly."""


class ApiCallFailed(AssertionError):
    """``ChronikServer.api()`` got an error status."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {url} -> {status}: {body!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    """Decoded JSON for ``application/json``, else the raw bytes."""
    headers: Mapping[str, str]


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class ChronikServer:
    """A running ``chronik serve`` with one office, an admin and an agent."""

    base_url: str           # http://127.0.0.1:PORT (also the public URL in mails)
    data_dir: Path
    office_id: str
    admin_token: str
    agent_token: str
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    env: dict[str, str] = field(repr=False)
    stopped: bool = False

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v1"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def check_alive(self) -> None:
        """Raise ServerFailed (with stderr) if the process has exited."""
        code = self.process.poll()
        if code is not None and not self.stopped:
            raise ServerFailed(f"chronik serve exited early with code {code}; stderr:\n"
                               f"{self.stderr()}")

    def call(self, method: str, path: str, json: Any = None, token: str | None = None, *,
             data: bytes | None = None, headers: Mapping[str, str] | None = None,
             timeout: float = 30.0) -> Response:
        """One HTTP request; never raises for an HTTP status.

        ``path`` is relative to ``/api/v1`` unless it starts with ``/api/`` (or is a full
        URL). ``token``: None = the admin's, ``""`` = no Authorization header, else that
        bearer token (an agent's, or a portal ``cpt_…``). ``json`` is sent as JSON;
        ``data`` as is (set Content-Type in ``headers``).
        """
        self.check_alive()
        if path.startswith(("http://", "https://")):
            url = path
        else:
            url = (self.base_url if path.startswith("/api/") else self.api_url) + path
        head = {"Accept": "application/json"}
        token = self.admin_token if token is None else token
        if token:
            head["Authorization"] = f"Bearer {token}"
        if json is not None:
            data = jsonlib.dumps(json).encode()
            head["Content-Type"] = "application/json"
        head.update(headers or {})
        request = urllib.request.Request(url, data=data, headers=head, method=method.upper())
        try:
            with _NO_PROXY.open(request, timeout=timeout) as resp:
                return _response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as exc:
            try:
                return _response(exc.code, exc.headers, exc.read())
            finally:
                exc.close()

    def api(self, method: str, path: str, json: Any = None, token: str | None = None,
            **kw: Any) -> Any:
        """Like :meth:`call`, for arranging data: returns the body, raises ApiCallFailed
        for a status >= 400."""
        resp = self.call(method, path, json, token, **kw)
        if resp.status >= 400:
            raise ApiCallFailed(method.upper(), path, resp.status, resp.body)
        return resp.body

    def create_office(self, name: str = "Anderes Büro", region: str = "DE") -> tuple[str, str]:
        """Another office with an admin (through the CLI; works while serving):
        (office id, admin token)."""
        office_id = _cli(self.data_dir, self.env, "office", "create", name, "--region", region)
        token = _cli(self.data_dir, self.env, "agent", "create", "Other Admin",
                     "--office", office_id, "--role", "admin")
        return office_id, token

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """``chronik --data-dir <this server's data> ARGS`` with the server's environment
        (e.g. ``import`` of an .eml into the running server's store); its last output line."""
        return _cli(self.data_dir, self.env, *args, stdin=stdin)

    def ingest(self, *messages: InboundMessage) -> None:
        """Store inbound messages as a connector of another process would (through the
        ingest service on this server's store): the server learns of them from the store's
        change feed, as of any other process's writes."""
        from chronik.app import close_state, open_state
        from chronik.cli import load_settings

        async def ingest() -> None:
            state = await open_state(load_settings(str(self.data_dir)))
            try:
                for message in messages:
                    await state.ingest.ingest(message)
            finally:
                await close_state(state)

        _in_server_env(self.env, lambda: asyncio.run(ingest()))

    def create_agent(self, name: str = "Another Agent", role: str = "agent",
                     office_id: str | None = None) -> str:
        """A new agent's API token (through the CLI)."""
        return _cli(self.data_dir, self.env, "agent", "create", name,
                    "--office", office_id or self.office_id, "--role", role)

    def stop(self) -> None:
        """SIGTERM, wait; ServerFailed if it had died before or does not exit with 0."""
        if self.stopped:
            return
        early = self.process.poll()
        self.stopped = True
        if early is not None:
            raise ServerFailed(f"chronik serve exited early with code {early}; stderr:\n"
                               f"{self.stderr()}")
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ServerFailed(f"chronik serve did not stop within {STOP_TIMEOUT:g}s of "
                               f"SIGTERM (killed); stderr:\n{self.stderr()}") from None
        if code != 0:
            raise ServerFailed(f"chronik serve exited with code {code} after SIGTERM; "
                               f"stderr:\n{self.stderr()}")


def _response(status: int, headers: Any, raw: bytes) -> Response:
    head = {k: v for k, v in headers.items()}
    body: Any = raw
    if headers.get_content_type() == "application/json" and raw:
        body = jsonlib.loads(raw)
    return Response(status, body, head)


def server_env(smtp_port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONIK_")}
    env.update(SERVER_ENV)
    env["CHRONIK_SMTP_PORT"] = str(smtp_port)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


_CLI_LOCK = threading.Lock()


def _cli(data_dir: Path, env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``chronik --data-dir D ARGS`` (chronik.cli.main, in a thread of this process:
    a subprocess would cost ~1.5 s of imports each) and return its last stdout line.
    The CLI sees the server's ``CHRONIK_*`` variables, not the test process's."""
    from chronik.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            result = _in_server_env(env, lambda: main(["--data-dir", str(data_dir), *args]))
        finally:
            sys.stdin = saved_stdin
    if result != 0:
        raise RuntimeError(f"chronik {' '.join(args)} failed ({result}): {err.getvalue()}")
    lines = out.getvalue().strip().splitlines()
    return lines[-1].strip() if lines else ""


def _in_server_env(env: Mapping[str, str], work: Callable[[], T]) -> T:
    """``work()`` in a thread of this process with the server's ``CHRONIK_*`` variables.

    A thread, because the caller's thread may look like it runs an event loop (Playwright's
    sync API) and the work calls asyncio.run()."""
    result: list[T] = []
    failure: list[BaseException] = []
    saved = {k: v for k, v in os.environ.items() if k.startswith("CHRONIK_")}

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # re-raised in the caller
            failure.append(exc)

    with _CLI_LOCK:
        _set_chronik_env(env)
        try:
            thread = threading.Thread(target=run, name="chronik-cli")
            thread.start()
            thread.join()
        finally:
            _set_chronik_env(saved)
    if failure:
        raise failure[0]
    return result[0]


def _set_chronik_env(env: Mapping[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("CHRONIK_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("CHRONIK_")})


ADMIN_EMAIL = "anna@buero.test"
AGENT_EMAIL = "tom@buero.test"
PASSWORD = "browser-pass-1"


def seed(data_dir: Path, env: Mapping[str, str]) -> tuple[str, str, str]:
    """Office "Büro Browser" (DE) with admin "Anna Admin" (``ADMIN_EMAIL``) and agent
    "Tom Agent" (``AGENT_EMAIL``), both with ``PASSWORD`` for the console:
    (office id, admin token, agent token)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    office_id = _cli(data_dir, env, "office", "create", "Büro Browser", "--region", "DE")
    if not re.fullmatch(r"[0-9A-Z]{26}", office_id):
        raise RuntimeError(f"chronik office create printed {office_id!r}, not an id")
    admin = _cli(data_dir, env, "agent", "create", "Anna Admin", "--office", office_id,
                 "--role", "admin", "--email", ADMIN_EMAIL, "--password-stdin",
                 stdin=PASSWORD + "\n")
    agent = _cli(data_dir, env, "agent", "create", "Tom Agent", "--office", office_id,
                 "--role", "agent", "--email", AGENT_EMAIL, "--password-stdin",
                 stdin=PASSWORD + "\n")
    return office_id, admin, agent


@contextlib.contextmanager
def start_chronik(workdir: Path, smtp_port: int, *,
                  env: Mapping[str, str] | None = None) -> Iterator[ChronikServer]:
    """Seed ``workdir/data``, serve it on a free port, yield the server, stop it (SIGTERM).

    Raises ServerFailed (with stderr) if it does not come up, exits early or does not stop
    cleanly. ``env`` adds or overrides variables of :func:`server_env`.
    """
    data_dir = workdir / "data"
    full_env = server_env(smtp_port, env)
    office_id, admin, agent = seed(data_dir, full_env)
    server = _launch(workdir, data_dir, full_env, office_id, admin, agent)
    try:
        yield server
    finally:
        server.stop()


def _launch(workdir: Path, data_dir: Path, env: dict[str, str], office_id: str,
            admin: str, agent: str) -> ChronikServer:
    for attempt in range(3):
        port = free_port()  # may be taken by someone else before we bind: retried
        out, err = workdir / f"server-{port}.out", workdir / f"server-{port}.err"
        with out.open("wb") as out_f, err.open("wb") as err_f:
            process = subprocess.Popen(
                [sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                 "serve", "--host", HOST, "--port", str(port)],
                stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f, env=env, cwd=ROOT)
        server = ChronikServer(base_url=f"http://{HOST}:{port}", data_dir=data_dir,
                               office_id=office_id, admin_token=admin, agent_token=agent,
                               process=process, stdout_path=out, stderr_path=err, env=env)
        try:
            wait_until(functools.partial(_healthy, server), timeout=START_TIMEOUT,
                       interval=0.05, what=f"chronik serve on {server.base_url}")
        except ServerFailed:
            if "cannot listen" in server.stderr() and attempt < 2:
                continue
            raise
        except TimeoutError:
            server.stopped = True
            process.kill()
            process.wait()
            raise ServerFailed(f"chronik serve did not answer GET /api/v1/health within "
                               f"{START_TIMEOUT:g}s; stderr:\n{server.stderr()}") from None
        return server
    raise AssertionError("unreachable")


def _healthy(server: ChronikServer) -> bool:
    server.check_alive()  # raises ServerFailed if it died
    try:
        return server.call("GET", "/health", token="", timeout=2).status == 200
    except OSError:
        return False
