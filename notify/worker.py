"""The notification worker: claims jobs under a lease, evaluates preferences at send time,
renders, sends, records the outcome.

Delivery guarantee: every attempt is recorded as ``sending`` (one committed write) before the
transport is called, with a stable id per (entry, channel). A worker that dies mid-send
leaves that record behind; the next worker to claim the job does not send blindly again but
marks the outcome ``unknown`` (e-mail, Telegram) — or simply redoes it where delivery is
idempotent (the portal inbox). A channel that cannot tell whether a send arrived
(``OutcomeUnknown``: a timed-out Telegram request) ends the same way. So the normal path
never sends twice; an admin's retry of an ``unknown`` job resends with the same Message-ID.

No dead ends: a channel that refuses (``Permanent``) or keeps failing (``Transient`` until
``max_attempts``) is skipped and the next allowed channel is used at once, with a fresh
attempt budget; the reason stays on the job's attempts and on the item's delivery status.
Only when no channel is left is the job ``dead`` (or ``failed``).

Held items go together: jobs held back by quiet hours or waiting for the customer's daily
digest are released at the same moment, and the first one claimed takes the others of the
same customer along — one message listing every item (``notify.digest``)."""

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

from notify.compose import Composer, load_zone, zone_name
from notify.errors import Bug, OutcomeUnknown, Permanent, TooLarge, Transient
from notify.evaluate import PUSH_CHANNELS, Plan, Route, evaluate
from notify.message import OutgoingMessage, Receipt
from notify.render import Renderer
from notify.transports import Transport, describe
from timeline.models import (
    Channel,
    Consent,
    Customer,
    Direction,
    Entry,
    EntryDraft,
    Preferences,
    Visibility,
    utcnow,
)
from timeline.notifications import JobOutcome, JobStatus, NotifyJob
from timeline.repositories import NotifyStore
from timeline.service import TimelineService
from timeline.waiting import wait_set

log = logging.getLogger(__name__)

TIMELINE_STATUS = {JobStatus.SENT: "sent", JobStatus.SUPPRESSED: "suppressed",
                   JobStatus.FAILED: "failed", JobStatus.DEAD: "failed",
                   JobStatus.UNKNOWN: "unknown"}
CHANNEL_WORDS = {"email": "by e-mail", "telegram": "via Telegram",
                 "portal": "to the portal inbox"}
NO_COPY = ("no copy of what the customer sent {channel}: the sender keeps their own "
           "(copies go only for messages written in the portal)")
COPY_CHANNELS = frozenset({Channel.PORTAL})
"""Inbound entries that may get a copy ("receipt") for the customer: only portal messages.
Whoever wrote by e-mail (or Telegram) has the message in their own outbox already."""


@dataclass(frozen=True)
class WorkerConfig:
    base_url: str
    secret_key: bytes
    mail_host: str = "localhost"
    """Right-hand side of Message-IDs (the domain of the sender address)."""
    retry_base_seconds: float = 30.0
    max_attempts: int = 10
    """Transient failures on one channel before the next channel is tried."""
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


@dataclass(frozen=True)
class _Item:
    """One job with its (published) entry."""

    job: NotifyJob
    entry: Entry


@dataclass(frozen=True)
class _Customer:
    """What evaluating the customer's preferences needs, read once per job."""

    customer: Customer
    prefs: Preferences
    consents: Mapping[str, Consent]
    available: tuple[str, ...]
    reply_via: str | None

    def plan(self, skip: Sequence[str], held: str | None) -> Plan:
        return evaluate(self.customer, self.prefs, self.consents, available=self.available,
                        now=utcnow(), skip=skip, reply_via=self.reply_via, held=held)


@dataclass(frozen=True)
class _Fallback:
    """The channel is out for these items: try the next one."""

    items: list[_Item]
    gave_up: str | None
    """Set when the attempts ran out (a transient failure), not for a refusal."""


class Worker:
    """A ``chronik.components.Component`` (kind ``worker``)."""

    kind = "worker"

    def __init__(self, timeline: TimelineService[NotifyStore], transports: Sequence[Transport],
                 config: WorkerConfig, renderer: Renderer | None = None,
                 name: str = "notify-worker") -> None:
        self.name = name
        self.timeline = timeline
        self.store: NotifyStore = timeline.store
        self.transports = {t.channel: t for t in transports}
        self.renderer = renderer or Renderer()
        self.config = config
        self.stats: Counter[str] = Counter()
        self._wake = asyncio.Event()

    @property
    def config(self) -> WorkerConfig:
        return self._config

    @config.setter
    def config(self, config: WorkerConfig) -> None:
        self._config = config
        self.composer = Composer(
            store=self.store, blobs=self.timeline.blobs, transports=self.transports,
            renderer=self.renderer, base_url=config.base_url, secret_key=config.secret_key,
            mail_host=config.mail_host, max_attachment_bytes=config.max_attachment_bytes)

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
        await wait_set(self._wake, timeout)

    async def run_once(self) -> int:
        """Claim and process one batch of due jobs; returns how many were claimed. One
        customer's jobs are processed one after the other (held ones may go together)."""
        now = utcnow()
        jobs = await self.store.claim_notify_jobs(
            self.config.owner, now, now + timedelta(seconds=self.config.lease_seconds),
            self.config.batch)
        if not jobs:
            return 0
        gate = asyncio.Semaphore(self.config.concurrency)
        groups: dict[tuple[str, str], list[NotifyJob]] = {}
        for job in jobs:
            groups.setdefault((job.office_id, job.customer_id), []).append(job)

        async def one(group: list[NotifyJob]) -> None:
            async with gate:
                while group:
                    await self.process(group.pop(0), group)
        await asyncio.gather(*(one(g) for g in groups.values()))
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
    async def process(self, job: NotifyJob, queue: list[NotifyJob] | None = None) -> None:
        """Process one claimed job. ``queue``: the same customer's other jobs claimed with
        it; held ones may go along in one message (those not taken stay in the queue)."""
        if queue is None:  # on its own: the customer's jobs it leased go after it
            queue = []
            await self.process(job, queue)
            while queue:
                await self.process(queue.pop(0), queue)
            return
        items: list[_Item] = []
        try:
            await self._process(job, queue, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("bug while processing notification job %s", job.id)
            for one in [i.job for i in items] or [job]:
                try:  # a job finished already is left alone (its lease is gone)
                    await self._finish(one, None, JobStatus.DEAD,
                                       reason=f"bug: {describe(exc)}")
                except Exception:
                    log.exception("could not dead-letter notification job %s", one.id)

    async def _process(self, job: NotifyJob, queue: list[NotifyJob], items: list[_Item]
                       ) -> None:
        entry = await self.store.published_entry(job.office_id, job.entry_id)
        if entry is None:  # made internal or erased since: nothing may leave
            await self._finish(job, None, JobStatus.SUPPRESSED,
                               reason="the entry is no longer published")
            return
        if not _may_notify(entry):
            await self._finish(job, entry, JobStatus.SUPPRESSED, reason=NO_COPY.format(
                channel=CHANNEL_WORDS.get(entry.channel.value, f"via {entry.channel.value}")))
            return
        ctx = await self._customer(job, entry)
        if ctx is None:
            await self._finish(job, None, JobStatus.SUPPRESSED, reason="no such customer")
            return
        plan = ctx.plan(job.skip_channels, job.held)
        items.append(_Item(job, entry))
        if plan.routes and plan.wait_until is None and plan.suppressed is None and \
                job.held is not None and ctx.reply_via is None and \
                plan.routes[0].channel in PUSH_CHANNELS:
            items.extend(await self._companions(job, queue))
        await self._deliver(items, ctx, plan, list(job.skip_channels), job.attempts)

    async def _customer(self, job: NotifyJob, entry: Entry) -> _Customer | None:
        customer = await self.store.get_customer(job.office_id, entry.customer_id)
        if customer is None:
            return None
        prefs = await self.store.get_preferences(job.office_id, customer.id)
        consents = await self.store.consents(job.office_id, customer.id)
        for zone in {zone_name(prefs), *([prefs.daily_digest.timezone]
                                         if prefs.daily_digest else [])}:
            await load_zone(zone)  # off the loop (a file read); evaluate() finds it cached
        available = tuple(c for c in self.transports
                          if self.config.channel_offices.get(c, job.office_id) == job.office_id)
        via = entry.meta.get("reply_via") if entry.kind == "reply" else None
        return _Customer(customer, prefs, consents, available,
                         via if isinstance(via, str) else None)

    async def _companions(self, job: NotifyJob, queue: list[NotifyJob]) -> list[_Item]:
        """The customer's other held jobs due now (from ``queue`` and, leased now, from the
        store) that may go in one message with ``job``; the others join ``queue``."""
        now = utcnow()
        taken = [j for j in queue if j.held is not None and j.next_at <= now]
        for other in taken:
            queue.remove(other)
        taken += [j for j in await self.store.claim_held_jobs(
            job.office_id, job.customer_id, self.config.owner, now,
            now + timedelta(seconds=self.config.lease_seconds)) if j.id != job.id]
        out: list[_Item] = []
        for other in taken:
            entry = None
            if other.skip_channels == job.skip_channels:
                entry = await self.store.published_entry(other.office_id, other.entry_id)
            if entry is None or entry.kind == "reply" or not _may_notify(entry):
                queue.append(other)  # goes on its own (and is told why)
                continue
            out.append(_Item(other, entry))
        return out

    async def _hold(self, job: NotifyJob, plan: Plan, attempts: int,
                    skip: Sequence[str]) -> None:
        assert plan.wait_until is not None
        await self.store.reschedule_notify_job(
            job.id, self.config.owner, next_at=plan.wait_until, attempts=attempts,
            reason=plan.wait_reason, skip_channels=skip, held=plan.hold)
        self.stats["deferred"] += 1

    async def _deliver(self, items: list[_Item], ctx: _Customer, plan: Plan, skip: list[str],
                       attempts: int) -> None:
        """Try the plan's channels in order until one takes the items (one message)."""
        gave_up: str | None = None
        while True:
            if plan.suppressed:
                await self._no_channel_left(items, ctx, plan, skip, gave_up)
                return
            if plan.wait_until is not None:  # the next channel is held back (quiet hours)
                for item in items:
                    await self._hold(item.job, plan, attempts, skip)
                return
            route = plan.routes[0]
            if len(items) > 1 and route.channel not in PUSH_CHANNELS:
                for item in items:  # the portal inbox keeps one item per entry
                    await self._deliver([item], ctx, plan, list(skip), attempts)
                return
            fallback = await self._attempt(items, route, ctx, plan, skip, attempts)
            if fallback is None:
                return
            skip = [*skip, route.channel]
            items, gave_up, attempts = fallback.items, fallback.gave_up, 0
            plan = ctx.plan(skip, items[0].job.held)

    async def _no_channel_left(self, items: Sequence[_Item], ctx: _Customer, plan: Plan,
                               skip: Sequence[str], gave_up: str | None) -> None:
        notes = await self._notes(items, plan, skip)
        for item in items:
            if gave_up is not None:
                status = JobStatus.DEAD
            elif skip and (ctx.prefs.automatic_notifications or ctx.reply_via):
                status = JobStatus.FAILED
            else:
                status = JobStatus.SUPPRESSED
            reason = plan.suppressed if status is JobStatus.SUPPRESSED else \
                "; ".join(notes[item.job.id]) or plan.suppressed
            # the same reason as codes, for pages to say in their reader's language
            why = {"why": {"opted_out": plan.opted_out,
                           "skips": [{"code": s.code, "channel": s.channel}
                                     for s in plan.skips]}} \
                if status is JobStatus.SUPPRESSED else None
            await self._finish(item.job, item.entry, status, reason=reason, extra=why)

    async def _attempt(self, items: Sequence[_Item], route: Route, ctx: _Customer, plan: Plan,
                       skip: Sequence[str], attempts: int) -> _Fallback | None:
        """One send of ``items`` (one message) on ``route``; ``_Fallback`` when the next
        channel should take them, ``None`` when every item is settled or rescheduled."""
        transport = self.transports[route.channel]
        lease = utcnow() + timedelta(seconds=self.config.lease_seconds)
        started: list[tuple[_Item, int]] = []
        for item in items:
            start = await self.store.begin_delivery(
                item.job.id, self.config.owner, lease, item.entry.id, route.channel,
                redo_interrupted=transport.idempotent)
            if start.lease_lost:
                log.warning("lost the lease on notification job %s", item.job.id)
            elif start.previous == "sent":
                notes = await self._notes([item], plan, skip)
                await self._finish(item.job, item.entry, JobStatus.SENT, channel=route.channel,
                                   reason="; ".join(notes[item.job.id]) or None)
            elif start.attempt_id is None:
                await self._finish(
                    item.job, item.entry, JobStatus.UNKNOWN, channel=route.channel,
                    reason=f"a worker stopped while sending {CHANNEL_WORDS[route.channel]}; "
                           "the message may have arrived, so it is not sent again "
                           "automatically (retry to send it again)")
            else:
                started.append((item, start.attempt_id))
        if not started:
            return None
        sending = [item for item, _ in started]
        try:
            receipt = await self._send(transport, sending, ctx, route)
        except Transient as exc:
            return await self._transient(started, route.channel, skip, attempts, exc)
        except Permanent as exc:
            for item, attempt_id in started:
                await self.store.fail_delivery(item.job.id, attempt_id, route.channel,
                                               "permanent", str(exc), [*skip, route.channel])
            return _Fallback(sending, gave_up=None)
        except OutcomeUnknown as exc:
            for item, attempt_id in started:
                await self._finish(item.job, item.entry, JobStatus.UNKNOWN,
                                   channel=route.channel, reason=f"{route.channel}: {exc}",
                                   attempt_id=attempt_id, attempt_outcome="unknown",
                                   delivery_state="unknown")
            return None
        except Bug as exc:
            log.exception("notification job %s hit a bug in the %s transport",
                          sending[0].job.id, route.channel)
            for item, attempt_id in started:
                await self._finish(item.job, item.entry, JobStatus.DEAD, channel=route.channel,
                                   reason=f"bug: {exc}", attempt_id=attempt_id,
                                   attempt_outcome="bug", delivery_state="failed")
            return None
        notes = await self._notes(sending, plan, skip)
        extra: dict[str, Any] = {}
        if skip:
            extra["fallback_from"] = list(skip)
        if len(sending) > 1:
            extra["digest"] = {"items": len(sending), "reference": receipt.reference}
            together = (f"one message with {len(sending)} items "
                        f"({HELD_WORDS.get(sending[0].job.held or '', 'held back')})")
        for item, attempt_id in started:
            reason = list(notes[item.job.id])
            if len(sending) > 1:
                reason.append(together)
            if receipt.note:  # it went out, but not all of it (a file a channel refused)
                reason.append(f"{route.channel}: {receipt.note}")
            await self._finish(item.job, item.entry, JobStatus.SENT, channel=route.channel,
                               reason="; ".join(reason) or None, attempt_id=attempt_id,
                               attempt_outcome="sent", delivery_state="sent",
                               reference=receipt.reference, extra=extra)
        return None

    async def _send(self, transport: Transport, items: Sequence[_Item], ctx: _Customer,
                    route: Route) -> Receipt:
        """Compose and send one message. One the channel refuses for its size (before taking
        it: nothing arrived) goes once more with its files as portal links."""
        message = await self._message(items, ctx, route)
        try:
            return await transport.send(message)
        except TooLarge as exc:
            if not message.attachments or len(items) != 1:
                raise
            refused = str(exc)
        smaller = await self._compose(items[0].entry, ctx.customer, ctx.prefs, route.channel,
                                      route.address, attach=False)
        receipt = await transport.send(smaller)
        names = ", ".join(a.name for a in message.attachments)
        note = f"{names} not attached ({refused}); sent as portal link instead"
        return Receipt(receipt.reference, "; ".join(filter(None, [note, receipt.note])))

    async def _transient(self, started: Sequence[tuple[_Item, int]], channel: str,
                         skip: Sequence[str], attempts: int, exc: Transient
                         ) -> _Fallback | None:
        count = attempts + 1
        if count >= self.config.max_attempts:  # this channel is out: the next one takes over
            detail = f"gave up after {count} attempts: {exc}"
            for item, attempt_id in started:
                await self.store.fail_delivery(item.job.id, attempt_id, channel, "transient",
                                               detail, [*skip, channel])
            return _Fallback([item for item, _ in started], gave_up=f"{channel}: {detail}")
        delay = backoff(count, self.config.retry_base_seconds,
                        self.config.max_backoff_seconds, exc.retry_after)
        next_at = utcnow() + timedelta(seconds=delay)
        for item, attempt_id in started:
            await self.store.reschedule_notify_job(
                item.job.id, self.config.owner, next_at=next_at, attempts=count,
                reason=str(exc), skip_channels=skip, channel=channel, attempt_id=attempt_id,
                attempt_outcome="transient", held=item.job.held)
        self.stats["retry"] += 1
        return None

    async def _notes(self, items: Sequence[_Item], plan: Plan, skip: Sequence[str]
                     ) -> dict[str, list[str]]:
        """Per job: why each failed channel was left (its last attempt's detail, so the
        reason survives a reschedule), then why other channels were not used."""
        failed = {f"{c} failed" for c in skip}
        other = [s for s in plan.skipped if s not in failed]
        out: dict[str, list[str]] = {i.job.id: [] for i in items}
        if skip:
            history = await self.store.notify_attempts([i.job.id for i in items])
            for job_id, notes in out.items():
                last = {a.channel: a.detail for a in history.get(job_id, [])
                        if a.channel in skip and a.outcome in ("transient", "permanent")
                        and a.detail}
                notes += [f"{c}: {last[c]}" for c in skip if c in last]
        for notes in out.values():
            notes += other
        return out

    # ------------------------------------------------------------------ outcome
    async def _finish(self, job: NotifyJob, entry: Entry | None, status: JobStatus, *,
                      channel: str | None = None, reason: str | None = None,
                      attempt_id: int | None = None, attempt_outcome: str | None = None,
                      delivery_state: str | None = None, reference: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> None:
        now = utcnow()
        shown = TIMELINE_STATUS[status]
        delivery: dict[str, Any] = {}
        draft = None
        if entry is not None:
            delivery = {"status": shown, "channel": channel, "at": now.isoformat(),
                        "reason": reason, "job_id": job.id, **(extra or {})}
            draft = _notification_draft(job, entry, shown, channel, reason, reference, now,
                                        extra or {})
        created = await self.store.complete_notify_job(job.id, self.config.owner, JobOutcome(
            status=status, channel=channel, reason=reason, attempt_id=attempt_id,
            attempt_outcome=attempt_outcome, delivery_state=delivery_state, delivery=delivery),
            draft)
        self.stats[status.value] += 1
        if created is not None and entry is not None:
            # the store wrote the live events (entry.created of the notification,
            # entry.updated of the delivery) with the outcome; every process's follower
            # publishes them (timeline/events.py)
            self.timeline.events.poke()
            self.timeline.notify_reindex()

    # ------------------------------------------------------------------ rendering
    async def _message(self, items: Sequence[_Item], ctx: _Customer, route: Route
                       ) -> OutgoingMessage:
        if len(items) == 1:
            return await self._compose(items[0].entry, ctx.customer, ctx.prefs, route.channel,
                                       route.address)
        return await self.composer.digest([i.entry for i in items], items[0].job.held,
                                          ctx.customer, ctx.prefs, route.channel,
                                          route.address)

    async def _compose(self, entry: Entry, customer: Customer, prefs: Preferences,
                       channel: str, address: str, attach: bool = True) -> OutgoingMessage:
        """The message for one entry (``notify.compose.Composer.single``)."""
        return await self.composer.single(entry, customer, prefs, channel, address,
                                          attach=attach)

HELD_WORDS = {"quiet_hours": "held during quiet hours", "digest": "daily digest",
              "now": "held back, released together"}


def _may_notify(entry: Entry) -> bool:
    """Outbound entries, and copies of what the customer wrote in the portal."""
    return entry.direction is not Direction.INBOUND or entry.channel in COPY_CHANNELS


def _notification_draft(job: NotifyJob, entry: Entry, status: str, channel: str | None,
                        reason: str | None, reference: str | None, now: datetime,
                        extra: Mapping[str, Any]) -> EntryDraft:
    what = entry.subject or entry.kind.replace("_", " ")
    if status == "sent" and channel:
        subject = f"Notification sent {CHANNEL_WORDS.get(channel, channel)}"
        if extra.get("fallback_from"):
            subject += " (fallback)"
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
                               "attempts": job.attempts, "at": now.isoformat(), **extra}})
