"""Mail a spam filter on its way marked as spam (``connectors/email/spam.py``): hand-made
messages with the headers SpamAssassin, rspamd, Exchange and Microsoft 365 are documented
to write, through the parser and the real ingest path."""

from __future__ import annotations

import pytest

from connectors.email.importer import parse_batch
from connectors.email.parse import parse_message
from tests.connectors.test_email_bounces import World, world
from timeline.models import IdentityKind, utcnow
from timeline.replies import is_message
from timeline.store import CustomerListQuery, TimelineQuery

__all__ = ["world"]  # the real ingest path of the bounce tests (an office, the permissive
# policy for unknown senders: they become customers unless something says otherwise)


def mail(*headers: str, sender: str = "gewinn@lotto-glueck.example",
         message_id: str = "<s1@lotto-glueck.example>") -> bytes:
    head = "\r\n".join([
        "Received: from mx.buero-muster.de by mail.buero-muster.de; Sat, 5 Dec 2026 10:00 +0100",
        *headers, f"From: Glücksfee <{sender}>", "To: post@buero-muster.de",
        "Subject: Sie haben gewonnen!", f"Message-ID: {message_id}",
        "Date: Sat, 5 Dec 2026 10:00:00 +0100", "Content-Type: text/plain; charset=utf-8"])
    return (head + "\r\n\r\nKlicken Sie hier, um Ihren Gewinn abzuholen.\r\n").encode()


@pytest.mark.parametrize(("header", "shown"), [
    ("X-Spam-Flag: YES", "X-Spam-Flag: YES"),
    ("X-Spam-Status: Yes, score=12.3 required=5.0 tests=BAYES_99,URIBL_BLACK autolearn=no",
     "X-Spam-Status: Yes, score=12.3 required=5.0"),
    ("X-Spam: Yes", "X-Spam: Yes"),
    ("x-spam-flag: yes", "x-spam-flag: yes"),
    ("X-MS-Exchange-Organization-SCL: 9", "X-MS-Exchange-Organization-SCL: 9"),
    ("X-Forefront-Antispam-Report: CIP:203.0.113.9;CTRY:;LANG:de;SCL:6;SRV:;IPV:NLI;"
     "SFV:SPM;H:mail.example;PTR:;CAT:SPM;SFS:(13230040);DIR:INB;",
     "X-Forefront-Antispam-Report: CIP:203.0.113.9;CTRY:;LANG:de;SCL:6;"),
], ids=["spamassassin-flag", "spamassassin-status", "rspamd", "lower-case", "exchange-scl",
        "microsoft-365"])
def test_a_filter_verdict_is_read(header: str, shown: str) -> None:
    """The verdict names the header as it came (a long one shortened for the reason)."""
    spam = parse_message(mail(header)).spam
    assert spam is not None and spam.startswith(shown)
    assert len(spam) <= len(header.split(":", 1)[0]) + 2 + 60


@pytest.mark.parametrize("headers", [
    (), ("X-Spam-Flag: NO",),
    ("X-Spam-Status: No, score=-0.1 required=5.0 tests=DKIM_SIGNED autolearn=ham",),
    ("X-Spam: No",), ("X-Spam-Level: ",), ("X-MS-Exchange-Organization-SCL: -1",),
    ("X-MS-Exchange-Organization-SCL: 1",), ("X-MS-Exchange-Organization-SCL: high",),
    ("X-Forefront-Antispam-Report: CIP:198.51.100.2;SFV:NSPM;H:x;CAT:NONE;",),
    ("X-Spam-Checker-Version: SpamAssassin 4.0.0 on mx",),
    ("X-Spam-Report: yes this looks like spam to the sender",),
], ids=["none", "flag-no", "status-no", "rspamd-no", "level-empty", "scl-trusted",
        "scl-low", "scl-garbage", "m365-not-spam", "checker-version", "other-header"])
def test_no_verdict_no_spam(headers: tuple[str, ...]) -> None:
    assert parse_message(mail(*headers)).spam is None


def test_the_parser_processes_carry_the_verdict() -> None:
    (parsed,) = parse_batch([mail("X-Spam-Flag: YES")], 1 << 20)
    assert not isinstance(parsed, str) and parsed.spam == "X-Spam-Flag: YES"


async def test_spam_from_a_stranger_is_quarantined_not_a_new_customer(world: World) -> None:
    done = await world.mail.deliver(world.office.id, mail("X-Spam-Flag: YES"), "test")
    assert done.outcome == "quarantined"
    (item,) = await world.store.list_quarantine(world.office.id, limit=10)
    assert item.reason.startswith("spam: marked by a mail server (X-Spam-Flag: YES)")
    customers = await world.store.list_customers(world.office.id, CustomerListQuery(limit=10))
    assert customers.items == []
    # a false positive: the admin assigns it to the customer it is from
    karl = await world.timeline.create_customer(world.office, "Karl Kunde", [])
    await world.mail.ingest.reprocess(world.office, item.id, karl.id)
    (entry,) = (await world.store.timeline(world.office.id, karl.id,
                                           TimelineQuery(limit=10))).items
    assert entry.subject == "Sie haben gewonnen!" and entry.meta["spam"] == "X-Spam-Flag: YES"


async def test_spam_from_a_known_customer_is_stored_and_marked(world: World) -> None:
    erika = await world.timeline.create_customer(
        world.office, "Erika Mustermann", [(IdentityKind.EMAIL, "erika@example.de")])
    raw = mail("X-Spam-Status: Yes, score=5.2 required=5.0", sender="erika@example.de",
               message_id="<e1@example.de>")
    done = await world.mail.deliver(world.office.id, raw, "test")
    assert done.outcome == "created"
    (entry,) = (await world.store.timeline(world.office.id, erika.id,
                                           TimelineQuery(limit=10))).items
    assert entry.meta["spam"] == "X-Spam-Status: Yes, score=5.2 required=5.0"
    assert is_message(entry)  # a person the office knows: an agent decides
    # and the same mail without a verdict carries no mark
    clean = mail(sender="erika@example.de", message_id="<e2@example.de>")
    await world.mail.deliver(world.office.id, clean, "test")
    newest = (await world.store.timeline(world.office.id, erika.id,
                                         TimelineQuery(limit=1))).items[0]
    assert "spam" not in newest.meta and newest.occurred_at <= utcnow()


async def test_the_import_path_quarantines_spam_from_strangers_too(world: World) -> None:
    (parsed,) = parse_batch([mail("X-Spam: Yes")], 1 << 20)
    assert not isinstance(parsed, str)
    (done,) = await world.mail.deliver_many(world.office.id, [(parsed, mail("X-Spam: Yes"),
                                                               "import")])
    assert done.outcome == "quarantined"
    customers = await world.store.list_customers(world.office.id, CustomerListQuery(limit=10))
    assert customers.items == []

