"""Every error of either engine client becomes one of ours, chosen by what the caller does
next (STYLE 6/7): ``SearchUnavailable`` (HTTP 503, retry later), ``QueryError`` (400, rephrase)
or ``EngineError`` (a wrong setting: no retry). Plus the bulk path: items the engine rejects
as overloaded are sent again, any other rejection is an error, never a silent loss."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import elastic_transport
import opensearchpy.exceptions as os_exc
import pytest
from elasticsearch import ApiError, UnsupportedProductError

from search import elastic, engine_opensearch
from search.backend import SearchUnavailable
from search.engine import EngineBackend
from search.engine_client import EngineError, Json
from search.query import QueryError

Boundary = Callable[..., AbstractContextManager[None]]


def _meta(status: int, headers: dict[str, str] | None = None) -> elastic_transport.ApiResponseMeta:
    return elastic_transport.ApiResponseMeta(
        status=status, http_version="1.1", headers=elastic_transport.HttpHeaders(headers or {}),
        duration=0.0, node=elastic_transport.NodeConfig("http", "localhost", 9200))


def _es(status: int, headers: dict[str, str] | None = None) -> ApiError:
    body = {"error": {"root_cause": [{"type": "x_exception", "reason": "why"}]}}
    return ApiError("error", _meta(status, headers), body)


def _os(status: int) -> os_exc.TransportError:
    cls = {400: os_exc.RequestError, 404: os_exc.NotFoundError, 409: os_exc.ConflictError,
           401: os_exc.AuthenticationException}.get(status, os_exc.TransportError)
    return cls(status, "x_exception", {"error": {"type": "x_exception", "reason": "why"}})


CASES = [
    # (boundary, raised, query?, expected)
    (engine_opensearch._boundary, os_exc.ConnectionError("N/A", "refused", None), False,
     SearchUnavailable),
    (engine_opensearch._boundary, os_exc.ConnectionTimeout("TIMEOUT", "slow", None), False,
     SearchUnavailable),
    (engine_opensearch._boundary, os_exc.SSLError("N/A", "bad cert", None), False, EngineError),
    (engine_opensearch._boundary, _os(429), False, SearchUnavailable),
    (engine_opensearch._boundary, _os(503), True, SearchUnavailable),
    (engine_opensearch._boundary, _os(400), True, QueryError),
    (engine_opensearch._boundary, _os(400), False, EngineError),
    (engine_opensearch._boundary, _os(401), False, EngineError),
    (engine_opensearch._boundary, _os(404), False, EngineError),
    (engine_opensearch._boundary, os_exc.SerializationError("bad json"), False, EngineError),
    (elastic._boundary, elastic_transport.ConnectionError("refused"), False, SearchUnavailable),
    (elastic._boundary, elastic_transport.ConnectionTimeout("slow"), False, SearchUnavailable),
    (elastic._boundary, elastic_transport.TlsError("bad cert"), False, EngineError),
    (elastic._boundary, _es(429, {"retry-after": "7"}), False, SearchUnavailable),
    (elastic._boundary, _es(502), True, SearchUnavailable),
    (elastic._boundary, _es(400), True, QueryError),
    (elastic._boundary, _es(400), False, EngineError),
    (elastic._boundary, _es(403), False, EngineError),
    (elastic._boundary, UnsupportedProductError("not es", _meta(200), {}), False, EngineError),
    (elastic._boundary, elastic_transport.SerializationError("bad json"), False, EngineError),
]


@pytest.mark.parametrize("boundary,raised,query,expected", CASES,
                         ids=[f"{c[0].__module__.split('.')[-1]}-{type(c[1]).__name__}-"
                              f"{getattr(c[1], 'status_code', '') or ''}{i}"
                              for i, c in enumerate(CASES)])
def test_every_client_error_is_translated(boundary: Boundary, raised: Exception, query: bool,
                                          expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught, boundary(query=query):
        raise raised
    assert caught.value.__cause__ is raised


def test_retry_after_reaches_the_caller() -> None:
    with pytest.raises(SearchUnavailable) as caught, elastic._boundary():
        raise _es(429, {"retry-after": "7"})
    assert caught.value.retry_after == 7.0


def test_the_wrong_client_says_which_setting_to_change() -> None:
    with pytest.raises(EngineError, match="CHRONIK_SEARCH_ENGINE"), elastic._boundary():
        raise UnsupportedProductError("not es", _meta(200), {})


class _Overloaded:
    """A client whose bulk rejects given items as overloaded (429) or broken (400) once per
    answer it is told to give: the engine's own bulk answers, replayed."""

    engine = "opensearch"

    def __init__(self, answers: list[list[int]]) -> None:
        self.answers = answers
        self.bodies: list[bytes] = []

    async def bulk(self, ndjson: bytes, *, refresh: bool) -> Json:
        self.bodies.append(ndjson)
        statuses = self.answers.pop(0)
        return {"errors": any(s >= 300 for s in statuses), "items": [
            {"index": {"status": s, **({"error": {"type": "mapper_parsing_exception",
                                                  "reason": "bad"}} if s == 400 else {})}}
            for s in statuses]}


def _backend(client: _Overloaded) -> EngineBackend:
    backend = EngineBackend("http://unused", "a", engine="opensearch")
    backend._client = client  # type: ignore[assignment]
    return backend


def _ops(n: int) -> Iterator[tuple[str, str, int, Json]]:
    return (("index", "a", seq, {"seq": seq}) for seq in range(n))


async def test_overloaded_bulk_items_are_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("search.engine.asyncio.sleep", _no_sleep)
    client = _Overloaded([[201, 429, 201], [201]])
    await _backend(client)._bulk(list(_ops(3)))
    assert len(client.bodies) == 2 and b'"_id":"1"' in client.bodies[1]
    assert b'"_id":"0"' not in client.bodies[1]


async def test_bulk_gives_up_on_overload_with_search_unavailable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("search.engine.asyncio.sleep", _no_sleep)
    client = _Overloaded([[429]] * 5)
    with pytest.raises(SearchUnavailable, match="overloaded"):
        await _backend(client)._bulk(list(_ops(1)))


async def test_a_rejected_document_is_an_error_not_a_silent_loss() -> None:
    client = _Overloaded([[201, 400]])
    with pytest.raises(EngineError, match="mapper_parsing_exception"):
        await _backend(client)._bulk(list(_ops(2)))


async def _no_sleep(_seconds: float) -> None:
    return None
