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
          "---", "_____", "envoyé", "inviato:", "enviado:", "verzonden:", "wysłano:")
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
    end = _end_of_own(text, [r.content for r in replies]) if len(replies) >= 2 else None
    if end is None:
        end = _other_language(text)
        if end is None:
            return None
    separator = _SEPARATOR_AT_END.search(text, 0, end)
    if separator is not None:
        end = separator.start()
    reply, quoted = text[:end].strip(), text[end:].strip()
    if not reply or not quoted or _FORWARD.match(quoted) or \
            _FORWARD.match(reply.rsplit("\n", 1)[-1].strip()):
        return None
    return reply, quoted


_FORWARD = re.compile(
    r"(?:-{3,} ?(?:forwarded message|weitergeleitete nachricht|message transféré"
    r"|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht)"
    r"|(?:begin forwarded message|anfang der weitergeleiteten nachricht)[ \t]*:)",
    re.IGNORECASE)
"""A forwarded mail below a few words ("zur Info"): it is what was sent, not a history to
fold away (Outlook's attached mail, read as such, starts with the first form)."""


def _end_of_own(text: str, replies: list[str]) -> int | None:
    """Where the reply's own text ends: after it as the parser gave it back, or -- when the
    parser changed its spaces (a signature's "-- ") -- where the history's first line is."""
    own = replies[0]
    start = text.find(own) if own else -1
    if start >= 0:
        return start + len(own)
    head = next((line.strip() for line in replies[1].splitlines() if line.strip()), "")
    at = text.find(head) if len(head) >= 8 else -1
    return at if at > 0 else None


_QUOTE_BELOW = re.compile(r":[ \t]*\n(?:[ \t]*\n)?[ \t]*>")
"""A line ending in a colon with quoted lines below it: where a quote's header may end."""
_WROTE = re.compile(
    r"\bwrote|\bschrieb|a écrit|escribió|ha scritto|schreef|napisał|написал|\bskrev|kirjoitti"
    r"|írta|yazdı|escreveu|scrisse|napsal", re.IGNORECASE)
"""A quote's header line as mail programs write it in other languages ("Le … a écrit :",
"El … escribió:", "Op … schreef …:")."""
_HEADER_BLOCK = re.compile(
    r"^[ \t]*(?:de|da|van|od|från|fra|от)[ \t]?:[^\n]*\n(?:[^\n]*\n)?"
    r"[ \t]*(?:envoyé|inviato|enviado|verzonden|wysłano|skickat|sendt|отправлено|date|data"
    r"|datum)[ \t]?:", re.IGNORECASE | re.MULTILINE)
"""Outlook's header block of the answered mail in other languages ("De : … / Envoyé : …")."""


def _other_language(text: str) -> int | None:
    """Where the history starts in a mail program's other languages; None when not found.
    A header wrapped onto a second line ("<\nbob@…> a écrit :") starts a line earlier."""
    block = _HEADER_BLOCK.search(text)
    found = [block.start()] if block is not None else []
    for colon in _QUOTE_BELOW.finditer(text):
        line = text.rfind("\n", 0, colon.start()) + 1
        if colon.start() - line > 500 or not _WROTE.search(text, line, colon.start()):
            continue
        if not any(rest.strip() and not rest.lstrip().startswith(">")
                   for rest in text[colon.end() - 1:].splitlines()):
            found.append(line)  # (an answer between the quoted lines is no history below)
        break
    if not found:
        return None
    start = min(found)
    before = text.rfind("\n", 0, max(start - 1, 0))
    previous = text[before + 1:start].rstrip()
    if previous.endswith("<") or _ADDRESS_END.match(text, start):  # its first half above
        return before + 1
    return start


_ADDRESS_END = re.compile(r"[ \t]*\(?<?[\w.+'-]+@[\w.-]+>")
"""A line that starts with the end of an address: a header wrapped inside "<…>"."""
