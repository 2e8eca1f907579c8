"""The quoted history under a reply: "Am … schrieb …:", "Von: … Gesendet: …", "On … wrote:",
"-----Original Message-----", ``>`` lines — as German and English mail programs write it.

Pure (no storage): the console shows a reply's own text and folds the history below it, so a
timeline of replies does not repeat every earlier message. The stored text is never changed.
Recognition is ``mail-parser-reply`` (GitHub's reply parser, made multi-language), run only
on text that has a sign of a quote at all.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mailparser_reply import EmailReplyParser

__all__ = ["split_quoted"]

_PARSER = EmailReplyParser(languages=["de", "en"])
_SIGNS = ("schrieb", "wrote:", "von:", "from:", "gesendet:", "sent:", "betreff:", "subject:",
          "---", "_____")
"""Signs that a text may hold a quote: most mail has none and is left at once (substring
tests: a few microseconds, where one regular expression over the text cost ~50)."""
_SEPARATOR_AT_END = re.compile(r"(?:\A|\n)[ \t]*(?:-{3,}|_{5,})[^\n]*\Z")
"""A separator line the parser leaves at the end of the reply ("-----Ursprüngliche
Nachricht-----"): it belongs to the history."""
MAX_TEXT = 200_000
"""Longer texts are shown whole (the parser's patterns are not worth it there)."""


def _maybe_quoted(text: str) -> bool:
    if text.startswith(">") or "\n>" in text:
        return True
    low = text.lower()
    return any(sign in low for sign in _SIGNS)


@lru_cache(maxsize=2048)
def split_quoted(text: str) -> tuple[str, str] | None:
    """(the reply's own text, the quoted history below it), or None when ``text`` holds no
    recognisable history, or nothing but history (a forward without a word: shown whole)."""
    if len(text) > MAX_TEXT or not _maybe_quoted(text):
        return None
    try:
        replies = _PARSER.read(text=text).replies
    except (re.error, IndexError, ValueError, TypeError, AttributeError):
        return None  # a foreign library's failure means "no quote found"
    if len(replies) < 2:
        return None
    own = replies[0].content
    start = text.find(own) if own else -1
    if start < 0:
        return None
    end = start + len(own)
    separator = _SEPARATOR_AT_END.search(text, 0, end)
    if separator is not None:
        end = separator.start()
    reply, quoted = text[:end].strip(), text[end:].strip()
    if not reply or not quoted:
        return None
    return reply, quoted
