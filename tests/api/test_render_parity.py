"""The hot-path shortcuts give exactly what the validated, documented models give."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from chronik.api.render import customer_json, dumps, entry_json
from chronik.api.schemas import CustomerOut, EntryOut
from timeline.models import (
    Attachment,
    Channel,
    Customer,
    Direction,
    Entry,
    EntryDraft,
    Identity,
    IdentityKind,
    Visibility,
)
from timeline.sqlite_store import SqliteStore
from timeline.store import TimelineQuery


async def test_fast_rows_and_json_match_the_models(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        office = await store.create_office("O", "DE")
        customer = await store.create_customer(office.id, "Jürgen", [
            Identity(kind=IdentityKind.PHONE, value="+491711234567", raw="0171 1234567")])
        drafts = [
            EntryDraft(office_id=office.id, customer_id=customer.id, channel=Channel.DOCUMENT,
                       direction=Direction.INTERNAL, kind="document", author="A1",
                       visibility=Visibility.PUBLISHED, notify=True,
                       occurred_at=datetime(2026, 5, 1, 9, 30, 15, 123456,
                                            tzinfo=timezone(timedelta(hours=2))),
                       subject="Police", body="Text <b>", html="<p>Text</p>",
                       attachments=(Attachment(name="ä.pdf", content_type="application/pdf",
                                               size=3, sha256="a" * 64),),
                       tags=("x", "y"), source_id="src", meta={"k": [1, {"z": None}]}),
            EntryDraft(office_id=office.id, customer_id=customer.id, channel=Channel.NOTE,
                       direction=Direction.INTERNAL, kind="note",
                       visibility=Visibility.INTERNAL, occurred_at=datetime(2026, 5, 2,
                                                                             tzinfo=UTC)),
        ]
        await store.append_many(drafts)
        page = await store.timeline(office.id, customer.id, TimelineQuery())
        assert len(page.items) == 2
        for entry in page.items:
            validated = Entry.model_validate(entry.model_dump())
            assert entry == validated
            assert json.loads(dumps(entry_json(entry))) == json.loads(
                EntryOut.of(entry).model_dump_json())
        assert json.loads(dumps(customer_json(customer))) == json.loads(
            CustomerOut.of(customer).model_dump_json())
        [(found, recent)] = await store.customers_with_recent(
            office.id, IdentityKind.PHONE, "+491711234567", 10)
        assert found == Customer.model_validate(found.model_dump()) == customer
        assert found == await store.get_customer(office.id, customer.id)
        assert recent == page.items
    finally:
        await store.close()
