"""Entry writes on PostgreSQL (``timeline/pg_entries.py``, ``timeline/pg_batch.py``).

    .venv/bin/python bench/bench_pg_append.py [--count 5000] [--batch 500] [--writers 8]

Needs the test server (``deploy/ci/postgres.sh``; URL from ``CHRONIK_TEST_POSTGRES_URL`` as in
``tests/support/postgres.py``); works in a fresh database that is dropped afterwards.

1. import: ``append_many`` batches of ``--batch`` drafts, each draft at its own millisecond
   (a mailbox import); entries/s.
2. one instant: the same, every draft at the same millisecond.
3. duplicates: batch 1 again (every source id on file: the lookup path); drafts/s.
4. concurrent: ``--writers`` tasks over two store handles appending one entry at a time for
   one customer at one millisecond (the advisory lock of that millisecond serialises them);
   entries/s.
5. drain: two handles drain the index outbox at once (claim 500, ack); rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.store_contract.helpers import draft  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from timeline.models import Channel, EntryDraft  # noqa: E402
from timeline.pg_store import PgStore  # noqa: E402

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def drafts(office: str, customer: str, count: int, *, spread: bool, tag: str
           ) -> list[EntryDraft]:
    return [draft(office, customer, channel=Channel.EMAIL, source_id=f"<{tag}{i}@x>",
                  occurred_at=T0 + timedelta(milliseconds=i if spread else 0),
                  body=f"message {i} " * 20, meta={"from": "a@b.de", "n": i})
            for i in range(count)]


async def timed(label: str, count: int, work: object) -> None:
    start = time.perf_counter()
    await work  # type: ignore[misc]
    took = time.perf_counter() - start
    print(f"{label:<44} {count:>6} in {took:6.2f} s = {count / took:8.0f}/s")


async def main(count: int, batch: int, writers: int) -> None:
    async with fresh_database() as url:
        a, b = PgStore(url), PgStore(url)
        await a.open()
        await b.open()
        try:
            office = await a.create_office("Bench", "DE")
            customer = await a.create_customer(office.id, "Erika", [])
            o, c = office.id, customer.id

            async def batches(items: list[EntryDraft]) -> None:
                for i in range(0, len(items), batch):
                    await a.append_many(items[i:i + batch])
            spread = drafts(o, c, count, spread=True, tag="s")
            await timed(f"import, batches of {batch}, distinct ms", count, batches(spread))
            await timed(f"one instant, batches of {batch}", count,
                        batches(drafts(o, c, count, spread=False, tag="i")))
            await timed(f"duplicates, batches of {batch}", count, batches(spread))

            per = count // writers

            async def writer(n: int) -> None:
                handle = (a, b)[n % 2]
                for i in range(per):
                    await handle.append(draft(o, c, body=f"w{n}.{i}", occurred_at=T0))
            await timed(f"concurrent single appends, {writers} writers", per * writers,
                        asyncio.gather(*[writer(n) for n in range(writers)]))

            backlog, _ = await a.index_backlog()

            async def drain(handle: PgStore) -> None:
                while tasks := await handle.pending_index_tasks(500):
                    await handle.ack_index_tasks([t.outbox_id for t in tasks])
            await timed("drain index outbox, 2 handles", backlog,
                        asyncio.gather(drain(a), drain(b)))
        finally:
            await a.close()
            await b.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--writers", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.batch, args.writers))
