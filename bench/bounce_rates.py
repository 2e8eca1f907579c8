"""How well delivery reports are recognised and attributed, on the hand-made fixtures in
tests/connectors/data/bounces (expected.json says what each one is about), and with
``--real`` on real-world reports nobody here wrote: the 117 reports of GNU Mailman's
``flufl.bounce`` test suite (Exchange, GroupWise, Yahoo, AOL, sendmail, Postfix, Exim, qmail,
SMTP32, Netscape, LLNL, ... collected from mailing lists since 2000), fetched once from PyPI
(its sdist) into bench/data/flufl-bounce, with the addresses its own tests expect.

    .venv/bin/python bench/bounce_rates.py [-v] [--real | --sisimai]

Prints one line per reader: flufl.bounce alone (GNU Mailman's detectors; it has no notion
of "is this a report", so "recognised" means "it named some address"), our own readers
without the library, and the combination Chronik uses (delivery-status fields, then
flufl.bounce, then our phrases, then the returned message).

``--sisimai`` reads a sample of Sisimai's ``set-of-emails`` (BSD-2; real bounce mails of
~70 MTAs and providers) from ``bench/data/sisimai``: one ``.eml`` per file and an
``expected.json`` (``{"file.eml": {"action": "failed", "addresses": [...]}}``). No package
registry carries that set (the Go module of Sisimai's Go port is refused by the module
proxy), so the mails are copied by hand and not kept in the repository;
``bench/sisimai_reference.py FOLDER`` then writes both, with what the Perl Sisimai reads from
each mail as the expectation. Without them the mode says so and stops. It reports, through
the real ingest path (MailIngest on a throw-away SQLite store, unknown senders *created*):
recognised, attributed, and how many customers the reports created (must be 0); and as a
control, how many ordinary mails of ``../shared/corpora/zammad-mail`` (those not from a mail
system) were taken for a report (must be 0)."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import re
import subprocess
import sys
import tarfile
import tempfile
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

from flufl.bounce import all_failures

from connectors.email.bounce import read_report
from connectors.email.errors import MailParseError
from connectors.email.inbound import parse_senderless_report
from connectors.email.parse import ParsedMail, parse_message

DATA = Path(__file__).resolve().parents[1] / "tests" / "connectors" / "data" / "bounces"
KIND = {"failed": "bounce", "delayed": "delivery_report", "delivered": "delivery_report"}


def _msg(raw: bytes) -> Message:
    return BytesParser(_class=Message, policy=policy.compat32).parsebytes(raw)


def flufl_only(raw: bytes, action: str) -> tuple[bool, set[str]]:
    temporary, permanent = all_failures(_msg(raw))
    chosen = temporary if action == "delayed" else permanent
    found = {a.decode("ascii", "replace").lower() for a in chosen}
    return bool(temporary or permanent), found


def ours(raw: bytes, action: str, *, library: bool) -> tuple[bool, set[str]]:
    report = read_report(_msg(raw), use_library=library)
    if report is None or report.action != action:
        return False, set()
    return True, {a.lower() for a in report.recipients}


def chronik(raw: bytes, action: str) -> tuple[bool, set[str]]:
    try:
        parsed: ParsedMail | None = parse_message(raw)
    except MailParseError:  # the sender-less ones: as MailIngest reads them
        parsed = parse_senderless_report(raw)
    if parsed is None:
        return False, set()
    ok = parsed.auto == KIND[action]
    return ok, {a.lower() for a in parsed.bounced_recipients} if ok else set()


def main() -> None:
    verbose = "-v" in sys.argv
    expected = json.loads((DATA / "expected.json").read_text())
    reports = {k: v for k, v in expected.items() if "action" in v}
    readers = {
        "flufl.bounce 6.0.0 alone": flufl_only,
        "our readers without the library": lambda r, a: ours(r, a, library=False),
        "combined (what Chronik uses)": lambda r, a: ours(r, a, library=True),
        "combined, as MailIngest parses": chronik,
    }
    for name, reader in readers.items():
        recognised = attributed = 0
        for file, want in reports.items():
            ok, found = reader((DATA / file).read_bytes(), want["action"])
            good = found == {a.lower() for a in want["addresses"]}
            recognised += ok
            attributed += ok and good
            if verbose and not (ok and good):
                print(f"  {name}: {file}: recognised={ok} found={sorted(found)}")
        total = len(reports)
        print(f"{name:34} recognised {recognised}/{total} ({100 * recognised / total:.0f} %)"
              f"  attributed {attributed}/{total} ({100 * attributed / total:.0f} %)")


REAL = Path(__file__).resolve().parent / "data" / "flufl-bounce"


def _real_corpus() -> Path:
    """The sdist's tests/ folder (downloaded with pip once)."""
    found = sorted(REAL.glob("flufl_bounce-*/tests/test_detectors.py"))
    if not found:
        REAL.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
                        "--no-deps", "--quiet", "-d", str(REAL), "flufl.bounce==6.0.0"],
                       check=True)
        for archive in REAL.glob("flufl_bounce-*.tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(REAL, filter="data")
        found = sorted(REAL.glob("flufl_bounce-*/tests/test_detectors.py"))
    return found[-1].parent


def real(verbose: bool) -> None:
    """Each report file with the addresses flufl.bounce's tests expect from any of its
    detectors (a file they expect nothing from is left out: not a report, or no address in
    it); recognised = taken for a failure (or, where the tests call it temporary, a delay)."""
    tests = _real_corpus()
    source = (tests / "test_detectors.py").read_text()
    table = ast.literal_eval(source[source.index("DETECTORS = [") + len("DETECTORS = "):
                                    source.index("]\n\n\n@pytest") + 1])
    want: dict[str, tuple[set[str], bool]] = {}
    for _detector, name, found, temporary in table:
        addresses, _ = want.get(name, (set(), temporary))
        want[name] = (addresses | {a.decode().lower() for a in found}, temporary)
    reports = {name: w for name, w in sorted(want.items()) if w[0]}
    recognised = attributed = 0
    for name, (addresses, temporary) in reports.items():
        ok, found = chronik((tests / "data" / name).read_bytes(),
                            "delayed" if temporary else "failed")
        recognised += ok
        attributed += ok and found == addresses
        if verbose and not (ok and found == addresses):
            print(f"  {name}: recognised={ok} found={sorted(found)} want={sorted(addresses)}")
    others = [name for name, w in want.items() if not w[0]]
    total = len(reports)
    print(f"real-world reports (flufl.bounce 6.0.0's test data, {total} files; "
          f"{len(others)} without an expected address left out)")
    print(f"{'combined, as MailIngest parses':34} recognised {recognised}/{total} "
          f"({100 * recognised / total:.0f} %)  attributed {attributed}/{total} "
          f"({100 * attributed / total:.0f} %)")


SISIMAI = Path(__file__).resolve().parent / "data" / "sisimai"
ZAMMAD = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "zammad-mail"


async def _ingest_all(raws: dict[str, bytes]) -> tuple[dict[str, tuple[str | None, str]], int]:
    """Each raw message delivered into one empty office (unknown senders created): its entry
    kind (or None) and outcome; and how many customers were created in all."""
    from connectors.email.inbound import MailIngest
    from timeline.blobs import BlobStore
    from timeline.ingest import IngestService, UnknownSenderPolicy
    from timeline.service import TimelineService
    from timeline.sqlite_store import SqliteStore
    from timeline.store import CustomerListQuery

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "s.sqlite3")
        await store.open()
        try:
            office = await store.create_office("Bench", "DE")
            ingest = IngestService(TimelineService(store, BlobStore(Path(tmp) / "blobs")),
                                   UnknownSenderPolicy.CREATE)
            mail = MailIngest(ingest)
            out: dict[str, tuple[str | None, str]] = {}
            for name, raw in raws.items():
                done = await mail.deliver(office.id, raw, f"bench:{name}")
                entry = done.result.entry
                reason = done.result.quarantined.reason if done.result.quarantined else ""
                out[name] = (entry.kind if entry else None, reason or done.outcome)
            page = await store.list_customers(office.id, CustomerListQuery(limit=10_000))
            return out, len(page.items)
        finally:
            await store.close()


def sisimai(verbose: bool) -> None:
    logging.disable(logging.WARNING)  # one "quarantined …" line per report otherwise
    if not (SISIMAI / "expected.json").is_file():
        print(f"no Sisimai sample in {SISIMAI} (see this script's docstring); nothing measured")
        return
    expected = json.loads((SISIMAI / "expected.json").read_text("utf-8"))
    recognised = attributed = 0
    for name, want in expected.items():
        ok, found = chronik((SISIMAI / name).read_bytes(), want["action"])
        good = ok and found == {a.lower() for a in want["addresses"]}
        recognised += ok
        attributed += good
        if verbose and not good:
            print(f"  {name}: recognised={ok} found={sorted(found)} want={want['addresses']}")
    total = len(expected)
    kinds, created = asyncio.run(_ingest_all(
        {n: (SISIMAI / n).read_bytes() for n in expected}))
    as_reports = sum(1 for kind, why in kinds.values()
                     if kind in ("bounce", "delivery_report") or why.startswith("unattributed_"))
    print(f"Sisimai sample ({total} reports)")
    print(f"{'combined, as MailIngest parses':34} recognised {recognised}/{total} "
          f"({100 * recognised / total:.0f} %)  attributed {attributed}/{total} "
          f"({100 * attributed / total:.0f} %)")
    print(f"{'through the ingest path':34} taken as reports {as_reports}/{total}, "
          f"customers created {created} (must be 0)")
    if not ZAMMAD.is_dir():
        print(f"control skipped: {ZAMMAD} is absent")
        return
    ordinary: dict[str, bytes] = {}
    for eml in sorted(ZAMMAD.glob("*.eml")):
        meta = eml.with_suffix(".expected.json")
        sender = json.loads(meta.read_text("utf-8")).get("from_email", "") if meta.is_file() \
            else ""
        if not re.match(r"(?i)(mailer-daemon|postmaster)@", str(sender)):
            ordinary[eml.name] = eml.read_bytes()
    kinds, _ = asyncio.run(_ingest_all(ordinary))
    wrong = sorted(n for n, (kind, why) in kinds.items()
                   if kind in ("bounce", "delivery_report") or why.startswith("unattributed_"))
    print(f"{'control: zammad-mail person mail':34} taken as reports {len(wrong)}/"
          f"{len(ordinary)} {wrong if wrong else ''}(must be 0)")


if __name__ == "__main__":
    if "--real" in sys.argv:
        real("-v" in sys.argv)
    elif "--sisimai" in sys.argv:
        sisimai("-v" in sys.argv)
    else:
        main()
