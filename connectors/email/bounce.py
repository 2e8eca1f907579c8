"""Delivery reports: bounces, delay warnings and success notices, standard or not.

``read_report(msg)`` says whether a parsed message is a delivery report and which recipients
it is about (pure: no storage, no network). Readers, strongest first:

1. **RFC 3464 / RFC 6533 fields** wherever they are: ``message/delivery-status`` (or
   ``message/global-delivery-status``) anywhere in the tree -- with or without a
   ``report-type``, nested in ``multipart/mixed`` -- and field blocks sent as ``text/plain``
   inside a ``multipart/report``. ``Action: failure`` / ``error`` count as ``failed``; the
   address is ``Original-Recipient`` when it is an address (an x400 ``Final-Recipient`` has
   none), else ``Final-Recipient``; without ``Action`` the ``Status`` class decides.
2. **GNU Mailman's detectors** (``flufl.bounce``: Exim, qmail, Postfix, Yahoo, AOL, SMTP32,
   GroupWise, Exchange, many simple patterns) for reports without such fields.
3. **Our own phrases** of Exchange / Microsoft 365, Gmail, Domino, Sun, MDaemon and German
   servers, read from the report's own text (never from a returned or forwarded message).
4. **The returned message**: when the report carries our own notification back (its
   Message-ID is ``<entry-id>.<channel>@host``), the one address it was sent to.

A message is a report when it carries delivery-status fields or ``X-Failed-Recipients``, comes
from a mail system (MAILER-DAEMON, "Mail Delivery System <>", ``E500_SMTP_Mail_Service``,
``MicrosoftExchange…``), or -- from a postmaster, with a null envelope sender or no sender
address -- has a bounce subject or the boilerplate text of a known mail server; other
machine-made (``Auto-Submitted``) mail, or a person's mail with a message attached, needs
both. Forwards and replies (``Fwd:``, ``WG:``, ``Re:``, ``AW:``) by a person, newsletters
(``List-Id``, ``List-Unsubscribe``) and read receipts are not reports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses
from typing import Any, Literal

from flufl.bounce import all_failures

from .bounce_phrases import (
    ADDRESS,
    AUTO_REPLY_SUBJECT,
    BOUNCE_SUBJECT,
    DELAY_SUBJECT,
    DELAY_TEXT,
    MTA_TEXT,
    SUCCESS_SUBJECT,
    sendmail_errors,
    smtp_refusal,
    text_recipients,
)
from .decode import addresses, decode_bytes, decode_words, header_values
from .htmltext import html_to_text
from .structure import decoded_payload, find_parts

__all__ = ["OWN_MESSAGE_ID", "Action", "DeliveryReport", "read_report"]

log = logging.getLogger(__name__)

Action = Literal["failed", "delayed", "delivered"]

OWN_MESSAGE_ID = re.compile(
    r"^<?([0-9A-HJKMNP-TV-Z]{26})\.(email|telegram|portal)@([^<>\s@]+)>?$", re.IGNORECASE)
"""Message-ID of our own notifications (``notify.worker``): ``<entry id>.<channel>@host``."""

_ADDRESS_RE = re.compile(ADDRESS)
_MAX_PARTS = 300
_MAX_TEXT = 60_000

# ---------------------------------------------------------------------------- signals

_DAEMON_LOCAL = re.compile(
    r"^(?:mailer-daemon|mail-daemon|mailer_daemon|maildaemon|mdaemon|e500_smtp_mail_service"
    r"|microsoftexchange[0-9a-f]{32}|mail\.?delivery(?:\.?system)?|bounces?)$", re.IGNORECASE)
_DAEMON_NAME = re.compile(
    r"mail delivery (?:sub)?system|mailer[- ]daemon|mail delivery service|e500_smtp"
    r"|mail ?administrator|internet mail delivery|courier mail server|mail ?router"
    r"|mail ?gateway|mailsystem", re.IGNORECASE)
_DAEMON_ONLY = re.compile(r"\s*mailer[-_ ]?daemon\s*", re.IGNORECASE)
_POSTMASTER = re.compile(
    r"^(?:post[-_.]?master|system|system administrator|root|mailadmin|nobody)$",
    re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:re|aw|fwd?|wg|tr|sv|vs|antw)\s*:",
                           re.IGNORECASE)
# ---------------------------------------------------------------------------- addresses

_XTEXT = re.compile(r"\+([0-9A-F]{2})")
_ANGLE = re.compile(r"<([^<>]*)>")
_SURROGATE = re.compile("[\udc80-\udcff]")
_SUBJECT_WORDS = ("deliver", "zustell", "return", "fail", "status", "remis", "recapit",
                  "bestel", "rückläuf", "delay", "warning", "notice", "could not", "fehler",
                  "übermittl", "undeliv", "permanent", "error", "entreg", "dostarcz",
                  "lever", "toimit", "doruč", "kézbesít", "teslim", "достав", "配信", "配送",
                  "不達", "エラー")
_STATUS_CLASS: dict[str, Action] = {"5": "failed", "4": "delayed", "2": "delivered"}
_SYSTEM_LOCAL = {"mailer-daemon", "postmaster", "mail-daemon", "mailer_daemon", "mdaemon",
                 "e500_smtp_mail_service"}


@dataclass(frozen=True)
class DeliveryReport:
    """What a delivery report says."""

    action: Action
    """``failed`` (a bounce), ``delayed`` (a warning; still being tried) or ``delivered``
    (a success notice, also ``relayed`` / ``expanded``)."""
    recipients: tuple[str, ...]
    """The recipients the report is about, as written (first seen first)."""
    source: str
    """Which reader found the recipients: ``dsn``, ``x-failed-recipients``, ``flufl``,
    ``text``, ``returned-message`` or ``none``."""
    returned_message_id: str | None = None
    """Message-ID of the returned (original) message, without brackets."""
    returned_to: tuple[str, ...] = ()
    returned_from: str | None = None


def read_report(msg: Message, *, use_library: bool = True, use_own: bool = True
                ) -> DeliveryReport | None:
    """The delivery report in ``msg``, or ``None`` when it is not one; never raises for odd
    input. ``use_library`` / ``use_own`` switch the readers of step 2 / 3 (to compare them)."""
    try:
        return _read(msg, use_library, use_own)
    except (RecursionError, LookupError, ValueError, TypeError, AttributeError,
            UnicodeError, IndexError) as exc:
        log.info("delivery report unreadable (%s); taken as an ordinary message",
                 type(exc).__name__)
        return None


def _read(msg: Message, use_library: bool, use_own: bool) -> DeliveryReport | None:
    tree = _tree(msg)
    ctype = tree[0][2]
    report_type = str(msg.get_param("report-type", "") or "").strip().lower()
    if ctype == "multipart/report" and report_type not in (
            "", "delivery-status", "global-delivery-status"):
        # a read receipt or another kind of report -- unless it is a server's refusal
        return _rejection(tree, msg) if report_type == "disposition-notification" else None
    heads = _Heads(msg)
    blocks, has_dsn_part = _dsn_blocks(tree)
    dsn_action, dsn_recipients = _dsn_verdict(blocks)
    failed_header = _x_failed(msg) if heads.has("x-failed-recipients") else ()
    texts: list[str] = []

    def text() -> str:  # read only when the headers alone do not decide (ordinary mail)
        if not texts:
            texts.append(_report_text(tree))
        return texts[0]

    if not (has_dsn_part or dsn_action or failed_header):
        if not _is_report(tree, heads, text):
            return None
        if _REPLY_PREFIX.match(heads.get("subject")) and not _system_sender(heads) and not (
                _medium(heads) and smtp_refusal(text())):
            return None  # a person forwarding or answering a report
        if not _system_sender(heads) and (
                AUTO_REPLY_SUBJECT.search(heads.get("subject"))
                or (heads.get("auto-submitted").lower().startswith("auto-replied")
                    and not _POSTMASTER.match(_local_part(heads.raw("from"))))):
            # an out-of-office reply (sent with a null envelope sender, like a report) that
            # says "could not be delivered to …" names the colleague to write to instead --
            # also when it keeps the original subject (RFC 3834 responders); a mail system
            # or postmaster saying "auto-replied" (Exim, Microsoft 365) still reports
            return None
    subject = heads.get("subject")
    returned = _returned_headers(tree)
    text_now = text()
    action = dsn_action or _action_from_text(subject, text_now)
    own = _own_addresses(msg, returned)
    own.update(m.group(0).lower() for m in _ADDRESS_RE.finditer("\n".join(
        _PASTED_ID.findall(text_now))))  # a returned message's ids pasted as text
    readers: list[tuple[str, Callable[[], tuple[str, ...]]]] = [
        ("dsn", lambda: dsn_recipients),
        ("x-failed-recipients", lambda: failed_header if action == "failed" else ()),
    ]
    if use_own:  # before the library: it may name only the one a transcript shows
        readers.append(("text", lambda: sendmail_errors(text_now) if action == "failed"
                        else ()))
    if use_library:
        readers.append(("flufl", lambda: _library(msg, action)))
    if use_own:
        readers.append(("text", lambda: text_recipients(text_now, action)))
        readers.append(("text", lambda: _single_address(text_now, own)))
    found: tuple[str, ...] = ()
    source = "none"
    for name, reader in readers:
        # the fields a mail system writes for the purpose name the recipient even when it
        # is also the sender (a test mail to oneself); text is read for addresses, and
        # there the report's own and the returned sender's addresses are never the one
        found = tuple(a for a in reader()
                      if _plausible(a, set() if name in _STRUCTURED else own))
        if found:
            source = name
            break
    returned_id = _first_id(returned, "message-id")
    returned_to = tuple(a for v in _values(returned, "to") for _, a in addresses(v) if "@" in a)
    returned_from = next((a for v in _values(returned, "from") for _, a in addresses(v)
                          if "@" in a), None)
    if not found and returned_id and OWN_MESSAGE_ID.match(returned_id) and len(
            returned_to) == 1:
        found, source = returned_to, "returned-message"
    return DeliveryReport(action=action, recipients=found, source=source if found else "none",
                          returned_message_id=returned_id, returned_to=returned_to,
                          returned_from=returned_from)


# ---------------------------------------------------------------------------- recognition


def _is_report(tree: list[tuple[Message, str, str]], heads: _Heads, text: Callable[[], str]
               ) -> bool:
    """Without status fields: is it a report all the same? Cheap header signals first; the
    subject and the text are read only where they decide."""
    if _system_sender(heads):
        return True
    medium = _medium(heads)
    # a newsletter about parcels "not delivered" is no delivery report; a postmaster's
    # report passed on by a mailing list or group keeps its list headers and still is one
    if not medium and (heads.has("list-id") or heads.has("list-unsubscribe")):
        return False
    auto = heads.get("auto-submitted").lower().split(";")[0].strip() not in ("", "no")
    if not (medium or auto or any(
            ctype in ("message/rfc822", "text/rfc822-headers", "message/global",
                      "message/global-headers") for _, _, ctype in tree)):
        return False  # a person's mail: only with a returned message can it be a report
    subject = heads.get("subject")
    lower = subject.lower()
    bounce_subject = (any(word in lower for word in _SUBJECT_WORDS)
                      and bool(BOUNCE_SUBJECT.search(subject))
                      and not _REPLY_PREFIX.match(subject))
    if medium:
        return bounce_subject or bool(MTA_TEXT.search(text())) or smtp_refusal(text())
    # machine-made mail (shop and parcel notices are too) or a person's mail with a message
    # attached (a person may quote such phrases): subject and text must both say it
    return bounce_subject and bool(MTA_TEXT.search(text()))


def _medium(heads: _Heads) -> bool:
    """From a postmaster (also ``post_master@``, Verizon's gateway), with a null envelope
    sender, or with no sender address: a report needs only its subject or its text."""
    null_sender = heads.has("return-path") and heads.get("return-path") in ("<>", "")
    return bool(_POSTMASTER.match(_local_part(heads.raw("from")))) or null_sender or (
        _no_sender(heads))


def _system_sender(heads: _Heads) -> bool:
    """From a mail system: a daemon address or name ("Mail Delivery System <>",
    "MAILER-DAEMON", "Courier mail server at … <@>")."""
    raw = heads.raw("from")  # daemons do not encode their names: no decoding needed
    if not raw:
        return False
    local = _local_part(raw)
    return bool(_DAEMON_LOCAL.match(local) or _DAEMON_NAME.search(raw)
                or _DAEMON_ONLY.fullmatch(raw))


def _local_part(raw: str) -> str:
    """The local part of the address in a ``From`` value, without the quotes and escapes
    some servers write (``"System Administrator"@host``, ``Postmaster\\@host@relay``)."""
    local = _address_in(raw).partition("@")[0]
    return local.replace('"', "").replace("\\", "").strip()


def _no_sender(heads: _Heads) -> bool:
    """No sender address at all (a null ``From``, or none)."""
    return not any(_address_in(heads.raw(name)) for name in ("from", "sender", "reply-to"))


class _Heads:
    """The first value of the headers that decide, read in one pass over the headers."""

    _NAMES = frozenset({"subject", "from", "sender", "reply-to", "return-path",
                        "auto-submitted", "list-id", "list-unsubscribe",
                        "x-failed-recipients"})

    def __init__(self, msg: Message) -> None:
        self._raw: dict[str, str] = {}
        self._msg = msg
        for key, value in msg.raw_items():
            name = key.lower()
            if name in self._NAMES and name not in self._raw:
                self._raw[name] = str(value)

    def has(self, name: str) -> bool:
        return name in self._raw

    def raw(self, name: str) -> str:
        """The value as it stands (encoded words and 8-bit bytes not decoded)."""
        return self._raw.get(name, "")

    def get(self, name: str) -> str:
        """The value on one line, raw 8-bit bytes and encoded words decoded ("" if none)."""
        value = self._raw.get(name)
        if value is None:
            return ""
        if _SURROGATE.search(value):
            value = next(iter(header_values(self._msg, name)), "")
        if "=?" in value:
            value = decode_words(value)
        return " ".join(value.split())


def _address_in(value: str) -> str:
    """The (first) address in an address header, quickly: ``<…>`` or a bare word with @."""
    angle = _ANGLE.search(value)
    if angle is not None:
        return angle.group(1).strip().lower() if "@" in angle.group(1) and len(
            angle.group(1)) > 2 else ""
    bare = _ADDRESS_RE.search(value)
    return bare.group(0).lower() if bare else ""


def _action_from_text(subject: str, text: str) -> Action:
    if SUCCESS_SUBJECT.search(subject):
        return "delivered"
    if DELAY_SUBJECT.search(subject) and not re.search(
            r"undeliver|failed|failure|returned|unzustellbar|fehlgeschlagen", subject,
            re.IGNORECASE):
        return "delayed"
    head = text[:4000]
    if DELAY_TEXT.search(head) and not re.search(
            r"permanent(?:ly)? (?:error|fail)|fatal error|given up|gave up|giving up",
            head, re.IGNORECASE):
        return "delayed"
    return "failed"


# ---------------------------------------------------------------------------- DSN fields


def _dsn_blocks(tree: list[tuple[Message, str, str]]) -> tuple[list[dict[str, str]], bool]:
    """Per-recipient field blocks of every delivery-status part (not inside a returned or
    forwarded message), and whether there was such a part at all."""
    blocks: list[dict[str, str]] = []
    found = False
    for part, parent, ctype in tree:
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            found = True
            blocks.extend(_fields(part))
        elif (ctype == "text/plain" and parent == "multipart/report"
              and part.get_content_disposition() != "attachment"):
            candidate = _text_blocks(_part_text(part))
            if any("action" in b and _recipient_fields(b) for b in candidate):
                found = True
                blocks.extend(candidate)
    return blocks, found


def _fields(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    if not (isinstance(payload, list) and payload):
        return _text_blocks(_part_text(part))
    blocks: list[dict[str, str]] = []
    for block in payload:  # message/delivery-status: one Message per block of fields
        if not isinstance(block, Message):
            continue
        blocks.append({k.lower(): " ".join(str(v).split()) for k, v in block.items()})
        rest = block.get_payload()  # message/global-delivery-status: the other blocks
        if isinstance(rest, str) and rest.strip():
            blocks.extend(_text_blocks(rest))
    return blocks


def _text_blocks(text: str) -> list[dict[str, str]]:
    blocks = []
    for chunk in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        fields = re.findall(r"^([A-Za-z][\w-]*):[ \t]*(.*(?:\n[ \t]+.*)*)", chunk, re.MULTILINE)
        if fields:
            blocks.append({k.lower(): " ".join(v.split()) for k, v in fields})
    return blocks


def _recipient_fields(block: dict[str, str]) -> str | None:
    """The address a per-recipient block is about: an address-typed Original-Recipient,
    else the Final-Recipient (the x400 kind has no address: then none)."""
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        value = block.get(name, "")
        kind, _, rest = value.partition(";")
        if not rest:
            kind, rest = "", kind
        if kind.strip().lower() not in ("", "rfc822", "utf-8", "smtp"):
            continue  # x400, x-unknown, ...
        if kind.strip().lower() == "rfc822":
            rest = _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), rest)
        match = _ADDRESS_RE.search(rest)
        if match:
            return match.group(0).rstrip(".")
    return None


_REFUSED = re.compile(r"^automatic-action\s*/[^;]*;\s*(?:deleted|denied|failed)\b", re.IGNORECASE)


_MAIL_CLIENT = re.compile(r"thunderbird|mozilla|outlook|kmail|evolution|seamonkey|icedove"
                          r"|apple ?mail|mail\.app|claws|mutt|em client|postbox|roundcube",
                          re.IGNORECASE)


def _rejection(tree: list[tuple[Message, str, str]], msg: Message) -> DeliveryReport | None:
    """A message the recipient's server refused, reported as a disposition notification
    (RFC 5429: Sieve's ``reject``, e.g. Dovecot's "Automatically rejected mail", says
    ``Disposition: automatic-action/MDN-sent-automatically; deleted``): a failure for its
    ``Final-Recipient``. A person's receipt (``manual-action``, or ``displayed``) is none,
    and neither is the same disposition sent by the recipient's own mail program (a
    receipt for a message deleted unread: Thunderbird's "Return Receipt (deleted)",
    Outlook's "Not read") -- the address works."""
    for part, _parent, ctype in tree:
        if ctype != "message/disposition-notification":
            continue
        for block in _fields(part):
            if _REFUSED.match(block.get("disposition", "")):
                recipient = _recipient_fields(block)
                if _from_the_recipient(msg, block, recipient):
                    return None
                original = block.get("original-message-id", "").strip().strip("<>")
                return DeliveryReport(
                    action="failed", recipients=(recipient,) if recipient else (),
                    source="mdn" if recipient else "none",
                    returned_message_id=original or None)
    return None


def _from_the_recipient(msg: Message, block: dict[str, str], recipient: str | None) -> bool:
    """Whether a refusing disposition notification came from the recipient's own mail
    program rather than their server: it names a mail program as ``Reporting-UA``, or it
    is sent from the recipient's own address without saying "rejected" (RFC 5429's
    ``Auto-Submitted: auto-replied (rejected)``)."""
    if _MAIL_CLIENT.search(block.get("reporting-ua", "")):
        return True
    if "rejected" in str(msg.get("auto-submitted", "")).lower():
        return False
    sender = getaddresses([str(v) for v in msg.get_all("from", [])])
    return bool(recipient) and any(a.lower() == str(recipient).lower() for _, a in sender)


def _dsn_verdict(blocks: list[dict[str, str]]) -> tuple[Action | None, tuple[str, ...]]:
    by_action: dict[Action, list[str]] = {"failed": [], "delayed": [], "delivered": []}
    seen: set[Action] = set()
    for block in blocks:
        recipient = _recipient_fields(block)
        has_recipient_block = any(k in block for k in ("final-recipient", "original-recipient"))
        if not has_recipient_block:
            continue
        action = _action(block.get("action", ""), block.get("status", ""))
        if action is None:
            continue
        seen.add(action)
        if recipient:
            _add(by_action[action], recipient)
    for action in ("failed", "delayed", "delivered"):
        if action in seen:
            return action, tuple(by_action[action])
    return None, ()


def _action(action: str, status: str) -> Action | None:
    word = action.strip().lower().split(" ")[0].split("(")[0].rstrip(";,.")
    if word.startswith(("fail", "error", "undeliver", "bounce", "reject")):
        return "failed"
    if word.startswith("delay"):
        return "delayed"
    if word in ("delivered", "relayed", "expanded"):
        return "delivered"
    return _STATUS_CLASS.get(status.strip()[:1])


# ---------------------------------------------------------------------------- recipients


def _x_failed(msg: Message) -> tuple[str, ...]:
    found: list[str] = []
    for value in header_values(msg, "x-failed-recipients"):
        for match in _ADDRESS_RE.finditer(value):
            _add(found, match.group(0))
    return tuple(found)


def _library(msg: Message, action: Action) -> tuple[str, ...]:
    """GNU Mailman's detectors (they raise on odd input: then they found nothing)."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a foreign library's failure means "no answer"
        log.info("flufl.bounce could not read a report (%s)", type(exc).__name__)
        return ()
    chosen = temporary if action == "delayed" else permanent
    found: list[str] = []
    for raw in sorted(chosen):
        address = raw.decode("ascii", "replace").strip().strip("<>").rstrip(".")
        if _ADDRESS_RE.fullmatch(address):
            _add(found, address)
    return tuple(found)


_PASTED_HEADER = re.compile(
    r"^[ \t]*(?:message-id|in-reply-to|references|from|sender|return-path|reply-to|to|cc|bcc"
    r"|received|dkim-signature)[ \t]*:.*", re.IGNORECASE | re.MULTILINE)


_PASTED_ID = re.compile(r"^[ \t]*(?:message-id|in-reply-to|references)[ \t]*:.*",
                        re.IGNORECASE | re.MULTILINE)


def _single_address(text: str, own: set[str]) -> tuple[str, ...]:
    """No known phrase: the one address the report's own text names (else none) -- not
    counting the header lines of a returned message pasted into it (Zoho: its
    ``Message-ID:<…@host>`` looks like an address)."""
    text = _PASTED_HEADER.sub("", text)
    named = {m.group(0).rstrip(".").lower(): m.group(0).rstrip(".")
             for m in _ADDRESS_RE.finditer(text) if _plausible(m.group(0), own)}
    return tuple(named.values()) if len(named) == 1 else ()


_STRUCTURED = frozenset({"dsn", "x-failed-recipients"})
"""Readers of fields that name failed recipients and nothing else."""


def _plausible(address: str, own: set[str]) -> bool:
    lower = address.lower()
    return lower not in own and lower.partition("@")[0] not in _SYSTEM_LOCAL and not (
        OWN_MESSAGE_ID.match(address))


def _own_addresses(msg: Message, returned: Message | None) -> set[str]:
    """Addresses of the report itself and of the returned message's sender and ids: never
    the bounced recipient."""
    own: set[str] = set()
    for name in ("from", "to", "cc", "return-path", "reply-to", "sender", "delivered-to",
                 "message-id", "in-reply-to", "references"):
        for value in header_values(msg, name):
            own.update(m.group(0).lower() for m in _ADDRESS_RE.finditer(value))
    if returned is not None:
        for name in ("from", "sender", "return-path", "reply-to", "message-id"):
            for value in _values(returned, name):
                own.update(m.group(0).lower() for m in _ADDRESS_RE.finditer(value))
    return own


def _add(found: list[str], address: str) -> None:
    address = address.strip().strip("<>'\"").rstrip(".")
    if address and address.lower() not in (a.lower() for a in found):
        found.append(address)


# ---------------------------------------------------------------------------- MIME walking


def _tree(msg: Message) -> list[tuple[Message, str, str]]:
    """The report's own parts in order, each with its parent's and its own content type: a
    returned or forwarded message (``message/rfc822``) is listed but not entered."""
    stack: list[tuple[Message, str]] = [(msg, "")]
    tree: list[tuple[Message, str, str]] = []
    while stack and len(tree) < _MAX_PARTS:
        part, parent = stack.pop(0)
        # a Content-Type whose parameters lack their ';' ("text/plain\n charset=…",
        # OpenMail) is still text/plain: its text holds the failed address
        ctype = (part.get_content_type().split() or ["text/plain"])[0]
        tree.append((part, parent, ctype))
        if ctype.startswith("multipart/"):
            children = [c for c in _children(part, ctype) if isinstance(c, Message)]
            stack[0:0] = [(c, ctype) for c in children]
    return tree


def _children(part: Message, ctype: str) -> list[Any]:
    """A multipart's parts; when its boundary is missing or wrong (the parser left the body
    as text), the parts its delimiter lines show (``structure.find_parts``): a report whose
    ``boundary`` parameter was cut off still names its recipient in its DSN part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    found = find_parts(decoded_payload(part)[0], ctype) if payload else None
    children = found.get_payload() if found is not None else None
    return children if isinstance(children, list) else []


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return decode_bytes(payload[:_MAX_TEXT], part.get_content_charset()).replace("\r\n",
                                                                                    "\n")
    raw = part.get_payload()
    return raw[:_MAX_TEXT] if isinstance(raw, str) else ""


def _report_text(tree: list[tuple[Message, str, str]]) -> str:
    """The human-readable text of the report (its ``_tree``): its own text/plain parts (else
    its HTML as text), without a returned or forwarded message."""
    plain: list[str] = []
    html: list[str] = []
    for part, _, ctype in tree:
        if part.get_content_disposition() == "attachment":
            continue
        if ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            html.append(html_to_text(_part_text(part)))
    text = "\n\n".join(plain)
    if not MTA_TEXT.search(text) and html:
        text = "\n\n".join([text, *html])
    return _strip_returned(text)[:_MAX_TEXT]


_RETURNED_MARK = re.compile(
    r"^(?:-+ ?(?:below this line is a copy of the message|original message follows|"
    r"this is a copy of (?:the|your) message|original message|returned mail|returned message"
    r"|start of returned message)|original message follows|-+ ?forwarded message"
    r"|[ \t]*below is a copy of the original message)",
    re.IGNORECASE | re.MULTILINE)


def _strip_returned(text: str) -> str:
    """Cut a returned message that is pasted into the text (qmail, Yahoo, SMTP32)."""
    match = _RETURNED_MARK.search(text)
    return text[:match.start()] if match and match.start() > 40 else text


def _returned_headers(tree: list[tuple[Message, str, str]]) -> Message | None:
    """The headers of the returned message (``message/rfc822`` or ``text/rfc822-headers``)
    among the report's parts (its ``_tree``)."""
    for part, _, ctype in tree:
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            return HeaderParser().parsestr(_part_text(part))
        if ctype in ("text/rfc822-headers", "message/global-headers"):
            return HeaderParser().parsestr(_part_text(part))
    return None


def _values(msg: Message | None, name: str) -> list[str]:
    return header_values(msg, name) if msg is not None else []


def _first_id(msg: Message | None, name: str) -> str | None:
    for value in _values(msg, name):
        match = re.search(r"<([^<>\s]+)>", value) or re.search(r"(\S+@\S+)", value)
        if match:
            return match.group(1)
    return None
