"""An unknown number rings: the agent names the caller in the banner (or attaches the
number to an existing customer) and lands, as for a known caller, on the customer with the
phone note against that call ready -- before, the page opened without the call, and the
note stood on its own."""

from __future__ import annotations

from html import unescape

from tests.web.conftest import Console, Desk


async def _ring(console: Console, number: str, call_id: str) -> str:
    """A CTI ``newCall`` from ``number`` (unknown: it creates an unverified customer);
    the call entry's id."""
    status, office = await console.bearer("GET", "/office", token=console.admin_token)
    assert status == 200
    desk = await console.desk()
    reply = await desk.request("POST", office["cti_url_path"], json={
        "event": "newCall", "callId": call_id, "from": number, "to": "+49 30 5555",
        "direction": "in"})
    assert reply.status == 200, reply.text
    return str(reply.json()["entry_id"])


async def _banner(desk: Desk, number: str, call_id: str, entry_id: str) -> str:
    page = await desk.get("/calls/banner", params={"number": number, "call": call_id,
                                                   "entry": entry_id})
    assert page.status == 200
    return unescape(page.text)


async def test_naming_an_unknown_caller_opens_the_phone_note_against_the_call(
        console: Console) -> None:
    entry_id = await _ring(console, "+49 176 99887766", "unk-1")
    desk = await console.signed_in()
    banner = await _banner(desk, "+4917699887766", "unk-1", entry_id)
    assert f'name="call" value="{entry_id}"' in banner
    created = await desk.post("/customers", {"name": "Jens Neumann",
                                             "phone": "+4917699887766", "call": entry_id})
    assert created.status == 303
    customer_id = created.location.split("/customers/")[1].split("?")[0]
    assert created.location == f"/customers/{customer_id}?call={entry_id}#compose"
    page = await desk.get(created.location.split("#")[0])
    assert "Telefonnotiz zum Anruf vom" in unescape(page.text)
    assert f'name="call_entry_id" value="{entry_id}"' in page.text


async def test_attaching_an_unknown_number_opens_the_phone_note_against_the_call(
        console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    entry_id = await _ring(console, "+49 176 11122233", "unk-2")
    desk = await console.signed_in()
    banner = await _banner(desk, "+4917611122233", "unk-2", entry_id)
    assert banner.count(f'name="call" value="{entry_id}"') == 2  # both forms carry it
    found = await desk.get("/find", params={"attach_kind": "phone", "attach": "+4917611122233",
                                            "list": "1", "call": entry_id, "q": "Erika"})
    assert f'name="call" value="{entry_id}"' in found.text
    attached = await desk.post("/identities/attach", {
        "customer_id": erika.id, "phone": "+4917611122233", "call": entry_id})
    assert (attached.status, attached.location) == (
        303, f"/customers/{erika.id}?call={entry_id}#compose")


async def test_a_call_of_someone_else_is_not_carried(console: Console) -> None:
    other = await console.customer("Otto Anders", phones=("0171 5550000",))
    call = await console.record(other, subject="irgendwas", body="x")
    desk = await console.signed_in()
    created = await desk.post("/customers", {"name": "Jens Neumann",
                                             "phone": "+4917655566677", "call": call.id})
    assert created.status == 303 and "?call=" not in created.location


async def test_a_telegram_link_without_telegram_says_so_in_the_agents_language(
        console: Console) -> None:
    """Without a Telegram bot, "Telegram-Link erzeugen" answered "Telegram is not configured
    (CHRONIK_TELEGRAM_BOT_TOKEN)" -- a setting's name, in English, to an agent."""
    erika = await console.customer("Erika Ohne", emails=("erika@example.de",))
    desk = await console.signed_in()
    reply = await desk.post(f"/customers/{erika.id}/telegram-link", {})
    assert reply.status == 409
    text = unescape(reply.text)
    assert "Telegram ist für dieses Büro nicht eingerichtet" in text
    assert "CHRONIK_TELEGRAM_BOT_TOKEN" not in text
