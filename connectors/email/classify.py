"""Recognise machine-generated mail: bounces, auto-replies, bulk mail and loops.

``classify(msg)`` returns ``(auto, bounced_recipients)`` where ``auto`` is

- ``"bounce"``: a delivery failure report -- an RFC 3464 ``multipart/report;
  report-type=delivery-status`` with ``Action: failed`` recipients, or a non-standard
  bounce (MAILER-DAEMON / "Mail Delivery System" sender, ``X-Failed-Recipients``,
  postmaster or null sender with a bounce subject); failed recipients are read from the
  report, from ``X-Failed-Recipients`` or from the usual phrases of Postfix, Exim, qmail,
  Exchange and Gmail;
- ``"auto_reply"``: written by a machine in place of a person -- ``Auto-Submitted``
  other than ``no``, ``X-Autoreply``, ``X-Autorespond``, an out-of-office subject (a bare
  ``Auto:`` prefix only together with away wording: "Auto: Schadenmeldung" is about a car),
  ``Precedence: auto_reply``, ``X-Auto-Response-Suppress`` (All/OOF/AutoReply), ``X-Loop``
  (a loop marker), delivery-delay reports and read receipts;
- ``"bulk"``: lists and newsletters -- ``List-Id``, ``List-Unsubscribe``,
  ``Precedence: bulk/junk/list``;
- ``None``: mail from a person.

Signals are checked in that order of strength: a specific auto-reply signal wins over list
headers (an out-of-office reply sent through a list is still an auto-reply), list headers
win over generic machine markers (newsletters often say ``Auto-Submitted: auto-generated``).
"""

from __future__ import annotations

import re
from email.message import Message

from .decode import decode_words, header_values

__all__ = ["classify"]

_OUT_OF_OFFICE = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:auto(?:matic|matische)?[ _-]?(?:reply|response|antwort)"
    r"|automatische antwort|abwesenheits(?:notiz|meldung|nachricht)|out[ -]of[ -](?:the[ -])?"
    r"office|autoreply|autosvar|réponse automatique|respuesta automática"
    r"|risposta automatica|automatisch antwoord|odpowiedź automatyczna|ooo:)",
    re.IGNORECASE,
)
# "Auto:" alone is a German word ("Auto: Schadenmeldung" is about a car): only with a
# second signal in the subject (Lotus Notes: "AUTO: Anna Alt is out of the office").
_AUTO_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?auto:", re.IGNORECASE)
_AWAY_WORDING = re.compile(
    r"out of (?:the )?office|not in the office|away from|on (?:vacation|holiday|leave)"
    r"|abwesend|nicht im büro|außer haus|ausser haus|im urlaub",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status notification \((?:failure|delay)\)|failure|has failed|failed)"
    r"|mail delivery failed|returned mail|failure notice|unzustellbar|nicht zugestellt"
    r"|nicht zustellbar|could not be delivered|non remis|non recapitabile|onbestelbaar",
    re.IGNORECASE,
)
_DAEMON_ADDRESS = re.compile(r"^(?:mailer-daemon|mail-daemon|mailer_daemon)(?:@|$)", re.I)
_DAEMON_NAME = re.compile(r"mail delivery (?:sub)?system|mailer-daemon", re.IGNORECASE)
_ADDRESS = r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+"
_RECIPIENT_PATTERNS = [
    re.compile(rf"^\s*<({_ADDRESS})>:?\s*(?:$|\S)", re.MULTILINE),  # Postfix, qmail
    re.compile(rf"(?:final|original)-recipient:\s*rfc822;\s*<?({_ADDRESS})", re.IGNORECASE),
    re.compile(  # Gmail, Exchange, generic English
        rf"(?:wasn't delivered to|couldn't be delivered to|could not be delivered to"
        rf"|message to|delivery to|failed to deliver to|undeliverable to)\s+<?({_ADDRESS})",
        re.IGNORECASE,
    ),
]
_LIST_TRIGGER = re.compile(  # a list of failed addresses follows on the next lines
    r"(?:following address(?:es|\(es\))? failed|following recipients?(?:\(s\))?"
    r"|failed permanently|delivery has failed to these recipients|could not be delivered to"
    r" one or more|konnte nicht (?:an folgende empfänger )?zugestellt werden"
    r"|folgende(?:n)? (?:empfänger|adressen?))[^\n]*\n",
    re.IGNORECASE,
)
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_LINE_ADDRESS = re.compile(rf"^\s*<?({_ADDRESS})>?", re.MULTILINE)


def classify(msg: Message) -> tuple[str | None, tuple[str, ...]]:
    """``(auto, bounced_recipients)`` for a parsed message; never raises for odd headers."""
    report = _report_type(msg)
    if report in ("delivery-status", "global-delivery-status"):
        failed, actions = _dsn_recipients(msg)
        if "failed" in actions or not actions:  # unreadable reports count as failures
            return "bounce", failed or _text_recipients(msg)
        return "auto_reply", ()  # only delayed / delivered / relayed / expanded
    if _looks_like_bounce(msg):
        return "bounce", _text_recipients(msg)
    precedence = _header(msg, "precedence").lower()
    auto_submitted = _header(msg, "auto-submitted").lower().split(";")[0].strip()
    if (
        auto_submitted == "auto-replied"
        or _has(msg, "x-autoreply") or _has(msg, "x-autorespond")
        or _has(msg, "x-autoresponder")
        or precedence == "auto_reply"
        or _OUT_OF_OFFICE.search(_header(msg, "subject"))
        or _away_subject(_header(msg, "subject"))
    ):
        return "auto_reply", ()
    if _has(msg, "list-id") or _has(msg, "list-unsubscribe") or precedence in (
        "bulk", "junk", "list"
    ):
        return "bulk", ()
    suppress = _header(msg, "x-auto-response-suppress").lower()
    if (
        auto_submitted not in ("", "no")
        or re.search(r"\b(?:all|oof|autoreply)\b", suppress)
        or _has(msg, "x-loop")
        or report is not None
    ):
        return "auto_reply", ()
    return None, ()


def _away_subject(subject: str) -> bool:
    return bool(_AUTO_PREFIX.search(subject) and _AWAY_WORDING.search(subject))


def _header(msg: Message, name: str) -> str:
    """A header's decoded value, on one line ("" when absent)."""
    values = header_values(msg, name)
    return " ".join(decode_words(values[0]).split()) if values else ""


def _has(msg: Message, name: str) -> bool:
    return any(k.lower() == name for k, _ in msg.raw_items())


def _report_type(msg: Message) -> str | None:
    if msg.get_content_type() != "multipart/report":
        return None
    return str(msg.get_param("report-type", "") or "").strip().lower()


def _looks_like_bounce(msg: Message) -> bool:
    if _has(msg, "x-failed-recipients"):
        return True
    sender = _header(msg, "from")
    address = re.search(r"<([^<>]*)>", sender)
    bare = (address.group(1) if address else sender.split(" ")[0]).strip()
    if _DAEMON_ADDRESS.match(bare) or _DAEMON_NAME.search(sender):
        return True
    null_sender = _has(msg, "return-path") and _header(msg, "return-path") in ("<>", "")
    postmaster = bare.lower().startswith("postmaster@")
    return (null_sender or postmaster) and bool(_BOUNCE_SUBJECT.search(_header(msg, "subject")))


def _dsn_recipients(msg: Message) -> tuple[tuple[str, ...], set[str]]:
    """Failed recipients of an RFC 3464 report, and the set of actions it reports."""
    failed: list[str] = []
    actions: set[str] = set()
    for part in msg.walk():
        if part.get_content_type() not in _STATUS_TYPES:
            continue
        for block in _dsn_blocks(part):
            action = block.get("action", "").lower().split(" ")[0]
            if action:
                actions.add(action)
            if action != "failed":
                continue
            for field in ("original-recipient", "final-recipient"):
                match = re.search(rf"<?({_ADDRESS})>?", block.get(field, ""))
                if match:
                    _add(failed, match.group(1))
                    break
    return tuple(failed), actions


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    """The per-message / per-recipient field blocks of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [{k.lower(): " ".join(str(v).split()) for k, v in block.raw_items()}
                for block in payload if isinstance(block, Message)]
    data = part.get_payload(decode=True)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
    blocks = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
        fields = re.findall(r"^([\w-]+):[ \t]*(.*(?:\r?\n[ \t].*)*)", chunk, re.MULTILINE)
        blocks.append({k.lower(): " ".join(v.split()) for k, v in fields})
    return blocks


def _text_recipients(msg: Message) -> tuple[str, ...]:
    """Failed recipients of a non-standard bounce, read from headers and the text."""
    own = {a.lower() for name in ("from", "to", "return-path", "reply-to")
           for a in re.findall(_ADDRESS, _header(msg, name))}
    found: list[str] = []
    for value in _header(msg, "x-failed-recipients").split(","):
        if re.fullmatch(_ADDRESS, value.strip()):
            _add(found, value.strip())
    text = _report_text(msg)
    for pattern in _RECIPIENT_PATTERNS:
        for match in pattern.finditer(text):
            _add(found, match.group(1))
    for trigger in _LIST_TRIGGER.finditer(text):
        following = text[trigger.end():trigger.end() + 2000].split("\n")
        collected = False
        for line in following[:12]:
            address = _LINE_ADDRESS.match(line)
            if address:
                _add(found, address.group(1))
                collected = True
            elif collected and line.strip():
                break
    return tuple(a for a in found if a.lower() not in own and not _is_daemon(a))


def _report_text(msg: Message) -> str:
    """The human-readable text of a bounce: its first text/plain part (first 50 kB)."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and part.get_content_disposition() != (
            "attachment"
        ):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return data[:50_000].decode("utf-8", "replace").replace("\r\n", "\n")
    return ""


def _is_daemon(address: str) -> bool:
    local = address.split("@")[0].lower()
    return local in ("mailer-daemon", "postmaster", "mail-daemon")


def _add(found: list[str], address: str) -> None:
    address = address.strip().rstrip(".")
    if address and address.lower() not in (a.lower() for a in found):
        found.append(address)
