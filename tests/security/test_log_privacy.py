"""Log privacy: a whole day of a customer's life in one running Chronik — inbound e-mail over
SMTP, a Telegram message, phone calls over the CTI webhook, a note that notifies the
customer by e-mail, a portal sign-in with a code, and a bug (a 500) on the CTI route — and
not one line of the log, at the default level (INFO), names the customer, their address,
their number, what they wrote, the CTI token or a peer's IP address."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from chronik.api import cti as cti_api
from chronik.logs import redact, redact_path
from tests.connectors.test_email_smtp import listener
from tests.notify.conftest import eventually
from tests.support.telegram_standin import BotApiStandIn
from tests.web.test_portal_pages import (
    CHAT,
    ERIKA,
    code_of,
    enter_code,
    request_code,
    running_site,
)

NAME = "Erika Mustermann"
PHONE_RAW = "0171 5550123"
PHONE_E164 = "+491715550123"
INBOX = "service@buero-test.de"
MAIL_WORD = "Dachrinnenverstopfung"
TELEGRAM_WORD = "Kellerüberflutung"
NOTE_WORD = "Rückrufvereinbarung"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Capture]:
    root = logging.getLogger()
    handler = Capture()
    old_level = root.level
    root.setLevel(logging.INFO)  # the default level of `chronik serve`
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
async def tg() -> Any:
    async with BotApiStandIn() as standin:
        standin.add_chat(CHAT)
        yield standin


async def test_a_full_scenario_logs_no_personal_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: BotApiStandIn,
        captured: Capture) -> None:
    monkeypatch.setenv("CHRONIK_INBOUND_SMTP_PORT", "0")
    monkeypatch.setenv("CHRONIK_NOTIFY_WORKER", "true")
    async with running_site(tmp_path, monkeypatch, tg) as site:
        hub = site.hub
        customer = await site.customer(NAME, phones=[PHONE_RAW])
        cid = customer["id"]
        status, _ = await hub.agent.post(f"/customers/{cid}/identities",
                                         json={"kind": "telegram", "value": str(CHAT)})
        assert status in (200, 201)

        # inbound e-mail through the SMTP listener
        status, _ = await hub.admin.post("/office/inbound-addresses", json={"address": INBOX})
        assert status == 201
        port = (await listener(hub)).bound_port
        raw = (f"From: {NAME} <{ERIKA}>\r\nTo: {INBOX}\r\nSubject: {MAIL_WORD}\r\n"
               f"Message-ID: <m1@example.de>\r\nMIME-Version: 1.0\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
               f"{MAIL_WORD}: bitte rufen Sie mich an, {PHONE_RAW}.\r\n").encode()
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
            await client.sendmail(ERIKA, [INBOX], raw)

        # a Telegram message from the customer's chat
        tg.push_text(CHAT, f"{TELEGRAM_WORD} bei {NAME}")

        async def on_timeline(word: str) -> bool:
            status, page = await hub.agent.get(f"/customers/{cid}/timeline?limit=200")
            assert status == 200
            return any(word in (item.get("body") or "") + (item.get("subject") or "")
                       for item in page["items"])
        await eventually(lambda: on_timeline(MAIL_WORD))
        await eventually(lambda: on_timeline(TELEGRAM_WORD))

        # a phone call over the CTI webhook, then a bug on the same route
        status, office = await hub.admin.get("/office")
        assert status == 200
        cti_path = office["cti_url_path"].removeprefix("/api/v1")
        token = cti_path.rsplit("/", 1)[1]
        for event in ({"event": "newCall", "callId": "c1", "from": PHONE_E164,
                       "to": "4921112345670", "direction": "in"},
                      {"event": "hangup", "callId": "c1", "cause": "normalClearing"}):
            status, body = await hub.anon.post(cti_path, json=event)
            assert status == 200, body

        class Broken:
            async def handle(self, *_: Any) -> Any:
                # what a careless exception message might carry (names cannot be
                # recognised in free text: code never logs them)
                raise RuntimeError(f"cannot place the call of <{ERIKA}> {PHONE_E164}")
        monkeypatch.setattr(cti_api, "cti_service", lambda _state: Broken())
        status, body = await hub.anon.post(cti_path, json={
            "event": "newCall", "callId": "c2", "from": PHONE_E164, "to": "4921112345670",
            "direction": "in"})
        assert status == 500, body
        monkeypatch.undo()  # (the environment is read at start-up only)

        # a note that notifies the customer by e-mail (the SMTP sink)
        status, entry = await hub.agent.post(f"/customers/{cid}/entries", json={
            "kind": "note", "body": f"{NOTE_WORD} mit {NAME}", "visibility": "published",
            "notify": True})
        assert status == 201, entry

        async def mailed() -> bool:
            return any(NOTE_WORD in r.raw.decode("utf-8", "replace") or
                       ERIKA in r.recipients for r in site.sink.received
                       if "Anmeldecode" not in str(r.message["Subject"]))
        await eventually(mailed)

        # the customer signs in to the portal with a code
        browser = site.browser()
        code_page = await browser.follow(await request_code(browser, ERIKA))
        code = code_of(await site.code_mail(ERIKA))
        done = await enter_code(browser, code_page, code)
        assert done.status == 303, done.text[:300]
        await site.settle()

    text = "\n".join(captured.lines)
    assert "bug: unhandled error in POST /api/v1/cti/***" in text  # the 500 was logged
    assert "RuntimeError: cannot place the call of <<email:" in text  # with its traceback
    forbidden = {"e-mail address": ERIKA, "phone (as typed)": PHONE_RAW,
                 "phone (E.164)": PHONE_E164, "phone (digits)": PHONE_E164[1:],
                 "name": NAME, "surname": "Mustermann", "mail text": MAIL_WORD,
                 "telegram text": TELEGRAM_WORD, "note text": NOTE_WORD, "CTI token": token,
                 "peer IP": "127.0.0.1", "telegram chat": str(CHAT)}
    leaks = {what: [line for line in captured.lines if value.casefold() in line.casefold()]
             for what, value in forbidden.items()}
    assert not {k: v for k, v in leaks.items() if v}, leaks


@pytest.mark.parametrize(("text", "kept", "gone"), [
    ("from Erika.M@example.de", "from <email:", "example.de"),
    ("call +49 171 1234567 now", "call <phone:", "1234567"),
    ("call 0049-171/1234567", "<phone:", "1234567"),
    ("peer ('127.0.0.1', 4711)", "('<ip:", "127.0.0.1"),
    ("peer ::1", "<ip:", "::1"),
], ids=["email", "phone-e164", "phone-local", "ipv4", "ipv6"])
def test_redact_replaces_personal_data(text: str, kept: str, gone: str) -> None:
    out = redact(text)
    assert kept in out and gone not in out


@pytest.mark.parametrize("text", [
    "entry 01HZX5Y2K3M4N5P6Q7R8S9T0VW at 2026-12-04 23:06:31",
    "uuid 12345678-1234-5678-9abc-123456789012, sha 3f2a1c1234567abc",
    "retry in 1.5s on port 8025, version 3.11.4, 1234.56789 s",
], ids=["ulid-and-time", "uuid-and-digest", "numbers"])
def test_redact_keeps_ids_times_and_numbers(text: str) -> None:
    assert redact(text) == text


def test_same_value_gives_the_same_tag() -> None:
    assert redact("a@example.de") == redact("A@Example.de") != redact("b@example.de")


@pytest.mark.parametrize("path", ["/api/v1/cti/cti_SECRET", "/api/v1/telegram/webhook/SECRET",
                                  "/unsubscribe/SECRET", "/signin/link/SECRET",
                                  "/portal/signin/link/SECRET?next=/"])
def test_secret_path_segments_are_removed(path: str) -> None:
    assert "SECRET" not in redact_path(path) and "***" in redact_path(path)


def test_aiosmtpd_session_log_is_off_at_info() -> None:
    from chronik.logs import install

    install()
    assert not logging.getLogger("mail.log").isEnabledFor(logging.INFO)
