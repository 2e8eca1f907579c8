"""Mail as it arrives from mailing lists, newsletters, robots and programs beyond the
usual ones, through the real intake (``MailIngest`` on a running Chronik), checked where a
user sees it: the customer list, the timeline, the quarantine (API and admin page).

- A list that rewrites ``From`` to its own address (Mailman's and Google Groups' DMARC
  mitigation: ``Erika via Forum <forum@lists…>``) made the list a "customer" that collected
  every member's posts; the author is named in ``Reply-To``, ``Cc`` or ``X-Original-From``.
- A newsletter, a notification robot or an out-of-office from an address nobody knows
  became an unverified customer ("Versicherungsmagazin Newsletter", "PayPal", the office's
  own spam gateway); it waits in the quarantine now, a known customer's is filed as before.
- Exchange's "Automatic reply" in the mailbox's language, a sender address written inside an
  encoded word, Windows characters under a Western label, PGP/MIME encrypted mail."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.email.importer import parse_batch
from connectors.email.inbound import MailIngest
from connectors.email.parse import parse_message
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from tests.web.conftest import ADMIN_EMAIL, Console, console, make_console
from tests.web.test_console_pages import text_of

__all__ = ["console", "make_console"]  # the page tests' running Chronik

ERIKA = "erika.mustermann@example.de"
DATE = "Date: Thu, 05 Mar 2026 09:00:00 +0100\n"


def raw(head: str, body: str = "Hat jemand Erfahrung mit Fahrrad in der Hausrat?\n") -> bytes:
    return (head + DATE + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            + body).encode()


MAILMAN_REPLY_TO = raw(
    "From: Erika Mustermann via Versicherungsforum <forum@lists.example.org>\n"
    f"Reply-To: Erika Mustermann <{ERIKA}>\nTo: forum@lists.example.org\n"
    "Subject: [Versicherungsforum] Hausrat\nMessage-ID: <list-1@example.de>\n"
    "List-Id: Versicherungsforum <forum.lists.example.org>\n"
    "List-Post: <mailto:forum@lists.example.org>\nPrecedence: list\n")
MAILMAN_CC = raw(  # reply_goes_to_list: the author goes to Cc; German lists say "über"
    "From: Erika Mustermann =?utf-8?q?=C3=BCber?= Forum <forum@lists.example.org>\n"
    "Reply-To: Forum <forum@lists.example.org>\n"
    f"Cc: Hans Other <hans@other.example>, Erika Mustermann <{ERIKA}>\n"
    "To: forum@lists.example.org\nSubject: [Forum] Hausrat\nMessage-ID: <list-2@example.de>\n"
    "List-Id: <forum.lists.example.org>\nList-Post: <mailto:forum@lists.example.org>\n")
GOOGLE_GROUPS = raw(
    "From: 'Erika Mustermann' via Kunden <kunden@googlegroups.com>\n"
    f"X-Original-Sender: {ERIKA}\nMailing-list: list kunden@googlegroups.com; contact "
    "kunden+owners@googlegroups.com\nList-ID: <kunden.googlegroups.com>\nPrecedence: list\n"
    "To: Kunden <kunden@googlegroups.com>\nSubject: Hausrat\nMessage-ID: <gg-1@example.de>\n")


async def customers(hub: Hub) -> list[dict[str, Any]]:
    status, page = await hub.agent.get("/customers?limit=100")
    assert status == 200
    items: list[dict[str, Any]] = page["items"]
    return items


async def timeline(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    status, page = await hub.agent.get(f"/customers/{customer_id}/timeline")
    assert status == 200
    items: list[dict[str, Any]] = page["items"]
    return items


async def quarantine(hub: Hub) -> list[dict[str, Any]]:
    status, page = await hub.admin.get("/quarantine")
    assert status == 200
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.mark.parametrize("mail", [MAILMAN_REPLY_TO, MAILMAN_CC, GOOGLE_GROUPS],
                         ids=["mailman-reply-to", "mailman-cc-german", "google-groups"])
async def test_a_post_the_list_sent_as_its_own_is_filed_on_its_author(
        hub: Hub, mail: bytes) -> None:
    erika = await make_customer(hub, "Erika Mustermann", emails=[ERIKA])
    done = await MailIngest(hub.state.ingest).deliver(hub.office.id, mail, "imap:INBOX/1")
    assert done.outcome == "created"
    (entry,) = await timeline(hub, erika["id"])
    assert entry["kind"] == "bulk" and entry["visibility"] == "internal"
    assert entry["meta"]["from"] == ERIKA and entry["meta"]["from_name"] == "Erika Mustermann"
    assert [c["name"] for c in await customers(hub)] == ["Erika Mustermann"]
    status, found = await hub.agent.get("/lookup?email=forum@lists.example.org")
    assert status == 200 and found["matches"] == []


def test_a_list_that_keeps_the_authors_from_is_left_alone() -> None:
    """A list that does not rewrite From, and a newsletter whose name says "via", keep
    their sender; a Reply-To that is not the person the list names is not taken."""
    kept = parse_message(raw(f"From: Erika Mustermann <{ERIKA}>\nReply-To: "
                             "forum@lists.example.org\nList-Id: <forum.lists.example.org>\n"
                             "Subject: x\nMessage-ID: <k1@x>\n"))
    assert kept.from_email == ERIKA and kept.parse_notes == ()
    linked = parse_message(raw("From: Max Muster via LinkedIn <messages-noreply@linkedin.com>"
                               "\nReply-To: support@linkedin.com\nList-Unsubscribe: "
                               "<https://linkedin.com/u>\nSubject: x\nMessage-ID: <k2@x>\n"))
    assert linked.from_email == "messages-noreply@linkedin.com"
    announce = parse_message(raw("From: Forum <forum@lists.example.org>\nReply-To: Hans "
                                 "<hans@other.example>\nList-Id: <forum.lists.example.org>\n"
                                 "Subject: x\nMessage-ID: <k3@x>\n"))
    assert announce.from_email == "forum@lists.example.org"


NEWSLETTER = raw(
    'From: "Versicherungsmagazin Newsletter" <newsletter@versicherungsmagazin.example>\n'
    "To: info@buero-test.de\nSubject: Branchen-News KW 10\nMessage-ID: <nl-10@vm.example>\n"
    "List-Unsubscribe: <https://versicherungsmagazin.example/u?u=1>\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\nPrecedence: bulk\n",
    "Neues aus der Branche.\n")
ROBOT = raw("From: PayPal <service@paypal.example>\nTo: info@buero-test.de\n"
            "Subject: Sie haben eine Zahlung erhalten\nMessage-ID: <pp-1@paypal.example>\n"
            "Auto-Submitted: auto-generated\nX-Auto-Response-Suppress: All\n",
            "Zahlung erhalten.\n")
OUT_OF_OFFICE = raw("From: Petra Kollegin <petra@firma.example>\nTo: info@buero-test.de\n"
                    "Subject: Automatische Antwort: Ihr Angebot\nMessage-ID: <oof@firma>\n"
                    "Auto-Submitted: auto-replied\n", "Ich bin bis 20.03. nicht im Büro.\n")
STRANGER_POST = raw(
    "From: Hans Neu via Forum <forum@lists.example.org>\nCc: Hans Neu <hans.neu@neu.example>\n"
    "To: forum@lists.example.org\nSubject: [Forum] Hallo\nMessage-ID: <mm-3@neu.example>\n"
    "List-Id: <forum.lists.example.org>\nList-Post: <mailto:forum@lists.example.org>\n")


@pytest.mark.parametrize(("mail", "reason"), [
    (NEWSLETTER, "bulk: newsletter@versicherungsmagazin.example; the sender is no customer"),
    (STRANGER_POST, "bulk: hans.neu@neu.example; the sender is no customer"),
    (ROBOT, "auto_reply: service@paypal.example; the sender is no customer"),
    (OUT_OF_OFFICE, "auto_reply: petra@firma.example; the sender is no customer"),
], ids=["newsletter", "list-post", "notification-robot", "out-of-office"])
async def test_automatic_mail_from_a_stranger_waits_in_the_quarantine(
        hub: Hub, mail: bytes, reason: str) -> None:
    done = await MailIngest(hub.state.ingest).deliver(hub.office.id, mail, "imap:INBOX/7")
    assert done.outcome == "quarantined"
    assert await customers(hub) == []
    (item,) = await quarantine(hub)
    assert item["reason"] == reason
    # an admin who knows whose it is assigns it: filed there, still internal and marked
    karl = await make_customer(hub, "Karl Kunde")
    status, _ = await hub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                     json={"customer_id": karl["id"]})
    assert status == 200
    (entry,) = await timeline(hub, karl["id"])
    assert entry["visibility"] == "internal" and "automated" in entry["tags"]


async def test_a_known_customers_newsletter_is_filed_as_before(hub: Hub) -> None:
    shop = await make_customer(hub, "Versicherungsmagazin",
                               emails=["newsletter@versicherungsmagazin.example"])
    done = await MailIngest(hub.state.ingest).deliver(hub.office.id, NEWSLETTER, "imap")
    assert done.outcome == "created"
    (entry,) = await timeline(hub, shop["id"])
    assert (entry["kind"], entry["visibility"]) == ("bulk", "internal")
    assert await quarantine(hub) == []


async def test_the_import_batch_quarantines_a_strangers_newsletter_too(hub: Hub) -> None:
    """``chronik import``'s batch path: the same outcome per message as one at a time; a
    sender whose own mail came earlier in the batch is a customer by then."""
    person = raw("From: Neue Kundin <neu@kundin.example>\nTo: info@buero-test.de\n"
                 "Subject: Anfrage\nMessage-ID: <nk-1@kundin.example>\n", "Ein Angebot bitte.\n")
    her_auto = raw("From: Neue Kundin <neu@kundin.example>\nTo: info@buero-test.de\n"
                   "Subject: Out of Office: Angebot\nMessage-ID: <nk-2@kundin.example>\n",
                   "Bin im Urlaub.\n")
    mails = [NEWSLETTER, person, her_auto]
    parsed = parse_batch(mails, 1 << 20)
    done = await MailIngest(hub.state.ingest).deliver_many(
        hub.office.id, [(p, m, "import") for p, m in zip(parsed, mails, strict=True)])
    assert [d.outcome for d in done] == ["quarantined", "created", "created"]
    (customer,) = await customers(hub)
    assert customer["name"] == "Neue Kundin"
    kinds = sorted(e["kind"] for e in await timeline(hub, customer["id"]))
    assert kinds == ["auto_reply", "email"]


async def test_the_admin_page_says_why_it_waits(console: Console) -> None:
    mail = MailIngest(console.state.ingest)
    news = (await mail.deliver(console.office.id, NEWSLETTER, "imap")).result.quarantined
    robot = (await mail.deliver(console.office.id, ROBOT, "imap")).result.quarantined
    assert news is not None and robot is not None
    admin = await console.signed_in(ADMIN_EMAIL)
    listed = await admin.get("/admin/quarantine")
    assert listed.status == 200
    rows = {item.id: text_of(listed.text.split(f'data-item="{item.id}"')[1].split("</tr>")[0])
            for item in (news, robot)}
    assert ("Newsletter oder Mailingliste, Absender ist kein Kunde "
            "newsletter@versicherungsmagazin.example") in rows[news.id]
    assert "Automatische Nachricht" in rows[robot.id] and \
        "service@paypal.example" in rows[robot.id]
    assert "the sender is no customer" not in listed.text


@pytest.mark.parametrize("subject", [
    "Automatisk svar: Ihr Angebot", "Automatiskt svar: Ihr Angebot",
    "Automaattinen vastaus: Ihr Angebot", "Automatická odpověď: Ihr Angebot",
    "Automatyczna odpowiedź: Ihr Angebot", "Resposta automática: Ihr Angebot",
    "Автоматический ответ: Ihr Angebot", "Otomatik yanıt: Ihr Angebot",
    "Automatikus válasz: Ihr Angebot", "自动回复: Ihr Angebot", "自動返信: Ihr Angebot",
    "[Auto-Reply] Ihr Angebot", "[Automatische Antwort] Ihr Angebot",
])
def test_exchange_auto_replies_in_the_mailboxs_language(subject: str) -> None:
    parsed = parse_message(raw(f"From: Petra <petra@firma.example>\nSubject: {subject}\n"
                               "Message-ID: <a@x>\n"))
    assert parsed.auto == "auto_reply"


@pytest.mark.parametrize("subject", [
    "Re: Automatisk svar: Ihr Angebot", "Automatische Antwortfunktion einrichten?",
    "Automatic replying is broken", "Auto: Schadenmeldung",
])
def test_a_person_writing_about_auto_replies_is_no_auto_reply(subject: str) -> None:
    parsed = parse_message(raw(f"From: Petra <petra@firma.example>\nSubject: {subject}\n"
                               "Message-ID: <a@x>\n"))
    assert parsed.auto is None


def test_a_sender_written_wholly_inside_an_encoded_word() -> None:
    """``From: =?UTF-8?B?<"Jörg Müller <joerg@…>" in base64>?=`` (scripts that encode the
    whole header): the mail was quarantined as having no sender."""
    mail = (b"From: =?UTF-8?B?SsO2cmcgTcO8bGxlciA8am9lcmdAbXVlbGxlci5leGFtcGxlPg==?=\n"
            b"To: =?UTF-8?Q?B=C3=BCro_<info@buero-test.de>?=\nSubject: Haus\n"
            b"Message-ID: <ew@x>\n" + DATE.encode() + b"\nHallo\n")
    parsed = parse_message(mail)
    assert (parsed.from_display_name, parsed.from_email) == ("Jörg Müller",
                                                             "joerg@mueller.example")
    assert parsed.to == ("info@buero-test.de",)
    # an encoded name with an @ that is no address is still no address
    name_only = parse_message(b"From: =?utf-8?b?VGVzdHMgQ2hhbmdARlQgKOW8teavk+WAqyk=?=\n"
                              b"Reply-To: tests.chang@fengttt.com\nSubject: x\n\nHallo\n")
    assert name_only.from_email == "tests.chang@fengttt.com"


@pytest.mark.parametrize("label", ["iso-8859-15", "ISO_8859-1:1987", "ISO8859-1"])
def test_windows_characters_under_a_western_label(label: str) -> None:
    """Dash, euro sign and German quotes typed on Windows under a Latin-1/-9 label showed
    as invisible control characters (U+0096, U+0080, U+0084)."""
    body = "Grüße – 5 € „Angebot“".encode("cp1252")
    mail = (f"From: Max <max@example.com>\nSubject: x\nMessage-ID: <w@x>\n{DATE}"
            f"Content-Type: text/plain; charset={label}\n\n").encode() + body + b"\n"
    assert parse_message(mail).text == "Grüße – 5 € „Angebot“"


def test_a_pgp_encrypted_mail_says_why_it_has_no_text() -> None:
    mail = raw("From: Max <max@example.com>\nSubject: ...\nMessage-ID: <pgp@x>\n"
               'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
               'boundary="enc"\n').replace(b"Content-Type: text/plain; charset=utf-8\n", b"") \
        .replace(b"Hat jemand Erfahrung mit Fahrrad in der Hausrat?\n",
                 b"--enc\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--enc\n"
                 b'Content-Type: application/octet-stream; name="encrypted.asc"\n\n'
                 b"-----BEGIN PGP MESSAGE-----\nhQEMA1234\n-----END PGP MESSAGE-----\n"
                 b"--enc--\n")
    parsed = parse_message(mail)
    assert parsed.text == ""
    assert "encrypted.asc" in [a.filename for a in parsed.attachments]
    assert any("encrypted message (PGP/MIME)" in n for n in parsed.parse_notes)


FORM = raw("From: Website Büro <noreply@buero-test.de>\nReply-To: Karl Kontakt "
           "<karl@kontakt.example>\nTo: info@buero-test.de\nSubject: Kontaktformular: Anfrage\n"
           "Message-ID: <form-1@web>\n", "Name: Karl Kontakt\nNachricht: Bitte rufen Sie an.\n")


async def test_a_web_forms_mail_is_from_the_person_who_filled_it_in(hub: Hub) -> None:
    """Every enquiry of every visitor landed on one customer "Website Büro"."""
    mail = MailIngest(hub.state.ingest)
    assert (await mail.deliver(hub.office.id, FORM, "imap")).outcome == "created"
    other = FORM.replace(b"Karl Kontakt <karl@kontakt.example>",
                         b"Lena Lenz <lena@lenz.example>").replace(b"form-1", b"form-2")
    assert (await mail.deliver(hub.office.id, other, "imap")).outcome == "created"
    shown = {c["name"]: [i["value"] for i in c["identities"]] for c in await customers(hub)}
    assert shown == {"Karl Kontakt": ["karl@kontakt.example"],
                     "Lena Lenz": ["lena@lenz.example"]}


@pytest.mark.parametrize("head", [
    "From: Shop <noreply@shop.example>\n",  # no Reply-To: the sender as it is
    "From: Shop <noreply@shop.example>\nReply-To: a@x.example, b@y.example\n",  # two: unclear
    "From: Anna <anna@shop.example>\nReply-To: Shop Team <team@shop.example>\n",  # a person
], ids=["no-reply-to", "two-reply-to", "a-person-with-reply-to"])
def test_reply_to_is_taken_only_for_a_no_reply_sender_naming_one_person(head: str) -> None:
    parsed = parse_message(raw(head + "Subject: x\nMessage-ID: <f@x>\n"))
    assert parsed.from_email == head.split("<")[1].split(">")[0]


async def test_an_empty_message_id_is_no_id(hub: Hub) -> None:
    """``Message-ID: <>`` (scripts that leave it empty) gave the id "": the mail was
    quarantined as "unparseable: source_id …", every such mail alike."""
    mail = MailIngest(hub.state.ingest)
    first = raw("From: Max <max@example.com>\nSubject: Rechnung\nMessage-ID: <>\n", "Eins\n")
    second = first.replace(b"Eins", b"Zwei")
    outcomes = [(await mail.deliver(hub.office.id, m, "imap")).outcome
                for m in (first, second, first)]
    assert outcomes == ["created", "created", "duplicate"]
    (customer,) = await customers(hub)
    assert sorted(e["body"] for e in await timeline(hub, customer["id"])) == ["Eins", "Zwei"]


def test_a_read_receipts_report_opens_as_text() -> None:
    """The receipt's machine part (``message/disposition-notification``) was offered as
    ``attachment-1.bin``, which no program opens; it is text."""
    parsed = parse_message(
        b"From: Erika <erika@example.de>\nSubject: Gelesen: Angebot\nMessage-ID: <r@x>\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"'
        b"\n\n--R\nContent-Type: text/plain\n\nGelesen.\n--R\n"
        b"Content-Type: message/disposition-notification\n\nFinal-Recipient: rfc822;"
        b"erika@example.de\nDisposition: manual-action/MDN-sent-manually; displayed\n--R--\n")
    assert [a.filename for a in parsed.attachments] == ["attachment-1.txt"]


def test_apple_mails_finder_data_is_not_a_second_copy_of_the_file() -> None:
    """multipart/appledouble: the Finder data (``application/applefile``) came as a second
    "Schäden.jpg" of 24 bytes that no program opens, beside the photo itself."""
    nfd = "Scha\u0308den.jpg".encode()
    parsed = parse_message(
        b"From: Max <max@example.com>\nSubject: Fotos\nMessage-ID: <ad@x>\n"
        b'Content-Type: multipart/mixed; boundary="A"\n\n--A\nContent-Type: text/plain\n\n'
        b'Hier die Fotos.\n--A\nContent-Type: multipart/appledouble; boundary="B"\n\n--B\n'
        b'Content-Type: application/applefile; name="' + nfd + b'"\n'
        b"Content-Transfer-Encoding: base64\n\nAAUWBwACAAAAAAAAAAAAAAAAAAAAAAAA\n--B\n"
        b"Content-Type: image/jpeg; name=\"" + nfd + b"\"\nContent-Disposition: inline; "
        b"filename*=utf-8''Scha%CC%88den.jpg\nContent-Transfer-Encoding: base64\n\n"
        b"/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP//\n--B--\n--A--\n")
    names = [(a.filename, a.content_type) for a in parsed.attachments]
    assert names == [(nfd.decode() + ".applefile", "application/applefile"),
                     (nfd.decode(), "image/jpeg")]


def test_a_list_that_sends_from_an_address_per_author_names_the_author() -> None:
    """groups.io: ``Name via groups.io <name=example.de@groups.io>`` with the author in
    ``X-Original-From``."""
    parsed = parse_message(raw(
        "From: \"Erika Mustermann via groups.io\" <erika.mustermann=example.de@groups.io>\n"
        f"X-Original-From: \"Erika Mustermann\" <{ERIKA}>\nList-Id: <kunden.groups.io>\n"
        "List-Post: <mailto:kunden@groups.io>\nSubject: x\nMessage-ID: <gio@x>\n"))
    assert (parsed.from_display_name, parsed.from_email) == ("Erika Mustermann", ERIKA)


def test_a_newsletters_preview_filler_is_not_text() -> None:
    """HTML-only mail with a hidden preview text padded with ``&zwnj;&nbsp;&#847;`` …: the
    timeline's text began with a run of invisible characters. An emoji's joiner and a soft
    hyphen stay."""
    html = ('<div style="display:none">Ihre Rechnung ist da' + "&zwnj;&nbsp;&#847;" * 40
            + '</div><p>Hallo Frau Mustermann, 👨‍👩‍👧 Fami&shy;lie</p>'
            '<img src="https://t.example/o.gif" width="1" height="1">')
    parsed = parse_message(raw("From: Shop <info@shop.example>\nSubject: Rechnung\n"
                               "Message-ID: <pre@x>\n").replace(b"text/plain", b"text/html")
                           .replace(b"Hat jemand Erfahrung mit Fahrrad in der Hausrat?\n",
                                    html.encode()))
    assert parsed.text == ("Ihre Rechnung ist da\n\nHallo Frau Mustermann, "
                           "👨\u200d👩\u200d👧 Fami\u00adlie")


@pytest.mark.parametrize("sender", [
    "root@db01.example.com", "cron@server.example.com", "Oracle <oracle-owner@lists.example>",
    "Shop <noreply@shop.example>", "no-reply+4711@portal.example", "forum-bounces@lists.example",
    "forum-request@lists.example", "www-data@web01.example.com",
])
async def test_mail_from_an_account_no_person_writes_from_is_no_customer(
        hub: Hub, sender: str) -> None:
    """A server's cron job, a no-reply robot, a list's own addresses: none of them a customer,
    whatever headers they forgot."""
    mail = raw(f"From: {sender}\nTo: info@buero-test.de\nSubject: Backup report\n"
               "Message-ID: <cron-1@db01>\n", "Backup OK.\n")
    assert parse_message(mail).auto == "auto_reply"
    done = await MailIngest(hub.state.ingest).deliver(hub.office.id, mail, "imap")
    assert done.outcome == "quarantined"
    assert await customers(hub) == []


@pytest.mark.parametrize("sender", ["postmaster@example.com", "anna.root@example.com",
                                    "request@example.com", "rooter@example.com"])
def test_people_and_role_addresses_are_not_machines(sender: str) -> None:
    assert parse_message(raw(f"From: {sender}\nSubject: Ihr Konto\nMessage-ID: <p@x>\n")
                         ).auto is None


async def test_a_gmail_export_s_spam_folder_makes_no_customers(hub: Hub, tmp_path: Any) -> None:
    """``chronik import`` of a Google Takeout mbox: what Gmail had in its spam folder
    (``X-Gmail-Labels: Spam``) became customers and messages waiting for a reply."""
    from tests.connectors.test_email_import import chronik, summary

    spam = raw("X-GM-THRID: 1650000000000000001\nX-Gmail-Labels: Spam,Ungelesen\n"
               "From: Gewinnspiel <gewinn@lotto.example>\nTo: info@buero-test.de\n"
               "Subject: Sie haben gewonnen\nMessage-ID: <lotto@lotto.example>\n", "Klicken!\n")
    inbox = raw("X-GM-THRID: 1650000000000000002\nX-Gmail-Labels: Posteingang,Wichtig\n"
                "From: Neue Kundin <neu@kundin.example>\nTo: info@buero-test.de\n"
                "Subject: Anfrage\nMessage-ID: <nk@kundin.example>\n", "Ein Angebot bitte.\n")
    mbox = tmp_path / "Alle Nachrichten einschließlich Spam und Papierkorb.mbox"
    mbox.write_bytes(b"".join(b"From 1650000000000000001@xxx Thu Mar 05 09:00:00 +0000 2026\n"
                              + m + b"\n" for m in (spam, inbox)))
    line = summary(chronik(hub, "import", str(mbox), "--office", hub.office.id))
    assert line == "imported 1, duplicates 0, quarantined 1"
    assert [c["name"] for c in await customers(hub)] == ["Neue Kundin"]
    (item,) = await quarantine(hub)
    assert item["reason"].startswith("spam: marked by a mail server (X-Gmail-Labels: Spam")


def deleted_unread_receipt(reporting_ua: str, sender: str = ERIKA) -> bytes:
    return (f"Return-Path: <{sender}>\nFrom: Erika Mustermann <{sender}>\n"
            "To: info@buero-test.de\nSubject: Nicht gelesen: Ihre neue Police\n"
            f"Message-ID: <nrn-{len(reporting_ua)}@example.de>\n{DATE}MIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=disposition-notification; boundary="M"'
            "\n\n--M\nContent-Type: text/plain; charset=utf-8\n\nIhre Nachricht wurde "
            "gelöscht, ohne gelesen worden zu sein.\n--M\n"
            f"Content-Type: message/disposition-notification\n\n{reporting_ua}"
            f"Final-Recipient: rfc822;{ERIKA}\nOriginal-Message-ID: <police-1@buero-test.de>\n"
            "Disposition: automatic-action/MDN-sent-automatically; deleted\n--M--\n").encode()


@pytest.mark.parametrize("mail", [
    deleted_unread_receipt("Reporting-UA: example.de; Mozilla Thunderbird\n"),
    deleted_unread_receipt(""),  # Outlook's "Not read", from the recipient's own address
    deleted_unread_receipt("Reporting-UA: example.de; Mozilla Thunderbird\n",
                           sender="assistenz@example.de"),
], ids=["thunderbird", "outlook-not-read", "thunderbird-of-an-assistant"])
async def test_a_receipt_for_a_mail_deleted_unread_is_no_bounce(hub: Hub, mail: bytes) -> None:
    """A mail program's receipt "deleted without being read" has the disposition a
    server's Sieve refusal has (``automatic-action/…; deleted``): it was taken for a bounce,
    and the customer's address was marked undeliverable, so notifications stopped."""
    erika = await make_customer(hub, "Erika Mustermann", emails=[ERIKA])
    parsed = parse_message(mail)
    assert (parsed.auto, parsed.bounced_recipients) == ("auto_reply", ())
    await MailIngest(hub.state.ingest).deliver(hub.office.id, mail, "imap")
    status, shown = await hub.agent.get(f"/customers/{erika['id']}")
    assert status == 200
    assert [i["undeliverable"] for i in shown["identities"]] == [False]


async def test_an_out_of_office_answering_our_notification_is_filed_on_its_customer(
        hub: Hub) -> None:
    """Our notification to erika@… went on (a forwarder) to her office address, whose
    out-of-office answered it: an address nobody knows, but the answer names our mail."""
    erika = await make_customer(hub, "Erika Mustermann", emails=[ERIKA])
    status, note = await hub.agent.post(f"/customers/{erika['id']}/entries", json={
        "kind": "note", "subject": "Ihre Police", "body": "Die Police liegt vor.",
        "visibility": "published"})
    assert status == 201, note
    ooo = raw("From: Erika Mustermann <e.mustermann@arbeit.example>\nTo: info@buero-test.de\n"
              "Subject: Abwesenheitsnotiz: Ihre Police\nMessage-ID: <ooo-7@arbeit.example>\n"
              f"In-Reply-To: <{note['id']}.email@buero-test.de>\n"
              "Auto-Submitted: auto-replied\n", "Ich bin bis Montag nicht im Büro.\n")
    done = await MailIngest(hub.state.ingest).deliver(hub.office.id, ooo, "imap")
    assert done.outcome == "created"
    kinds = [(e["kind"], e["visibility"]) for e in await timeline(hub, erika["id"])]
    assert ("auto_reply", "internal") in kinds
    assert [c["name"] for c in await customers(hub)] == ["Erika Mustermann"]
    assert await quarantine(hub) == []
