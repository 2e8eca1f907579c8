"""Per-office erased-sender policy: an office may drop or quarantine messages from erased
persons, overriding the server's ``CHRONIK_ERASED_SENDER`` (``null`` goes back to it). The
ingest suppression check reads the policy of the message's office; the decision is logged
without the address."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from tests.conftest import Api, Hub
from tests.web.test_admin_pages import Site, site
from timeline.ingest import InboundMessage
from timeline.models import Channel, CustomerStatus, Identity, IdentityKind, utcnow
from timeline.privacy_models import ErasedSenderPolicy

__all__ = ["site"]

ADDRESS = "geloescht@kunde.test"


async def _erase_person(hub: Hub, api: Api) -> None:
    status, c = await api.post("/customers", json={"name": "Gelöschte Person",
                                                   "emails": [ADDRESS]})
    assert status == 201, c
    status, preview = await api.get(f"/customers/{c['id']}/erasure")
    status, _ = await api.call("DELETE", f"/customers/{c['id']}?confirm={preview['confirm']}")
    assert status == 200


def _mail(office_id: str, source: str) -> InboundMessage:
    return InboundMessage(office_id=office_id, channel=Channel.EMAIL, source_id=source,
                          sender_kind=IdentityKind.EMAIL, sender=ADDRESS,
                          sender_name="Gelöschte Person", occurred_at=utcnow(),
                          subject="Wieder da", body="Hallo")


async def test_office_a_drops_office_b_quarantines(hub: Hub,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    office_b, admin_b = await hub.new_office("Büro B")
    assert hub.state.settings.erased_sender is ErasedSenderPolicy.QUARANTINE
    for api in (hub.admin, admin_b):
        await _erase_person(hub, api)

    status, a = await hub.admin.put("/office/privacy", json={"erased_sender": "drop"})
    assert status == 200 and a == {"erased_sender": "drop", "server_default": "quarantine",
                                   "effective": "drop"}
    status, b = await admin_b.put("/office/privacy", json={"erased_sender": "quarantine"})
    assert status == 200 and b["effective"] == "quarantine"
    assert (await hub.admin.get("/office/privacy"))[1]["erased_sender"] == "drop"
    assert (await admin_b.get("/office/privacy"))[1]["erased_sender"] == "quarantine"

    caplog.clear()
    got_a = await hub.state.ingest.ingest(_mail(hub.office.id, "<a1@kunde.test>"))
    got_b = await hub.state.ingest.ingest(_mail(office_b.id, "<b1@kunde.test>"))
    assert got_a.dropped and got_a.entry is None and got_a.quarantined is None
    assert not got_b.dropped and got_b.quarantined is not None
    assert got_b.quarantined.reason == "erased_sender"
    assert await hub.state.store.list_quarantine(hub.office.id, status=None) == []
    assert [q.id for q in await hub.state.store.list_quarantine(office_b.id, status=None)] == [
        got_b.quarantined.id]
    for office_id in (hub.office.id, office_b.id):  # nobody re-created
        assert await hub.state.store.find_customers(office_id, IdentityKind.EMAIL,
                                                    ADDRESS) == []
    # the decision is logged, per office, without the address
    decisions = [r.getMessage() for r in caplog.records if "erased sender" in r.getMessage()]
    assert len(decisions) == 2
    assert any(hub.office.id in m and "drop (office policy)" in m for m in decisions)
    assert any(office_b.id in m and "quarantine (office policy)" in m for m in decisions)
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if r.name != "aiohttp.access").lower()
    assert "geloescht" not in logged and "kunde.test" not in logged

    # null: back to the server's default (quarantine) for office A
    status, a = await hub.admin.put("/office/privacy", json={"erased_sender": None})
    assert status == 200 and a["erased_sender"] is None and a["effective"] == "quarantine"
    got_a = await hub.state.ingest.ingest(_mail(hub.office.id, "<a2@kunde.test>"))
    assert got_a.quarantined is not None and not got_a.dropped
    assert any("quarantine (server default)" in r.getMessage() for r in caplog.records)


async def test_office_policy_input_and_roles(hub: Hub) -> None:
    for bad in ({"erased_sender": "keep"}, {}, {"erased_sender": "drop", "x": 1}):
        status, body = await hub.admin.put("/office/privacy", json=bad)
        assert status == 400, (bad, body)
    assert (await hub.agent.put("/office/privacy", json={"erased_sender": "drop"}))[0] == 403
    assert (await hub.admin.get("/office/privacy"))[1]["erased_sender"] is None


async def test_admin_office_page_shows_and_sets_the_policy(site: Site) -> None:
    status, html, _ = await site.admin.get("/admin/office", headers={"Accept-Language": "en"})
    assert status == 200 and 'action="/admin/office/privacy"' in html
    assert re.search(r'<option value="" selected>Server default \(quarantine for review\)',
                     html)
    status, _, location = await site.admin.post("/admin/office/privacy",
                                                {"erased_sender": "drop"})
    assert status == 303 and location == "/admin/office?msg=saved"
    assert await site.state.store.office_erased_sender(site.office.id) is \
        ErasedSenderPolicy.DROP
    assert await site.state.store.office_erased_sender(site.other_office.id) is None
    status, html, _ = await site.admin.get("/admin/office", headers={"Accept-Language": "en"})
    assert '<option value="drop" selected>' in html
    status, _, _ = await site.admin.post("/admin/office/privacy", {"erased_sender": "burn"})
    assert status == 400
    status, _, location = await site.admin.post("/admin/office/privacy", {"erased_sender": ""})
    assert status == 303
    assert await site.state.store.office_erased_sender(site.office.id) is None


@pytest.mark.parametrize("batch", [False, True], ids=["one", "batch"])
async def test_a_mail_whose_sender_is_erased_while_it_is_stored_is_an_erased_senders(
        hub: Hub, monkeypatch: pytest.MonkeyPatch, batch: bool) -> None:
    """The mail's sender is found, then erased (another process, an admin) before its entry
    is written: the store refuses the entry, and the mail is handled as one from an erased
    person (quarantined, reason ``erased_sender``), not stored under a vanished customer or
    lost."""
    status, c = await hub.admin.post("/customers", json={"name": "Gelöschte Person",
                                                         "emails": [ADDRESS]})
    assert status == 201, c
    status, preview = await hub.admin.get(f"/customers/{c['id']}/erasure")
    timeline = hub.state.ingest.timeline
    erased: list[bool] = []

    def erasing_first(original: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not erased:  # between finding the customer and writing the entry
                got, _ = await hub.admin.call(
                    "DELETE", f"/customers/{c['id']}?confirm={preview['confirm']}")
                assert got == 200
                erased.append(True)
            return await original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(timeline, "append", erasing_first(timeline.append))
    monkeypatch.setattr(timeline, "append_many", erasing_first(timeline.append_many))
    mail = _mail(hub.office.id, "<late@kunde.test>")
    got = ((await hub.state.ingest.ingest_many([(mail, b"raw", "test")]))[0] if batch
           else await hub.state.ingest.ingest(mail, raw=b"raw"))
    assert erased
    assert got.entry is None and got.quarantined is not None
    assert got.quarantined.reason == "erased_sender"
    assert await hub.state.store.find_customers(hub.office.id, IdentityKind.EMAIL,
                                                ADDRESS) == []
    assert await hub.state.store.scan_entries(0, 100) == []


async def test_a_person_erased_under_the_ascii_form_of_their_domain_stays_erased(
        hub: Hub) -> None:
    """Before domains were read as Unicode, ``erika@müller.de`` was stored (and, when erased,
    hashed onto the suppression list) as ``erika@xn--mller-kva.de``; the upgrade rewrites
    stored addresses but cannot rewrite a hash, so her next mail -- in either spelling --
    must still be an erased person's, not a new customer."""
    old_form = "erika@xn--mller-kva.de"
    customer = await hub.state.store.create_customer(
        hub.office.id, "Erika Müller",
        [Identity(kind=IdentityKind.EMAIL, value=old_form, raw=old_form)],
        CustomerStatus.ACTIVE)
    status, preview = await hub.admin.get(f"/customers/{customer.id}/erasure")
    assert status == 200, preview
    status, _ = await hub.admin.call(
        "DELETE", f"/customers/{customer.id}?confirm={preview['confirm']}")
    assert status == 200
    for n, sender in enumerate(("erika@müller.de", old_form, "Erika@XN--MLLER-KVA.DE")):
        got = await hub.state.ingest.ingest(InboundMessage(
            office_id=hub.office.id, channel=Channel.EMAIL, source_id=f"<idn{n}@kunde.test>",
            sender_kind=IdentityKind.EMAIL, sender=sender, sender_name="Erika Müller",
            occurred_at=utcnow(), subject="Wieder da", body="Hallo"))
        assert got.entry is None and got.quarantined is not None, sender
        assert got.quarantined.reason == "erased_sender"
    assert await hub.state.store.find_customers(hub.office.id, IdentityKind.EMAIL,
                                                "erika@müller.de") == []
    # someone else at the same domain is not caught by it
    other = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=Channel.EMAIL, source_id="<idn-other@kunde.test>",
        sender_kind=IdentityKind.EMAIL, sender="hans@müller.de", sender_name="Hans Müller",
        occurred_at=utcnow(), subject="Neu", body="Hallo"))
    assert other.entry is not None and other.new_customer
