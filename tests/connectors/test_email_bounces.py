"""Delivery reports and our own mail coming back, through the real ingest path.

The reports are hand-made fixtures (tests/connectors/data/bounces, one ``.eml`` per MTA
format or RFC deviation; ``expected.json`` names the address each one is about), built from
RFC 3464 / 3461 / 6522 / 6533 / 3834 and the formats the MTAs are documented to send."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

import connectors.email.bounce as bounce
from connectors.email.bounce import read_report
from connectors.email.importer import parse_batch
from connectors.email.inbound import MailIngest
from connectors.email.parse import parse_message
from notify.message import OutgoingMessage
from notify.transports.email import build_email
from timeline.blobs import BlobStore
from timeline.ingest import IngestService, UnknownSenderPolicy
from timeline.models import (
    Channel,
    Customer,
    Direction,
    Entry,
    EntryDraft,
    IdentityKind,
    Office,
    QuarantineItem,
    Visibility,
    utcnow,
)
from timeline.service import TimelineService
from timeline.sqlite_store import SqliteStore
from timeline.store import CustomerListQuery, TimelineQuery

DATA = Path(__file__).parent / "data" / "bounces"
EXPECTED: dict[str, dict[str, Any]] = json.loads((DATA / "expected.json").read_text("utf-8"))
REPORTS = sorted(k for k, v in EXPECTED.items() if "action" in v)
CONTROLS = sorted(k for k, v in EXPECTED.items() if "auto" in v)
KIND = {"failed": "bounce", "delayed": "delivery_report", "delivered": "delivery_report"}
OFFICE_SENDER = "service@buero-muster.de"
OFFICE_INBOX = "post@buero-muster.de"


@dataclass
class World:
    store: SqliteStore
    timeline: TimelineService
    ingest: IngestService
    mail: MailIngest
    office: Office

    async def customers(self) -> list[Customer]:
        page = await self.store.list_customers(self.office.id, CustomerListQuery(limit=500))
        return list(page.items)

    async def entries(self, customer_id: str) -> list[Entry]:
        page = await self.store.timeline(self.office.id, customer_id, TimelineQuery(limit=200))
        return list(page.items)

    async def quarantined(self) -> list[QuarantineItem]:
        return await self.store.list_quarantine(self.office.id, limit=500)

    async def customer(self, name: str, address: str) -> Customer:
        return await self.timeline.create_customer(self.office, name,
                                                   [(IdentityKind.EMAIL, address)])

    async def published(self) -> list[Entry]:
        return [e for c in await self.customers() for e in await self.entries(c.id)
                if e.visibility is Visibility.PUBLISHED]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    timeline = TimelineService(store, BlobStore(tmp_path / "blobs"))
    office = await store.create_office("Büro Muster", "DE")
    await store.add_inbound_address(office.id, OFFICE_INBOX)
    ingest = IngestService(timeline, UnknownSenderPolicy.CREATE)  # the permissive policy
    mail = MailIngest(ingest, own_addresses=[f"Büro Muster <{OFFICE_SENDER}>"])
    mail.register()
    yield World(store, timeline, ingest, mail, office)
    await store.close()


def raw_of(name: str) -> bytes:
    return (DATA / name).read_bytes()


def stdlib(raw: bytes) -> Message:
    return BytesParser(_class=Message, policy=policy.compat32).parsebytes(raw)


# ------------------------------------------------------------------ the fixture set


def test_the_fixture_set_covers_at_least_forty_reports_and_lists_each_file() -> None:
    on_disk = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*.eml")}
    assert on_disk == set(EXPECTED), "every fixture needs an expectation and vice versa"
    assert len(REPORTS) >= 40
    actions = {EXPECTED[r]["action"] for r in REPORTS}
    assert actions == {"failed", "delayed", "delivered"}


async def test_rates_through_the_ingest_path_and_no_report_creates_a_customer(
        world: World) -> None:
    """Every report delivered into one office whose customers own the expected addresses:
    >= 95 % recognised, >= 90 % filed on the right customer (with the identity marked
    undeliverable exactly for failures) -- and not one new customer or published entry."""
    owners: dict[str, Customer] = {}
    for name in REPORTS:
        for address in EXPECTED[name]["addresses"]:
            owners[address] = await world.customer(f"Owner of {address}", address)
    before = {c.id for c in await world.customers()}
    recognised = attributed = 0
    misses = []
    for name in REPORTS:
        want = EXPECTED[name]
        done = await world.mail.deliver(world.office.id, raw_of(name), f"test:{name}")
        entry = done.result.entry
        ok = (entry is not None and entry.kind == KIND[want["action"]]) or (
            done.outcome == "quarantined" and done.result.quarantined is not None
            and done.result.quarantined.reason.startswith("unattributed_"))
        right = ok and entry is not None and (  # several addresses: on one of their owners
            entry.customer_id in {owners[a].id for a in want["addresses"]})
        recognised += ok
        attributed += right
        if not right:
            misses.append(name)
    marked = {i.value for c in await world.customers() for i in c.identities if i.undeliverable}
    should = {a for n in REPORTS if EXPECTED[n]["action"] == "failed"
              for a in EXPECTED[n]["addresses"]}
    wrongly_marked = marked - should
    total = len(REPORTS)
    print(f"recognised {recognised}/{total}, attributed {attributed}/{total}, missed {misses}")
    assert recognised / total >= 0.95
    assert attributed / total >= 0.90
    assert wrongly_marked == set(), "a delay warning or success notice marked an address"
    assert len(should - marked) <= total * 0.10
    assert {c.id for c in await world.customers()} == before
    assert await world.published() == []


@pytest.mark.parametrize("name", REPORTS)
async def test_each_report_files_internal_on_its_customer_or_waits_with_a_reason(
        world: World, name: str) -> None:
    want = EXPECTED[name]
    raw = raw_of(name)
    # nobody owns the address: quarantined with a reason, no customer, nothing published
    first = await world.mail.deliver(world.office.id, raw, "test")
    assert first.outcome == "quarantined" and first.result.quarantined is not None
    what = "unattributed_bounce" if want["action"] == "failed" else \
        "unattributed_delivery_report"
    assert first.result.quarantined.reason.startswith(f"{what}: ")
    assert await world.customers() == []
    # now the customer exists: reprocessing files it on their timeline, internal
    owner = await world.customer("Kundin", want["addresses"][0])
    item = await world.ingest.reprocess(world.office, first.result.quarantined.id)
    assert item.status == "processed"
    entries = await world.entries(owner.id)
    (report,) = [e for e in entries if e.id == item.entry_id]
    assert report.kind == KIND[want["action"]] and report.visibility is Visibility.INTERNAL
    assert report.meta["automated"] == report.kind and "automated" in report.tags
    (identity,) = (await world.customers())[0].identities
    assert identity.undeliverable is (want["action"] == "failed")
    assert [c.id for c in await world.customers()] == [owner.id]
    assert await world.published() == []


@pytest.mark.parametrize("name", [
    "domino-dsn-no-report-type.eml", "dsn-action-failure.eml",
    "dsn-action-error-opensmtpd.eml", "exchange-x400-original-recipient.eml",
    "dsn-nested-mixed.eml", "dsn-report-inside-mixed.eml", "dsn-as-text-plain.eml",
    "dsn-final-recipient-no-type.eml", "dsn-global-utf8.eml",
], ids=["no-report-type", "action-failure", "action-error", "x400-final-recipient",
        "status-in-multipart-mixed", "report-in-multipart-mixed", "status-as-text-plain",
        "final-recipient-without-type", "rfc6533-global"])
def test_rfc3464_deviations_are_read_from_their_status_fields(name: str) -> None:
    report = read_report(stdlib(raw_of(name)))
    assert report is not None
    assert (report.action, report.source) == ("failed", "dsn")
    assert [a.lower() for a in report.recipients] == EXPECTED[name]["addresses"]


@pytest.mark.parametrize("name", CONTROLS)
def test_auto_replies_read_receipts_and_people_are_not_reports(name: str) -> None:
    parsed = parse_message(raw_of(name))
    assert (parsed.auto, parsed.bounced_recipients) == (EXPECTED[name]["auto"], ())


def test_a_failing_library_detector_leaves_our_own_readers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(msg: Message) -> Any:
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(bounce, "all_failures", broken)
    parsed = parse_message(raw_of("qmail.eml"))  # read by flufl.bounce when it works
    assert (parsed.auto, parsed.bounced_recipients) == ("bounce", ("ingo.imhof@example.com",))


# ------------------------------------------------------------------ end to end


async def test_a_bounce_marks_the_identity_and_lands_internal_on_the_owner(
        world: World) -> None:
    anna = await world.customer("Anna Alt", "anna.alt@example.org")
    done = await world.mail.deliver(world.office.id, raw_of("postfix-dsn.eml"), "test")
    assert done.outcome == "created" and done.result.customer is not None
    assert done.result.customer.id == anna.id and not done.result.new_customer
    entries = await world.entries(anna.id)
    kinds = sorted(e.kind for e in entries)
    assert kinds == ["bounce", "identity_undeliverable"]
    assert all(e.visibility is Visibility.INTERNAL for e in entries)
    (identity,) = (await world.customers())[0].identities
    assert identity.undeliverable
    # the same address bouncing again (another report) adds the report, not a second note
    again = raw_of("exim-plain.eml").replace(b"emil.ernst@example.com", b"anna.alt@example.org")
    assert (await world.mail.deliver(world.office.id, again, "test")).outcome == "created"
    assert sorted(e.kind for e in await world.entries(anna.id)) == [
        "bounce", "bounce", "identity_undeliverable"]


async def test_a_delay_warning_is_filed_but_marks_nothing(world: World) -> None:
    carla = await world.customer("Carla Cramer", "carla.cramer@example.com")
    done = await world.mail.deliver(world.office.id, raw_of("postfix-delayed.eml"), "test")
    assert done.result.entry is not None
    assert done.result.entry.kind == "delivery_report"
    assert done.result.entry.customer_id == carla.id
    (identity,) = (await world.customers())[0].identities
    assert not identity.undeliverable
    assert [e.kind for e in await world.entries(carla.id)] == ["delivery_report"]


async def test_a_bounce_with_an_empty_sender_is_read_not_quarantined_as_senderless(
        world: World) -> None:
    raw = raw_of("empty-from-dsn.eml")
    unknown = await world.mail.deliver(world.office.id, raw, "smtp:<>")
    assert unknown.result.quarantined is not None
    assert unknown.result.quarantined.reason == (
        "unattributed_bounce: quirin.quandt@nowhere.example")
    quirin = await world.customer("Quirin Quandt", "quirin.quandt@nowhere.example")
    done = await world.mail.deliver(world.office.id, raw, "smtp:<>")
    assert done.result.entry is not None and done.result.entry.customer_id == quirin.id
    assert done.result.entry.meta["from"] == "MAILER-DAEMON@mx.nowhere.example"
    assert (await world.customers())[0].identities[0].undeliverable


async def test_mail_without_sender_that_is_no_report_stays_quarantined(world: World) -> None:
    raw = b"From: <>\nTo: post@buero-muster.de\nSubject: Hallo\n\nNur ein Gruss.\n"
    done = await world.mail.deliver(world.office.id, raw, "test")
    assert done.result.quarantined is not None
    assert done.result.quarantined.reason.startswith("unparseable: no sender address")


async def test_import_path_reads_sender_less_reports_too(world: World) -> None:
    """``chronik import`` parses in workers and hands reasons over: same outcome."""
    await world.customer("Rosa Rau", "rosa.rau@example.de")
    raws = [raw_of("empty-from-plain.eml"), raw_of("empty-from-dsn.eml")]
    items = [(p, raw, "import") for p, raw in zip(parse_batch(raws, 10_000_000), raws,
                                                  strict=True)]
    first, second = await world.mail.deliver_many(world.office.id, items)
    assert first.outcome == "created" and first.result.entry is not None
    assert first.result.entry.kind == "bounce"
    assert second.result.quarantined is not None
    assert second.result.quarantined.reason.startswith("unattributed_bounce: ")
    assert len(await world.customers()) == 1


def notification(entry: Entry, to: str) -> bytes:
    """Our own notification e-mail, built by the real transport code."""
    return build_email(OutgoingMessage(
        channel="email", address=to, recipient_name="Gerd Weg", sender_name="Büro Muster",
        subject="Neue Nachricht in Ihrer Kundenakte", text="Guten Tag, ...", html=None,
        message_id=f"<{entry.id}.email@buero-muster.de>", office_id=entry.office_id,
        customer_id=entry.customer_id, entry_id=entry.id), OFFICE_SENDER)


async def published_entry(world: World, customer: Customer) -> Entry:
    entry, _ = await world.timeline.append(EntryDraft(
        office_id=world.office.id, customer_id=customer.id, channel=Channel.NOTE,
        direction=Direction.OUTBOUND, kind="note", visibility=Visibility.PUBLISHED,
        occurred_at=utcnow(), subject="Ihr Vertrag", body="Der Vertrag liegt vor."))
    return entry


async def test_our_notification_looped_back_is_ours_not_a_new_customer(world: World) -> None:
    gerd = await world.customer("Gerd Weg", "gerd@example.com")
    sent = await published_entry(world, gerd)
    raw = notification(sent, "gerd@example.com")
    done = await world.mail.deliver(world.office.id, raw, "imap")
    assert done.outcome == "created" and done.result.entry is not None
    entry = done.result.entry
    assert (entry.kind, entry.visibility, entry.customer_id) == (
        "own_mail", Visibility.INTERNAL, gerd.id)
    assert entry.meta["own_entry_id"] == sent.id
    assert [c.name for c in await world.customers()] == ["Gerd Weg"]


async def test_our_notification_through_a_forwarder_is_ours_too(world: World) -> None:
    """A customer's forwarder re-sends our mail (new Message-ID, our From kept)."""
    gerd = await world.customer("Gerd Weg", "gerd@example.com")
    sent = await published_entry(world, gerd)
    raw = notification(sent, "gerd@example.com")
    forwarded = (b"Received: from fwd.example.com by mx.buero-muster.de\r\n"
                 b"X-Forwarded-For: gerd@example.com post@buero-muster.de\r\n"
                 + raw.replace(f"<{sent.id}.email@buero-muster.de>".encode(),
                               b"<fwd-4711@fwd.example.com>"))
    threaded = forwarded.replace(b"Auto-Submitted:", b"References: <"
                                 + f"{sent.id}.email@buero-muster.de".encode()
                                 + b">\r\nAuto-Submitted:")
    done = await world.mail.deliver(world.office.id, threaded, "imap")
    assert done.result.entry is not None and done.result.entry.customer_id == gerd.id
    assert done.result.entry.kind == "own_mail"
    unthreaded = await world.mail.deliver(world.office.id, forwarded.replace(
        b"fwd-4711", b"fwd-4712"), "imap")  # no References: the customer it was sent to
    assert unthreaded.result.entry is not None
    assert (unthreaded.result.entry.kind, unthreaded.result.entry.customer_id) == (
        "own_mail", gerd.id)
    lost = await world.mail.deliver(world.office.id, forwarded.replace(
        b"fwd-4711", b"fwd-4713").replace(b"gerd@example.com", b"alias@example.net"), "imap")
    assert lost.result.quarantined is not None  # sent to nobody the office knows
    assert lost.result.quarantined.reason.startswith(
        f"own_mail: sent from this office's own address {OFFICE_SENDER}")
    assert [c.name for c in await world.customers()] == ["Gerd Weg"]


async def test_mail_from_the_office_inbox_address_is_never_a_customer(world: World) -> None:
    raw = (f"From: Büro Muster <{OFFICE_INBOX}>\nTo: kunde@example.de\nCc: {OFFICE_INBOX}\n"
           "Subject: Ihr Termin\nMessage-ID: <agent-1@buero-muster.de>\n\nBis Montag.\n")
    done = await world.mail.deliver(world.office.id, raw.encode(), "imap")
    assert done.result.quarantined is not None
    assert done.result.quarantined.reason.startswith("own_mail: ")
    assert await world.customers() == []


async def test_a_bounce_of_our_notification_reaches_its_customer_via_the_returned_mail(
        world: World) -> None:
    """The report names an expanded alias nobody has; the returned notification says who."""
    gerd = await world.customer("Gerd Weg", "gerd@example.com")
    sent = await published_entry(world, gerd)
    original = notification(sent, "gerd@example.com").decode()
    raw = (f"From: MAILER-DAEMON@mx.example.com\nTo: {OFFICE_SENDER}\n"
           "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <r-1@mx.example.com>\n"
           "MIME-Version: 1.0\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\n\n"
           "--R\nContent-Type: text/plain\n\nMailbox unavailable.\n\n"
           "--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
           "Final-Recipient: rfc822; g.weg@intern.example.com\nAction: failed\n"
           "Status: 5.2.1\n\n--R\nContent-Type: message/rfc822\n\n"
           f"{original}\n--R--\n")
    done = await world.mail.deliver(world.office.id, raw.encode(), "smtp:<>")
    assert done.result.entry is not None and done.result.entry.customer_id == gerd.id
    assert done.result.entry.meta["returned_message_id"] == (
        f"{sent.id}.email@buero-muster.de")
    (identity,) = (await world.customers())[0].identities
    assert identity.undeliverable  # the address we sent to, not the alias


async def test_an_auto_reply_still_lands_as_auto_reply_on_its_sender(world: World) -> None:
    anna = await world.customer("Anna Alt", "anna.alt@example.org")
    done = await world.mail.deliver(world.office.id, raw_of("controls/ooo-rfc3834.eml"),
                                    "imap")
    assert done.result.entry is not None and done.result.entry.customer_id == anna.id
    assert (done.result.entry.kind, done.result.entry.visibility) == (
        "auto_reply", Visibility.INTERNAL)
    assert not (await world.customers())[0].identities[0].undeliverable


async def test_the_ingest_service_never_makes_a_customer_of_a_report(world: World) -> None:
    """Defence in depth: a connector that hands over a report without naming the customer
    gets it quarantined, even under the ``create`` policy."""
    from timeline.ingest import InboundMessage

    msg = InboundMessage(office_id=world.office.id, channel=Channel.EMAIL, source_id="<r@x>",
                         sender_kind=IdentityKind.EMAIL, sender="MAILER-DAEMON@mx.example",
                         sender_name="Mail Delivery System", occurred_at=utcnow(),
                         kind="bounce", automated="bounce", subject="Undelivered Mail")
    result = await world.ingest.ingest(msg)
    assert result.quarantined is not None and result.entry is None
    assert result.quarantined.reason.startswith(
        "unattributable sender: a bounce never creates a customer")
    (batched,) = await world.ingest.ingest_many([(msg.model_copy(
        update={"source_id": "<r2@x>", "automated": "own_mail"}), None, "test")])
    assert batched.quarantined is not None
    assert await world.customers() == []
