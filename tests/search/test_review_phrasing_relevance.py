"""Queries as agents and integrators type them (``test_review_phrasing_set``), through the search
service, on every backend: each wanted entry in the top 3 (relevance order), each unwanted
one nowhere, bad syntax a clear ``QueryError`` (400 bad_query) -- never another exception.

``test_report`` prints hits@3 per backend (and fails on any miss):
``.venv/bin/pytest tests/search/test_review_phrasing_relevance.py -q -s -p no:cacheprovider
-k report``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from search.backend import SearchBackend
from search.fts import FtsBackend
from search.phones import PhoneForms
from search.query import QueryError, SearchFilters
from search.service import Results, SearchService
from tests.search.conftest import open_engine
from tests.search.test_review_phrasing_set import CORPUS, QUERIES, TYPOS
from tests.search.test_service_contract import Entries
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility

pytestmark = pytest.mark.asyncio(loop_scope="module")
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_CHANNELS = {"email": Channel.EMAIL, "reply": Channel.EMAIL, "call": Channel.PHONE,
             "phone_note": Channel.PHONE, "message": Channel.PORTAL}


async def _germany(_office: str) -> str | None:
    return "DE"


def _entries() -> dict[str, Entry]:
    out = {}
    for n, (key, (subject, body, kind, language)) in enumerate(CORPUS.items(), 1):
        # spread over weeks, in an order unrelated to the labels
        when = T0 + timedelta(hours=(n * 37) % 400)
        out[key] = Entry(
            id=f"P{n:05d}", seq=seq_base(when) + n, office_id="OFFICEP", customer_id=f"C{n % 7}",
            channel=_CHANNELS.get(kind, Channel.NOTE), direction=Direction.INBOUND, kind=kind,
            visibility=Visibility.INTERNAL if kind == "note" else Visibility.PUBLISHED,
            occurred_at=when, recorded_at=when, subject=subject, body=body,
            meta={"language": language} if language else {})
    return out


ENTRIES = _entries()
KEYS = {e.seq: k for k, e in ENTRIES.items()}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["fts5", "engine"])
async def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[SearchService]:
    phones = PhoneForms(_germany)
    docs = await phones.annotate(list(ENTRIES.values()))
    store = Entries({e.seq: e for e in ENTRIES.values()})
    backend: SearchBackend
    if request.param == "fts5":
        fts = FtsBackend(Path(tmp_path_factory.mktemp("phrasing")) / "search.sqlite3")
        await fts.open()
        await fts.index(docs)
        yield SearchService(store, fts, phones=phones)  # type: ignore[arg-type]
        await fts.close()
        return
    engine = await open_engine(refresh=True)
    try:
        await engine.index(docs)
        backend = engine
        yield SearchService(store, backend, phones=phones)  # type: ignore[arg-type]
    finally:
        await engine.drop()
        await engine.close()


async def _search(service: SearchService, q: str) -> Results:
    return await service.search(q, SearchFilters(office_id="OFFICEP"), order="relevance",
                                limit=20)


def _problem(q: str, top3: tuple[str, ...] | None, never: tuple[str, ...],
             got: Results | QueryError) -> str | None:
    if top3 is None:
        return None if isinstance(got, QueryError) else f"{q!r}: wanted a 400, got hits"
    if isinstance(got, QueryError):
        return f"{q!r}: 400 {got}"
    keys = [KEYS[f.entry.seq] for f in got.items]
    missing = [k for k in top3 if k not in keys[:max(3, len(top3))]]
    unwanted = [k for k in never if k in keys]
    if missing or unwanted:
        return f"{q!r}: missing {missing}, unwanted {unwanted}, got {keys[:5]}"
    return None


async def _run(service: SearchService, q: str) -> Results | QueryError:
    try:
        return await _search(service, q)
    except QueryError as exc:
        return exc


@pytest.mark.parametrize(("q", "top3", "never"), QUERIES, ids=[repr(q[0])[:40] for q in QUERIES])
async def test_query_as_typed(service: SearchService, q: str, top3: tuple[str, ...] | None,
                              never: tuple[str, ...]) -> None:
    problem = _problem(q, top3, never, await _run(service, q))
    assert problem is None, problem


@pytest.mark.parametrize(("typed", "meant"), TYPOS, ids=[t for t, _ in TYPOS])
async def test_typo_finds_or_suggests(service: SearchService, typed: str, meant: str) -> None:
    got = await _search(service, typed)
    assert got.items or meant in got.suggestions, (typed, got.suggestions)


async def test_report(service: SearchService) -> None:
    """The whole set's figures (printed with ``-s``), and none of its checks failing."""
    problems = []
    ranked = 0
    for q, top3, never in QUERIES:
        problem = _problem(q, top3, never, await _run(service, q))
        if problem:
            problems.append(problem)
        elif top3:
            ranked += 1
    typos = 0
    for typed, meant in TYPOS:
        got = await _search(service, typed)
        typos += bool(got.items or meant in got.suggestions)
    with_top3 = sum(1 for _, t, _ in QUERIES if t)
    print(f"\n[{service.backend.name}] hits@3 {ranked}/{with_top3}; all checks "
          f"{len(QUERIES) - len(problems)}/{len(QUERIES)}; typos {typos}/{len(TYPOS)}")
    for p in problems:
        print("   ", p)
    assert not problems and typos == len(TYPOS), problems
