"""The store, cut into repositories per aggregate: one small Protocol each, with the method
names the services call. A consumer asks for the one or two it uses (the notifier never
sees erasure, a connector never sees sign-in codes); ``timeline.store.Store`` is their union
for the composition root. ``SqliteStore`` implements every one of them over one database
handle, and each ``timeline.sqlite_*`` repository class also works on its own.

Domain failures are ``timeline.errors`` exceptions (``NotFound``, ``Conflict``), never a bare
``KeyError``/``ValueError``: an unexpected ``KeyError`` is a bug and stays a 500."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from timeline.ids import SEQ_SLOTS, seq_base
from timeline.models import (
    Agent,
    Channel,
    Consent,
    Customer,
    CustomerStatus,
    Entry,
    EntryDraft,
    Identity,
    IdentityKind,
    JsonPage,
    Merge,
    Office,
    Page,
    Preferences,
    QuarantineItem,
    RecentJson,
    Role,
    Visibility,
)
from timeline.notifications import (
    DeliveryAttempt,
    DeliveryStart,
    InboxItem,
    JobOutcome,
    NotifyJob,
)
from timeline.policy import PolicyMap
from timeline.privacy_models import (
    AccessRecord,
    ErasedSenderPolicy,
    ErasureOrder,
    ErasureOutcome,
    ErasureReceipt,
    ExportRecord,
    ExportStatus,
    PersonalData,
    RetentionRule,
)


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

    def seq_bounds(self) -> tuple[int | None, int | None]:
        """The keys the page lies in: (the lowest included, the one every entry is below),
        from ``since``, ``until`` (its whole day) and the cursor; ``None``: no bound."""
        upper = self.before_seq
        if self.until is not None:
            until = seq_base(self.until) + SEQ_SLOTS
            upper = until if upper is None else min(upper, until)
        return (seq_base(self.since) if self.since is not None else None), upper


@dataclass(frozen=True)
class EntryContext:
    """What decides a new agent entry: the policies that apply and the office's tone words."""

    office_policy: PolicyMap
    agent_policy: PolicyMap
    tone_words: tuple[str, ...]
    colleagues: tuple[str, ...] = ()
    """The names of the office's other agents (flagged in published text)."""
    internal_addresses: tuple[str, ...] = ()
    """The agents' sign-in e-mail addresses."""
    customer_name: str = ""


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


@dataclass(frozen=True)
class ReceivedUpdate:
    """A Telegram update taken in (webhook or polling) but not yet processed."""

    update_id: int
    chat_id: int | None
    received_at: datetime
    raw: bytes
    attempts: int
    next_at: datetime
    last_error: str | None



class OfficeRepository(Protocol):
    """Offices and their agents (an agent's sign-in lives in ``timeline.accounts``)."""

    async def create_office(self, name: str, region: str) -> Office: ...
    async def get_office(self, office_id: str) -> Office | None: ...
    async def list_offices(self) -> list[Office]: ...
    async def create_agent(
        self, office_id: str, name: str, role: Role, token_hash: str
    ) -> Agent: ...
    async def agent_for_token(self, token_hash: str) -> Agent | None: ...


class CustomerRepository(Protocol):
    """Customers with their identities, and merges of one customer into another.
    ``merge_customers``/``undo_merge``: ``NotFound`` for an unknown customer or merge,
    ``Conflict`` for a customer merged away already or a merge undone already."""

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
    async def customers_with_recent(
        self, office_id: str, kind: IdentityKind, value: str, recent: int
    ) -> list[tuple[Customer, list[Entry]]]:
        """Customers with this identity and their newest conversation entries: automatic
        bookkeeping (channel ``notification``) is left out, it stays on the timeline."""
        ...
    async def customers_with_recent_json(
        self, office_id: str, kind: IdentityKind, value: str, recent: int
    ) -> list[RecentJson]:
        """``customers_with_recent``, the entries as JSON (what the API answers)."""
        ...
    async def customers_by_identities(self, office_id: str, kind: IdentityKind,
                                      values: Sequence[str]) -> dict[str, list[Customer]]:
        """Batched ``find_customers``: value -> customers, for values someone has."""
        ...
    async def set_identity_undeliverable(self, office_id: str, kind: IdentityKind, value: str,
                                         undeliverable: bool) -> list[str]: ...
    async def merge_customers(self, office_id: str, source_id: str, target_id: str
                              ) -> Merge: ...
    async def undo_merge(self, office_id: str, merge_id: str) -> Merge: ...
    async def get_merge(self, office_id: str, merge_id: str) -> Merge | None: ...


class EntryRepository(Protocol):
    """Entries (each written with its index-outbox row, its notification-outbox row when
    published with ``notify``, and its live-event row, in one transaction), the reads of the
    timeline, tags across an office, and the index outbox the indexer drains."""

    async def append(self, draft: EntryDraft) -> tuple[Entry, bool]:
        """Store one entry (+ its outbox rows, one transaction). Idempotent on
        (office, channel, source_id): returns the existing entry and ``False``."""
        ...
    async def append_many(self, drafts: Sequence[EntryDraft]) -> list[tuple[Entry, bool]]: ...
    async def get_entry(self, office_id: str, entry_id: str) -> Entry | None: ...
    async def entries_by_seq(self, office_id: str, seqs: Sequence[int]) -> list[Entry]: ...
    async def revise_entry(self, office_id: str, entry_id: str, *, subject: str | None = None,
                           body: str | None = None, meta: dict[str, Any] | None = None,
                           keep_history: bool = True) -> Entry | None: ...
    async def move_entry(self, office_id: str, entry_id: str, customer_id: str,
                         moved: dict[str, Any]) -> Entry | None:
        """File an entry on another customer of the office (one transaction): ``moved``
        (who, when, from where) is appended to ``meta.moved``; its notification job, when
        not sent yet (pending and not being sent, dead, failed), goes to the new customer;
        the old customer's portal inbox loses it; reindexed; an ``entry.updated`` event for
        each customer. ``None``: no such entry; ``NotFound``: no such customer;
        ``Conflict``: the customer was merged away. Already there: the entry as it is."""
        ...
    async def find_entry_by_source(self, office_id: str, source_id: str,
                                   channel: Channel | None = None) -> Entry | None: ...
    async def entries_by_sources(self, office_id: str, source_ids: Sequence[str],
                                 channel: Channel | None = None) -> dict[str, Entry]:
        """Batched ``find_entry_by_source``: source id -> entry, for those that exist."""
        ...
    async def timeline(self, office_id: str, customer_id: str, query: TimelineQuery) -> Page: ...
    async def timeline_json(self, office_id: str, customer_id: str, query: TimelineQuery
                            ) -> JsonPage:
        """The page ``timeline`` gives, as a JSON array of entries as
        ``timeline.public.public_entry`` shows them (what the API answers)."""
        ...
    async def scan_entries(self, after_seq: int, limit: int) -> list[Entry]:
        """All offices' entries in key order (for reindexing)."""
        ...
    async def count_entries(self) -> int:
        """All offices' entries (progress of a reindex)."""
        ...
    async def retag_entry(self, office_id: str, entry_id: str, *, add: Sequence[str] = (),
                          remove: Sequence[str] = ()) -> tuple[str, ...] | None: ...
    async def entries_with_tag(self, office_id: str, tag: str, *,
                               without_tag: str | None = None, limit: int = 200,
                               customer_id: str | None = None) -> list[Entry]:
        """The office's entries tagged ``tag`` (exact) and not ``without_tag``, oldest
        first; only one customer's with ``customer_id``."""
        ...
    async def awaiting_reply(self, office_id: str, since: datetime, limit: int
                             ) -> list[Entry]:
        """The office's customers waiting for an answer (``timeline.replies``): for each,
        the newest message they sent since ``since`` when nothing answered it and nobody
        marked it "no reply needed"; oldest first (the longest waiting on top), at most
        ``limit``."""
        ...

    # the index outbox
    async def pending_index_tasks(self, limit: int) -> list[IndexTask]: ...
    async def ack_index_tasks(self, outbox_ids: Sequence[int]) -> None: ...
    async def requeue_index(self, seqs: Sequence[int]) -> None:
        """Index these entries again (their attached files' text was read meanwhile); an
        entry gone by then is deleted from the index as any other."""
        ...
    async def index_backlog(self) -> tuple[int, int]:
        """(rows waiting in the index outbox, the highest outbox id; 0 when empty)."""
        ...
    async def ack_index_through(self, outbox_id: int) -> int:
        """Acknowledge every outbox row up to ``outbox_id``; returns how many."""
        ...


class CallRepository(Protocol):
    """The state of each CTI call, kept apart from its entry (events come out of order)."""

    async def call_state(self, office_id: str, call_id: str) -> dict[str, Any] | None: ...
    async def save_call_state(self, office_id: str, call_id: str, state: dict[str, Any],
                              customer_id: str | None = None, *, event: str | None = None,
                              entry_id: str | None = None,
                              event_data: dict[str, Any] | None = None) -> None: ...
    async def replace_call_state(self, office_id: str, call_id: str,
                                 current: dict[str, Any] | None, state: dict[str, Any],
                                 customer_id: str | None = None, *, event: str | None = None,
                                 entry_id: str | None = None,
                                 event_data: dict[str, Any] | None = None) -> bool:
        """``save_call_state`` only while the stored state is still ``current`` (``None``:
        no state yet), atomically; False (nothing written) when another process changed it
        since it was read. Events of one call arriving at two processes at once are applied
        one after the other this way, none lost."""
        ...
    async def unended_calls(self, updated_before: datetime, limit: int = 500
                            ) -> list[tuple[str, str]]:
        """``(office_id, call_id)`` of calls whose state has no end (``ended_at``) and was
        last changed before ``updated_before``: the phone system never reported their end.
        Erased callers' tombstones and calls between extensions are left out."""
        ...


class TelegramUpdateStore(Protocol):
    """Received Telegram updates, kept until processed (and their ids a while longer, so a
    redelivered update is recognised). Keyed by office, bot and Telegram's ``update_id``."""

    async def add_telegram_update(self, office_id: str, bot_id: int, update_id: int,
                                  chat_id: int | None, raw: bytes, received_at: datetime
                                  ) -> bool:
        """``False`` when this update was received before (pending or done)."""
        ...
    async def pending_telegram_updates(self, office_id: str, bot_id: int, limit: int = 500
                                       ) -> list[ReceivedUpdate]:
        """Oldest first by ``update_id``."""
        ...
    async def finish_telegram_update(self, office_id: str, bot_id: int, update_id: int
                                     ) -> None:
        """Processed: the content is dropped, the id kept for recognising redeliveries."""
        ...
    async def retry_telegram_update(self, office_id: str, bot_id: int, update_id: int,
                                    next_at: datetime, error: str) -> None: ...
    async def prune_telegram_updates(self, before: datetime) -> int:
        """Forget processed update ids received before ``before``."""
        ...



@dataclass(frozen=True)
class ComponentReport:
    """The last state one component's process reported (``chronik.components``)."""

    name: str
    process: str
    """Who runs it: ``host:pid``."""
    report: dict[str, Any]
    reported_at: datetime


COMPONENT_REPORTS_KEPT = timedelta(hours=1)
"""A process's reports not renewed for this long (it was killed, or stopped long ago) are
removed by the next report of any process."""


class ComponentReports(Protocol):
    """The states of the connectors and workers, as each process running some reports them,
    so that every process can show them (``GET /api/v1/connectors``)."""

    async def replace_component_reports(self, process: str, reports: Sequence[dict[str, Any]],
                                         at: datetime) -> None:
        """These reports (each with its ``name``) are now all that ``process`` runs; other
        processes' reports stay, unless older than ``COMPONENT_REPORTS_KEPT``."""
        ...
    async def component_reports(self) -> list[ComponentReport]:
        """By name, then process."""
        ...


class InboundRepository(CallRepository, TelegramUpdateStore, ComponentReports, Protocol):
    """What inbound channels keep besides entries: the office's addresses and CTI token,
    customer tokens (portal sign-in, linking codes), quarantine, call state, received
    Telegram updates and the connectors' reported states. ``cti_token``: ``NotFound`` for an
    unknown office."""

    async def cti_token(self, office_id: str) -> str: ...
    async def office_for_cti_token(self, token: str) -> str | None: ...
    async def add_inbound_address(self, office_id: str, address: str) -> bool: ...
    async def remove_inbound_address(self, office_id: str, address: str) -> bool: ...
    async def inbound_addresses(self, office_id: str | None = None) -> dict[str, str]: ...
    async def add_customer_token(self, office_id: str, customer_id: str, purpose: str,
                                 token_hash: str, expires_at: datetime) -> None: ...
    async def resolve_customer_token(self, token_hash: str, purpose: str, *,
                                     consume: bool = False) -> tuple[str, str] | None: ...
    async def revoke_customer_tokens(self, office_id: str, customer_id: str, purpose: str
                                     ) -> int: ...
    async def add_quarantine(self, office_id: str, channel: str, reason: str, origin: str,
                             raw_sha256: str, size: int) -> QuarantineItem: ...
    async def list_quarantine(self, office_id: str, *, status: str | None = "open",
                              limit: int = 50, after_id: str | None = None
                              ) -> list[QuarantineItem]: ...
    async def get_quarantine(self, office_id: str, item_id: str) -> QuarantineItem | None: ...
    async def resolve_quarantine(self, office_id: str, item_id: str, status: str,
                                 entry_id: str | None = None, reason: str | None = None
                                 ) -> QuarantineItem | None: ...


class PolicyRepository(Protocol):
    """What decides a new entry and a notification: the publish policy per office and agent,
    the tone lexicon, and each customer's consents and preferences."""

    async def get_policy(self, office_id: str, agent_id: str | None) -> PolicyMap: ...
    async def set_policy(self, office_id: str, agent_id: str | None, policy: PolicyMap) -> None: ...
    async def get_tone_words(self, office_id: str) -> tuple[str, ...]: ...
    async def set_tone_words(self, office_id: str, words: Sequence[str]) -> None: ...
    async def entry_context(self, office_id: str, agent_id: str, customer_id: str
                            ) -> EntryContext | None: ...
    async def record_consent(self, office_id: str, customer_id: str, channel: str,
                             granted: bool, *, actor: str, route: str) -> Consent: ...
    async def consents(self, office_id: str, customer_id: str) -> dict[str, Consent]: ...
    async def consent_history(self, office_id: str, customer_id: str) -> list[Consent]: ...
    async def get_preferences(self, office_id: str, customer_id: str) -> Preferences: ...
    async def set_preferences(self, office_id: str, customer_id: str, prefs: Preferences
                              ) -> None: ...


class PortalInbox(Protocol):
    """The customer portal's inbox (the portal transport writes it, the portal reads it)."""

    async def add_inbox_item(self, office_id: str, customer_id: str, entry_id: str,
                             subject: str, body: str, attachments: Sequence[dict[str, Any]]
                             ) -> InboxItem: ...
    async def list_inbox(self, office_id: str, customer_id: str, *, limit: int = 50,
                         before_id: str | None = None, unread_only: bool = False
                         ) -> list[InboxItem]: ...
    async def mark_inbox_read(self, office_id: str, customer_id: str, item_id: str
                              ) -> InboxItem | None: ...


class NotifyRepository(PortalInbox, Protocol):
    """Notification jobs under a lease, deliveries and attempts, and the notifier's only
    entry read. ``retry_notify_job``: ``Conflict`` for a job that cannot be retried."""

    async def published_entry(self, office_id: str, entry_id: str) -> Entry | None:
        """The entry only if it is published (the notifier's only way to read entries)."""
        ...
    async def claim_notify_jobs(self, owner: str, now: datetime, lease_until: datetime,
                                limit: int) -> list[NotifyJob]: ...
    async def next_notify_due(self) -> datetime | None: ...
    async def reschedule_notify_job(self, job_id: str, owner: str, *, next_at: datetime,
                                    attempts: int, reason: str | None,
                                    skip_channels: Sequence[str], channel: str | None = None,
                                    attempt_id: int | None = None,
                                    attempt_outcome: str | None = None,
                                    held: str | None = None) -> None: ...
    async def claim_held_jobs(self, office_id: str, customer_id: str, owner: str,
                              now: datetime, lease_until: datetime) -> list[NotifyJob]: ...
    async def release_held_jobs(self, office_id: str, customer_id: str, *,
                                digest_held: str | None) -> int: ...
    async def begin_delivery(self, job_id: str, owner: str, lease_until: datetime,
                             entry_id: str, channel: str, *,
                             redo_interrupted: bool = False) -> DeliveryStart: ...
    async def fail_delivery(self, job_id: str, attempt_id: int, channel: str, outcome: str,
                            detail: str, skip_channels: Sequence[str]) -> None: ...
    async def complete_notify_job(self, job_id: str, owner: str | None, outcome: JobOutcome,
                                  notification: EntryDraft | None) -> Entry | None: ...
    async def get_notify_job(self, office_id: str, job_id: str) -> NotifyJob | None: ...
    async def list_notify_jobs(self, office_id: str, *, status: str | None = None,
                               customer_id: str | None = None, limit: int = 50,
                               before_id: str | None = None) -> list[NotifyJob]: ...
    async def notify_attempts(self, job_ids: Sequence[str]
                              ) -> dict[str, list[DeliveryAttempt]]: ...
    async def retry_notify_job(self, office_id: str, job_id: str) -> NotifyJob | None: ...


class SuppressionList(Protocol):
    """What ingest asks about erased persons."""

    async def is_suppressed(self, office_id: str, kind: str, digest: str) -> bool: ...
    async def office_erased_sender(self, office_id: str) -> ErasedSenderPolicy | None:
        """The office's own erased-sender policy (None: the server's default)."""
        ...


class PrivacyRepository(SuppressionList, Protocol):
    """Data protection: export, erasure (``NotFound`` for an unknown customer), retention,
    export jobs, the access record, the office's erased-sender policy."""

    async def personal_data(self, office_id: str, customer_id: str) -> PersonalData | None:
        """Everything stored about one customer, in one read."""
        ...
    async def erase_customer(self, order: ErasureOrder) -> ErasureOutcome:
        """Remove the customer and what names them in one transaction (``NotFound``: no
        such customer); writes index-outbox drop rows, suppression hashes and a receipt."""
        ...
    async def delete_entries(self, office_id: str, entry_ids: Sequence[str]
                             ) -> tuple[list[int], list[str]]: ...
    async def entries_of_kind_before(self, office_id: str, kind: str, before: datetime,
                                     limit: int = 10000) -> list[Entry]: ...
    async def retained_until(self, office_id: str, before: datetime, limit: int = 10000
                             ) -> list[Entry]:
        """Entries kept by law after an erasure whose ``meta.retained.until`` has passed."""
        ...
    async def prune_call_states(self, before: datetime) -> int:
        """Forget CTI call states not updated since ``before``; how many went."""
        ...
    async def blobs_in_use(self, sha256s: Sequence[str]) -> set[str]: ...
    async def scrub(self) -> None:
        """Leave no copy of deleted content in the store's files (WAL checkpoint)."""
        ...
    async def erasure_receipts(self, office_id: str, limit: int = 100,
                               before_id: str | None = None) -> list[ErasureReceipt]:
        """Newest first; ``before_id``: the page after the receipt with that id."""
        ...
    async def retention_rules(self, office_id: str) -> list[RetentionRule]: ...
    async def set_retention_rule(self, office_id: str, rule: RetentionRule) -> None: ...
    async def remove_retention_rule(self, office_id: str, kind: str) -> bool: ...
    async def add_export(self, record: ExportRecord) -> None: ...
    async def update_export(self, export_id: str, *, status: ExportStatus | None = None,
                            progress: int | None = None, file: str | None = None,
                            error: str | None = None) -> None: ...
    async def get_export(self, office_id: str, export_id: str) -> ExportRecord | None: ...
    async def list_exports(self, office_id: str, customer_id: str | None = None,
                           limit: int = 200) -> list[ExportRecord]: ...
    async def take_expired_exports(self, before: datetime) -> list[ExportRecord]: ...
    async def add_access_record(self, record: AccessRecord) -> None: ...
    async def access_records(self, office_id: str, limit: int = 50,
                             before_id: str | None = None) -> list[AccessRecord]:
        """The access record (who exported or erased whom), newest first."""
        ...
    async def prune_access_records(self, now: datetime) -> int: ...
    async def set_office_erased_sender(self, office_id: str,
                                       policy: ErasedSenderPolicy | None) -> None: ...


# ---------------------------------------------------------------------- what services use
class TimelineStore(CustomerRepository, EntryRepository, PolicyRepository, Protocol):
    """What ``TimelineService`` itself uses."""


class IngestStore(TimelineStore, OfficeRepository, InboundRepository, SuppressionList,
                  Protocol):
    """What ``IngestService`` and the connectors fed by it (e-mail, Telegram, phone) use."""


class NotifyStore(TimelineStore, OfficeRepository, InboundRepository, NotifyRepository,
                  Protocol):
    """What the notification worker uses (the office's name and reply address included)."""


class PrivacyStore(TimelineStore, InboundRepository, PrivacyRepository, Protocol):
    """What ``PrivacyService`` uses (quarantined messages naming a person included)."""
