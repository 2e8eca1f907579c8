"""Mail that a spam filter on its way marked as spam.

Chronik filters no spam itself; the mail server in front of it usually does and says so in a
header: SpamAssassin ``X-Spam-Flag: YES`` and ``X-Spam-Status: Yes, score=…``, rspamd
``X-Spam: Yes`` (or the SpamAssassin-style headers), Exchange's spam confidence level
``X-MS-Exchange-Organization-SCL`` (5 to 9 is spam; the header is removed from mail
arriving from outside the organisation, so only its own servers set it), and Microsoft 365
``X-Forefront-Antispam-Report`` with the verdict ``SFV:SPM``. A mailbox exported from Gmail
(Google Takeout's mbox) says ``X-Gmail-Labels: …,Spam`` for what sat in the spam folder.

Such a mail from someone who is not a customer does not become a new (unverified) customer
nor a message waiting for a reply: it is quarantined, where an admin assigns a false
positive to its customer (``timeline.ingest``). From a known customer it is stored as
usual and marked, since a filter can be wrong about a person the office knows. A header
saying "no" (``X-Spam-Flag: NO``, ``X-Spam-Status: No, …``, SCL -1 to 4, ``SFV:NSPM``)
changes nothing, and neither does a sender who writes "spam" somewhere else.
"""

from __future__ import annotations

import re
from email.message import Message

__all__ = ["spam_verdict"]

_YES = frozenset({"x-spam-flag", "x-spam", "x-spam-status"})
_SCL = "x-ms-exchange-organization-scl"
_FOREFRONT = "x-forefront-antispam-report"
_GMAIL = "x-gmail-labels"
_HEADERS = _YES | {_SCL, _FOREFRONT, _GMAIL}
_SAYS_YES = re.compile(r"^\s*(?:yes|true)\b", re.IGNORECASE)
_SPAM_VERDICT = re.compile(r"(?:^|;)\s*sfv\s*:\s*spm\s*(?:;|$)", re.IGNORECASE)
_SPAM_SCL = 5


def spam_verdict(msg: Message) -> str | None:
    """The header by which a filter marked ``msg`` as spam, as ``"X-Spam-Flag: YES"``
    (shortened), or ``None``. Never raises for odd headers."""
    for key, value in msg.raw_items():
        name = key.lower()
        if name not in _HEADERS:
            continue
        text = " ".join(str(value).split())
        if name in _YES:
            spam = bool(_SAYS_YES.match(text))
        elif name == _SCL:
            spam = text.lstrip("+-").isdigit() and int(text) >= _SPAM_SCL
        elif name == _GMAIL:  # Google Takeout's mbox: the labels the mail had, "Spam" one
            spam = any(label.strip().strip('"').lower() == "spam" for label in text.split(","))
        else:
            spam = bool(_SPAM_VERDICT.search(text))
        if spam:
            shown = text if len(text) <= 60 else text[:57] + "…"
            return f"{key.strip()}: {shown}"
    return None
