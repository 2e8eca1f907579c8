"""Records of data-protection work: what is stored about one person (export, Art. 15), what
an erasure removes and keeps (Art. 17), legal retention rules and the export jobs."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from timeline.models import Consent, Customer, Entry, Preferences


class ErasedSenderPolicy(StrEnum):
    QUARANTINE = "quarantine"
    """A message from an erased person waits in the quarantine (reason ``erased_sender``)."""
    DROP = "drop"
    """A message from an erased person is dropped: nothing is stored."""


def suppression_digest(key: bytes, office_id: str, kind: str, value: str) -> str:
    """The keyed hash an erased identity leaves on the suppression list: HMAC-SHA256 of
    the office, the kind and the normalised value with the server's secret key (without
    the key, the list does not tell whom it holds)."""
    msg = f"{office_id}\x00{kind}\x00{value}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


class RetentionAction(StrEnum):
    KEEP = "keep"
    """Entries of this kind are kept by law for ``years`` (they survive an erasure,
    detached from the person)."""
    DELETE = "delete"
    """Entries of this kind are deleted once older than ``years`` (the server's retention
    worker, ``chronik/glue/privacy.py``, or ``chronik retention``)."""


@dataclass(frozen=True)
class RetentionRule:
    kind: str
    action: RetentionAction
    years: int


@dataclass(frozen=True)
class PersonalData:
    """Everything the store holds about one customer (read in one transaction)."""

    customer: Customer
    merged_in: list[Customer]
    """Customer records merged into this one (the same person's earlier records)."""
    entries: list[Entry]
    preferences: Preferences
    consents: list[Consent]
    notify_jobs: list[dict[str, Any]]
    """Each job with its ``deliveries`` and ``attempts``."""
    inbox: list[dict[str, Any]]
    merges: list[dict[str, Any]]
    cti_calls: list[dict[str, Any]]
    tokens: list[dict[str, Any]]
    """Purpose and dates only, never the hash."""
    portal_sessions: dict[str, Any]
    login_codes: dict[str, Any]


@dataclass(frozen=True)
class RetainedEntry:
    entry_id: str
    kind: str
    until: datetime
    reason: str


@dataclass(frozen=True)
class ErasureOrder:
    """What one erasure does, decided by the service and carried out by the store in one
    transaction."""

    office_id: str
    customer_id: str
    erased_by: str
    retained: tuple[RetainedEntry, ...] = ()
    quarantine_ids: tuple[str, ...] = ()
    suppress: tuple[tuple[str, str], ...] = ()
    """(identity kind, keyed hash of the normalised value)."""
    placeholder_name: str = "Erased customer"
    access_log_until: datetime | None = None
    """When set, an ``erase`` row of the access record (who erased whom, expiring then) is
    written in the same transaction."""


@dataclass(frozen=True)
class ErasureOutcome:
    receipt_id: str
    counts: dict[str, int]
    erased_seqs: tuple[int, ...]
    blob_candidates: tuple[str, ...]
    """SHA-256 of attachments and raw quarantined messages of what was erased."""
    export_files: tuple[str, ...]
    placeholder_id: str | None = None


@dataclass(frozen=True)
class ErasureReceipt:
    """What stays after an erasure: who, when, how much — no personal content."""

    id: str
    office_id: str
    erased_by: str
    erased_at: datetime
    counts: dict[str, int]
    retained: list[dict[str, Any]] = field(default_factory=list)


class ExportStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class ExportRecord:
    id: str
    office_id: str
    customer_id: str
    requested_by: str
    status: ExportStatus
    progress: int
    created_at: datetime
    file: str | None = None
    error: str | None = None
    finished_at: datetime | None = None


class AccessAction(StrEnum):
    EXPORT = "export"
    ERASE = "erase"


@dataclass(frozen=True)
class AccessRecord:
    """One row of the access record (accountability): who exported or erased whom, when,
    until when the row is kept. Nothing else: no names, addresses or content."""

    id: str
    office_id: str
    agent_id: str
    """The agent's id, or ``cli`` for the command line."""
    action: AccessAction
    customer_id: str
    at: datetime
    expires_at: datetime
