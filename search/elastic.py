"""``EngineClient`` over the official ``elasticsearch`` client (8.x, for Elasticsearch 8).

The client is pinned to the server's major version, so its default media types
(``compatible-with=8``) are what the server expects; it refuses servers that are not
Elasticsearch (``UnsupportedProductError``), which is why OpenSearch has its own client in
``search.engine_opensearch``. Requests are built in ``search.engine_query``, shared with
OpenSearch; only this module differs between the two engines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, SerializationError, TlsError
from elasticsearch import ApiError, AsyncElasticsearch, UnsupportedProductError

from search.backend import SearchUnavailable
from search.engine_client import EngineError, Json, error_reason, status_error

ENGINE = "Elasticsearch"


def _retry_after(exc: ApiError) -> float | None:
    with suppress(ValueError, TypeError):
        return float(exc.meta.headers.get("retry-after") or "")
    return None


@contextmanager
def _boundary(*, query: bool = False) -> Iterator[None]:
    """elasticsearch/elastic_transport errors, translated once (see ``search.engine_client``)."""
    try:
        yield
    except UnsupportedProductError as exc:
        raise EngineError(f"the server is not {ENGINE} (set CHRONIK_SEARCH_ENGINE=auto or "
                          "opensearch)") from exc
    except ApiError as exc:
        raise status_error(ENGINE, exc.meta.status, error_reason(exc.body), query=query,
                           retry_after=_retry_after(exc)) from exc
    except TlsError as exc:
        raise EngineError(f"{ENGINE}: TLS failed: {exc}") from exc
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise SearchUnavailable(f"{ENGINE} is unreachable: {exc}") from exc
    except SerializationError as exc:
        raise EngineError(f"{ENGINE}: {exc}") from exc


class ElasticsearchClient:
    engine = "elasticsearch"

    def __init__(self, url: str, *, request_timeout: float = 30.0) -> None:
        # The URL may carry credentials: it is never logged or put in a message.
        self._client = AsyncElasticsearch(url, request_timeout=request_timeout,
                                          retry_on_timeout=True, max_retries=3)

    async def close(self) -> None:
        await self._client.close()

    async def info(self) -> Json:
        with _boundary():
            return dict((await self._client.info()).body)

    async def alias_indices(self, alias: str) -> list[str]:
        with _boundary():
            resp = await self._client.options(ignore_status=404).indices.get_alias(name=alias)
        return [] if resp.meta.status == 404 else sorted(resp.body)

    async def mapping_meta(self, index: str) -> Json:
        with _boundary():
            body = (await self._client.indices.get_mapping(index=index)).body
        meta = body.get(index, {}).get("mappings", {}).get("_meta")
        return meta if isinstance(meta, dict) else {}

    async def create_index(self, name: str, body: Json) -> None:
        with _boundary():
            await self._client.indices.create(index=name, body=body)

    async def delete_indices(self, names: Sequence[str]) -> None:
        if not names:
            return
        with _boundary():
            await self._client.options(ignore_status=404).indices.delete(
                index=list(names), ignore_unavailable=True)

    async def put_settings(self, index: str, settings: Json) -> None:
        with _boundary():
            await self._client.indices.put_settings(index=index, body=settings)

    async def update_aliases(self, actions: list[Json]) -> None:
        with _boundary():
            await self._client.indices.update_aliases(actions=actions)

    async def refresh(self, index: str) -> None:
        with _boundary():
            await self._client.indices.refresh(index=index)

    async def expunge_deletes(self, index: str) -> None:
        with _boundary():
            # a commit first (see engine_opensearch.py)
            await self._client.options(request_timeout=600).indices.flush(
                index=index, force=True)
            await self._client.options(request_timeout=600).indices.forcemerge(
                index=index, only_expunge_deletes=True, wait_for_completion=True)
            # commit the merged segments (see engine_opensearch.py)
            await self._client.options(request_timeout=600).indices.flush(
                index=index, force=True)

    async def shard_stats(self, index: str) -> Json:
        with _boundary():
            return dict((await self._client.indices.stats(index=index, level="shards")).body)

    async def search(self, index: str, body: Json, *, preference: str | None = None) -> Json:
        with _boundary(query=True):
            resp = await self._client.search(index=index, body=body, preference=preference)
        return dict(resp.body)

    async def bulk(self, ndjson: bytes, *, refresh: bool) -> Json:
        with _boundary():
            # A ready NDJSON body: the client's NdjsonSerializer forwards bytes as they are.
            resp = await self._client.bulk(
                operations=ndjson,  # type: ignore[arg-type]
                refresh="true" if refresh else None,
                filter_path="errors,items.*.status,items.*.error")
        return dict(resp.body)
