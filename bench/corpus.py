"""Deterministic synthetic customer-history data for the benchmarks.

The word distribution is *not* invented here: the vocabularies (German and English real words
plus a synthetic long tail), the Zipf weighting (rank r has weight 1/r**1.07), the text shape
(log-normal length 30..300 words, sprinkled order numbers) and the subject lines all come from
``../shared/bench/gen_mail.py`` beside the repository (read-only), imported by path with
importlib (override the path with ``$CHRONIK_GEN_MAIL``). Same SEED -> same data.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(os.environ.get("CHRONIK_ROOT") or Path(__file__).resolve().parent.parent).resolve()
"""The Chronik source tree under test ($CHRONIK_ROOT, default: this checkout)."""
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from timeline.identity import normalise_phone  # noqa: E402
from timeline.text import WORD, fold_word  # noqa: E402

SHARED_GEN_MAIL = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_mail.py"
GEN_MAIL = Path(os.environ.get("CHRONIK_GEN_MAIL", str(SHARED_GEN_MAIL)))

START = datetime(2024, 11, 22, tzinfo=UTC)
DAYS = 730
TYPO_RATE = 0.004
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 12, 11, 8, 10, 11, 11, 10, 8, 6, 4, 3, 2, 2, 1]
"""Same office-hours weighting as gen_mail.py."""


def load_gen_mail() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gen_mail", GEN_MAIL)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {GEN_MAIL} (set CHRONIK_GEN_MAIL)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gm = load_gen_mail()

# channel -> (share, kind, directions, published share, word-count scale)
CHANNELS: list[tuple[str, float, str, tuple[str, ...], float, float]] = [
    ("email", 0.40, "email", ("inbound", "inbound", "outbound"), 1.0, 1.0),
    ("phone", 0.12, "phone_note", ("internal",), 0.1, 0.35),
    ("note", 0.15, "note", ("internal",), 0.2, 0.5),
    ("document", 0.05, "document", ("internal",), 0.3, 0.25),
    ("chat", 0.12, "chat", ("inbound", "outbound"), 1.0, 0.2),
    ("portal", 0.08, "portal", ("inbound",), 1.0, 0.7),
    ("notification", 0.08, "notification", ("outbound",), 1.0, 0.2),
]
_CH_CUM: list[float] = []
_acc = 0.0
for _c in CHANNELS:
    _acc += _c[1]
    _CH_CUM.append(_acc)

MOBILE = ["151", "152", "157", "160", "162", "163", "170", "171", "172", "173", "174", "175",
          "176", "177", "178", "179"]
LANDLINE = [("30", 8), ("40", 8), ("89", 8), ("69", 8), ("221", 7), ("211", 7), ("711", 7),
            ("341", 7), ("351", 7), ("511", 7), ("911", 7), ("421", 7), ("6221", 6),
            ("7071", 6), ("4561", 6)]


def phone_formats(area: str, sub: str) -> list[str]:
    """Ways people write the same German number (all normalise to one E.164 value)."""
    return [
        f"0{area} {sub}",
        f"+49 {area} {sub}",
        f"0049-{area}/{sub}",
        f"(0{area}) {sub[:3]} {sub[3:]}",
        f"+49{area}{sub}",
    ]


@dataclass
class Person:
    name: str
    lang: str
    e164: str
    phone_raw: str
    formats: list[str]
    email: str


class Corpus:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(f"chronik-bench:{seed}")
        vrng = random.Random(f"gen_mail:{seed}")  # vocabulary exactly as gen_mail builds it
        self.vocab = {"de": gm.Vocab(vrng, gm.DE_WORDS, "de", 6000),
                      "en": gm.Vocab(vrng, gm.EN_WORDS, "en", 4000)}
        self._fold_cache: dict[str, str] = {}
        self._phones: set[str] = set()

    # ------------------------------------------------------------------ people
    def person(self, i: int) -> Person:
        rng = self.rng
        fn, ln = rng.choice(gm.FIRST), rng.choice(gm.LAST)
        lang = "de" if rng.random() < 0.75 else "en"
        while True:
            if rng.random() < 0.7:
                area = rng.choice(MOBILE)
                sub = str(rng.randint(10**7, 10**8 - 1)) if area.startswith("15") else \
                    str(rng.randint(10**6, 10**7 - 1))
            else:
                area, digits = rng.choice(LANDLINE)
                sub = str(rng.randint(2 * 10 ** (digits - 1), 10**digits - 1))
            e164 = normalise_phone(f"0{area}{sub}", "DE")
            if e164 not in self._phones:
                self._phones.add(e164)
                break
        formats = phone_formats(area, sub)
        dom = rng.choice(gm.FREE_DOMAINS) if rng.random() < 0.6 else \
            rng.choice(gm.COMPANY_STEMS) + ".de"
        email = f"{gm.ascii_local(fn)}.{gm.ascii_local(ln)}{i}@{dom}"
        return Person(name=f"{fn} {ln}", lang=lang, e164=e164,
                      phone_raw=rng.choice(formats[:4]), formats=formats, email=email)

    # ------------------------------------------------------------------ time
    def stamps(self, count: int) -> list[datetime]:
        """``count`` sorted instants over two years (2024-11-22 .. 2026-11-22), office hours."""
        rng = self.rng
        hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
        ms = sorted(rng.randrange(DAYS) * 86_400_000 + h * 3_600_000 + rng.randrange(3_600_000)
                    for h in hours)
        return [START + timedelta(milliseconds=m) for m in ms]

    # ------------------------------------------------------------------ entries
    def entry(self, lang: str, person_name: str) -> dict[str, object]:
        """Fields of one entry (channel, kind, direction, visibility, subject, body, ...)."""
        rng = self.rng
        r = rng.random()
        idx = 0
        while r > _CH_CUM[idx] and idx < len(CHANNELS) - 1:
            idx += 1
        channel, _share, kind, directions, published, scale = CHANNELS[idx]
        if rng.random() < 0.1:
            lang = "en" if lang == "de" else "de"
        v = self.vocab[lang]
        nwords = max(3, int(gm.nwords_sample(rng) * scale))
        paras = [self._typos(p) for p in gm.make_text(rng, v, nwords)]
        subject = ""
        source_id = None
        attachments: list[dict[str, object]] = []
        if channel == "email":
            subject = gm.make_subject(rng, v, lang)
            greet = rng.choice(gm.GREET_DE if lang == "de" else gm.GREET_EN).format(
                team="Support-Team")
            close = rng.choice(gm.CLOSE_DE if lang == "de" else gm.CLOSE_EN)
            body = "\n\n".join([greet, *paras, f"{close}\n{person_name}"])
            h = hashlib.sha1(f"{self.seed}:{rng.random()}".encode()).hexdigest()[:16]
            source_id = f"<{h}@bench.example>"
        elif channel == "document":
            subject = gm.make_subject(rng, v, lang)
            body = "\n\n".join(paras)
            fname = rng.choice(["Rechnung", "Lieferschein", "Angebot", "Scan", "invoice",
                                "Vertrag"]) + f"_{rng.randint(1000, 99999)}.pdf"
            size = rng.randint(2000, 400_000)
            attachments.append({"name": fname, "content_type": "application/pdf", "size": size,
                                "sha256": hashlib.sha256(fname.encode() + bytes(8)).hexdigest()})
        elif channel in ("portal", "note") and rng.random() < 0.5:
            subject = gm.make_subject(rng, v, lang)
            body = "\n\n".join(paras)
        else:
            body = "\n\n".join(paras)
        return {
            "channel": channel, "kind": kind, "direction": rng.choice(directions),
            "visibility": "published" if rng.random() < published else "internal",
            "subject": subject, "body": body, "attachments": attachments,
            "source_id": source_id,
        }

    def _typos(self, text: str) -> str:
        """Real text has misspellings (~1 word in 250 here): they are the natural source of
        rare tokens (document frequency 10..100) that gen_mail's vocabulary alone lacks."""
        rng = self.rng
        words = text.split(" ")
        lam = len(words) * TYPO_RATE
        k, p, limit = 0, rng.random(), math.exp(-lam)  # Poisson(lam)
        while p > limit:
            k += 1
            p *= rng.random()
        if not k:
            return text
        for _ in range(k):
            i = rng.randrange(len(words))
            w = words[i]
            if len(w) < 5 or not w.isalpha():
                continue
            j = rng.randrange(1, len(w) - 1)
            op = rng.random()
            if op < 0.4:
                w = w[:j] + w[j + 1:]                      # dropped letter
            elif op < 0.7:
                w = w[:j] + w[j + 1] + w[j] + w[j + 2:]    # swapped letters
            else:
                w = w[:j] + w[j] + w[j:]                   # doubled letter
            words[i] = w
        return " ".join(words)

    # ------------------------------------------------------------------ frequencies
    def doc_words(self, *texts: str) -> set[str]:
        """The distinct folded words of a document (what FTS5 sees, see document_text)."""
        cache = self._fold_cache
        out: set[str] = set()
        for text in texts:
            for w in set(WORD.findall(text.lower())):
                f = cache.get(w)
                if f is None:
                    f = cache[w] = fold_word(w)
                out.add(f)
        return out


_ALPHA = re.compile(r"^[a-z]+$")


def pick_words(df: dict[str, int], count: int, per_class: int = 8) -> dict[str, list[list]]:
    """Search words by document frequency: rare (10..100), mid (1 %..5 %), common (> 30 %).

    Only plain ASCII words that fold to themselves (so the query equals the indexed token).
    Each class lists ``[word, df]`` pairs, closest to the class' target first.
    """
    ok = [(w, c) for w, c in df.items() if _ALPHA.match(w) and fold_word(w) == w]

    def closest(lo: float, hi: float, target: float, minlen: int) -> list[list]:
        cand = [(w, c) for w, c in ok if lo <= c <= hi and len(w) >= minlen]
        cand.sort(key=lambda wc: (abs(wc[1] - target), wc[0]))
        return [[w, c] for w, c in cand[:per_class]]

    return {
        "rare": closest(10, 100, 40, 6),
        "mid": closest(0.01 * count, 0.05 * count, (0.01 * 0.05) ** 0.5 * count, 6),
        "common": sorted(([w, c] for w, c in ok if c > 0.3 * count and len(w) >= 3),
                         key=lambda wc: -wc[1])[:per_class],
    }


def search_entries(count: int, seed: int, customers_per_entry: float = 0.05
                   ) -> tuple[list[Any], dict[str, list[list]]]:
    """``count`` timeline entries of one office (``OFFICE``) for the search benches, and the
    query words by document frequency (``pick_words``). Imports the timeline models of the
    source tree on ``sys.path`` (the before/after benches run this in either tree)."""
    from timeline.ids import seq_base
    from timeline.models import Attachment, Channel, Direction, Entry, Visibility

    c = Corpus(seed)
    people = [c.person(i) for i in range(max(1, int(count * customers_per_entry)))]
    stamps = c.stamps(count)
    entries: list[Any] = []
    df: dict[str, int] = {}
    for k in range(count):
        who = c.rng.randrange(len(people))
        p = people[who]
        f = c.entry(p.lang, p.name)
        when = stamps[k]
        entries.append(Entry(
            id=f"B{k:08d}", seq=seq_base(when) + k % 1000, office_id="OFFICE",
            customer_id=f"C{who}",
            channel=Channel(str(f["channel"])), direction=Direction(str(f["direction"])),
            kind=str(f["kind"]), visibility=Visibility(str(f["visibility"])),
            occurred_at=when, recorded_at=when + timedelta(seconds=1),
            subject=str(f["subject"]), body=str(f["body"]),
            attachments=tuple(Attachment(**a) for a in f["attachments"])))
        for w in c.doc_words(str(f["subject"]), str(f["body"])):
            df[w] = df.get(w, 0) + 1
    return entries, pick_words(df, count)
