"""The notification worker: claims jobs under a lease, evaluates preferences at send time,
renders, sends, records the outcome.

Delivery guarantee: every attempt is recorded as ``sending`` (one committed write) before the
transport is called, with a stable id per (entry, channel). A worker that dies mid-send
leaves that record behind; the next worker to claim the job does not send blindly again but
marks the outcome ``unknown`` (e-mail, Telegram) — or simply redoes it where delivery is
idempotent (the portal inbox). So the normal path never sends twice; an admin's retry of an
``unknown`` job resends with the same Message-ID."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notify.errors import Bug, Permanent, Transient
from notify.evaluate import evaluate
from notify.message import OutgoingAttachment, OutgoingMessage
from notify.render import Renderer, format_when, language_of
from notify.tokens import sign_unsubscribe
from notify.transports import Transport, describe
from timeline.events import Event
from timeline.models import (
    Channel,
    Customer,
    Direction,
    Entry,
    EntryDraft,
    Preferences,
    Visibility,
    utcnow,
)
from timeline.notifications import JobOutcome, JobStatus, NotifyJob
from timeline.service import TimelineService

log = logging.getLogger(__name__)

TIMELINE_STATUS = {JobStatus.SENT: "sent", JobStatus.SUPPRESSED: "suppressed",
                   JobStatus.FAILED: "failed", JobStatus.DEAD: "failed",
                   JobStatus.UNKNOWN: "unknown"}
CHANNEL_WORDS = {"email": "by e-mail", "telegram": "via Telegram",
                 "portal": "to the portal inbox"}


@dataclass(frozen=True)
class WorkerConfig:
    base_url: str
    secret_key: bytes
    mail_host: str = "localhost"
    """Right-hand side of Message-IDs (the domain of the sender address)."""
    retry_base_seconds: float = 30.0
    max_attempts: int = 10
    max_backoff_seconds: float = 3600.0
    max_attachment_bytes: int = 10 * 1024 * 1024
    lease_seconds: float = 120.0
    poll_seconds: float = 1.0
    batch: int = 50
    concurrency: int = 8
    channel_offices: Mapping[str, str] = field(default_factory=dict)
    """Channels that serve only one office (a Telegram bot belongs to one office)."""
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:"
                                                f"{random.randrange(1 << 30):x}")  # noqa: S311


def backoff(attempts: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential with ±20 % jitter, never shorter than the server's ``retry_after``."""
    delay: float = min(cap, base * 2.0 ** max(0, attempts - 1))
    delay *= 0.8 + 0.4 * random.random()  # noqa: S311
    return max(delay, retry_after or 0.0)


class Worker:
    """A ``chronik.components.Component`` (kind ``worker``)."""

    kind = "worker"

    def __init__(self, timeline: TimelineService, transports: Sequence[Transport],
                 config: WorkerConfig, renderer: Renderer | None = None,
                 name: str = "notify-worker") -> None:
        self.name = name
        self.timeline = timeline
        self.store = timeline.store
        self.transports = {t.channel: t for t in transports}
        self.config = config
        self.renderer = renderer or Renderer()
        self.stats: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._offices: dict[str, tuple[float, str, str | None]] = {}

    # ------------------------------------------------------------------ lifecycle
    def wake(self, entry: Entry | None = None) -> None:
        if entry is None or (entry.notify and entry.visibility is Visibility.PUBLISHED):
            self._wake.set()

    async def run(self) -> None:
        started: list[Transport] = []
        try:
            for transport in self.transports.values():
                await transport.initialize()
                started.append(transport)
            while True:
                self._wake.clear()
                if await self.run_once() >= self.config.batch:
                    continue
                await self._idle()
        finally:
            for transport in started:
                try:
                    async with asyncio.timeout(5):
                        await transport.shutdown()
                except Exception:
                    log.exception("shutting down the %s transport failed", transport.channel)

    async def _idle(self) -> None:
        timeout = self.config.poll_seconds
        due = await self.store.next_notify_due()
        if due is not None:
            timeout = min(timeout, max(0.0, (due - utcnow()).total_seconds()) + 0.01)
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    async def run_once(self) -> int:
        """Claim and process one batch of due jobs; returns how many were claimed."""
        now = utcnow()
        jobs = await self.store.claim_notify_jobs(
            self.config.owner, now, now + timedelta(seconds=self.config.lease_seconds),
            self.config.batch)
        if not jobs:
            return 0
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(job: NotifyJob) -> None:
            async with gate:
                await self.process(job)
        await asyncio.gather(*(one(j) for j in jobs))
        return len(jobs)

    async def drain(self) -> int:
        """Process everything due now (tests, CLI)."""
        total = 0
        while n := await self.run_once():
            total += n
        return total

    def diagnostics(self) -> dict[str, Any]:
        return {"owner": self.config.owner, "base_url": self.config.base_url,
                "retry_base_seconds": self.config.retry_base_seconds,
                "max_attempts": self.config.max_attempts,
                "transports": {c: t.diagnostics() for c, t in self.transports.items()},
                "outcomes": dict(self.stats)}

    # ------------------------------------------------------------------ one job
    async def process(self, job: NotifyJob) -> None:
        try:
            await self._process(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("bug while processing notification job %s", job.id)
            try:
                await self._finish(job, None, JobStatus.DEAD, reason=f"bug: {describe(exc)}")
            except Exception:
                log.exception("could not dead-letter notification job %s", job.id)

    async def _process(self, job: NotifyJob) -> None:
        entry = await self.store.published_entry(job.office_id, job.entry_id)
        if entry is None:  # made internal or erased since: nothing may leave
            await self._finish(job, None, JobStatus.SUPPRESSED,
                               reason="the entry is no longer published")
            return
        customer = await self.store.get_customer(job.office_id, entry.customer_id)
        if customer is None:
            await self._finish(job, None, JobStatus.SUPPRESSED, reason="no such customer")
            return
        prefs = await self.store.get_preferences(job.office_id, customer.id)
        consents = await self.store.consents(job.office_id, customer.id)
        if prefs.quiet_hours is not None:  # load the zone off the loop (file read)
            await _load_zone(prefs.quiet_hours.timezone)
        available = [c for c in self.transports
                     if self.config.channel_offices.get(c, job.office_id) == job.office_id]
        via = entry.meta.get("reply_via") if entry.kind == "reply" else None
        plan = evaluate(customer, prefs, consents, available=available, now=utcnow(),
                        skip=job.skip_channels, reply_via=via if isinstance(via, str) else None)
        if plan.suppressed:
            status = JobStatus.FAILED if job.skip_channels else JobStatus.SUPPRESSED
            await self._finish(job, entry, status, reason=plan.suppressed)
            return
        if plan.wait_until is not None:
            await self.store.reschedule_notify_job(
                job.id, self.config.owner, next_at=plan.wait_until, attempts=job.attempts,
                reason=plan.wait_reason, skip_channels=job.skip_channels)
            self.stats["deferred"] += 1
            return
        skip = list(job.skip_channels)
        notes = list(plan.skipped)
        for route in plan.routes:
            transport = self.transports[route.channel]
            message = await self._compose(entry, customer, prefs, route.channel, route.address)
            lease = utcnow() + timedelta(seconds=self.config.lease_seconds)
            start = await self.store.begin_delivery(
                job.id, self.config.owner, lease, entry.id, route.channel,
                redo_interrupted=transport.idempotent)
            if start.lease_lost:
                log.warning("lost the lease on notification job %s", job.id)
                return
            if start.previous == "sent":
                await self._finish(job, entry, JobStatus.SENT, channel=route.channel,
                                   reason="; ".join(notes) or None)
                return
            if start.attempt_id is None:
                await self._finish(
                    job, entry, JobStatus.UNKNOWN, channel=route.channel,
                    reason=f"a worker stopped while sending {CHANNEL_WORDS[route.channel]}; "
                           "the message may have arrived, so it is not sent again "
                           "automatically (retry to send it again)")
                return
            try:
                receipt = await transport.send(message)
            except Transient as exc:
                await self._transient(job, entry, route.channel, start.attempt_id, exc, skip)
                return
            except Permanent as exc:
                skip.append(route.channel)
                notes.append(f"{route.channel}: {exc}")
                await self.store.fail_delivery(job.id, start.attempt_id, route.channel,
                                               "permanent", str(exc), skip)
                continue
            except Bug as exc:
                log.exception("notification job %s hit a bug in the %s transport",
                              job.id, route.channel)
                await self._finish(job, entry, JobStatus.DEAD, channel=route.channel,
                                   reason=f"bug: {exc}", attempt_id=start.attempt_id,
                                   attempt_outcome="bug", delivery_state="failed")
                return
            await self._finish(job, entry, JobStatus.SENT, channel=route.channel,
                               reason="; ".join(notes) or None, attempt_id=start.attempt_id,
                               attempt_outcome="sent", delivery_state="sent",
                               reference=receipt.reference)
            return
        await self._finish(job, entry, JobStatus.FAILED, reason="; ".join(notes))

    async def _transient(self, job: NotifyJob, entry: Entry, channel: str, attempt_id: int,
                         exc: Transient, skip: Sequence[str]) -> None:
        attempts = job.attempts + 1
        if attempts >= self.config.max_attempts:
            await self._finish(job, entry, JobStatus.DEAD, channel=channel,
                               reason=f"gave up after {attempts} attempts: {exc}",
                               attempt_id=attempt_id, attempt_outcome="transient",
                               delivery_state="failed")
            return
        delay = backoff(attempts, self.config.retry_base_seconds,
                        self.config.max_backoff_seconds, exc.retry_after)
        await self.store.reschedule_notify_job(
            job.id, self.config.owner, next_at=utcnow() + timedelta(seconds=delay),
            attempts=attempts, reason=str(exc), skip_channels=skip, channel=channel,
            attempt_id=attempt_id, attempt_outcome="transient")
        self.stats["retry"] += 1

    # ------------------------------------------------------------------ outcome
    async def _finish(self, job: NotifyJob, entry: Entry | None, status: JobStatus, *,
                      channel: str | None = None, reason: str | None = None,
                      attempt_id: int | None = None, attempt_outcome: str | None = None,
                      delivery_state: str | None = None, reference: str | None = None) -> None:
        now = utcnow()
        shown = TIMELINE_STATUS[status]
        delivery: dict[str, Any] = {}
        draft = None
        if entry is not None:
            delivery = {"status": shown, "channel": channel, "at": now.isoformat(),
                        "reason": reason, "job_id": job.id}
            draft = _notification_draft(job, entry, shown, channel, reason, reference, now)
        created = await self.store.complete_notify_job(job.id, self.config.owner, JobOutcome(
            status=status, channel=channel, reason=reason, attempt_id=attempt_id,
            attempt_outcome=attempt_outcome, delivery_state=delivery_state, delivery=delivery),
            draft)
        self.stats[status.value] += 1
        if created is not None and entry is not None:
            events = self.timeline.events
            events.publish(Event(created.office_id, "entry.created", {
                "id": created.id, "customer_id": created.customer_id,
                "channel": created.channel.value, "kind": created.kind,
                "direction": created.direction.value, "visibility": created.visibility.value,
                "subject": created.subject, "occurred_at": created.occurred_at.isoformat()}))
            events.publish(Event(entry.office_id, "entry.updated", {
                "id": entry.id, "customer_id": entry.customer_id,
                "channel": entry.channel.value, "kind": entry.kind}))
            self.timeline.notify_reindex()

    # ------------------------------------------------------------------ rendering
    async def _office(self, office_id: str) -> tuple[str, str | None]:
        """(office name, its inbound address for replies) — cached for a minute."""
        loop = asyncio.get_running_loop()
        cached = self._offices.get(office_id)
        if cached is not None and cached[0] > loop.time():
            return cached[1], cached[2]
        office = await self.store.get_office(office_id)
        addresses = sorted(await self.store.inbound_addresses(office_id))
        name = office.name if office else ""
        reply_to = addresses[0] if addresses else None
        self._offices[office_id] = (loop.time() + 60, name, reply_to)
        return name, reply_to

    async def _compose(self, entry: Entry, customer: Customer, prefs: Preferences,
                       channel: str, address: str) -> OutgoingMessage:
        office_name, reply_to = await self._office(entry.office_id)
        lang = language_of(prefs.language)
        base = self.config.base_url.rstrip("/")
        attached: list[OutgoingAttachment] = []
        linked: list[str] = []
        budget = self.config.max_attachment_bytes
        for att in entry.attachments:
            data = None
            if channel != "portal" and att.size <= budget:
                data = await self.timeline.blobs.get(att.sha256)
            if data is None:
                linked.append(att.name)
                continue
            budget -= len(data)
            attached.append(OutgoingAttachment(att.name, att.content_type, data))
        unsubscribe = (f"{base}/unsubscribe/"
                       f"{sign_unsubscribe(self.config.secret_key, entry.office_id, customer.id)}"
                       if channel == "email" else "")
        zone = prefs.quiet_hours.timezone if prefs.quiet_hours else "Europe/Berlin"
        occurred = format_when(entry.occurred_at.astimezone(await _load_zone(zone)), lang)
        template = "receipt" if entry.direction is Direction.INBOUND else "published"
        context = {
            "office": office_name, "customer": customer.name, "kind": entry.kind,
            "entry": {"subject": entry.subject, "body": entry.body, "kind": entry.kind},
            "channel": channel, "portal_url": f"{base}/portal",
            "entry_url": f"{base}/portal/entries/{entry.id}", "unsubscribe_url": unsubscribe,
            "attached": [a.name for a in attached] if channel != "portal" else [],
            "linked": linked if channel != "portal" else [a.name for a in entry.attachments],
            "reply_by_mail": reply_to is not None, "occurred": occurred,
        }
        rendered = await self.renderer.message(entry.office_id, lang, template, context)
        return OutgoingMessage(
            channel=channel, address=address, recipient_name=customer.name,
            sender_name=office_name, subject=rendered.subject, text=rendered.text,
            html=rendered.html, message_id=f"<{entry.id}.{channel}@{self.config.mail_host}>",
            office_id=entry.office_id, customer_id=customer.id, entry_id=entry.id,
            attachments=tuple(attached), unsubscribe_url=unsubscribe or None,
            reply_to=reply_to if channel == "email" else None,
            attachment_refs=tuple({"index": i, "name": a.name, "content_type": a.content_type,
                                   "size": a.size} for i, a in enumerate(entry.attachments)))


_ZONES: dict[str, ZoneInfo] = {}


async def _load_zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        try:
            zone = await asyncio.to_thread(ZoneInfo, name)
        except (ValueError, KeyError, OSError):
            zone = await asyncio.to_thread(ZoneInfo, "Europe/Berlin")
        _ZONES[name] = zone
    return zone


def _notification_draft(job: NotifyJob, entry: Entry, status: str, channel: str | None,
                        reason: str | None, reference: str | None, now: datetime
                        ) -> EntryDraft:
    what = entry.subject or entry.kind.replace("_", " ")
    if status == "sent" and channel:
        subject = f"Notification sent {CHANNEL_WORDS.get(channel, channel)}"
    else:
        subject = {"suppressed": "Notification suppressed", "failed": "Notification failed",
                   "unknown": "Notification outcome unknown"}.get(status, "Notification")
    body = f"About: {what}"
    if reason:
        body += f"\n{'Note' if status == 'sent' else 'Reason'}: {reason}"
    return EntryDraft(
        office_id=entry.office_id, customer_id=entry.customer_id, channel=Channel.NOTIFICATION,
        direction=Direction.OUTBOUND, kind="notification", visibility=Visibility.INTERNAL,
        notify=False, occurred_at=now, subject=subject, body=body,
        source_id=f"notify:{job.id}:{job.generation}",
        meta={"notification": {"job_id": job.id, "entry_id": entry.id, "status": status,
                               "channel": channel, "reason": reason, "reference": reference,
                               "attempts": job.attempts, "at": now.isoformat()}})
