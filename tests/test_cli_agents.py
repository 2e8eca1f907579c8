"""``chronik agent …``: create (with a sign-in address, a password, a sign-in link), list,
set-password, token, revoke-token, end-sessions. Every mistake is ``chronik: <message>``
with exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import socket
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from chronik.api.base import hash_token
from chronik.app import make_store
from chronik.cli import main
from chronik.settings import Settings
from chronik.web.auth import verify_password
from timeline.accounts import WebSession
from timeline.models import utcnow
from timeline.store import Store

PASSWORD = "ein langes Passwort"
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _no_mail_server(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHRONIK_SMTP_HOST", "CHRONIK_CONFIG", "CHRONIK_DATA_DIR",
                 "CHRONIK_TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def chronik(tmp_path: Path, capsys: pytest.CaptureFixture[str]
            ) -> Callable[..., tuple[int, str, str]]:
    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        saved = sys.stdin
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            code = main(["--data-dir", str(tmp_path), *args])
        finally:
            sys.stdin = saved
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        return code, out.out, out.err
    return run


def in_store(tmp_path: Path, fn: Callable[[Store], Coroutine[Any, Any, T]]) -> T:
    """``fn`` on the store the CLI wrote to (``CHRONIK_TEST_STORE``)."""
    async def go() -> T:
        store = make_store(Settings(data_dir=tmp_path))
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()
    return asyncio.run(go())


@pytest.fixture
def office(chronik: Callable[..., tuple[int, str, str]]) -> str:
    code, out, _ = chronik("office", "create", "Büro Nord")
    assert code == 0
    return out.strip()


def rows(out: str) -> list[list[str]]:
    lines = out.strip().splitlines()
    assert lines[0].split("\t") == ["id", "role", "name", "email", "password", "tokens",
                                    "sessions"]
    return [line.split("\t") for line in lines[1:]]


def test_create_with_address_and_password_then_list(chronik: Any, office: str,
                                                    tmp_path: Path) -> None:
    code, out, err = chronik("agent", "create", "Anna Admin", "--office", office, "--role",
                             "admin", "--email", "Anna@Buero.Test", "--password-stdin",
                             stdin=PASSWORD + "\n")
    assert code == 0, err
    lines = out.strip().splitlines()
    agent_id = lines[0].split()[1]
    token = lines[-1]
    assert token.startswith("chk_") and f"agent {agent_id} (admin) in office {office}" in out
    code, out, _ = chronik("agent", "create", "Tom", "--office", office)
    assert code == 0
    code, out, _ = chronik("agent", "list", "--office", office)
    assert code == 0
    listed = {r[2]: r for r in rows(out)}
    assert listed["Anna Admin"] == [agent_id, "admin", "Anna Admin", "anna@buero.test", "yes",
                                    hash_token(token)[:12], "0"]
    assert listed["Tom"][1:5] == ["agent", "Tom", "-", "no"]

    async def check(store: Store) -> bool:
        login = await store.agent_login(agent_id)
        assert login is not None
        return await verify_password(login.password_hash, PASSWORD)
    assert in_store(tmp_path, check)


@pytest.mark.parametrize("args,stdin,needle", [
    (["--email", "a@b.test", "--password-stdin"], "zu kurz\n", "at least 10 characters"),
    (["--password-stdin"], PASSWORD, "need --email"),
    (["--send-link"], None, "need --email"),
    (["--email", "a@b.test", "--send-link"], None, "CHRONIK_SMTP_HOST"),
    (["--email", "kein-at-zeichen"], None, "e-mail"),
    (["--email", "a@b.test", "--password-stdin"], "", "no password"),
], ids=["short-password", "password-without-email", "link-without-email", "no-smtp",
        "bad-email", "empty-stdin"])
def test_create_mistakes_create_nothing(chronik: Any, office: str, args: list[str],
                                        stdin: str | None, needle: str) -> None:
    code, out, err = chronik("agent", "create", "Anna", "--office", office, *args,
                             stdin=stdin)
    assert code == 2 and err.startswith("chronik: ") and needle in err, err
    code, out, _ = chronik("agent", "list", "--office", office)
    assert rows(out) == []


def test_a_taken_address_and_unknown_offices(chronik: Any, office: str) -> None:
    assert chronik("agent", "create", "Anna", "--office", office, "--email", "a@b.test")[0] == 0
    code, _, err = chronik("agent", "create", "Ben", "--office", office, "--email", "A@B.test")
    assert code == 2 and "belongs to another agent" in err
    for args in (["agent", "list", "--office", "nope"],
                 ["agent", "token", "--office", "nope", "x"],
                 ["agent", "end-sessions", "--office", "nope", "x"],
                 ["agent", "revoke-token", "--office", "nope", "0123456789ab"]):
        code, _, err = chronik(*args)
        assert code == 2 and "no office" in err, args


def test_tokens_new_and_revoked(chronik: Any, office: str, tmp_path: Path) -> None:
    code, out, _ = chronik("agent", "create", "Anna", "--office", office)
    agent_id, first = out.split()[1], out.strip().splitlines()[-1]
    code, out, _ = chronik("agent", "token", "--office", office, agent_id)
    assert code == 0
    second = out.strip().splitlines()[-1]
    assert second.startswith("chk_") and second != first
    assert f"API token {hash_token(second)[:12]} for agent {agent_id}" in out
    _, out, _ = chronik("agent", "list", "--office", office)
    assert sorted(rows(out)[0][5].split(",")) == sorted([hash_token(first)[:12],
                                                         hash_token(second)[:12]])
    code, out, err = chronik("agent", "revoke-token", "--office", office,
                             hash_token(first)[:12].upper())
    assert code == 0, err
    assert in_store(tmp_path, lambda s: s.agent_for_token(hash_token(first))) is None
    assert in_store(tmp_path, lambda s: s.agent_for_token(hash_token(second))) is not None
    code, _, err = chronik("agent", "revoke-token", "--office", office, hash_token(first)[:12])
    assert code == 2 and "no such token" in err
    # another office cannot revoke this office's token, nor mint tokens for its agents
    code, other, _ = chronik("office", "create", "Büro Süd")
    code, _, err = chronik("agent", "revoke-token", "--office", other.strip(),
                           hash_token(second)[:12])
    assert code == 2 and "no such token" in err
    code, _, err = chronik("agent", "token", "--office", other.strip(), agent_id)
    assert code == 2 and "no such agent" in err
    assert in_store(tmp_path, lambda s: s.agent_for_token(hash_token(second))) is not None


def test_end_sessions(chronik: Any, office: str, tmp_path: Path) -> None:
    _, out, _ = chronik("agent", "create", "Anna", "--office", office)
    agent_id = out.split()[1]

    async def sign_in(store: Store) -> None:
        now = utcnow()
        for n in range(2):
            await store.create_web_session(WebSession(
                id_hash=f"hash-{n}", audience="agent", office_id=office, subject_id=agent_id,
                csrf="c", created_at=now, expires_at=now + timedelta(hours=1)))
    in_store(tmp_path, sign_in)
    _, out, _ = chronik("agent", "list", "--office", office)
    assert rows(out)[0][6] == "2"
    code, out, _ = chronik("agent", "end-sessions", "--office", office, agent_id)
    assert code == 0 and f"ended 2 browser session(s) of agent {agent_id}" in out
    _, out, _ = chronik("agent", "list", "--office", office)
    assert rows(out)[0][6] == "0"
    code, _, err = chronik("agent", "end-sessions", "--office", office, "01NOSUCHAGENT")
    assert code == 2 and "no such agent" in err


def test_set_password_from_a_pipe_and_a_terminal(chronik: Any, office: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, out, _ = chronik("agent", "create", "Anna", "--office", office, "--email", "a@b.test")
    agent_id = out.split()[1]
    code, out, err = chronik("agent", "set-password", agent_id, stdin=PASSWORD + "\r\n")
    assert code == 0, err

    async def verify(store: Store, password: str) -> bool:
        login = await store.agent_login(agent_id)
        assert login is not None
        return await verify_password(login.password_hash, password)
    assert in_store(tmp_path, lambda s: verify(s, PASSWORD))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    typed = iter(["noch ein Passwort", "noch ein Passwort", "eins zwei drei vier",
                  "eins zwei drei fünf"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    monkeypatch.setattr(sys, "stdin", Terminal())
    code, _, err = chronik("agent", "set-password", agent_id)
    assert code == 0, err
    assert in_store(tmp_path, lambda s: verify(s, "noch ein Passwort"))
    code, _, err = chronik("agent", "set-password", agent_id)
    assert code == 2 and "differ" in err
    monkeypatch.undo()
    code, _, err = chronik("agent", "set-password", agent_id, stdin="kurz\n")
    assert code == 2 and "at least 10 characters" in err
    code, _, err = chronik("agent", "set-password", "01NOSUCHAGENT", stdin=PASSWORD)
    assert code == 2 and "no such agent" in err
    assert in_store(tmp_path, lambda s: verify(s, "noch ein Passwort"))


# ---------------------------------------------------------------- a sign-in link by mail
class _Recorder:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    recorder = _Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"CHRONIK_SMTP_HOST": "127.0.0.1", "CHRONIK_SMTP_PORT": str(port),
                       "CHRONIK_SMTP_TLS": "none",
                       "CHRONIK_MAIL_FROM": "chronik@buero.test"}.items():
        monkeypatch.setenv(key, value)
    yield recorder
    controller.stop()


def test_create_sends_a_sign_in_link(chronik: Any, office: str, smtp: _Recorder,
                                     tmp_path: Path) -> None:
    code, out, err = chronik("agent", "create", "Anna", "--office", office, "--email",
                             "anna@buero.test", "--send-link")
    assert code == 0, err
    assert "sign-in link sent to anna@buero.test" in out
    assert out.strip().splitlines()[-1].startswith("chk_")
    assert [m.rcpt_tos for m in smtp.messages] == [["anna@buero.test"]]
    raw = smtp.messages[0].original_content or b""
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    text = mail.get_body(("plain",))
    assert text is not None and "/signin/link/" in str(text.get_content())
    count = in_store(tmp_path, lambda s: s.count_login_codes(
        "agent", [out.split()[1]], utcnow() - timedelta(minutes=5)))
    assert count == 1
