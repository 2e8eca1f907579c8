"""Where the real test mail servers are: dovecot (IMAP) and exim4 (SMTP relay).

They are Debian's packages, installed, configured and started by
``deploy/ci/mailservers.sh`` (CI runs it; locally: ``sudo bash deploy/ci/mailservers.sh``).
Keep the constants here in sync with that script.

Tests that need the servers call :func:`require_mailservers` (e.g. from a fixture): it
raises, so the tests FAIL rather than skip when the servers are missing.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SETUP_SCRIPT = "deploy/ci/mailservers.sh"

# --- IMAP: dovecot, plain IMAP (no TLS) on loopback, IDLE advertised -------------------
IMAP_HOST = "127.0.0.1"
IMAP_PORT = 10143
IMAP_PREFIXED_PORT = 10144
"""A second dovecot keeping folders under ``INBOX.`` with ``.`` between levels, as Courier
and cPanel's dovecot do (same users and passwords, its own mailboxes)."""
IMAP_USER = "chronik"
IMAP_PASSWORD = "chronik-test"
IMAP_USER2 = "chronik2"
IMAP_PASSWORD2 = "chronik-test2"
IMAP_USERS: dict[str, str] = {IMAP_USER: IMAP_PASSWORD, IMAP_USER2: IMAP_PASSWORD2}

# --- SMTP: exim4 relay, no auth, no TLS; accepts only @MAIL_DOMAIN (others: 550) -------
SMTP_HOST = "127.0.0.1"
SMTP_PORT = 2525
MAIL_DOMAIN = "chronik.test"

# --- Paths ------------------------------------------------------------------------------
MAIL_ROOT = Path("/var/lib/chronik-mail")
SMTP_MAIL_ROOT = MAIL_ROOT / "smtp"  # exim: <localpart>/Maildir, one per recipient
LOG_DIR = Path("/var/log/chronik-mail")  # dovecot.log, exim-mainlog, exim-rejectlog, ...


DOVECOT_LOCK = Path(tempfile.gettempdir()) / "chronik-test-dovecot.lock"


@contextmanager
def dovecot_in_use(*, restarting: bool = False) -> Iterator[None]:
    """Held by every test that talks IMAP (shared) and by the one that restarts dovecot
    (exclusive): ``./run test`` runs the suite in several processes (``pytest -n``), and a
    restart in one of them must not pull the server away from an IMAP test in another."""
    with DOVECOT_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if restarting else fcntl.LOCK_SH)
        yield  # (closing the file lets go of the lock)


def imap_maildir(user: str = IMAP_USER) -> Path:
    """The Maildir dovecot keeps ``user``'s mailboxes in (owned by ``vmail``, mode 0700)."""
    return MAIL_ROOT / user / "Maildir"


def smtp_address(prefix: str = "test") -> str:
    """A fresh recipient ``<prefix>-<random>@chronik.test``, so parallel tests never mix."""
    return f"{prefix.lower()}-{uuid.uuid4().hex[:12]}@{MAIL_DOMAIN}"


def smtp_maildir(address: str) -> Path:
    """The Maildir exim delivers ``address`` (``lp@chronik.test`` or bare ``lp``) to.

    The local part is lowercased, as exim does. Only local parts matching
    ``^[a-z0-9][a-z0-9._+=-]*$`` are accepted by the relay (others: 550 at RCPT).
    """
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, MAIL_DOMAIN
    if domain.lower() != MAIL_DOMAIN:
        raise ValueError(f"the test relay only delivers @{MAIL_DOMAIN}, not {address!r}")
    return SMTP_MAIL_ROOT / local.lower() / "Maildir"


def maildir_messages(maildir: Path) -> list[bytes]:
    """Raw messages in ``maildir`` (new/ and cur/), oldest first; [] if it doesn't exist."""
    files = [p for sub in ("new", "cur") if (maildir / sub).is_dir()
             for p in (maildir / sub).iterdir() if p.is_file()]
    files.sort(key=lambda p: (p.stat().st_mtime, p.name))
    return [p.read_bytes() for p in files]


async def wait_for_delivery(address: str, needle: bytes = b"", seconds: float = 10.0) -> bytes:
    """Wait until a message containing ``needle`` lands in ``address``'s Maildir; return it."""
    maildir = smtp_maildir(address)
    deadline = time.monotonic() + seconds
    while True:
        for message in maildir_messages(maildir):
            if needle in message:
                return message
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no message containing {needle!r} in {maildir} after {seconds:g}s "
                f"(see {LOG_DIR}/exim-mainlog)")
        await asyncio.sleep(0.1)


def _greeting(host: str, port: int, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        return sock.recv(512).decode("ascii", "replace").strip()


def require_mailservers(timeout: float = 3.0) -> None:
    """Raise RuntimeError unless dovecot and exim answer with their greetings."""
    problems = []
    for name, host, port, prefix in (("IMAP (dovecot)", IMAP_HOST, IMAP_PORT, "* OK"),
                                     ("IMAP (dovecot, folders under INBOX.)", IMAP_HOST,
                                      IMAP_PREFIXED_PORT, "* OK"),
                                     ("SMTP (exim4)", SMTP_HOST, SMTP_PORT, "220")):
        try:
            greeting = _greeting(host, port, timeout)
        except OSError as exc:
            problems.append(f"{name} on {host}:{port}: {exc}")
            continue
        if not greeting.startswith(prefix):
            problems.append(f"{name} on {host}:{port} greeted {greeting!r}, "
                            f"expected {prefix!r}")
    if problems:
        raise RuntimeError(f"run {SETUP_SCRIPT} first: " + "; ".join(problems))
