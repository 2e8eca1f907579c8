"""Which quarantined messages are a person's (review, GDPR Art. 15 and 17): the export
holds, and the erasure removes, every quarantined message that names the person by one of
their identities — their e-mail address in either spelling of its domain, their phone number
as written, their Telegram chat (a raw update the Telegram connector gave up on) — and none
that only looks alike: another person's message is neither handed out in this export nor
erased with them."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from tests.conftest import Hub
from tests.privacy.conftest import mail, quarantine_mail


def _update(update_id: int, chat: int, text: str) -> bytes:
    """A raw Telegram update as the connector quarantines it (``telegram-update``)."""
    return json.dumps({"update_id": update_id, "message": {
        "message_id": 7, "date": 1780000000, "text": text,
        "chat": {"id": chat, "type": "private", "first_name": "Tara"},
        "from": {"id": chat, "is_bot": False, "first_name": "Tara"}}}).encode()


async def _quarantine(hub: Hub, channel: str, raw: bytes) -> str:
    item = await hub.state.ingest.quarantine(hub.office.id, channel, raw,
                                             "gave up after 12 attempts: timed out",
                                             "telegram:update:1")
    return item.id


async def _exported(hub: Hub, cid: str) -> dict[str, Any]:
    status, started = await hub.admin.post(f"/customers/{cid}/export")
    assert status == 202, started
    assert hub.state.privacy is not None
    await hub.state.privacy.wait_exports()
    status, raw = await hub.admin.get(f"/exports/{started['id']}/download")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return dict(json.loads(zf.read("data.json")))


async def _erase(hub: Hub, cid: str) -> dict[str, Any]:
    status, preview = await hub.admin.get(f"/customers/{cid}/erasure")
    assert status == 200, preview
    status, receipt = await hub.admin.call("DELETE", f"/customers/{cid}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200, receipt
    return dict(receipt)


async def _open_ids(hub: Hub) -> set[str]:
    return {q.id for q in await hub.state.store.list_quarantine(hub.office.id, status=None)}


async def test_the_persons_quarantined_telegram_updates_go_with_them(hub: Hub) -> None:
    status, c = await hub.admin.post("/customers", json={"name": "Tara Telegram"})
    status, c = await hub.admin.post(f"/customers/{c['id']}/identities",
                                     json={"kind": "telegram", "value": "987654321"})
    assert status == 201, c
    theirs = await _quarantine(hub, "telegram-update", _update(5, 987654321, "Foto anbei"))
    others = await _quarantine(hub, "telegram-update", _update(6, 9876543210, "Andere"))

    data = await _exported(hub, c["id"])
    assert [q["id"] for q in data["quarantine"]] == [theirs]
    receipt = await _erase(hub, c["id"])
    assert receipt["counts"]["quarantine"] == 1
    assert await _open_ids(hub) == {others}


async def test_only_messages_that_name_the_person_are_theirs(hub: Hub) -> None:
    status, c = await hub.admin.post("/customers", json={
        "name": "Anna Zahl", "emails": ["anna@kunde.test", "erika@müller.test"],
        "phones": ["0171 9876543"]})
    assert status == 201, c
    about = [
        await quarantine_mail(hub, mail("Fremd <fremd@anders.test>", "Rückruf",
                                        "Bitte rufen Sie +49 (0)171 987 65 43 an.",
                                        message_id="<a1@anders.test>")),
        await quarantine_mail(hub, mail("Fremd <fremd@anders.test>", "Weiter",
                                        "Bitte an erika@xn--mller-kva.test senden.",
                                        message_id="<a2@anders.test>")),
        await quarantine_mail(hub, mail("Anna <ANNA@kunde.test>", "Hallo", "Hallo.",
                                        message_id="<a3@kunde.test>")),
        await quarantine_mail(hub, mail("Fremd <fremd@anders.test>", "Nummer",
                                        "Tel.: 0049-171-9876543, Fax 089 1234",
                                        message_id="<a4@anders.test>")),
    ]
    others = {
        # another person's address that merely ends in hers
        await quarantine_mail(hub, mail("Hanna <hanna@kunde.test>", "Frage", "Wann?",
                                        message_id="<o1@kunde.test>")),
        # digits from all over a message are not her phone number
        await quarantine_mail(hub, mail("Fremd <fremd@anders.test>", "Vertrag",
                                        "Vertrag 0171, Rate 98, Summe 76543 EUR",
                                        message_id="<o2@anders.test>")),
        # nor are they inside a longer number or an encoded attachment
        await quarantine_mail(hub, mail("Fremd <fremd@anders.test>", "Konto",
                                        "IBAN DE12 5001 0517 1987 6543 00, Ref X01719876543Y",
                                        message_id="<o3@anders.test>")),
    }

    status, preview = await hub.admin.get(f"/customers/{c['id']}/erasure")
    assert preview["counts"]["quarantine"] == len(about)
    data = await _exported(hub, c["id"])
    assert sorted(q["id"] for q in data["quarantine"]) == sorted(about)
    receipt = await _erase(hub, c["id"])
    assert receipt["counts"]["quarantine"] == len(about)
    assert await _open_ids(hub) == others


async def test_a_number_two_customers_share_does_not_make_a_message_theirs(hub: Hub) -> None:
    """Hans and Greta Becker share one landline: a quarantined call event from that number
    may be Greta's, so it is neither in Hans's export nor erased with him; what names Hans
    alone (his own address) is."""
    status, hans = await hub.admin.post("/customers", json={
        "name": "Hans Becker", "emails": ["hans@becker.test"], "phones": ["089 123456"]})
    status, greta = await hub.admin.post("/customers", json={
        "name": "Greta Becker", "phones": ["089 123456"]})
    assert status == 201, greta
    landline = await _quarantine(hub, "cti", json.dumps({
        "event": "newCall", "callId": "c-1", "from": "089 123456", "to": "+49 30 5555",
        "direction": "in"}).encode())
    his = await quarantine_mail(hub, mail("Hans <hans@becker.test>", "Frage", "Hallo.",
                                          message_id="<h1@becker.test>"))

    data = await _exported(hub, hans["id"])
    assert [q["id"] for q in data["quarantine"]] == [his]
    receipt = await _erase(hub, hans["id"])
    assert receipt["counts"]["quarantine"] == 1
    assert await _open_ids(hub) == {landline}
    status, found = await hub.admin.get("/lookup?phone=089%20123456")
    assert [m["customer"]["name"] for m in found["matches"]] == ["Greta Becker"]
    # once nobody else has the number, it names the person
    status, preview = await hub.admin.get(f"/customers/{greta['id']}/erasure")
    assert preview["counts"]["quarantine"] == 1
