"""Review of bounce and auto-reply intake against report formats nobody here wrote.

The ideas come from Sisimai's set of real bounce mails (BSD-2; ``bench/bounce_rates.py
--sisimai`` measures a sample of it kept under ``bench/data/``, not in the repository). The
fixtures are hand-made and reproduce the construction, not the text:

- Exchange 5.5 / 2000 / 2003 sends "Your message … did not reach the following
  recipient(s):" from a postmaster, often under the original subject: it was not taken for a
  report at all (a customer's bounce stayed "person mail" from the postmaster).
- Lotus Notes' SMTP MTA lists the address under "------- Failure Reasons --------" and pastes
  the returned message below "------- Returned Message --------": recognised, but the
  address was lost among the returned message's addresses.
- An out-of-office reply is sent with a null envelope sender, like a report; one that says
  "your message could not be delivered to …" and names a colleague was taken for a bounce
  and marked the *colleague's* address undeliverable.
- Out-of-office subjects that people set by hand ("Afwezig:", "Fuera de la oficina", …)
  were person mail.
- Zoho pastes the returned headers into its text: ``Message-ID:<…@host>`` was taken for a
  second failed address; HP OpenMail folds ``Content-Type: text/plain`` without the ``;``
  before ``charset`` and its text (with the address) was not read; OpenSMTPD's plain-text
  delay warning ("DO NOT NEED to re-send") was taken for a bounce and its failure report
  was not attributed. These fixtures (``zoho-pasted-message-id``,
  ``openmail-content-type-no-semicolon``, ``opensmtpd-*-plain``) run through the ingest
  path in ``test_email_bounces.py`` with the others listed in ``expected.json``.
- A larger sample of the same set (332 reports) showed more: Trend Micro InterScan writes
  its SMTP transcript as "Sent <<< RCPT TO:" / "Received >>> 550" from a postmaster that is
  not null, under a subject in the office's language -- it was taken for a person's mail and
  made a customer "InterScan MSS"; Japanese gateways' subjects ("メッセージを配信できません")
  were no bounce subjects; old sendmail lists every refused recipient as "554 <a@b>...
  reason", but only the one of its "RCPT To:" line was marked; and an address that
  ``X-Failed-Recipients`` or a ``Final-Recipient`` field names was dropped when the report's
  ``Reply-To`` or the returned message's sender named it too (a mail to oneself).
"""

from __future__ import annotations

import pytest

from connectors.email.bounce import read_report
from connectors.email.classify import classify
from connectors.email.parse import parse_message
from tests.connectors.test_email_bounces import EXPECTED, World, raw_of, stdlib, world
from timeline.models import Visibility

__all__ = ["world"]  # the fixture, shared with test_email_bounces


@pytest.mark.parametrize("name, address", [
    ("exchange2003-did-not-reach.eml", "ingrid.imhof@kanzlei-beispiel.example"),
    ("notes-failure-reasons.eml", "jonas.jung@stahlbau-beispiel.example"),
])
def test_old_exchange_and_notes_reports_name_only_the_failed_address(
        name: str, address: str) -> None:
    assert EXPECTED[name]["addresses"] == [address]
    report = read_report(stdlib(raw_of(name)))
    assert report is not None and report.action == "failed"
    assert [a.lower() for a in report.recipients] == [address]


async def test_an_out_of_office_naming_a_colleague_marks_no_address_undeliverable(
        world: World) -> None:
    """The reply comes with ``Return-Path: <>`` and says "could not be delivered to";
    the colleague it names is a customer too and must keep a working address."""
    lena = await world.customer("Lena Lorenz", "lena.lorenz@kunde-beispiel.example")
    colleague = await world.customer("Buchhaltung", "buchhaltung@kunde-beispiel.example")
    done = await world.mail.deliver(world.office.id, raw_of("controls/ooo-names-colleague.eml"),
                                    "test:ooo")
    entry = done.result.entry
    assert entry is not None and entry.kind == "auto_reply"
    assert entry.customer_id == lena.id
    customers = {c.id: c for c in await world.customers()}
    assert set(customers) == {lena.id, colleague.id}
    assert [i.undeliverable for c in customers.values() for i in c.identities] == [False, False]
    assert await world.entries(colleague.id) == []
    assert all(e.visibility is not Visibility.PUBLISHED or e.kind != "bounce"
               for e in await world.entries(lena.id))


def _mail(subject: str, extra: str = "", body: str = "Danke für Ihre Nachricht.") -> bytes:
    return (f"From: Anna Kunde <anna@kunde.example>\nTo: service@buero-muster.de\n"
            f"Subject: {subject}\n{extra}Message-ID: <x1@kunde.example>\n"
            "Date: Mon, 1 Jun 2026 10:00:00 +0200\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            f"{body}\n").encode()


@pytest.mark.parametrize("subject", [
    "Afwezig: offerte 12", "Niet op kantoor: offerte", "Fuera de la oficina: factura",
    "Fuori sede: fattura 7", "Fuori ufficio: fattura", "Nieobecność: faktura",
    "Frånvarande: faktura", "Fraværende: faktura", "Fravær: faktura", "Poissa: lasku",
    "Absent du bureau : facture", "Abwesend: Rechnung 2026-0412", "Ausente: fatura",
    "Fora do escritório: fatura", "Außer Haus bis 12.6.", "Nicht im Büro: Rechnung",
])
def test_out_of_office_subjects_people_set_by_hand_are_auto_replies(subject: str) -> None:
    parsed = parse_message(_mail(subject))
    assert (parsed.auto, parsed.bounced_recipients) == ("auto_reply", ())


@pytest.mark.parametrize("subject", [
    "Urlaub: Anfrage Ferienwohnung August", "Abwesenheitsantrag für Juni",
    "Absentee ballot question", "Frage zur Abwesenheit meines Sohnes",
    "Fuera de plazo: reclamación", "Automatische Antwortfunktion defekt",
])
def test_a_persons_subject_with_such_words_stays_person_mail(subject: str) -> None:
    assert classify(stdlib(_mail(subject)))[0] is None


@pytest.mark.parametrize("subject", [
    "Automatic reply: Ihre Rechnung", "Automatische Antwort: Rechnung",
    "Réponse automatique : facture", "Abwesend: Rechnung",
    "Rechnung 2026-0412", "Ihre Anfrage vom 3. Mai",
])
def test_an_out_of_office_that_says_not_delivered_is_no_report(subject: str) -> None:
    """Null envelope sender, ``Auto-Submitted: auto-replied`` and report wording: still an
    auto-reply, and no address in it is taken for a failed one -- also when the responder
    keeps the original subject (Sieve vacation, Zimbra)."""
    raw = _mail(subject, "Return-Path: <>\nAuto-Submitted: auto-replied\n",
                "Ihre Nachricht konnte nicht zugestellt werden an die Person, der Sie "
                "geschrieben haben. Your message could not be delivered to her.\n"
                "Bitte schreiben Sie an vertretung@kunde.example.")
    assert read_report(stdlib(raw)) is None
    parsed = parse_message(raw)
    assert (parsed.auto, parsed.bounced_recipients) == ("auto_reply", ())


def test_a_mail_systems_report_about_an_auto_reply_is_still_a_report() -> None:
    """The rule above is for replies from a person's address: a mail server's report whose
    subject quotes an auto-reply's stays a report."""
    raw = (b"From: Mail Delivery System <MAILER-DAEMON@mx.kunde.example>\n"
           b"To: service@buero-muster.de\nReturn-Path: <>\n"
           b"Subject: Automatic reply: Undelivered Mail Returned to Sender\n"
           b"Message-ID: <r1@mx.kunde.example>\nDate: Mon, 1 Jun 2026 10:00:00 +0200\n"
           b"Content-Type: text/plain\n\nThis is the mail system at host mx.kunde.example.\n\n"
           b"<paula.post@kunde.example>: host mx said: 550 5.1.1 User unknown\n")
    report = read_report(stdlib(raw))
    assert report is not None and report.action == "failed"
    assert report.recipients == ("paula.post@kunde.example",)



async def test_a_post_master_answer_about_a_refused_recipient_creates_no_customer(
        world: World) -> None:
    """Verizon's SMS gateway answers from ``post_master@`` under "Re:<subject>" with
    "Error: Invalid user address", a 5xx line and the refused ``RCPT TO`` (Sisimai's
    Verizon samples): even under the permissive policy it created a customer named after
    the gateway's postmaster. It is a bounce for the refused recipient."""
    raw = (b"From: post_master@sms-gateway.example\nTo: service@buero-muster.de\n"
           b"Message-ID: <1.2.JavaMail.c@sms-gateway.example>\n"
           b"In-Reply-To: <20260515.4711@buero-muster.de>\nSubject: Re:Ihr Termin\n"
           b"Date: 15 May 2026 02:21:53 -0000\nMIME-Version: 1.0\n"
           b"Content-Type: text/plain; charset=us-ascii\n\n"
           b"Error: Invalid user address\n\nError message below:\n"
           b"550 - Requested action not taken: no such user here\n\nMessage details:\n"
           b"  Subject: Ihr Termin\n  MAIL FROM: service@buero-muster.de\n"
           b"  RCPT TO: 4915112345678@sms-gateway.example\n"
           b"  From: Buero Muster <service@buero-muster.de>\n")
    done = await world.mail.deliver(world.office.id, raw, "test:verizon")
    assert done.outcome == "quarantined" and done.result.quarantined is not None
    assert done.result.quarantined.reason == (
        "unattributed_bounce: 4915112345678@sms-gateway.example")
    assert await world.customers() == []
    owner = await world.customer("Kunde", "4915112345678@sms-gateway.example")
    item = await world.ingest.reprocess(world.office, done.result.quarantined.id)
    (entry,) = [e for e in await world.entries(owner.id) if e.id == item.entry_id]
    assert entry.kind == "bounce" and entry.visibility is Visibility.INTERNAL


def test_a_postmaster_answering_a_person_stays_person_mail() -> None:
    raw = (b"From: postmaster@kunde.example\nTo: service@buero-muster.de\n"
           b"Subject: Re: Ihr Konto\nMessage-ID: <p1@kunde.example>\n\n"
           b"Hallo, das Postfach ist wieder frei. Bitte senden Sie noch einmal.\n")
    assert parse_message(raw).auto is None


_NDR_LANGUAGES = {
    "es": ("No se puede entregar: Factura 12",
           "No se pudo entregar su mensaje a <a href=\"mailto:{a}\">{a}</a>."),
    "pt": ("Não é possível entregar: Fatura 12",
           "Sua mensagem para <a href=\"mailto:{a}\">{a}</a> não pôde ser entregue."),
    "pl": ("Niedostarczalne: Faktura 12",
           "Nie można dostarczyć wiadomości do <a href=\"mailto:{a}\">{a}</a>."),
    "sv": ("Ej levererbart: Faktura 12",
           "Ditt meddelande till <a href=\"mailto:{a}\">{a}</a> kunde inte levereras."),
    "da": ("Kan ikke leveres: Faktura 12",
           "Din meddelelse til <a href=\"mailto:{a}\">{a}</a> kunne ikke leveres."),
    "fi": ("Ei voitu toimittaa: Lasku 12",
           "Viestiäsi vastaanottajalle <a href=\"mailto:{a}\">{a}</a> ei voitu toimittaa."),
    "cs": ("Nedoručitelné: Faktura 12",
           "Zprávu pro <a href=\"mailto:{a}\">{a}</a> nelze doručit."),
    "tr": ("Teslim edilemedi: Fatura 12",
           "<a href=\"mailto:{a}\">{a}</a> adresine iletiniz teslim edilemedi."),
    "fr": ("Non remis : Facture 12",
           "Votre message à <a href=\"mailto:{a}\">{a}</a> n'a pas pu être remis."),
    "it": ("Non recapitabile: Fattura 12",
           "Impossibile recapitare il messaggio a <a href=\"mailto:{a}\">{a}</a>."),
}


@pytest.mark.parametrize("lang", sorted(_NDR_LANGUAGES))
def test_a_microsoft_365_report_in_the_senders_language_names_its_recipient(lang: str) -> None:
    """The HTML-only report (no status part) from ``postmaster@`` in the language of the
    mailbox that sent it, with the original headers -- and their ``CC:`` -- pasted below:
    in Spanish, Polish, Portuguese, Swedish … it was person mail from "Microsoft Outlook"
    (a new customer), in French or Italian a report without an address."""
    subject, line = _NDR_LANGUAGES[lang]
    a = "nina.nagel@kunde.example"
    raw = (f"From: Microsoft Outlook <postmaster@kunde.onmicrosoft.example>\n"
           f"To: <service@buero-muster.de>\nSubject: {subject}\n"
           f"Message-ID: <ndr-{lang}@AM0PR01MB1234.example>\n"
           "Date: Mon, 18 May 2026 10:01:12 +0000\nMIME-Version: 1.0\n"
           "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
           "Content-Type: text/html; charset=\"utf-8\"\nContent-Transfer-Encoding: 8bit\n\n"
           f"<html><body><div>{line.format(a=a)}</div>"
           "<p>AM0PR01MB1234.eurprd01.prod.exchangelabs.example</p>"
           f"<pre>From: Buero Muster &lt;service@buero-muster.de&gt;\nTo: {a}\n"
           "CC: einkauf@kunde.example\nSubject: Rechnung 12</pre></body></html>\n\n--b\n"
           "Content-Type: message/rfc822\n\nFrom: Buero Muster <service@buero-muster.de>\n"
           f"To: {a}\nCc: einkauf@kunde.example\nSubject: Rechnung 12\n"
           "Message-ID: <r12@buero-muster.de>\n\nHallo\n--b--\n").encode()
    parsed = parse_message(raw)
    assert (parsed.auto, parsed.bounced_recipients) == ("bounce", (a,))


async def test_a_sendmail_transcript_marks_every_refused_recipient_not_the_deferred_one(
        world: World) -> None:
    rita = await world.customer("Rita Roth", "rita.roth@alt-one.example")
    sven = await world.customer("Sven Schulz", "sven.schulz@alt-three.example")
    tom = await world.customer("Tom Thal", "tom.thal@alt-two.example")
    done = await world.mail.deliver(world.office.id, raw_of("sendmail-v5-several.eml"),
                                    "test:sendmail")
    assert done.outcome == "created" and done.result.entry is not None
    assert done.result.entry.kind == "bounce"
    marked = {c.id for c in await world.customers() for i in c.identities if i.undeliverable}
    assert marked == {rita.id, sven.id}, "the deferred recipient's address still works"
    assert tom.id not in marked


async def test_an_interscan_transcript_from_a_postmaster_is_a_bounce_not_a_customer(
        world: World) -> None:
    paul = await world.customer("Paul Petersen", "paul.petersen@versicherer-beispiel.example")
    done = await world.mail.deliver(world.office.id, raw_of("interscan-smtp-transcript.eml"),
                                    "test:interscan")
    entry = done.result.entry
    assert entry is not None and entry.kind == "bounce" and entry.customer_id == paul.id
    assert entry.visibility is Visibility.INTERNAL
    assert [c.id for c in await world.customers()] == [paul.id]


async def test_a_mailing_list_robots_notice_makes_no_customer_of_the_list_admin(
        world: World) -> None:
    """fml answers a post from a non-member with "You … are not member (… ML)" from the
    list's admin address, with only its own list headers (``X-ML-Name``, ``Mailing-List``):
    it made a customer of ``forum-admin@``."""
    raw = (b"Return-Path: <forum-admin@lists.example.org>\n"
           b"Date: Tue, 10 Mar 2026 12:00:00 +0100\n"
           b"From: forum-admin@lists.example.org\n"
           b"To: service@buero-muster.de\n"
           b"Subject: You service@buero-muster.de are not member (forum ML)\n"
           b"Message-ID: <202603101200.FML00001.forum@lists.example.org>\n"
           b"Mailing-List: contact forum-help@lists.example.org; run by ezmlm\n"
           b"X-ML-Name: forum\n"
           b"\nYou are not a member of this mailing list <forum@lists.example.org>.\n")
    done = await world.mail.deliver(world.office.id, raw, "test:fml")
    assert done.result.entry is None
    assert await world.customers() == []
