"""A ``*`` in front of a word finds the words that hold it (``*versicher*`` finds
``Hausratversicherung``; ``*vertrag`` finds ``Mietvertrag``): German compounds put the word
an agent remembers in the middle or at the end. Every backend, both orders; the snippet marks
the words found."""

from __future__ import annotations

import pytest

from search.backend import SearchBackend
from search.query import QueryError, parse
from search.snippet import snippet
from tests.search.test_backend_contract import entry, hits


async def test_a_leading_star_finds_the_word_inside_compounds(backend: SearchBackend) -> None:
    house = entry("Ihre Hausratversicherung wurde angepasst")
    rent = entry("Der Mietvertrag liegt bei", minutes=1)
    liability = entry("Privathaftpflichtversicherung gekündigt", minutes=2)
    other = entry("Rückruf wegen der Kfz-Police", minutes=3)
    elsewhere = entry("Hausratversicherung im anderen Büro", office="OFFICEB", minutes=4)
    await backend.index([house, rent, liability, other, elsewhere])

    assert await hits(backend, "*versicher*") == [liability.seq, house.seq]
    assert await hits(backend, "*haftpflicht*") == [liability.seq]  # in the middle
    assert await hits(backend, "*vertrag") == [rent.seq]
    assert await hits(backend, "*VERSICHER* gekündigt") == [liability.seq]  # with a word
    assert await hits(backend, "*versicher* -*haftpflicht*") == [house.seq]
    assert await hits(backend, "*mietvertrag*") == [rent.seq]  # the whole word too
    assert await hits(backend, "*zzzq*") == []
    best = await hits(backend, "*versicher*", order="relevance")
    assert sorted(best) == sorted([liability.seq, house.seq])
    assert await hits(backend, "*versicher*", office="OFFICEB") == [elsewhere.seq]


def test_the_parts_typed_must_be_long_enough_and_the_snippet_marks_what_held_them() -> None:
    with pytest.raises(QueryError) as raised:
        parse("*a")
    assert raised.value.reason == "short_prefix"
    assert snippet("Ihre Hausratversicherung und die Kfz-Police", parse("*versicher*")) == (
        "Ihre <mark>Hausratversicherung</mark> und die Kfz-Police")
