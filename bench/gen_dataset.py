"""Build a Chronik data dir for the benchmarks, through the store's own API.

    .venv/bin/python bench/gen_dataset.py DATA_DIR --customers 100000 --entries 1000000 \\
        --seed 42 [--big-customer-entries 100000]

* one office, one admin agent whose API token is ``chk_bench_<SEED>`` (printed; stored hashed
  with ``chronik.api.base.hash_token``)
* customers via ``SqliteStore.create_customer`` one by one (identities normalised by
  ``TimelineService.identities``): a German phone number (mobile or landline, stored E.164,
  ``raw`` as typed) and an e-mail address each
* entries via ``SqliteStore.append_many`` in batches of ``--batch`` (1000), chronological
  (an import), spread over 2 years; customer 0 gets ``--big-customer-entries``, the others
  share the rest Zipf-like (each at least one); channels mixed (e-mail, phone, note,
  document, chat, portal, notification); text from ``bench/corpus.py`` (gen_mail.py's
  vocabulary and Zipf law)
* then the search index: the store's index outbox is drained by ``search.indexer.Indexer``
  (the server's own live path; leaves the outbox empty so a server started later does not
  re-index)
* writes ``DATA_DIR/bench-meta.json`` (token, office, big customer, sample phones in several
  formats, search words by document frequency, timings) and ``DATA_DIR/bench-df.json`` (the
  document frequency of every word).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus

from chronik.api.base import hash_token
from chronik.app import close_state, open_state
from chronik.settings import Settings
from timeline.models import (
    Attachment,
    Channel,
    Direction,
    EntryDraft,
    IdentityKind,
    Role,
    Visibility,
)


def token_for(seed: int) -> str:
    return f"chk_bench_{seed}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def entry_counts(rng_corpus: corpus.Corpus, customers: int, entries: int, big: int
                 ) -> list[int]:
    """Entries per customer: customer 0 gets ``big``, the rest at least one plus a Zipf share
    (s = 0.8, like gen_mail's sender distribution) of what is left."""
    rng = rng_corpus.rng
    counts = [0] * customers
    counts[0] = big
    others = customers - 1
    rest = entries - big - others
    if rest < 0:
        raise SystemExit("--entries too small for one entry per customer")
    for i in range(1, customers):
        counts[i] = 1
    ranks = list(range(1, customers))
    rng.shuffle(ranks)
    cw = gm_cum_weights(others, 0.8)
    for r in rng.choices(range(others), cum_weights=cw, k=rest):
        counts[ranks[r]] += 1
    return counts


def file_sizes(data_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(data_dir.glob("*.sqlite3*"))}


def gm_cum_weights(n: int, s: float) -> list[float]:
    return corpus.gm._cum_weights(n, s)  # type: ignore[no-any-return]


async def generate(args: argparse.Namespace) -> dict[str, object]:
    data_dir = Path(args.data_dir)
    settings = Settings(data_dir=data_dir)  # type: ignore[call-arg]
    state = await open_state(settings)
    store = state.store
    c = corpus.Corpus(args.seed)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    try:
        office = await store.create_office("Bench Office", "DE")
        token = token_for(args.seed)
        agent = await store.create_agent(office.id, "Bench Admin", Role.ADMIN, hash_token(token))

        # ---------------------------------------------------------------- customers
        log(f"creating {args.customers} customers (store.create_customer, one by one)")
        t0 = time.perf_counter()
        customer_ids: list[str] = []
        people: list[corpus.Person] = []
        for i in range(args.customers):
            p = c.person(i)
            idents = state.timeline.identities(
                office, [(IdentityKind.PHONE, p.phone_raw), (IdentityKind.EMAIL, p.email)])
            cust = await store.create_customer(office.id, p.name, idents)
            customer_ids.append(cust.id)
            people.append(p)
            if (i + 1) % 20000 == 0:
                log(f"  {i + 1} customers, {(i + 1) / (time.perf_counter() - t0):.0f}/s")
        timings["customers_s"] = time.perf_counter() - t0
        log(f"customers: {timings['customers_s']:.1f} s "
            f"({args.customers / timings['customers_s']:.0f}/s)")

        # ---------------------------------------------------------------- entries
        counts = entry_counts(c, args.customers, args.entries, args.big_customer_entries)
        owner: list[int] = [i for i, n in enumerate(counts) for _ in range(n)]
        c.rng.shuffle(owner)
        stamps = c.stamps(args.entries)
        log(f"appending {args.entries} entries (store.append_many, batches of {args.batch})")
        df: dict[str, int] = {}
        t0 = time.perf_counter()
        build_s = 0.0
        pending: asyncio.Task[object] | None = None
        channels = {ch.value: ch for ch in Channel}
        for start in range(0, args.entries, args.batch):
            tb = time.perf_counter()
            drafts = []
            for k in range(start, min(start + args.batch, args.entries)):
                ci = owner[k]
                p = people[ci]
                f = c.entry(p.lang, p.name)
                for w in c.doc_words(str(f["subject"]), str(f["body"]),
                                     *(str(a["name"]) for a in f["attachments"])):  # type: ignore[attr-defined]
                    df[w] = df.get(w, 0) + 1
                drafts.append(EntryDraft(
                    office_id=office.id, customer_id=customer_ids[ci],
                    channel=channels[str(f["channel"])],
                    direction=Direction(str(f["direction"])), kind=str(f["kind"]),
                    author=agent.id if f["direction"] == "internal" else None,
                    visibility=Visibility(str(f["visibility"])), notify=False,
                    occurred_at=stamps[k], subject=str(f["subject"]), body=str(f["body"]),
                    attachments=tuple(Attachment(**a) for a in f["attachments"]),  # type: ignore[attr-defined]
                    source_id=f["source_id"],  # type: ignore[arg-type]
                ))
            build_s += time.perf_counter() - tb
            if pending is not None:
                await pending
            # the writer thread stores this batch while the loop builds the next one
            pending = asyncio.ensure_future(store.append_many(drafts))
            done = start + len(drafts)
            if done % 100_000 == 0:
                el = time.perf_counter() - t0
                log(f"  {done} entries, {done / el:.0f}/s")
        if pending is not None:
            await pending
        timings["entries_s"] = time.perf_counter() - t0
        timings["entries_build_s"] = build_s
        log(f"entries: {timings['entries_s']:.1f} s ({args.entries / timings['entries_s']:.0f}/s;"
            f" of which building drafts + word counts {build_s:.1f} s)")

        # ---------------------------------------------------------------- index
        log("indexing: draining the index outbox (search.indexer.Indexer, batch 500)")
        t0 = time.perf_counter()
        indexed = 0
        while n := await state.indexer.drain_once():
            indexed += n
            if indexed % 100_000 == 0:
                log(f"  {indexed} indexed, {indexed / (time.perf_counter() - t0):.0f}/s")
        timings["index_s"] = time.perf_counter() - t0
        log(f"index: {indexed} documents in {timings['index_s']:.1f} s "
            f"({indexed / max(timings['index_s'], 1e-9):.0f}/s)")
    finally:
        await close_state(state)
    timings["total_s"] = time.perf_counter() - t_all

    # -------------------------------------------------------------------- meta
    words = corpus.pick_words(df, args.entries)
    pick = c.rng.sample(range(1, args.customers), min(500, args.customers - 1))
    phones = [{"customer_id": customer_ids[i], "e164": people[i].e164,
               "formats": people[i].formats[:4]} for i in pick]
    other_counts = sorted(counts[1:])
    meta = {
        "count": args.entries, "seed": args.seed, "customers": args.customers,
        "big_customer_entries": args.big_customer_entries,
        "office_id": office.id, "agent_id": agent.id, "token": token,
        "big_customer_id": customer_ids[0],
        "big_customer_phone": {"e164": people[0].e164, "formats": people[0].formats[:4]},
        "phones": phones,
        "post_customers": [customer_ids[i] for i in c.rng.sample(range(args.customers),
                                                                 min(1000, args.customers))],
        "entries_per_other_customer": {
            "min": other_counts[0], "median": other_counts[len(other_counts) // 2],
            "p99": other_counts[int(len(other_counts) * 0.99)], "max": other_counts[-1]},
        "words": words,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "sizes_bytes": file_sizes(data_dir),
        "chronik_root": str(corpus.ROOT),
        "generator": "bench/gen_dataset.py (text: bench/corpus.py <- "
                     "../shared/bench/gen_mail.py)",
    }
    (data_dir / "bench-meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    alpha_df = {w: n for w, n in sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))
                if w.isalpha()}
    (data_dir / "bench-df.json").write_text(json.dumps(
        {"count": args.entries, "seed": args.seed, "doc_freq": alpha_df}, ensure_ascii=False))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--big-customer-entries", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"{data_dir} is not empty; remove it first")
    os.environ.setdefault("CHRONIK_LOG_LEVEL", "WARNING")
    meta = asyncio.run(generate(args))
    print(json.dumps({k: meta[k] for k in ("count", "seed", "customers", "token", "office_id",
                                           "big_customer_id", "big_customer_phone", "words",
                                           "timings_s", "sizes_bytes",
                                           "entries_per_other_customer")},
                     indent=1, ensure_ascii=False))
    print(f"\nAPI token: {meta['token']}")


if __name__ == "__main__":
    main()
