"""``EngineClient`` over ``opensearch-py`` (2.x, for OpenSearch 2.x servers).

The official ``elasticsearch`` client refuses servers that are not Elasticsearch, so
OpenSearch gets its own project's client; what is sent is built in ``search.engine_query``
and is the same for both engines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import (
    ConnectionError as OsConnectionError,
)
from opensearchpy.exceptions import (
    ImproperlyConfigured,
    NotFoundError,
    SerializationError,
    SSLError,
    TransportError,
)

from search.backend import SearchUnavailable
from search.engine_client import EngineError, Json, error_reason, status_error

ENGINE = "OpenSearch"


@contextmanager
def _boundary(*, query: bool = False) -> Iterator[None]:
    """opensearch-py's errors, translated once (see ``search.engine_client``)."""
    try:
        yield
    except SSLError as exc:
        raise EngineError(f"{ENGINE}: TLS failed: {exc.info or exc.error}") from exc
    except OsConnectionError as exc:  # includes ConnectionTimeout; status "N/A"
        raise SearchUnavailable(f"{ENGINE} is unreachable: {exc.error}") from exc
    except TransportError as exc:
        status = exc.status_code if isinstance(exc.status_code, int) else 0
        raise status_error(ENGINE, status, error_reason(exc.info), query=query) from exc
    except (ImproperlyConfigured, SerializationError) as exc:
        raise EngineError(f"{ENGINE}: {exc}") from exc


def _body(resp: Any) -> Json:
    if not isinstance(resp, dict):
        raise EngineError(f"{ENGINE}: unexpected answer {str(resp)[:200]}")
    return resp


class OpenSearchClient:
    engine = "opensearch"

    def __init__(self, url: str, *, request_timeout: float = 30.0) -> None:
        # The URL may carry credentials: it is never logged or put in a message.
        self._client = AsyncOpenSearch(hosts=[url], timeout=request_timeout,
                                       retry_on_timeout=True, max_retries=3,
                                       http_compress=False)

    async def close(self) -> None:
        await self._client.close()

    async def info(self) -> Json:
        with _boundary():
            return _body(await self._client.info())

    async def alias_indices(self, alias: str) -> list[str]:
        with _boundary():
            resp = await self._client.indices.get_alias(name=alias, ignore=404)
        body = _body(resp)
        if body.get("status") == 404 or "error" in body:
            return []
        return sorted(body)

    async def mapping_meta(self, index: str) -> Json:
        with _boundary():
            body = _body(await self._client.indices.get_mapping(index=index))
        meta = body.get(index, {}).get("mappings", {}).get("_meta")
        return meta if isinstance(meta, dict) else {}

    async def create_index(self, name: str, body: Json) -> None:
        with _boundary():
            await self._client.indices.create(index=name, body=body)

    async def delete_indices(self, names: Sequence[str]) -> None:
        if not names:
            return
        # (NotFoundError: deleted by another process between the lookup and the delete)
        with _boundary(), suppress(NotFoundError):
            await self._client.indices.delete(index=",".join(names), ignore_unavailable=True)

    async def put_settings(self, index: str, settings: Json) -> None:
        with _boundary():
            await self._client.indices.put_settings(index=index, body=settings)

    async def update_aliases(self, actions: list[Json]) -> None:
        with _boundary():
            await self._client.indices.update_aliases(body={"actions": actions})

    async def refresh(self, index: str) -> None:
        with _boundary():
            await self._client.indices.refresh(index=index)

    async def expunge_deletes(self, index: str) -> None:
        with _boundary():
            # a commit first: soft-deleted documents newer than the last commit are kept for
            # recovery from the translog, whatever the retention leases say
            await self._client.indices.flush(index=index, force=True, request_timeout=600)
            await self._client.indices.forcemerge(index=index, only_expunge_deletes=True,
                                                  request_timeout=600)
            # commit the merged segments (a merge alone writes nothing to the translog, so
            # the forcemerge's own flush finds nothing to commit): the last commit point then
            # no longer names the old segments, and their files go
            await self._client.indices.flush(index=index, force=True, request_timeout=600)

    async def shard_stats(self, index: str) -> Json:
        with _boundary():
            return _body(await self._client.indices.stats(index=index, level="shards"))

    async def search(self, index: str, body: Json, *, preference: str | None = None) -> Json:
        params: Json = {"preference": preference} if preference else {}
        with _boundary(query=True):
            return _body(await self._client.search(index=index, body=body, **params))

    async def bulk(self, ndjson: bytes, *, refresh: bool) -> Json:
        params: Json = {"refresh": "true"} if refresh else {}
        with _boundary():
            return _body(await self._client.bulk(
                body=ndjson, filter_path="errors,items.*.status,items.*.error", **params))
