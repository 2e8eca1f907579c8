"""Notifier throughput and latency against a local aiosmtpd sink.

    .venv/bin/python bench/bench_notify.py [--count 10000] [--customers 1000]
        [--latency 200] [--concurrency 8] [--dir bench/data/notify] [--keep]

1. ``--count`` published+notify notes (one transaction per 1,000, so their notify-outbox rows
   are written with them) for ``--customers`` customers with e-mail identities.
2. notifier: the real ``notify.worker.Worker`` with the default settings (SMTP pool of 2
   connections, 8 jobs at once, templates, preference evaluation, one attempt record before
   and one outcome transaction after each send — outcome entry + delivery status included)
   drains the queue into the sink; messages/s.
3. bare: the same messages, rendered beforehand (``Worker._compose`` + ``build_email``),
   sent by a plain aiosmtplib loop over ONE connection; messages/s. Ratio notifier / bare
   (goal >= 0.5).
4. latency: with the worker running (woken by the timeline like in the server) and the queue
   empty, ``--latency`` entries one after another; time from ``TimelineService.append``
   returning to the sink accepting the DATA (the sink stamps it); p50 / p99 (goal p99 < 1 s).

The sink is a separate process (aiosmtpd, accepts everything, prints "<Message-ID> <time>"
per message), so sink and sender do not share one event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SINK = r"""
import asyncio, re, sys, time
from aiosmtpd.smtp import SMTP
MID = re.compile(rb"^Message-ID: *(<[^>]+>)", re.M | re.I)
class H:
    async def handle_DATA(self, server, session, envelope):
        m = MID.search(envelope.original_content or b"")
        sys.stdout.write(f"{m.group(1).decode() if m else '-'} {time.time():.6f}\n")
        sys.stdout.flush()
        return "250 OK"
async def main():
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(H(), hostname="sink", ident="sink"), "127.0.0.1", 0)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


class Sink:
    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self.count = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SINK, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        line = (await self.proc.stdout.readline()).decode().split()
        self.port = int(line[1])
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            mid, stamp = raw.decode().split()
            self.accepted[mid] = float(stamp)
            self.count += 1
            self._changed.set()

    async def wait_count(self, n: int) -> None:
        while self.count < n:
            self._changed.clear()
            await self._changed.wait()

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


async def main(args: argparse.Namespace) -> None:
    import aiosmtplib

    from chronik.app import close_state, open_state
    from chronik.settings import Settings
    from notify.transports.email import SmtpConfig, SmtpTransport, build_email
    from notify.transports.portal import PortalInboxTransport
    from notify.worker import Worker, WorkerConfig
    from timeline.identity import normalise_email
    from timeline.models import (
        Channel,
        Direction,
        EntryDraft,
        Identity,
        IdentityKind,
        Preferences,
        Visibility,
        utcnow,
    )

    data = Path(args.dir)
    shutil.rmtree(data, ignore_errors=True)
    sink = Sink()
    await sink.start()
    state = await open_state(Settings(data_dir=data))
    try:
        store = state.store
        office = await store.create_office("Büro Bench", "DE")
        customers = []
        for i in range(args.customers):
            addr = normalise_email(f"kunde{i}@example.de")
            customers.append(await store.create_customer(
                office.id, f"Kundin {i} Müller", [Identity(kind=IdentityKind.EMAIL, value=addr)]))
        t0 = time.perf_counter()
        now = utcnow()
        for start in range(0, args.count, 1000):
            drafts = [EntryDraft(
                office_id=office.id, customer_id=customers[i % len(customers)].id,
                channel=Channel.NOTE, direction=Direction.INTERNAL, kind="note",
                visibility=Visibility.PUBLISHED, notify=True,
                occurred_at=now - timedelta(seconds=args.count - i),
                subject=f"Vorgang {i}", body=f"Ihre Unterlagen zum Vorgang {i} sind da. " * 5)
                for i in range(start, min(args.count, start + 1000))]
            await store.append_many(drafts)
        print(f"created {args.count} published+notify entries in "
              f"{time.perf_counter() - t0:.1f}s")

        smtp = SmtpConfig(host="127.0.0.1", port=sink.port, mail_from="chronik@bench.test",
                          tls="none")
        config = WorkerConfig(base_url="http://127.0.0.1:8080", secret_key=b"k" * 32,
                              mail_host="bench.test", poll_seconds=0.2,
                              concurrency=args.concurrency, batch=args.concurrency * 4)

        def make_worker() -> Worker:
            return Worker(state.timeline, [PortalInboxTransport(store), SmtpTransport(smtp)],
                          config)

        # -- notifier throughput
        worker = make_worker()
        for t in worker.transports.values():
            await t.initialize()
        t0 = time.perf_counter()
        done = await worker.drain()
        notifier_s = time.perf_counter() - t0
        for t in worker.transports.values():
            await t.shutdown()
        await sink.wait_count(args.count)
        assert done == args.count and worker.stats["sent"] == args.count, worker.stats
        notifier_rate = args.count / notifier_s

        # -- the same rendered messages, bare aiosmtplib over one connection
        renderer = make_worker()
        messages = []
        prefs = Preferences()
        by_id = {c.id: c for c in customers}
        entries = await store.scan_entries(0, args.count + 1000)
        for entry in entries:
            if entry.channel is not Channel.NOTE:
                continue
            c = by_id[entry.customer_id]
            out = await renderer._compose(entry, c, prefs, "email", c.identities[0].value)
            messages.append((out.address, build_email(out, smtp.mail_from)))
        before = sink.count
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False)
        await client.connect()
        t0 = time.perf_counter()
        for rcpt, raw in messages:
            await client.sendmail(smtp.mail_from, [rcpt], raw)
        bare_s = time.perf_counter() - t0
        await client.quit()
        await sink.wait_count(before + len(messages))
        bare_rate = len(messages) / bare_s

        # -- latency with an empty queue, worker woken by the timeline
        worker = make_worker()
        state.timeline.subscribe(worker.wake)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.3)
        latencies = []
        for i in range(args.latency):
            entry, _ = await state.timeline.append(EntryDraft(
                office_id=office.id, customer_id=customers[i % len(customers)].id,
                channel=Channel.NOTE, direction=Direction.INTERNAL, kind="note",
                visibility=Visibility.PUBLISHED, notify=True, occurred_at=utcnow(),
                subject=f"Latenz {i}", body="Kurze Nachricht."))
            created = time.time()
            mid = f"<{entry.id}.email@bench.test>"
            while mid not in sink.accepted:
                sink._changed.clear()
                await sink._changed.wait()
            latencies.append(sink.accepted[mid] - created)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

        print(f"COUNT={args.count} customers={args.customers}")
        print(f"notifier: {notifier_rate:8.0f} msg/s  ({notifier_s:.2f}s; SMTP pool of 2, "
              f"{args.concurrency} jobs at once)")
        print(f"bare:     {bare_rate:8.0f} msg/s  ({bare_s:.2f}s; one connection, "
              "pre-rendered)")
        print(f"ratio notifier/bare: {notifier_rate / bare_rate:.2f}  (goal >= 0.5)")
        print(f"latency entry -> DATA accepted, n={len(latencies)}: p50 "
              f"{p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
              f"{latencies[-1] * 1000:.1f} ms  (goal p99 < 1 s)")
    finally:
        await close_state(state)
        await sink.stop()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once (default 8)")
    parser.add_argument("--dir", default=str(ROOT / "bench" / "data" / "notify"))
    parser.add_argument("--keep", action="store_true")
    asyncio.run(main(parser.parse_args()))
