"""End to end through Debian's exim4 (deploy/ci/mailservers.sh): a published note leaves
Chronik over SMTP and lands in the recipient's Maildir, MIME intact."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from chronik.settings import Settings
from tests.conftest import Hub
from tests.notify.conftest import NOTIFY_ENV, customer, free_port, note, outcome, start_hub
from tests.support import mailservers as ms

pytestmark = pytest.mark.mailservers


@pytest.fixture
async def exim_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    ms.require_mailservers()  # fails (not skips) when the servers are missing
    for key, value in {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": ms.SMTP_HOST,
                       "CHRONIK_SMTP_PORT": str(ms.SMTP_PORT)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CHRONIK_TELEGRAM_BOT_TOKEN", raising=False)
    hub, session = await start_hub(Settings(data_dir=tmp_path / "data", http_port=free_port()))
    yield hub
    await session.close()
    await hub.server.close()


async def test_note_reaches_the_maildir_through_exim(exim_hub: Hub) -> None:
    address = ms.smtp_address("notify")
    c = await customer(exim_hub, "Grüße Göttsche", email=address)
    e = await note(exim_hub, c["id"], "Ihre Schadenmeldung ist eingegangen – wir melden uns.",
                   subject="Schaden 4711")
    raw = await ms.wait_for_delivery(address, f"<{e['id']}.email@".encode(), seconds=20)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == "Büro Müller & Partner: Schaden 4711"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(("plain",))
    assert text is not None
    assert "Ihre Schadenmeldung ist eingegangen – wir melden uns." in text.get_content()
    done = await outcome(exim_hub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent"


async def test_exim_refuses_a_foreign_domain_so_it_falls_back(exim_hub: Hub) -> None:
    c = await customer(exim_hub, email="someone@not-chronik.example")
    e = await note(exim_hub, c["id"], "Hallo")
    done = await outcome(exim_hub, c["id"], e["id"], timeout=20)
    assert done["meta"]["notification"]["channel"] == "portal"
    assert "refused" in done["meta"]["notification"]["reason"]
