"""Published note → e-mail through a real SMTP server (aiosmtpd), with a working one-click
unsubscribe; internal notes and opted-out customers get nothing."""

from __future__ import annotations

from email.utils import parseaddr

from aiohttp import ClientSession

from tests.conftest import Hub
from tests.notify.conftest import SmtpSink, customer, note, outcome


async def test_published_note_is_emailed_with_unsubscribe_headers(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, "Jörg Änderlich", email="joerg@example.de")
    e = await note(nhub, c["id"], "Ihre Police ist verlängert. Grüße <b>nicht fett</b>",
                   subject="Verlängerung Kfz-Police")
    got = (await smtp_sink.wait(1))[0]
    assert got.recipients == ["joerg@example.de"]
    msg = got.message
    assert msg["Subject"] == "Büro Müller & Partner: Verlängerung Kfz-Police"
    assert parseaddr(msg["From"]) == ("Büro Müller & Partner", "chronik@buero.test")
    assert parseaddr(msg["To"]) == ("Jörg Änderlich", "joerg@example.de")
    assert msg["Message-ID"] == f"<{e['id']}.email@buero.test>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = msg["List-Unsubscribe"].strip("<>")
    assert link.startswith(str(nhub.server.make_url("/unsubscribe/")))
    assert "Ihre Police ist verlängert" in got.text()
    assert msg["Reply-To"] is None and "Antworten Sie im Kundenportal" in got.text()
    assert link in got.text()
    html = got.html()
    assert "&lt;b&gt;nicht fett&lt;/b&gt;" in html and "<b>nicht fett</b>" not in html

    done = await outcome(nhub, c["id"], e["id"])
    assert done["visibility"] == "internal" and done["notify"] is False
    assert done["meta"]["notification"]["status"] == "sent"
    assert done["meta"]["notification"]["channel"] == "email"
    _, source = await nhub.agent.get(f"/entries/{e['id']}")
    assert source["meta"]["delivery"]["status"] == "sent"
    assert source["meta"]["delivery"]["channel"] == "email"

    # The one-click link really withdraws e-mail consent (RFC 8058 POST).
    async with ClientSession() as http:
        async with http.get(link) as page:
            assert page.status == 200 and "Abbestellen" in await page.text()
        async with http.post(link, data={"List-Unsubscribe": "One-Click"}) as done_page:
            assert done_page.status == 200 and "Abgemeldet" in await done_page.text()
    _, prefs = await nhub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["consents"]["email"] == {
        **prefs["consents"]["email"], "granted": False, "explicit": True,
        "route": "unsubscribe_link", "actor": "customer"}

    # The next note goes to the portal inbox instead, and says why.
    e2 = await note(nhub, c["id"], "Zweite Nachricht")
    second = await outcome(nhub, c["id"], e2["id"])
    assert second["meta"]["notification"]["channel"] == "portal"
    assert "no consent for email" in second["meta"]["notification"]["reason"]
    assert len(smtp_sink.received) == 1


async def test_forged_unsubscribe_token_changes_nothing(nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, email="erika@example.de")
    e = await note(nhub, c["id"], "Hallo")
    link = (await smtp_sink.wait(1))[0].message["List-Unsubscribe"].strip("<>")
    await outcome(nhub, c["id"], e["id"])
    payload, _, mac = link.rpartition("/")[2].partition(".")
    base = link.rpartition("/")[0]
    async with ClientSession() as http:
        other_end = "AA" if mac[-2:] != "AA" else "BB"  # never the real MAC's own end
        forged = [payload + "." + mac[:-2] + other_end, payload, "garbage",
                  payload[:-3] + "." + mac, "x" * 2000]
        for token in forged:
            async with http.post(f"{base}/{token}", data="List-Unsubscribe=One-Click") as r:
                assert r.status == 400, token
                assert "Es wurde nichts geändert" in await r.text()
            async with http.get(f"{base}/{token}", headers={"Accept-Language": "en"}) as r:
                page = await r.text()
                assert r.status == 400 and "Nothing was changed" in page
                assert 'href="/portal/preferences"' in page  # a way on from a dead link
    _, prefs = await nhub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["consents"]["email"]["granted"] is True
    assert prefs["consents"]["email"]["explicit"] is False


async def test_internal_note_sends_nothing(nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, email="erika@example.de")
    await note(nhub, c["id"], "Kunde ist anstrengend", visibility="internal")
    marker = await note(nhub, c["id"], "Ihr Termin ist bestätigt")
    got = await smtp_sink.wait(1)
    await outcome(nhub, c["id"], marker["id"])
    assert len(got) == 1 and "anstrengend" not in got[0].raw.decode("utf-8", "replace")
    status, jobs = await nhub.admin.get(f"/notifications?customer={c['id']}")
    assert status == 200 and [j["entry_id"] for j in jobs["items"]] == [marker["id"]]


async def test_opted_out_customer_gets_a_suppressed_entry_and_nothing_sent(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, email="erika@example.de",
                       prefs={"automatic_notifications": False})
    e = await note(nhub, c["id"], "Neuigkeiten")
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "suppressed"
    assert "opted out" in done["meta"]["notification"]["reason"]
    assert smtp_sink.received == []
    _, inbox = await nhub.agent.get(f"/customers/{c['id']}/inbox")
    assert inbox["items"] == []


async def test_replies_go_to_the_offices_inbound_address(nhub: Hub, smtp_sink: SmtpSink) -> None:
    status, _ = await nhub.admin.post("/office/inbound-addresses",
                                      json={"address": "post@buero.test"})
    assert status == 201
    c = await customer(nhub, email="erika@example.de", prefs={"language": "en"})
    await note(nhub, c["id"], "Question answered")
    got = (await smtp_sink.wait(1))[0]
    assert parseaddr(got.message["Reply-To"]) == ("Büro Müller & Partner", "post@buero.test")
    assert "Simply reply to this e-mail" in got.text()
    assert "Stop e-mail notifications:" in got.text()


async def test_an_internationalised_domain_is_one_mailbox_both_ways(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """``müller.de`` typed by the agent, ``xn--mller-kva.de`` in the customer's mail
    headers (as most mail programs write it): one customer, and mail to them goes out in
    the ASCII form every SMTP server takes."""
    c = await customer(nhub, "Erika Müller", email="erika@müller.de")
    for spelling in ("erika@xn--mller-kva.de", "ERIKA@XN--MLLER-KVA.DE", "erika@MÜLLER.de"):
        status, found = await nhub.agent.get("/lookup", params={"email": spelling})
        assert status == 200 and [m["customer"]["id"] for m in found["matches"]] == [c["id"]]
    from connectors.email.inbound import MailIngest

    raw = (b"From: Erika <erika@xn--mller-kva.de>\nTo: service@buero.test\n"
           b"Subject: Frage\nMessage-ID: <idn-1@xn--mller-kva.de>\n\nHallo\n")
    delivered = await MailIngest(nhub.state.ingest).deliver(nhub.office.id, raw, "test")
    assert delivered.result.entry is not None
    assert delivered.result.entry.customer_id == c["id"]
    await note(nhub, c["id"], "Ihre Police ist verlängert.")
    got = (await smtp_sink.wait(1))[0]
    assert got.recipients == ["erika@xn--mller-kva.de"]
    assert parseaddr(got.message["To"]) == ("Erika Müller", "erika@xn--mller-kva.de")
