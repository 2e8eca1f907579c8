"""Opting out by habit: a message that says nothing but "STOP" (the SMS convention) is how
many people answer automated messages. Telegram (a chat's message) and e-mail (a reply to
one of our mails) read it with the same words, so "Stopp, bitte" works on both.

Pure text rules; what an opt-out records is the connectors' business."""

from __future__ import annotations

import re

__all__ = ["STOP_WORDS", "own_words", "says_stop"]

STOP_WORDS = frozenset({"stop", "stopp", "abmelden", "abbestellen", "unsubscribe",
                        "austragen", "stoppen"})
"""The word itself, any case; polite words around it (``POLITE``) do not count."""

POLITE = frozenset({"bitte", "please", "danke", "thanks", "thank", "you", "pls", "plz"})
MAX_CHARS = 60
"""Longer than this, it is a sentence about something ("stop the car insurance in May"),
not an opt-out."""

_WORDS = re.compile(r"\w+")


def says_stop(text: str) -> bool:
    """Whether ``text`` is only a stop word (with "bitte"/"please" and punctuation around
    it): ``STOP``, ``Stopp!``, ``Abmelden bitte``, ``unsubscribe please``."""
    text = text.strip()
    if not text or len(text) > MAX_CHARS:
        return False
    words = [w for w in _WORDS.findall(text.casefold()) if w not in POLITE]
    return len(words) == 1 and words[0] in STOP_WORDS


_SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)
_SENT_FROM = re.compile(
    r"^\s*(?:sent from|sent with|get outlook|gesendet (?:von|mit)|von meinem \S.* gesendet"
    r"|diese nachricht wurde von meinem)\b.*$", re.IGNORECASE | re.MULTILINE)
"""Lines a phone's mail program adds under what was written ("Von meinem iPhone
gesendet", "Sent from my Galaxy", "Get Outlook for Android")."""


def own_words(text: str) -> str:
    """What a reply's writer typed: ``text`` (already without the quoted history) up to
    the signature delimiter (``-- ``), without a phone's "sent from" lines."""
    cut = _SIGNATURE.search(text)
    if cut is not None:
        text = text[:cut.start()]
    return _SENT_FROM.sub("", text).strip()
