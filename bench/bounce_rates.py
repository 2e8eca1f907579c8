"""How well delivery reports are recognised and attributed, on the hand-made fixtures in
tests/connectors/data/bounces (expected.json says what each one is about).

    .venv/bin/python bench/bounce_rates.py [-v]

Prints one line per reader: flufl.bounce alone (GNU Mailman's detectors; it has no notion
of "is this a report", so "recognised" means "it named some address"), our own readers
without the library, and the combination Chronik uses (delivery-status fields, then
flufl.bounce, then our phrases, then the returned message)."""

from __future__ import annotations

import json
import sys
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


if __name__ == "__main__":
    main()
