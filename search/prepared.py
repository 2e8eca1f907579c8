"""An entry's searchable words worked out in advance, in another process.

``chronik import`` parses mail in parser processes while one process stores it and keeps
the index up; reading an entry's words (folding, joined words, reference numbers, phone
numbers: :func:`search.backend.document_words`, :meth:`search.phones.PhoneForms.annotate`)
was a quarter of that process's time. So the parser processes also work out, for each mail,
the text its entry will have and that text's words (:func:`prepare`), and the storing
process remembers them (:func:`remember`); the indexer then takes a remembered result
whose *text is exactly* the entry's (:func:`taken_words`, :func:`taken_phones`) and
otherwise reads the text itself, as always. A guess that misses costs a dictionary lookup,
never a wrong index: the key is the whole text.

The memory is bounded (:data:`REMEMBERED`), each result is taken once, and the text is
assembled by the same functions here for both sides (:func:`phone_text`,
:func:`searchable_text`, :func:`attachment_text`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from search.analysis import joined_words
from search.references import reference_words
from timeline.text import fold_tokens

REMEMBERED = 20_000
"""Results kept at most per kind (then all forgotten at once: only the batches in flight
need them)."""

_WORDS: dict[str, str] = {}
_PHONES: dict[tuple[str, str], str] = {}

Prepared = tuple[str, str, str, str, str]
"""(text phone numbers are read from, region, their tokens (``""``: none), document text,
its words joined by spaces): :func:`prepare`."""


def phone_text(subject: str, body: str, extras: Sequence[object]) -> str:
    """The text an entry's phone numbers are read from (``PhoneForms.annotate``)."""
    return "\n".join(t for t in (subject, body, *extras) if isinstance(t, str) and t)


def searchable_text(subject: str, body: str, names: Iterable[str],
                    extras: Sequence[object]) -> str:
    """What is searchable about an entry as one text: ``extras`` are its ``search_text``,
    ``attachment_text`` and ``phone_forms`` (meta values; those that are no text are left
    out)."""
    return "\n".join([subject, body, *names, *(e for e in extras if isinstance(e, str))])


def attachment_text(texts: Iterable[str | None]) -> str | None:
    """An entry's files' texts as the indexer carries them (``meta["attachment_text"]``):
    those with text, joined by a blank line; None when no file has any."""
    return "\n\n".join(t for t in texts if t) or None


def words_of(text: str) -> list[str]:
    """Folded words, then the words joined and the reference numbers the index also holds
    (``E-Mail``: also ``email``; ``HV-2024-00123``: also ``hv202400123``)."""
    return fold_tokens(text) + joined_words(text) + reference_words(text)


def prepare(subject: str, body: str, search_text: str, region: str,
            names: Sequence[str] = (), files_text: str | None = None) -> Prepared:
    """(phone text, region, phone tokens, document text, words) as the indexer would work
    them out (runs in a parser process); ``names``: the entry's files' names,
    ``files_text``: their text as the indexer carries it (:func:`attachment_text`)."""
    from search.phones import numbers, token

    ptext = phone_text(subject, body, (search_text, files_text))
    found = numbers(ptext, region) if ptext else []
    tokens = " ".join(token(n) for n in found)
    text = searchable_text(subject, body, names, (search_text, files_text, tokens or None))
    return ptext, region, tokens, text, " ".join(words_of(text))


def remember(results: Iterable[Prepared | None]) -> None:
    """Keep :func:`prepare`'s results for the indexer of this process."""
    for result in results:
        if result is None:
            continue
        ptext, region, tokens, text, words = result
        if len(_WORDS) >= REMEMBERED:
            _WORDS.clear()
        if len(_PHONES) >= REMEMBERED:
            _PHONES.clear()
        _PHONES[(ptext, region)] = tokens
        _WORDS[text] = words


def taken_phones(ptext: str, region: str) -> str | None:
    """The phone tokens (``""``: none) prepared for exactly this text, once; else None."""
    return _PHONES.pop((ptext, region), None)


def taken_words(text: str) -> list[str] | None:
    """The words prepared for exactly this document text, once; else None."""
    joined = _WORDS.pop(text, None)
    if joined is None:
        return None
    return joined.split(" ") if joined else []


def forget() -> None:
    """Drop everything remembered (the import is over)."""
    _WORDS.clear()
    _PHONES.clear()
