"""Records of the notifier: jobs, delivery attempts and the customer's portal inbox.

A job exists once per published entry that asked for a notification; each channel it tries
is one *delivery* (the idempotency record, at most one per (entry, channel)) and each try is
one *attempt*."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(StrEnum):
    PENDING = "pending"
    """Waiting for its time (``next_at``) or being worked on (``claimed_until`` in the future)."""
    SENT = "sent"
    SUPPRESSED = "suppressed"
    """Nothing may be sent (opted out, no consent on any channel, entry no longer published)."""
    FAILED = "failed"
    """Every possible channel failed permanently."""
    DEAD = "dead"
    """Gave up after the configured attempts, or hit a bug: waits for an admin's retry."""
    UNKNOWN = "unknown"
    """A worker stopped in the middle of a send, or the channel lost its answer (a timed-out
    Telegram request): the message may have gone out. Not resent automatically (that could
    duplicate it); an admin may retry."""


FINAL_STATUSES = frozenset({JobStatus.SENT, JobStatus.SUPPRESSED, JobStatus.FAILED,
                            JobStatus.DEAD, JobStatus.UNKNOWN})
RETRYABLE_STATUSES = frozenset({JobStatus.DEAD, JobStatus.FAILED, JobStatus.UNKNOWN})


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NotifyJob(_Record):
    id: str
    office_id: str
    entry_id: str
    customer_id: str
    status: JobStatus
    attempts: int = 0
    """Transient failures so far on the current channel (reset by a fallback to the next
    channel and by an admin's retry)."""
    generation: int = 0
    """Bumped by every admin retry (each generation records its own outcome entry)."""
    next_at: datetime
    channel: str | None = None
    reason: str | None = None
    skip_channels: tuple[str, ...] = ()
    """Channels that failed for this job (refused, or transient until the attempts ran out):
    not tried again, the next channel is used."""
    held: str | None = None
    """Why the job was held back and released together with the customer's other held jobs
    (one message): ``quiet_hours``, ``digest`` (waited for the daily digest; not again) or
    ``now`` (released by an admin's retry or a change of preferences; no digest wait)."""
    created_at: datetime
    updated_at: datetime


class DeliveryAttempt(_Record):
    id: int
    job_id: str
    channel: str
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str
    """``sending`` (in flight), ``sent``, ``transient``, ``permanent``, ``bug``, ``unknown``
    (the channel could not tell whether it arrived), ``interrupted``."""
    detail: str | None = None


class DeliveryStart(_Record):
    """What ``begin_delivery`` found for (entry, channel) before this attempt."""

    attempt_id: int | None
    """The attempt now recorded as ``sending``; ``None`` when nothing was recorded."""
    previous: str | None
    """The delivery's earlier state: ``None`` (never tried), ``failed``, ``sending``
    (a worker stopped mid-send), ``sent`` or ``unknown``."""
    lease_lost: bool = False
    """The job's lease ran out and another worker may hold it: do nothing."""


class InboxItem(_Record):
    id: str
    office_id: str
    customer_id: str
    entry_id: str
    subject: str
    body: str
    attachments: tuple[dict[str, Any], ...] = ()
    created_at: datetime
    read_at: datetime | None = None


class JobOutcome(_Record):
    """Everything ``complete_notify_job`` writes in one transaction."""

    status: JobStatus
    channel: str | None = None
    reason: str | None = None
    attempt_id: int | None = None
    attempt_outcome: str | None = None
    delivery_state: str | None = None
    """New state of the (entry, ``channel``) delivery, if any."""
    delivery: dict[str, Any] = Field(default_factory=dict)
    """Written to the source entry's ``meta.delivery``."""
