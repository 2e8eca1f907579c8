"""Odd input as integrators send it, through the search service on every backend: a control
character between words (``%00``, a tab), a cursor that is no cursor -- a clear answer or a
clear ``QueryError`` (400 bad_query), the same on FTS5 and the search engine."""

from __future__ import annotations

import pytest

from search.query import QueryError, SearchFilters
from tests.search.test_service_contract import Office
from tests.search.test_service_contract import office as office  # the fixture


@pytest.mark.parametrize("sep", ["\x00", "\t", "\x1b", "\u0085"])
async def test_a_control_character_separates_words(office: Office, sep: str) -> None:
    e = await office.add("Kündigung der Hausratversicherung")
    assert [f.entry.seq for f in (await office.search(f"Kündigung{sep}Hausrat")).items] \
        == [e.seq]


@pytest.mark.parametrize("cursor", ["-1", "99999999999999999999999999", "1e5", "abc", " 12"])
async def test_a_newest_cursor_that_is_no_key_is_a_clear_400(office: Office,
                                                             cursor: str) -> None:
    await office.add("Kündigung der Hausratversicherung")
    with pytest.raises(QueryError, match="cursor"):
        await office.service.search("Kündigung", SearchFilters(office_id="OFFICEA"),
                                    cursor=cursor)


@pytest.mark.parametrize("typed", ["AW: Kündigung Hausrat", "Re: Re: Kündigung Hausrat",
                                   "WG: Kündigung Hausrat", "Fwd: Kündigung Hausrat",
                                   "RE[2]: Kündigung Hausrat"])
async def test_a_subject_copied_with_its_reply_mark(office: Office, typed: str) -> None:
    e = await office.add("Ich kündige hiermit.", subject="Kündigung Hausratversicherung")
    assert [f.entry.seq for f in (await office.search(typed)).items] == [e.seq]


async def test_a_reply_mark_is_not_corrected(office: Office) -> None:
    await office.add("Kündigung Hausratversicherung", subject="Fed")
    assert await office.suggestions("Fwd: Kündigng") == ["Fwd: Kündigung"]


@pytest.mark.parametrize(("typed", "found"), [
    ("Hausrat/Kfz", {0, 1, 2}), ("Kfz/Hausrat", {0, 1, 2}), ("Kunde/Kundin", {3, 4}),
    ('"Hausrat/Kfz"', {2}),  # quoted: the words written so, side by side
])
async def test_words_joined_by_a_slash_are_alternatives(office: Office, typed: str,
                                                        found: set[int]) -> None:
    texts = ["Hausratversicherung gekündigt", "Kfz-Versicherung läuft weiter",
             "Angebot Hausrat/Kfz erstellt", "Der Kunde ruft an", "Die Kundin schreibt"]
    docs = [await office.add(t, minutes=i) for i, t in enumerate(texts)]
    assert {f.entry.seq for f in (await office.search(typed)).items} == {
        docs[i].seq for i in found}


@pytest.mark.parametrize("typed", ["Herrn Weiß", "Herr Weiß"])
async def test_herrn_and_herr_find_each_other(office: Office, typed: str) -> None:
    docs = [await office.add("Herr Weiß ruft an"), await office.add("Brief an Herrn Weiß")]
    assert {f.entry.seq for f in (await office.search(typed)).items} == {d.seq for d in docs}


@pytest.mark.parametrize("typed", ["Vertrag Nr. 4711/22", "Nr. 4711/22", "Vertrag Nr 4711/22",
                                   "Az. 4711/22", "contract No. 4711/22"])
async def test_a_number_label_typed_before_the_number(office: Office, typed: str) -> None:
    written = [await office.add("Kündigung Ihres Vertrags 4711/22 bestätigt"),
               await office.add("Vertrag Nr. 4711/22 gekündigt")]
    assert {f.entry.seq for f in (await office.search(typed)).items} == {
        e.seq for e in written}
