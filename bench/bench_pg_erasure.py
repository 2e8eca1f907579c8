"""Erasure on PostgreSQL (``timeline/pg_erasure.py``, ``timeline/pg_privacy.py``): what one
erasure and the ``scrub`` after it (``VACUUM (INDEX_CLEANUP ON)`` of the person tables) cost
in an office with many entries.

    .venv/bin/python bench/bench_pg_erasure.py [--entries 100000] [--customers 1000] [--erase 5]

Needs the test server (``deploy/ci/postgres.sh``; URL from ``CHRONIK_TEST_POSTGRES_URL`` as in
``tests/support/postgres.py``); works in a fresh database that is dropped afterwards.

1. setup: ``--customers`` customers with an e-mail identity each, ``--entries`` entries spread
   over them (every 10th of each customer with an attachment), written with ``append_many``.
2. per erasure (``--erase`` customers, one after another): ``personal_data`` (the export
   read), ``erase_customer``, ``blobs_in_use`` of what it freed, ``scrub``; milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.store_contract.helpers import draft  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from timeline.models import Attachment, Channel, Identity, IdentityKind  # noqa: E402
from timeline.pg_store import PgStore  # noqa: E402
from timeline.privacy_models import ErasureOrder  # noqa: E402

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
BATCH = 1000


async def main(count: int, people: int, erase: int) -> None:
    async with fresh_database() as url:
        store = PgStore(url)
        await store.open()
        try:
            office = await store.create_office("Bench", "DE")
            o = office.id
            start = time.perf_counter()
            customers = [await store.create_customer(o, f"Kunde {i}", [Identity(
                kind=IdentityKind.EMAIL, value=f"kunde{i}@example.test")])
                for i in range(people)]
            for first in range(0, count, BATCH):
                await store.append_many([draft(
                    o, customers[i % people].id, channel=Channel.EMAIL,
                    source_id=f"<m{i}@x>", occurred_at=T0 + timedelta(seconds=i),
                    body=f"message {i} " * 20, meta={"from": f"kunde{i % people}@example.test"},
                    attachments=(Attachment(name="a.pdf", content_type="application/pdf",
                                            size=1, sha256=f"{i:064x}"),) if i // people % 10 == 0
                    else ()) for i in range(first, min(first + BATCH, count))])
            print(f"setup: {people} customers, {count} entries in "
                  f"{time.perf_counter() - start:.1f} s")
            took: dict[str, list[float]] = {"personal_data": [], "erase_customer": [],
                                            "blobs_in_use": [], "scrub": []}
            for victim in customers[:erase]:
                t = time.perf_counter()
                data = await store.personal_data(o, victim.id)
                took["personal_data"].append(time.perf_counter() - t)
                assert data is not None
                t = time.perf_counter()
                outcome = await store.erase_customer(ErasureOrder(
                    office_id=o, customer_id=victim.id, erased_by="bench"))
                took["erase_customer"].append(time.perf_counter() - t)
                t = time.perf_counter()
                await store.blobs_in_use(outcome.blob_candidates)
                took["blobs_in_use"].append(time.perf_counter() - t)
                t = time.perf_counter()
                await store.scrub()
                took["scrub"].append(time.perf_counter() - t)
            per = count // people
            print(f"per erasure of one customer with ~{per} entries ({erase} runs, median / max):")
            for step, values in took.items():
                print(f"  {step:<16} {statistics.median(values) * 1000:8.1f} ms "
                      f"{max(values) * 1000:8.1f} ms")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--erase", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.customers, args.erase))
