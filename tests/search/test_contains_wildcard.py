"""A ``*`` in front of a word finds the words that hold it (``*versicher*`` finds
``Hausratversicherung``; ``*vertrag`` finds ``Mietvertrag``): German compounds put the word
an agent remembers in the middle or at the end. Every backend, both orders; the snippet marks
the words found."""

from __future__ import annotations

import aiohttp
import pytest

from search.backend import SearchBackend
from search.query import QueryError, parse
from search.snippet import snippet
from tests.search.conftest import engine_url, open_engine
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


async def test_an_engine_set_to_refuse_wildcards_says_so() -> None:
    """An OpenSearch/Elasticsearch cluster may be set to refuse "expensive" queries
    (``search.allow_expensive_queries: false``), wildcards among them: a search with ``*``
    is then a ``QueryError`` that names the setting (the API's 400, the console's message),
    not "rephrase it"; whole words are still found."""
    url = engine_url()
    engine = await open_engine(refresh=True)
    try:
        house = entry("Ihre Hausratversicherung wurde angepasst")
        await engine.index([house])
        await _expensive_queries(url, False)
        try:
            for typed in ("*versicher*", "hausrat*"):
                with pytest.raises(QueryError) as raised:
                    await hits(engine, typed)
                assert raised.value.reason == "wildcards_off"
                assert "search.allow_expensive_queries" in str(raised.value)
            assert await hits(engine, "Hausratversicherung") == [house.seq]
        finally:
            await _expensive_queries(url, None)
        assert await hits(engine, "*versicher*") == [house.seq]
    finally:
        await engine.drop()
        await engine.close()


async def _expensive_queries(url: str, allowed: bool | None) -> None:
    """Set (or with ``None`` reset) the cluster's ``search.allow_expensive_queries``."""
    async with aiohttp.ClientSession() as session, session.put(
            f"{url}/_cluster/settings",
            json={"transient": {"search.allow_expensive_queries": allowed}}) as resp:
        assert resp.status == 200, await resp.text()
