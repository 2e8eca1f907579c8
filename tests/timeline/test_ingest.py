"""The one ingest path: identity resolution, idempotency, threading, quarantine, merges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from timeline.blobs import BlobStore
from timeline.errors import Conflict
from timeline.ingest import (
    InboundAttachment,
    InboundMessage,
    IngestResult,
    IngestService,
    UnknownSenderPolicy,
)
from timeline.models import (
    Agent,
    Channel,
    CustomerStatus,
    IdentityKind,
    Office,
    Role,
    Visibility,
)
from timeline.service import TimelineService
from timeline.sqlite_store import SqliteStore
from timeline.store import TimelineQuery

T0 = datetime(2026, 4, 1, 8, 30, tzinfo=UTC)


class World:
    def __init__(self, store: SqliteStore, tl: TimelineService, office: Office,
                 agent: Agent) -> None:
        self.store, self.tl, self.office, self.agent = store, tl, office, agent
        self.ingest = IngestService(tl)

    def msg(self, source_id: str, sender: str = "Kunde@Example.de", **kw: object
            ) -> InboundMessage:
        base: dict[str, object] = dict(
            office_id=self.office.id, channel=Channel.EMAIL, source_id=source_id,
            sender_kind=IdentityKind.EMAIL, sender=sender, sender_name="Karl Kunde",
            occurred_at=T0, kind="email", subject="Frage", body="Hallo")
        base.update(kw)
        return InboundMessage.model_validate(base)

    async def bodies(self, customer_id: str) -> list[str]:
        page = await self.store.timeline(self.office.id, customer_id, TimelineQuery(limit=100))
        return [e.body for e in page.items]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    tl = TimelineService(store, BlobStore(tmp_path / "blobs"))
    office = await store.create_office("O", "DE")
    agent = await store.create_agent(office.id, "Anna", Role.ADMIN, "h")
    yield World(store, tl, office, agent)
    await store.close()


async def test_known_sender_lands_on_their_timeline_once(world: World) -> None:
    c = await world.tl.create_customer(world.office, "Karl", [(IdentityKind.EMAIL,
                                                              "kunde@example.de")])
    first = await world.ingest.ingest(world.msg("<a@x>"))
    again = await world.ingest.ingest(world.msg("<a@x>", body="redelivered"))
    assert first.created and not again.created
    assert first.customer is not None and first.customer.id == c.id
    assert again.entry is not None and first.entry is not None
    assert again.entry.id == first.entry.id
    assert await world.bodies(c.id) == ["Hallo"]


async def test_unknown_sender_becomes_unverified_customer(world: World) -> None:
    result = await world.ingest.ingest(world.msg("<b@x>", sender="Neu@Example.org"))
    assert result.new_customer and result.customer is not None
    assert result.customer.status is CustomerStatus.UNVERIFIED
    assert result.customer.name == "Karl Kunde"
    assert result.customer.identities[0].value == "neu@example.org"
    second = await world.ingest.ingest(world.msg("<c@x>", sender="neu@example.org"))
    assert second.customer is not None and second.customer.id == result.customer.id
    assert not second.new_customer


async def test_unassigned_policy_quarantines_then_agent_assigns(world: World) -> None:
    world.ingest.unknown_sender = UnknownSenderPolicy.UNASSIGNED
    result = await world.ingest.ingest(world.msg("<d@x>", sender="fremd@example.org",
                                                 attachments=(InboundAttachment(
                                                     name="a.txt", data=b"abc"),)))
    assert result.entry is None and result.quarantined is not None
    assert result.quarantined.reason.startswith("unknown_sender")
    c = await world.tl.create_customer(world.office, "Zugeordnet")
    item = await world.ingest.reprocess(world.office, result.quarantined.id, c.id)
    assert item.status == "processed" and item.entry_id
    entry = await world.store.get_entry(world.office.id, item.entry_id)
    assert entry is not None and entry.customer_id == c.id
    assert entry.attachments[0].name == "a.txt"
    assert await world.tl.blobs.get(entry.attachments[0].sha256) == b"abc"
    with pytest.raises(Conflict):
        await world.ingest.reprocess(world.office, result.quarantined.id, c.id)


async def test_unparseable_sender_is_quarantined_not_lost(world: World) -> None:
    result = await world.ingest.ingest(world.msg("<e@x>", sender="not an address"))
    assert result.entry is None and result.quarantined is not None
    assert "unattributable" in result.quarantined.reason
    items = await world.store.list_quarantine(world.office.id)
    assert [i.id for i in items] == [result.quarantined.id]


async def test_reprocess_with_a_connector_parser(world: World) -> None:
    calls: list[bytes] = []

    async def parser(office: Office, raw: bytes, origin: str, customer_id: str | None
                     ) -> IngestResult:
        calls.append(raw)
        return await world.ingest.ingest(world.msg(raw.decode(), customer_id=customer_id))

    world.ingest.register_reprocessor("email", parser)
    item = await world.ingest.quarantine(world.office.id, "email", b"<f@x>", "broken", "test")
    same = await world.ingest.quarantine(world.office.id, "email", b"<f@x>", "broken", "test")
    assert same.id == item.id  # the same bytes twice are one item
    done = await world.ingest.reprocess(world.office, item.id)
    assert done.status == "processed" and calls == [b"<f@x>"]


async def test_replies_link_to_the_entry_they_answer(world: World) -> None:
    first = await world.ingest.ingest(world.msg("<root@x>", subject="Schaden"))
    reply = await world.ingest.ingest(world.msg("<reply@x>", subject="Re: Schaden",
                                                in_reply_to="<root@x>"))
    assert reply.entry is not None and first.entry is not None
    assert reply.entry.meta["in_reply_to"]["entry_id"] == first.entry.id
    assert reply.entry.meta["in_reply_to"]["subject"] == "Schaden"
    ref_only = await world.ingest.ingest(world.msg("<r2@x>", references=("<root@x>",
                                                                          "<unknown@x>")))
    assert ref_only.entry is not None
    assert ref_only.entry.meta["in_reply_to"]["entry_id"] == first.entry.id


async def test_automated_messages_are_internal_and_marked(world: World) -> None:
    await world.ingest.ingest(world.msg("<first@x>"))  # the sender is a customer by now
    r = await world.ingest.ingest(world.msg("<ooo@x>", automated="auto_reply",
                                            subject="Abwesenheitsnotiz"))
    assert r.entry is not None
    assert r.entry.visibility is Visibility.INTERNAL
    assert r.entry.meta["automated"] == "auto_reply" and "automated" in r.entry.tags
    assert r.entry.notify is False


@pytest.mark.parametrize("automated", ["auto_reply", "bulk"])
async def test_automated_messages_never_make_a_stranger_a_customer(
        world: World, automated: str) -> None:
    r = await world.ingest.ingest(world.msg("<news@x>", sender="news@shop.example",
                                            automated=automated))
    assert r.entry is None and r.quarantined is not None
    assert r.quarantined.reason == f"{automated}: news@shop.example; the sender is no customer"
    (batched,) = await world.ingest.ingest_many([(world.msg(
        "<news2@x>", sender="news@shop.example", automated=automated), None, "test")])
    assert batched.quarantined is not None and batched.entry is None
    assert await world.store.find_customers(world.office.id, IdentityKind.EMAIL,
                                            "news@shop.example") == []


async def test_merge_moves_everything_and_undo_restores(world: World) -> None:
    a = await world.tl.create_customer(world.office, "Dup A", [(IdentityKind.EMAIL,
                                                                "a@example.de")])
    b = await world.tl.create_customer(world.office, "Real B", [
        (IdentityKind.EMAIL, "b@example.de"), (IdentityKind.EMAIL, "a@example.de")])
    await world.ingest.ingest(world.msg("<m1@x>", sender="b@example.de", customer_id=a.id,
                                        body="from A"))
    await world.ingest.ingest(world.msg("<m2@x>", sender="b@example.de", customer_id=b.id,
                                        body="from B"))
    merge = await world.ingest.merge(world.office, world.agent, a.id, b.id)
    assert len(merge.entry_ids) == 1
    bodies_b = await world.bodies(b.id)
    assert "from A" in bodies_b and "from B" in bodies_b
    assert any("merged into" in x for x in bodies_b)
    gone = await world.store.get_customer(world.office.id, a.id)
    assert gone is not None and gone.status is CustomerStatus.MERGED
    assert gone.identities == ()
    with pytest.raises(Conflict):
        await world.ingest.merge(world.office, world.agent, a.id, b.id)
    await world.ingest.undo_merge(world.office, world.agent, merge.id)
    back = await world.store.get_customer(world.office.id, a.id)
    assert back is not None and back.status is CustomerStatus.ACTIVE
    assert [i.value for i in back.identities] == ["a@example.de"]
    still_b = await world.store.get_customer(world.office.id, b.id)
    assert still_b is not None
    assert {i.value for i in still_b.identities} == {"a@example.de", "b@example.de"}
    assert "from A" in await world.bodies(a.id)
    assert "from A" not in await world.bodies(b.id)
    with pytest.raises(Conflict):
        await world.ingest.undo_merge(world.office, world.agent, merge.id)


async def test_bounce_marks_identity_undeliverable(world: World) -> None:
    c = await world.tl.create_customer(world.office, "K", [(IdentityKind.EMAIL,
                                                           "weg@example.de")])
    affected = await world.ingest.mark_undeliverable(world.office.id, IdentityKind.EMAIL,
                                                     "WEG@example.de", "550 no such user")
    assert affected == [c.id]
    after = await world.store.get_customer(world.office.id, c.id)
    assert after is not None and after.identities[0].undeliverable
    assert any("undeliverable" in e for e in [
        x.subject for x in (await world.store.timeline(world.office.id, c.id,
                                                       TimelineQuery())).items])
