"""Mail the office's own people wrote, arriving in the office's inbox: an agent who copies the
inbox on an answer to a customer (Cc/Bcc, as CRMs are fed), or forwards a customer's mail to
it. The agent's address made the agent an (unverified) customer, and the customer's matter
landed on the agent's "timeline". Through the app's real mail path (``chronik.glue.email``),
checked through the HTTP API."""

from __future__ import annotations

from typing import Any

from chronik.glue.email import mail_ingest
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub

AGENT = "anna.admin@buero-test.de"
ERIKA = "erika@example.de"


async def agent_with_address(hub: Hub) -> None:
    (admin, *_) = [a for a in await hub.state.store.list_agents(hub.office.id)
                   if a.agent.name == "Anna Admin"]
    await hub.state.store.set_agent_login(admin.agent.id, email=AGENT)


def raw(head: str, body: str) -> bytes:
    return (f"From: Anna Admin <{AGENT}>\n{head}Date: Fri, 06 Mar 2026 10:00:00 +0100\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body).encode()


async def names(hub: Hub) -> list[str]:
    status, page = await hub.agent.get("/customers?limit=100")
    assert status == 200
    return sorted(c["name"] for c in page["items"])


async def timeline(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    status, page = await hub.agent.get(f"/customers/{customer_id}/timeline")
    assert status == 200
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_an_agents_answer_copied_to_the_inbox_is_filed_on_the_customer(hub: Hub) -> None:
    await agent_with_address(hub)
    erika = await make_customer(hub, "Erika Mustermann", emails=[ERIKA])
    mail = mail_ingest(hub.state)
    done = await mail.deliver(hub.office.id, raw(
        f"To: Erika Mustermann <{ERIKA}>\nCc: service@buero-test.de\nSubject: Ihr Termin\n"
        "Message-ID: <a-1@buero-test.de>\n", "Bis Montag um 10 Uhr.\n"), "imap:INBOX/1")
    assert done.outcome == "created"
    (entry,) = await timeline(hub, erika["id"])
    assert (entry["kind"], entry["visibility"], entry["subject"]) == (
        "own_mail", "internal", "Ihr Termin")
    assert await names(hub) == ["Erika Mustermann"]  # no customer "Anna Admin"


async def test_a_customers_mail_forwarded_by_an_agent_is_filed_on_the_customer(
        hub: Hub) -> None:
    await agent_with_address(hub)
    erika = await make_customer(hub, "Erika Mustermann", emails=[ERIKA])
    done = await mail_ingest(hub.state).deliver(hub.office.id, raw(
        "To: service@buero-test.de\nSubject: WG: Schaden\nMessage-ID: <a-2@buero-test.de>\n",
        "Bitte ablegen.\n\nVon: Erika Mustermann <erika@example.de>\nGesendet: Donnerstag, "
        "5. März 2026 09:00\nAn: Anna Admin <anna.admin@buero-test.de>\nBetreff: Schaden\n\n"
        "Das Dach ist undicht.\n"), "imap:INBOX/2")
    assert done.outcome == "created"
    (entry,) = await timeline(hub, erika["id"])
    assert entry["kind"] == "own_mail" and "Das Dach ist undicht." in entry["body"]
    assert await names(hub) == ["Erika Mustermann"]


async def test_an_agents_mail_about_nobody_known_waits_in_the_quarantine(hub: Hub) -> None:
    await agent_with_address(hub)
    done = await mail_ingest(hub.state).deliver(hub.office.id, raw(
        "To: fremd@example.net\nSubject: Angebot\nMessage-ID: <a-3@buero-test.de>\n",
        "Anbei das Angebot.\n"), "imap:INBOX/3")
    assert done.outcome == "quarantined"
    status, page = await hub.admin.get("/quarantine")
    assert status == 200
    (item,) = page["items"]
    assert item["reason"].startswith(f"own_mail: sent from this office's own address {AGENT}")
    assert await names(hub) == []
