"""A message's time as mail programs really write it -- not "now" for every message whose
Date header is not RFC 5322 (an imported mailbox would then sort above its own history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.email.inbound import MailIngest
from connectors.email.parse import parse_message
from tests.conftest import Hub

HEAD = "From: Anna Alt <anna@example.com>\nTo: hub@example.org\nSubject: Test\n"


def tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


@pytest.mark.parametrize(("value", "want"), [
    # RFC 5322, as before
    ("Thu, 27 Jun 2013 13:29:57 +0200", datetime(2013, 6, 27, 13, 29, 57, tzinfo=tz(2))),
    ("Thu, 27 Jun 2013 13:29:57 -0000", datetime(2013, 6, 27, 13, 29, 57, tzinfo=UTC)),
    # a zone name the standard parser reads as UTC
    ("Mon, 16 May 2016 09:30:32 CEST", datetime(2016, 5, 16, 9, 30, 32, tzinfo=tz(2))),
    ("Mon, 16 May 2016 09:30:32 MEZ", datetime(2016, 5, 16, 9, 30, 32, tzinfo=tz(1))),
    # Apple Mail: "at", and GMT+1 meaning one hour ahead of UTC (POSIX reads it the other way)
    ("16 May 2016 at 09:30:32  GMT+1", datetime(2016, 5, 16, 9, 30, 32, tzinfo=tz(1))),
    ("16 May 2016 at 09:30:32 GMT-05:00", datetime(2016, 5, 16, 9, 30, 32, tzinfo=tz(-5))),
    # Outlook's "Sent:" form
    ("Monday, May 03, 2010 4:21 PM", datetime(2010, 5, 3, 16, 21, tzinfo=UTC)),
    # localised names
    ("Di, 03 Mär 2020 10:00:00 +0100", datetime(2020, 3, 3, 10, tzinfo=tz(1))),
    ("16. Mai 2016 um 09:30:32 MESZ", datetime(2016, 5, 16, 9, 30, 32, tzinfo=tz(2))),
    ("Fr., 15. März 2019 um 14:02 Uhr", datetime(2019, 3, 15, 14, 2, tzinfo=UTC)),
    ("mer. 4 déc. 2024 à 10:15", datetime(2024, 12, 4, 10, 15, tzinfo=UTC)),
    ("jueves, 7 de noviembre de 2019 8:05", datetime(2019, 11, 7, 8, 5, tzinfo=UTC)),
    # ISO 8601 and numeric dates (dots: day first, as in Germany)
    ("2016-05-16T09:30:32+02:00", datetime(2016, 5, 16, 9, 30, 32, tzinfo=tz(2))),
    ("2016-05-16 09:30:32", datetime(2016, 5, 16, 9, 30, 32, tzinfo=UTC)),
    ("03.05.2010 16:21", datetime(2010, 5, 3, 16, 21, tzinfo=UTC)),
])
def test_dates_as_mail_programs_write_them(value: str, want: datetime) -> None:
    parsed = parse_message(f"{HEAD}Date: {value}\n\nHallo\n".encode())
    assert parsed.date == want
    standard = value.startswith("Thu, 27 Jun 2013")
    assert any("Date header" in n for n in parsed.parse_notes) is not standard


RECEIVED = ("Received: from mx.example.com by mail.example.org with ESMTP id 1;\n"
            "\tTue, 14 Nov 2023 08:15:00 +0100\n"
            "Received: from client by mx.example.com; Tue, 14 Nov 2023 08:14:58 +0100\n")


@pytest.mark.parametrize("date", ["", "Date: heute\n", "Date: 2016\n", "Date: 12:30\n",
                                  "Date: 1. Januar 2100\n"])
def test_no_readable_date_takes_when_the_first_server_received_it(date: str) -> None:
    parsed = parse_message(f"{RECEIVED}{HEAD}{date}\nHallo\n".encode())
    assert parsed.date == datetime(2023, 11, 14, 8, 15, tzinfo=tz(1))
    assert any("the first mail server received" in n for n in parsed.parse_notes)


def test_without_any_date_the_message_has_none() -> None:
    parsed = parse_message(f"{HEAD}Date: irgendwann\n\nHallo\n".encode())
    assert parsed.date is None


async def test_an_imported_message_sorts_at_its_own_time(hub: Hub) -> None:
    ingest = MailIngest(hub.state.ingest)
    old = (f"{HEAD}Message-ID: <apple@example.com>\nDate: 16 May 2016 at 09:30:32 GMT+1\n\n"
           "Die alte Nachricht\n").encode()
    new = (f"{HEAD}Message-ID: <new@example.com>\nDate: Mon, 2 Nov 2026 10:00:00 +0100\n\n"
           "Die neue Nachricht\n").encode()
    for raw in (new, old):
        delivered = await ingest.deliver(hub.office.id, raw, "test")
        assert delivered.outcome == "created" and delivered.result.entry is not None
    customer = delivered.result.entry.customer_id
    status, page = await hub.agent.get(f"/customers/{customer}/timeline")
    assert status == 200
    assert [i["body"] for i in page["items"]] == ["Die neue Nachricht", "Die alte Nachricht"]
    assert datetime.fromisoformat(page["items"][1]["occurred_at"]) == datetime(
        2016, 5, 16, 8, 30, 32, tzinfo=UTC)
