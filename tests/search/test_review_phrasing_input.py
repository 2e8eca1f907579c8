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
