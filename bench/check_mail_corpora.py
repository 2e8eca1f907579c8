"""Run every message fetched by ``bench/fetch_mail_corpora.py`` through Chronik's intake
parser (the importer's ``parse_batch``) and flag what an agent reading the timeline would
see as wrong: a quarantined message, a missing sender / subject / date, a body that shows
raw base64, quoted-printable, HTML tags or mojibake, fewer attachments than the message
has attachment leaves.

Usage: ``.venv/bin/python bench/check_mail_corpora.py [--dump FILE] [DIR ...]``
(default: every folder under ``bench/data/mail-corpora``). Prints one line per flag and
the counts by family; ``--dump`` writes what was read of every message for reading by eye.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import email
import email.policy
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.email.importer import parse_batch
from connectors.email.parse import ParsedMail
from connectors.email.sources import iter_messages

ROOT = Path(__file__).resolve().parent / "data" / "mail-corpora"
MESSAGE_SUFFIXES = (".msg", ".eml", ".txt", ".mbox", "")
BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]{60,}={0,2}$", re.MULTILINE)
QP = re.compile(r"=[0-9A-F]{2}.*=[0-9A-F]{2}|=\n")
TAG = re.compile(r"</?(html|body|div|p|br|span|table|td|font)\b[^>]*>", re.IGNORECASE)
MOJIBAKE = re.compile("Ã[\x80-¿]|â€|Ð[\x80-¿]|\ufffd")
ENCODED_WORD = re.compile(r"=\?[^?]+\?[bqBQ]\?")


def messages(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        found.extend(f for f in files if f.is_file() and f.suffix in MESSAGE_SUFFIXES
                     and not f.name.endswith(("_decoded.xml",)) and f.name != "README"
                     and "LICENSE" not in f.name and "_decoded_" not in f.name)
    return found


def leaves(raw: bytes) -> tuple[int, bool]:
    """Attachment-like leaves as the stdlib sees them, and whether it found a body."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    count = 0
    body = False
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() in ("message/rfc822",):
            continue
        ctype = part.get_content_type()
        named = part.get_filename() is not None or part.get_content_disposition() == "attachment"
        if ctype in ("text/plain", "text/html") and not named:
            body = True
        else:
            count += 1
    return count, body


def flags(raw: bytes, parsed: ParsedMail) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    if re.search(rb"(?im)^subject:[ \t]*\S", head) and not parsed.subject:
        out.append(("subject-lost", ""))
    if ENCODED_WORD.search(parsed.subject) or MOJIBAKE.search(parsed.subject):
        out.append(("subject-undecoded", parsed.subject[:80]))
    if re.search(rb"(?im)^date:[ \t]*\S", head) and parsed.date is None:
        out.append(("date-lost", ""))
    if ENCODED_WORD.search(parsed.from_display_name) or MOJIBAKE.search(
            parsed.from_display_name):
        out.append(("author-undecoded", parsed.from_display_name[:80]))
    text = parsed.text
    for family, pattern in (("body-base64", BASE64_LINE), ("body-qp", QP),
                            ("body-html-tags", TAG), ("body-mojibake", MOJIBAKE)):
        hit = pattern.search(text)
        if hit:
            out.append((family, repr(text[max(0, hit.start() - 30):hit.end() + 30])))
    try:
        expected, has_body = leaves(raw)
    except Exception as exc:
        expected, has_body = 0, True
        out.append(("stdlib-failed", type(exc).__name__))
    if len(parsed.attachments) < expected:
        out.append(("attachments-fewer", f"{len(parsed.attachments)} < {expected}"))
    if has_body and not text.strip() and not parsed.attachments:
        out.append(("body-empty", ""))
    for att in parsed.attachments:
        if not att.filename or "/" in att.filename or ENCODED_WORD.search(att.filename) \
                or MOJIBAKE.search(att.filename):
            out.append(("attachment-name", att.filename))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="*", type=Path)
    ap.add_argument("--dump", type=Path)
    ap.add_argument("--add-from", action="store_true",
                    help="give a message quarantined for its missing sender a From header "
                         "and read it again (test messages of MIME parsers often have none)")
    args = ap.parse_args()
    files = messages(args.dirs or [ROOT])
    counts: collections.Counter[str] = collections.Counter()
    dump: list[str] = []
    total = 0
    for path in files:
        try:
            raws = list(iter_messages(path))
        except Exception as exc:
            print(f"{path}: source-error {exc}")
            counts["source-error"] += 1
            continue
        for raw_message in raws:
            total += 1
            result = parse_batch([raw_message.raw], 50 * 1024 * 1024)[0]
            where = raw_message.origin
            if args.add_from and isinstance(result, str) and "no sender" in result:
                raw_message = dataclasses.replace(raw_message,
                    raw=b"From: added@example.org\n" + raw_message.raw)
                result = parse_batch([raw_message.raw], 50 * 1024 * 1024)[0]
                where += " (From added)"
            if isinstance(result, str):
                counts["quarantined"] += 1
                print(f"{where}: quarantined {result}")
                dump.append(f"=== {where}\nQUARANTINED {result}\n")
                continue
            for family, detail in flags(raw_message.raw, result):
                counts[family] += 1
                print(f"{where}: {family} {detail}")
            dump.append(
                f"=== {where}\nfrom={result.from_display_name!r} <{result.from_email}>\n"
                f"subject={result.subject!r}\ndate={result.date}\nto={result.to}\n"
                f"attachments={[(a.filename, a.content_type, len(a.data), a.inline) for a in result.attachments]}\n"  # noqa: E501
                f"notes={list(result.parse_notes)}\n--- text\n{result.text[:1200]}\n")
    print(f"{total} messages from {len(files)} files; flags: {dict(counts)}")
    if args.dump:
        args.dump.write_text("\n".join(dump))


if __name__ == "__main__":
    main()
