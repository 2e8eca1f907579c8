"""Recognise machine-generated mail: delivery reports, auto-replies, bulk mail and loops.

``classify(msg)`` returns ``(auto, recipients)`` where ``auto`` is

- ``"bounce"``: a delivery failure report, standard (RFC 3464) or not -- see
  :mod:`.bounce`; ``recipients`` are the addresses that failed;
- ``"delivery_report"``: a delay warning or a success notice (``Action: delayed`` /
  ``delivered`` / ``relayed``); ``recipients`` are the addresses it is about (they are not
  undeliverable);
- ``"auto_reply"``: written by a machine in place of a person -- ``Auto-Submitted``
  other than ``no``, ``X-Autoreply``, ``X-Autorespond``, an out-of-office subject (a bare
  ``Auto:`` prefix only together with away wording: "Auto: Schadenmeldung" is about a car),
  ``Precedence: auto_reply``, ``X-Auto-Response-Suppress`` (All/OOF/AutoReply), ``X-Loop``
  (a loop marker), read receipts;
- ``"bulk"``: lists and newsletters -- ``List-Id``, ``List-Unsubscribe`` and the other
  RFC 2369 headers, the headers of list software that predates them (``Mailing-List``,
  ``X-Mailman-Version``, fml's ``X-ML-Name``; a list's digests and notices carry them
  too), ``Precedence: bulk/junk/list``;
- ``None``: mail from a person.

:func:`machine_account` tells a sender address no person writes from (``root@``,
``noreply@``, a list's ``-bounces@``); the parser counts such mail as ``auto_reply`` once it
knows the sender (a web form's ``noreply@`` mail naming the visitor in ``Reply-To`` is the
visitor's).

Signals are checked in that order of strength: a specific auto-reply signal wins over list
headers (an out-of-office reply sent through a list is still an auto-reply), list headers
win over generic machine markers (newsletters often say ``Auto-Submitted: auto-generated``).
Our own notifications mailed back in are recognised where the store is known
(:mod:`.inbound`), by their Message-ID and sender.
"""

from __future__ import annotations

import re
from email.message import Message

from .bounce import read_report
from .bounce_phrases import AUTO_REPLY_SUBJECT
from .decode import decode_words, header_value

__all__ = ["classify", "machine_account"]

_OUT_OF_OFFICE = AUTO_REPLY_SUBJECT
# "Auto:" alone is a German word ("Auto: Schadenmeldung" is about a car): only with a
# second signal in the subject (Lotus Notes: "AUTO: Anna Alt is out of the office").
_AUTO_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?auto:", re.IGNORECASE)
_AWAY_WORDING = re.compile(
    r"out of (?:the )?office|not in the office|away from|on (?:vacation|holiday|leave)"
    r"|abwesend|nicht im büro|außer haus|ausser haus|im urlaub",
    re.IGNORECASE,
)
_SUPPRESS = re.compile(r"\b(?:all|oof|autoreply)\b")
_LIST_HEADERS = frozenset({
    # RFC 2919 and RFC 2369
    "list-id", "list-unsubscribe", "list-post", "list-help", "list-subscribe", "list-owner",
    "list-archive",
    # list software that predates them or adds its own: ezmlm and Yahoo Groups
    # (Mailing-List), SmartList (X-Mailing-List), fml (X-ML-Name, X-MLServer), Mailman
    # (X-Mailman-Version, X-BeenThere)
    "mailing-list", "x-mailing-list", "x-ml-name", "x-mlserver", "x-mailman-version",
    "x-beenthere"})
"""Headers only mail sent by mailing-list software carries: posts, digests, its notices."""
_HEADERS = frozenset({"precedence", "auto-submitted", "x-autoreply", "x-autorespond",
                      "x-autoresponder", "subject", "x-auto-response-suppress", "x-loop",
                      *_LIST_HEADERS})


def classify(msg: Message) -> tuple[str | None, tuple[str, ...]]:
    """``(auto, recipients)`` for a parsed message; never raises for odd headers."""
    report = read_report(msg)
    if report is not None:
        return ("bounce" if report.action == "failed" else "delivery_report"), report.recipients
    first: dict[str, str] = {}  # the first value of each header that decides, in one pass
    for key, value in msg.raw_items():
        name = key.lower()
        if name in _HEADERS and name not in first:
            first[name] = str(value)
    precedence = _header(first, "precedence").lower()
    auto_submitted = _header(first, "auto-submitted").lower().split(";")[0].strip()
    subject = _header(first, "subject")
    if (
        auto_submitted == "auto-replied"
        or "x-autoreply" in first or "x-autorespond" in first
        or "x-autoresponder" in first
        or precedence == "auto_reply"
        or _OUT_OF_OFFICE.search(subject)
        or _away_subject(subject)
    ):
        return "auto_reply", ()
    if not _LIST_HEADERS.isdisjoint(first) or precedence in ("bulk", "junk", "list"):
        return "bulk", ()
    suppress = _header(first, "x-auto-response-suppress").lower()
    if (
        auto_submitted not in ("", "no")
        or _SUPPRESS.search(suppress)
        or "x-loop" in first
        or msg.get_content_type() == "multipart/report"
    ):
        return "auto_reply", ()
    return None, ()


def _away_subject(subject: str) -> bool:
    return bool(_AUTO_PREFIX.search(subject) and _AWAY_WORDING.search(subject))


def _header(first: dict[str, str], name: str) -> str:
    """A header's decoded value, on one line ("" when absent)."""
    value = first.get(name)
    if value is None:
        return ""
    return " ".join(decode_words(header_value(value)).split())


_MACHINE = re.compile(
    r"^(?:mailer[._-]?daemon|root|cron|daemon|nobody|www-?data|apache|nginx"
    r"|no[._-]?reply|do[._-]?not[._-]?reply|dont[._-]?reply|bounces?|owner-[^@]+"
    r"|[^@]+-(?:bounces|owner|request))(?:\+[^@]*)?@", re.IGNORECASE)


def machine_account(address: str) -> bool:
    """A sender address no person writes from: a mail server's (``mailer-daemon@``,
    ``root@``, ``cron@``), a no-reply robot's, a list's own (``forum-bounces@``,
    ``forum-request@``, ``owner-forum@``). Such mail is never from a customer."""
    return bool(_MACHINE.match(address.strip()))
