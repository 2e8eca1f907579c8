"""Dead letters as an office admin handles them: what each notification was about, said in
the admin's language, and "send again" for one that may already have arrived (Telegram
took the message, its answer was lost) asks first -- the customer could get it twice."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.notify.conftest import CHAT, NOTIFY_ENV, eventually, texts_to, tg  # noqa: F401
from tests.support.telegram_standin import BotApiStandIn
from tests.web.conftest import ADMIN_EMAIL, MakeConsole, browser_form
from timeline.models import IdentityKind, Visibility
from timeline.notifications import JobStatus


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def test_sending_again_what_may_have_arrived_asks_first(
        make_console: MakeConsole, tg: BotApiStandIn,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**NOTIFY_ENV, "CHRONIK_NOTIFY_WORKER": "true",
                        "CHRONIK_TELEGRAM_BOT_TOKEN": tg.token,
                        "CHRONIK_TELEGRAM_API_BASE_URL": tg.base_url,
                        "CHRONIK_TELEGRAM_API_FILE_URL": tg.base_file_url,
                        "CHRONIK_TELEGRAM_POLL_TIMEOUT": "0"}.items():
        monkeypatch.setenv(name, value)
    console = await make_console()
    erika = await console.state.timeline.create_customer(
        console.office, "Erika Telegram", [(IdentityKind.TELEGRAM, str(CHAT))])
    tg.drop_next(1)  # Telegram delivers; the answer is lost on the way back
    await console.record(erika, subject="Ihr Termin am Montag", body="ist bestätigt.",
                         visibility=Visibility.PUBLISHED, notify=True)

    async def unknown() -> list[object]:
        return list(await console.state.store.list_notify_jobs(
            console.office.id, status=JobStatus.UNKNOWN.value))
    job = (await eventually(unknown))[0]
    assert len(texts_to(tg)) == 1

    desk = await console.signed_in(ADMIN_EMAIL)
    page = await desk.get("/admin/dead-letters?status=unknown")
    shown = _text(page.text)
    assert "Ihr Termin am Montag" in shown  # what it was about, not only an id
    assert "Kanal Telegram" in shown
    assert "Ausgang unbekannt" in shown and " unknown " not in shown

    asked = await desk.post(f"/admin/dead-letters/{job.id}/retry", {"status": "unknown"})
    assert asked.status == 200
    question = _text(asked.text)
    assert "womöglich hat der Kunde sie schon" in question
    assert "Erika Telegram" in question and "Ihr Termin am Montag" in question
    still = await console.state.store.get_notify_job(console.office.id, job.id)
    assert still is not None and still.status is JobStatus.UNKNOWN
    assert len(texts_to(tg)) == 1  # nothing sent by asking

    confirm = browser_form(asked.text, "confirm-form")
    done = await desk.post(confirm.action, confirm.fields)
    assert (done.status, done.location) == (303, "/admin/dead-letters?status=unknown&msg=retried")

    async def resent() -> bool:
        return len(texts_to(tg)) == 2
    await eventually(resent)
