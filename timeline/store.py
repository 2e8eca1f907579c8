"""The store boundary: one Protocol, implemented by SQLite (embedded) and tested by one
contract suite (``tests/timeline/test_store_contract.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from timeline.models import (
    Agent,
    Channel,
    Customer,
    CustomerStatus,
    Entry,
    EntryDraft,
    Identity,
    IdentityKind,
    Office,
    Page,
    Role,
    Visibility,
)
from timeline.policy import PolicyMap


@dataclass(frozen=True)
class TimelineQuery:
    limit: int = 50
    before_seq: int | None = None
    """Cursor: only entries older than this key (keyset pagination, stable under inserts)."""
    channels: tuple[Channel, ...] = ()
    kinds: tuple[str, ...] = ()
    visibility: Visibility | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class IndexTask:
    """One row of the index outbox: (re)index ``entry`` or drop document ``seq``."""

    outbox_id: int
    seq: int
    entry: Entry | None


@dataclass(frozen=True)
class CustomerListQuery:
    limit: int = 50
    after_id: str | None = None
    name: str | None = None
    status: CustomerStatus | None = None
    ids: tuple[str, ...] = field(default_factory=tuple)


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # offices and agents
    async def create_office(self, name: str, region: str) -> Office: ...
    async def get_office(self, office_id: str) -> Office | None: ...
    async def list_offices(self) -> list[Office]: ...
    async def create_agent(
        self, office_id: str, name: str, role: Role, token_hash: str
    ) -> Agent: ...
    async def agent_for_token(self, token_hash: str) -> Agent | None: ...

    # customers and identities
    async def create_customer(
        self,
        office_id: str,
        name: str,
        identities: Sequence[Identity],
        status: CustomerStatus = CustomerStatus.ACTIVE,
    ) -> Customer: ...
    async def get_customer(self, office_id: str, customer_id: str) -> Customer | None: ...
    async def update_customer(
        self, office_id: str, customer_id: str, *, name: str | None = None,
        status: CustomerStatus | None = None,
    ) -> Customer | None: ...
    async def list_customers(self, office_id: str, query: CustomerListQuery) -> Page: ...
    async def add_identity(
        self, office_id: str, customer_id: str, identity: Identity
    ) -> Customer | None: ...
    async def remove_identity(
        self, office_id: str, customer_id: str, kind: IdentityKind, value: str
    ) -> Customer | None: ...
    async def find_customers(
        self, office_id: str, kind: IdentityKind, value: str
    ) -> list[Customer]: ...

    # entries
    async def append(self, draft: EntryDraft) -> tuple[Entry, bool]:
        """Store one entry (+ its outbox rows, one transaction). Idempotent on
        (office, channel, source_id): returns the existing entry and ``False``."""
        ...
    async def append_many(self, drafts: Sequence[EntryDraft]) -> list[tuple[Entry, bool]]: ...
    async def get_entry(self, office_id: str, entry_id: str) -> Entry | None: ...
    async def entries_by_seq(self, office_id: str, seqs: Sequence[int]) -> list[Entry]: ...
    async def timeline(self, office_id: str, customer_id: str, query: TimelineQuery) -> Page: ...
    async def scan_entries(self, after_seq: int, limit: int) -> list[Entry]:
        """All offices' entries in key order (for reindexing)."""
        ...

    # policy and tone lexicon
    async def get_policy(self, office_id: str, agent_id: str | None) -> PolicyMap: ...
    async def set_policy(self, office_id: str, agent_id: str | None, policy: PolicyMap) -> None: ...
    async def get_tone_words(self, office_id: str) -> tuple[str, ...]: ...
    async def set_tone_words(self, office_id: str, words: Sequence[str]) -> None: ...

    # index outbox
    async def pending_index_tasks(self, limit: int) -> list[IndexTask]: ...
    async def ack_index_tasks(self, outbox_ids: Sequence[int]) -> None: ...
