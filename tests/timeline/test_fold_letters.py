"""Latin letters that do not decompose (``ł``, ``ø``, ``æ``, ``œ``, ``đ``, ``ð``, ``þ``, ``ı``,
``ŀ``, ``ħ``, ``ŧ``, ``ĸ`` …) fold the way people type them on a German or English keyboard,
for everything that shares the folding: the tone guard and the customer name filter here,
search in ``tests/search/test_fold_letters_search.py``."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from timeline import tone
from timeline.repositories import CustomerListQuery
from timeline.sqlite_store import SqliteStore
from timeline.text import fold, fold_tokens


@pytest.mark.parametrize("written,typed", [
    ("Łukasz Wójcik", "Lukasz Wojcik"),
    ("Søren Ærø", "Soren Aeroe"),
    ("Søren", "Soeren"),
    ("Œuvre", "Oeuvre"),
    ("œuvre", "oeuvre"),
    ("Đorđe Đurić", "Dorde Duric"),
    ("Guðrún Þórsdóttir", "Gudrun Thorsdottir"),
    ("Işıl Kılıç", "Isil Kilic"),
    ("Coŀlecció", "Colleccio"),
    ("Ħamrun", "Hamrun"),
    ("Ŧ ŧ", "T t"),
    ("ĸ", "k"),
    ("Ŋ ŋ", "NG ng"),
    ("Ǿ ǿ Ǽ ǽ", "O o AE ae"),
    ("ǅemal", "Dzemal"),
    ("ᴄᴏɴᴛʀᴀᴄᴛ", "contract"),
])
def test_letters_fold_as_typed(written: str, typed: str) -> None:
    assert fold(written) == fold(typed)
    assert len(fold_tokens(written)) == len(written.split())  # one word stays one word


def _latin_letters(first: int, last: int) -> list[str]:
    return [chr(cp) for cp in range(first, last + 1)
            if chr(cp).isalpha() and "LATIN" in unicodedata.name(chr(cp), "")]


WITHOUT_PLAIN_LETTER = set(
    "ŉƄƅƆƍƎƏƐƔƖƛƜƟƧƨƩƪƱƷƸƹƺƻƼƽƾƿǀǁǂǃǝǮǯǷȜȝɁɂɄɅẚẜẝẟỺỻỼỽ")
"""Latin letters of these blocks with no plain letter to write them with: tone letters,
clicks, schwa, ezh, yogh, wynn, turned and reversed letters, Middle Welsh, long s with a
stroke, and ``ŉ``/``ẚ``, which casefolding itself splits into a letter and an apostrophe."""


@pytest.mark.parametrize("first,last", [
    (0x00C0, 0x024F),  # Latin-1 Supplement, Extended-A, Extended-B
    (0x1E00, 0x1EFF),  # Latin Extended Additional
], ids=["latin-1-to-extended-b", "extended-additional"])
def test_every_latin_letter_with_a_plain_base_folds_to_it(first: int, last: int) -> None:
    """Checked over the whole blocks, not a list: any letter written as ``<letter> WITH
    <mark>`` (a stroke, bar, hook, middle dot) or as a ligature folds to plain letters, one
    word each; the rest is the known set of letters without a plain base."""
    left = []
    for ch in _latin_letters(first, last):
        words = fold_tokens(ch)
        assert len(words) == 1, (ch, words)
        if not words[0].isascii():
            left.append(ch)
        else:
            assert words[0].isalpha() and words[0] == words[0].lower(), (ch, words)
    assert set(left) == WITHOUT_PLAIN_LETTER & set(left)
    assert set(left) == {c for c in WITHOUT_PLAIN_LETTER if first <= ord(c) <= last}


def test_the_tone_guard_reads_the_letters_as_typed() -> None:
    """A derogatory word written with a look-alike letter still warns."""
    assert [h.text for h in tone.check("Der Kunde ist ein Betrüger und Łügner")] \
        == ["Betrüger", "Łügner"]
    assert [h.text for h in tone.check("Der Kunde ist ein Ærsch")] == ["Ærsch"]
    assert [h.text for h in tone.check("Dieser Idiot hat wieder nicht bezahlt")] == ["Idiot"]


async def test_the_customer_name_filter_finds_names_as_typed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        office = await store.create_office("O", "DE")
        names = ["Łukasz Wójcik", "Søren Ærø", "Guðrún Þórsdóttir"]
        for name in names:
            await store.create_customer(office.id, name, [])
        for typed, wanted in [("Lukasz", names[0]), ("wojcik", names[0]),
                              ("Soren Aeroe", names[1]), ("Gudrun Thors", names[2])]:
            page = await store.list_customers(office.id, CustomerListQuery(name=typed))
            assert [c.name for c in page.items] == [wanted], typed
    finally:
        await store.close()
