"""What the index and every query see of a text is unchanged by the faster folding: the same
words as the whole-text definition (casefold, Latin letters as typed, NFKD, drop combining
marks, ae/oe/ue)."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timeline.text import fold, fold_word, latin_base

_MARKS = {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))}


def reference_fold(text: str) -> str:
    """The definition, on the whole text at once."""
    text = "".join(latin_base(c) or c for c in text.casefold())  # ł -> l, æ -> ae
    text = unicodedata.normalize("NFKD", text).translate(_MARKS)
    text = "".join(latin_base(c) or (c.lower() if ord(c) < 0x80 else c) for c in text)
    text = re.sub(r"ae|oe|ue", lambda m: m.group(0)[0], text)
    return " ".join(re.findall(r"[^\W_]+", text))


GERMANISH = st.text(alphabet=st.sampled_from(
    list("aeiouAEOUäöüÄÖÜßẞ eé\u0301\u0308\u0323\u0327-ﬁ①ＡłŁøØæÆœŒđðþıŀǿℌ")), max_size=40)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=60), GERMANISH))
def test_folding_equals_the_whole_text_definition(text: str) -> None:
    assert fold(text) == reference_fold(text)


@pytest.mark.parametrize("written,folded", [
    ("Kündigung", "kundigung"), ("Kuendigung", "kundigung"), ("Müller", "muller"),
    ("Straße", "strasse"), ("MÜLLER-Lüdenscheidt", "muller ludenscheidt"),
    ("Café ﬁnal", "cafe final"), ("e\u0301te\u0301", "ete"), ("Michael", "michal"),
    ("Łukasz Wójcik", "lukasz wojcik"), ("Søren Ærø", "soren aro"), ("Œuvre", "ouvre"),
    ("Þór", "thor"), ("Işık", "isik"), ("Coŀlecció", "colleccio"),
])
def test_known_foldings(written: str, folded: str) -> None:
    assert fold(written) == folded == reference_fold(written)
    first = written.split()[0]
    assert fold_word(first).replace("-", " ") == reference_fold(first)
