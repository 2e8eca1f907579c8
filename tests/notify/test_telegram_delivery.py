"""Telegram notifications against what the real Bot API does: long texts, files over 50 MB or
refused, an answer lost after the message went out, a revoked bot token, chat ids that are
no chat ids. The REAL python-telegram-bot talks to the Bot API stand-in; nothing of ours is
mocked."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import unused_port

from chronik.settings import Settings
from notify.errors import OutcomeUnknown, Permanent, Transient
from notify.message import OutgoingMessage
from notify.ratelimit import RateLimiter
from notify.transports.telegram import MAX_TEXT, TelegramTransport, split_text, utf16_len
from notify.worker import Worker
from tests.conftest import Hub
from tests.notify.conftest import (
    CHAT,
    SmtpSink,
    customer,
    eventually,
    free_port,
    note,
    outcome,
    start_hub,
    texts_to,
)
from tests.support.telegram_standin import BotApiStandIn
from tests.web.conftest import ADMIN_EMAIL, MakeConsole, make_console
from timeline.models import Identity, IdentityKind

__all__ = ["make_console"]  # the console fixture of tests/web (pages are checked here too)

FOOTER = "--\nBüro Test\nAntworten Sie einfach hier im Chat. Mit /stop bestellen Sie die " \
         "Benachrichtigungen ab."








async def history(hub: Hub, customer_id: str) -> list[tuple[str, str]]:
    _, jobs = await hub.admin.get(f"/notifications?customer={customer_id}")
    return [(a["channel"], a["outcome"]) for a in jobs["items"][0]["history"]]


async def job_of(hub: Hub, customer_id: str) -> dict[str, Any]:
    _, jobs = await hub.admin.get(f"/notifications?customer={customer_id}")
    return dict(jobs["items"][0])


async def worker_of(hub: Hub) -> Worker:
    assert hub.state.supervisor is not None
    for component in hub.state.supervisor.components:
        worker = getattr(component, "worker", None)
        if isinstance(worker, Worker):
            return worker
    raise AssertionError("no notify worker")


# ------------------------------------------------------------------------------------------
# texts over 4096 characters
# ------------------------------------------------------------------------------------------

def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("body", [
    "\n\n".join(f"Absatz {i}: " + "Wort " * 170 for i in range(12)),
    "x" * 9000,  # one word, nowhere to cut nicely
    "😀" * 3000,  # 6000 UTF-16 units in 3000 characters
    "a" * 4095 + "😀" + "b" * 10,  # the emoji straddles the limit
    "Zeile\n" * 1400,
], ids=["paragraphs", "one-word", "emoji", "emoji-at-the-limit", "lines"])
def test_long_texts_are_split_with_the_footer_last(body: str) -> None:
    text = f"Guten Tag Frau Muster,\n\n{body}\n\n{FOOTER}\n"
    parts = split_text(text)
    assert len(parts) >= 2
    assert all(0 < utf16_len(p) <= MAX_TEXT for p in parts)
    assert parts[-1].endswith(FOOTER) and FOOTER not in "".join(parts[:-1])
    assert _squash("".join(parts)) == _squash(text)  # nothing lost, nothing added


@pytest.mark.parametrize("size", [MAX_TEXT, MAX_TEXT + 1])
def test_the_limit_itself(size: int) -> None:
    text = "a" * (size - len(FOOTER) - 2) + "\n\n" + FOOTER
    parts = split_text(text)
    assert len(parts) == (1 if size <= MAX_TEXT else 2)
    assert parts[-1].endswith(FOOTER)


async def test_a_long_note_arrives_in_several_messages_footer_last(
        tghub: Hub, tg: BotApiStandIn) -> None:
    paragraphs = [f"Punkt {i}: " + "Die Unterlagen sind vollständig. " * 40 for i in range(8)]
    body = "\n\n".join(paragraphs)
    assert len(body) > 2 * MAX_TEXT
    c = await customer(tghub, telegram=CHAT, prefs={"channels": ["telegram"]})
    e = await note(tghub, c["id"], body, subject="Ihr Antrag")
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"
    sent = texts_to(tg)
    assert len(sent) == 3 and all(len(t) <= MAX_TEXT for t in sent)
    assert "/stop" in sent[-1] and all("/stop" not in t for t in sent[:-1])
    for paragraph in paragraphs:
        assert paragraph.strip() in "\n\n".join(sent)
    assert await history(tghub, c["id"]) == [("telegram", "sent")]


# ------------------------------------------------------------------------------------------
# an answer that never came
# ------------------------------------------------------------------------------------------

async def test_a_lost_answer_is_an_unknown_outcome_never_resent(
        tghub: Hub, tg: BotApiStandIn, smtp_sink: SmtpSink) -> None:
    tg.drop_next(1)  # Telegram delivers the message; the answer is lost on the way back
    c = await customer(tghub, email="erika@example.de", telegram=CHAT,
                       prefs={"channels": ["telegram", "email"]})
    e = await note(tghub, c["id"], "Ihr Termin ist bestätigt.")
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "unknown"
    assert "may have arrived" in done["meta"]["notification"]["reason"]
    assert len(texts_to(tg)) == 1
    assert await history(tghub, c["id"]) == [("telegram", "unknown")]
    # nothing more happens by itself: no second Telegram message, no e-mail
    job = await job_of(tghub, c["id"])
    assert job["status"] == "unknown"
    await (await worker_of(tghub)).drain()
    assert len(texts_to(tg)) == 1 and smtp_sink.received == []
    # an admin who checked with the customer sends it again
    status, _ = await tghub.admin.post(f"/notifications/{job['id']}/retry")
    assert status == 200

    async def resent() -> bool:
        return len(texts_to(tg)) == 2
    await eventually(resent)


def _message(text: str, address: str = str(CHAT), **kw: Any) -> OutgoingMessage:
    return OutgoingMessage(channel="telegram", address=address, recipient_name="Erika",
                           sender_name="Büro", subject="Betreff", text=text, html=None,
                           message_id="<e1.telegram@x>", office_id="o", customer_id="c",
                           entry_id="e1", entry_url="https://chronik.example/portal/entries/e1",
                           **kw)


@pytest.fixture
async def standin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotApiStandIn]:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with BotApiStandIn() as standin:
        standin.add_chat(CHAT)
        yield standin


def transport(tg: BotApiStandIn, **kw: Any) -> TelegramTransport:
    return TelegramTransport(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url,
                             limiter=RateLimiter(per_second=1000, per_key_interval=0.0), **kw)


async def test_a_timed_out_send_is_an_unknown_outcome(standin: BotApiStandIn) -> None:
    sender = transport(standin, timeout=0.3)
    try:
        standin.stall_next(1, 1.5)
        with pytest.raises(OutcomeUnknown, match="may have arrived"):
            await sender.send(_message("Hallo"))
        assert [s["text"] for s in standin.sent] == ["Hallo"]  # it did arrive
        receipt = await sender.send(_message("Und weiter"))
        assert receipt.reference == str(standin.sent[-1]["message_id"])
    finally:
        await sender.shutdown()


async def test_a_request_that_never_left_is_transient() -> None:
    sender = TelegramTransport("123:abc", base_url=f"http://127.0.0.1:{unused_port()}/bot",
                               timeout=1.0)
    try:
        with pytest.raises(Transient):
            await sender.send(_message("Hallo"))
    finally:
        await sender.shutdown()


async def test_later_parts_of_a_long_text_are_never_sent_twice(standin: BotApiStandIn) -> None:
    sender = transport(standin)
    text = "\n\n".join(["A" * 3000, "B" * 3000, "C" * 3000])
    try:
        standin.fail_next(1, status=429, retry_after=1)  # the first part: up to the worker
        with pytest.raises(Transient):
            await sender.send(_message(text))
        assert standin.sent == []
        standin.drop_next(1, after=1)  # the second part arrives, its answer is lost
        with pytest.raises(OutcomeUnknown, match="1 of 3 parts were delivered"):
            await sender.send(_message(text))
        assert [s["text"][0] for s in standin.sent] == ["A", "B"]  # C never tried, B not again
        assert standin.calls.count("sendMessage") == 3
    finally:
        await sender.shutdown()


async def test_a_flood_wait_between_parts_is_waited_out(standin: BotApiStandIn) -> None:
    sender = transport(standin)
    text = "\n\n".join(["A" * 3000, "B" * 3000])
    try:
        standin.fail_next(1, status=429, retry_after=1, after=1)
        receipt = await sender.send(_message(text))
        assert [s["text"][0] for s in standin.sent] == ["A", "B"]  # each exactly once
        assert receipt.reference == str(standin.sent[0]["message_id"]) and receipt.note is None
    finally:
        await sender.shutdown()


# ------------------------------------------------------------------------------------------
# a revoked bot token
# ------------------------------------------------------------------------------------------

async def telegram_item(hub: Hub) -> dict[str, Any]:
    _, body = await hub.admin.get("/connectors")
    return dict(next(i for i in body["items"] if i["name"] == "telegram"))


async def test_a_revoked_token_falls_back_at_once_and_shows_on_the_connector(
        tmp_path: Path, notify_env: dict[str, str], tg: BotApiStandIn, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONIK_TELEGRAM_MODE", "webhook")  # no polling that would notice
    hub, session = await start_hub(Settings(data_dir=tmp_path / "data", http_port=free_port()))
    try:
        async def connected() -> bool:
            return bool((await telegram_item(hub))["diagnostics"]["connected"])
        await eventually(connected)
        c = await customer(hub, email="erika@example.de", telegram=CHAT,
                           prefs={"channels": ["telegram", "email"]})
        first = await note(hub, c["id"], "Erste Nachricht")
        assert (await outcome(hub, c["id"], first["id"]))["meta"]["notification"][
            "channel"] == "telegram"

        tg.revoke_token()
        second = await note(hub, c["id"], "Zweite Nachricht")
        [mail] = await smtp_sink.wait(1)
        assert "Zweite Nachricht" in mail.text()
        done = await outcome(hub, c["id"], second["id"])
        assert done["meta"]["notification"]["channel"] == "email"
        assert "rejected the bot token" in done["meta"]["notification"]["reason"]
        _, jobs = await hub.admin.get(f"/notifications?customer={c['id']}")
        [job] = [j for j in jobs["items"] if j["entry_id"] == second["id"]]
        assert [(a["channel"], a["outcome"]) for a in job["history"]] == [
            ("telegram", "permanent"), ("email", "sent")]  # no retries for hours first

        async def unhealthy() -> dict[str, Any] | None:
            item = await telegram_item(hub)
            return item if item["state"] == "backoff" else None
        item = await eventually(unhealthy)
        assert "rejected the bot token" in item["last_error"]
        assert "rejected the bot token" in item["diagnostics"]["refused"]
        _, body = await hub.admin.get("/connectors")
        [worker] = [i for i in body["items"] if i["name"] == "notify-worker"]
        assert worker["diagnostics"]["transports"]["telegram"]["refused_at"] > 0
    finally:
        await session.close()
        await hub.server.close()


async def test_a_rejected_token_is_permanent_from_the_first_call(standin: BotApiStandIn
                                                                 ) -> None:
    told: list[str] = []
    sender = TelegramTransport("123456:not-the-token", base_url=standin.base_url,
                               on_token_rejected=told.append)
    try:
        with pytest.raises(Permanent, match="rejected the bot token") as caught:
            await sender.send(_message("Hallo"))
        assert "not-the-token" not in str(caught.value)
        assert len(told) == 1 and sender.diagnostics()["refused_at"]
        assert standin.sent == []
    finally:
        await sender.shutdown()


async def test_the_admin_page_shows_a_rejected_token(
        make_console: MakeConsole, tg: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    monkeypatch.setenv("CHRONIK_TELEGRAM_BOT_TOKEN", tg.token)
    tg.revoke_token()
    site = await make_console()
    desk = await site.signed_in(ADMIN_EMAIL)

    async def shown() -> str | None:
        page = await desk.get("/admin/connectors")
        assert page.status == 200
        return page.text if "rejected the bot token" in page.text else None
    text = await eventually(shown)
    assert tg.token not in text


# ------------------------------------------------------------------------------------------
# chats Telegram refuses, identities that are no chat ids
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["@erika", "erika_m", "0", "12a", "+4711", "4711.0",
                                   "٤٧١١", "9" * 25, " "])
async def test_a_telegram_identity_must_be_a_chat_id(tghub: Hub, value: str) -> None:
    c = await customer(tghub)
    status, body = await tghub.agent.post(f"/customers/{c['id']}/identities",
                                          json={"kind": "telegram", "value": value})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input"
    assert "not a Telegram chat id" in body["error"]["message"]
    _, now = await tghub.agent.get(f"/customers/{c['id']}")
    assert [i for i in now["identities"] if i["kind"] == "telegram"] == []


@pytest.mark.parametrize("value,stored", [(" 4711 ", "4711"),
                                          ("-1001234567890", "-1001234567890")],
                         ids=["user", "group"])
async def test_chat_ids_are_taken(tghub: Hub, value: str, stored: str) -> None:
    c = await customer(tghub)
    status, body = await tghub.agent.post(f"/customers/{c['id']}/identities",
                                          json={"kind": "telegram", "value": value})
    assert status in (200, 201), body
    _, now = await tghub.agent.get(f"/customers/{c['id']}")
    assert [i["value"] for i in now["identities"] if i["kind"] == "telegram"] == [stored]


async def test_the_console_refuses_a_username_as_chat_id(
        make_console: MakeConsole) -> None:
    site = await make_console()
    desk = await site.signed_in()
    person = await site.customer("Erika Muster", emails=("erika@example.de",))
    reply = await desk.post(f"/customers/{person.id}/identities",
                            {"kind": "telegram", "value": "@erika"})
    assert reply.status == 400
    assert "keine Telegram-Chat-ID" in reply.text
    assert all(i.kind is not IdentityKind.TELEGRAM
               for i in (await site.state.timeline.customer(site.office, person.id)).identities)


@pytest.mark.parametrize("address,why", [("@erika", "not a telegram chat id"),
                                         ("4712", "chat not found")],
                         ids=["stored-before-the-check", "chat-unknown-to-telegram"])
async def test_a_chat_telegram_cannot_reach_falls_back(
        tghub: Hub, tg: BotApiStandIn, smtp_sink: SmtpSink, address: str, why: str) -> None:
    c = await customer(tghub, email="erika@example.de", prefs={"channels": ["telegram", "email"]})
    await tghub.state.store.add_identity(tghub.office.id, c["id"], Identity(
        kind=IdentityKind.TELEGRAM, value=address, raw=address))
    e = await note(tghub, c["id"], "Ihre Police liegt bereit")
    await smtp_sink.wait(1)
    done = await outcome(tghub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"
    assert done["meta"]["notification"]["channel"] == "email"
    assert why in done["meta"]["notification"]["reason"].lower()
    assert await history(tghub, c["id"]) == [("telegram", "permanent"), ("email", "sent")]
    assert tg.sent == []


# ------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------

async def post_document(hub: Hub, customer_id: str, *files: tuple[str, bytes]
                        ) -> dict[str, Any]:
    form = FormData()
    form.add_field("kind", "document")
    form.add_field("subject", "Ihre Unterlagen")
    for i, (name, data) in enumerate(files):
        form.add_field(f"file{i}", io.BytesIO(data), filename=name,
                       content_type="application/pdf")
    status, doc = await hub.agent.post(f"/customers/{customer_id}/entries", data=form)
    assert status == 201, doc
    return dict(doc)


def documents_to(tg: BotApiStandIn) -> list[str]:
    return [s["document"]["file_name"] for s in tg.sent if s["method"] == "sendDocument"]


async def test_a_refused_file_is_replaced_by_its_portal_link(tghub: Hub, tg: BotApiStandIn
                                                             ) -> None:
    tg.fail_next(1, status=400, description="Bad Request: failed to send the document",
                 method="sendDocument")
    c = await customer(tghub, telegram=CHAT, prefs={"channels": ["telegram"]})
    doc = await post_document(tghub, c["id"], ("vertrag.pdf", b"%PDF-1.4 Vertrag"))
    done = await outcome(tghub, c["id"], doc["id"])
    note_ = done["meta"]["notification"]
    assert note_["status"] == "sent"  # the text arrived; what did not is on record:
    assert "file 'vertrag.pdf' not sent via Telegram" in note_["reason"]
    assert "sent its portal link" in note_["reason"]
    text, link = texts_to(tg)
    assert "Angehängt: vertrag.pdf" in text
    assert link == (f"📎 vertrag.pdf: {tghub.state.settings.base_url}/portal/entries/"
                    f"{doc['id']}")
    assert documents_to(tg) == []


async def test_a_flood_wait_on_a_file_is_waited_out(tghub: Hub, tg: BotApiStandIn) -> None:
    tg.fail_next(1, status=429, retry_after=1, method="sendDocument")
    c = await customer(tghub, telegram=CHAT, prefs={"channels": ["telegram"]})
    doc = await post_document(tghub, c["id"], ("vertrag.pdf", b"%PDF-1.4 Vertrag"))
    done = await outcome(tghub, c["id"], doc["id"])
    assert done["meta"]["notification"]["reason"] is None
    assert documents_to(tg) == ["vertrag.pdf"] and len(texts_to(tg)) == 1


async def test_a_file_whose_answer_was_lost_is_not_sent_again(tghub: Hub, tg: BotApiStandIn
                                                              ) -> None:
    tg.drop_next(1, method="sendDocument")
    c = await customer(tghub, telegram=CHAT, prefs={"channels": ["telegram"]})
    doc = await post_document(tghub, c["id"], ("vertrag.pdf", b"%PDF-1.4 Vertrag"))
    done = await outcome(tghub, c["id"], doc["id"])
    assert "file 'vertrag.pdf': outcome unknown" in done["meta"]["notification"]["reason"]
    assert documents_to(tg) == ["vertrag.pdf"]  # it did arrive, once
    assert tg.calls.count("sendDocument") == 1 and len(texts_to(tg)) == 1


async def test_a_file_over_50_mb_goes_as_a_portal_link(tghub: Hub, tg: BotApiStandIn) -> None:
    worker = await worker_of(tghub)
    worker.config = dataclasses.replace(worker.config, max_attachment_bytes=60 * 1024 * 1024)
    c = await customer(tghub, telegram=CHAT, prefs={"channels": ["telegram"]})
    big = b"%PDF-1.4 " + b"\0" * (50 * 1024 * 1024 - 8)
    assert len(big) == 50 * 1024 * 1024 + 1
    doc = await post_document(tghub, c["id"], ("klein.pdf", b"%PDF-1.4 klein"),
                              ("gross.pdf", big))
    done = await outcome(tghub, c["id"], doc["id"], timeout=30)
    assert done["meta"]["notification"]["status"] == "sent"
    [text] = texts_to(tg)
    assert "Angehängt: klein.pdf" in text
    assert (f"Im Kundenportal abrufbar: gross.pdf – {tghub.state.settings.base_url}/portal/"
            f"entries/{doc['id']}") in text
    assert documents_to(tg) == ["klein.pdf"]
    assert tg.calls.count("sendDocument") == 1  # never tried: Telegram would refuse it
