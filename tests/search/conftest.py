"""The ``backend`` fixture every search contract test runs against: SQLite FTS5 always, and the
search engine (OpenSearch or Elasticsearch, ``search.engine``) at ``CHRONIK_TEST_SEARCH_URL``
(default: the node ``deploy/ci/opensearch.sh`` starts, http://127.0.0.1:9250).

When the engine does not answer, its half skips with a reason, unless
``CHRONIK_TEST_REQUIRE_ENGINE=1`` (CI) or ``CHRONIK_TEST_SEARCH_URL`` is set explicitly: then
it fails, so a CI run can never pass with the engine half silently skipped.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path

import pytest

from search.backend import SearchBackend
from search.engine import EngineBackend
from search.fts import FtsBackend

DEFAULT_ENGINE_URL = "http://127.0.0.1:9250"  # keep in sync with deploy/ci/opensearch.sh


@cache
def _probe(url: str) -> str | None:
    """None when ``GET /`` answers like a search engine, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            info = json.load(resp)
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(info, dict) or "version" not in info:
        return f"GET / answered {str(info)[:200]}"
    return None


def engine_url() -> str:
    """The engine's URL, or skip/fail (see the module docstring) when it does not answer."""
    explicit = os.environ.get("CHRONIK_TEST_SEARCH_URL")
    url = explicit or DEFAULT_ENGINE_URL
    problem = _probe(url)
    if problem is None:
        return url
    message = (f"search engine at {url} does not answer ({problem}): run "
               "deploy/ci/opensearch.sh (or set CHRONIK_TEST_SEARCH_URL)")
    if explicit or os.environ.get("CHRONIK_TEST_REQUIRE_ENGINE") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def open_engine(**kwargs: object) -> EngineBackend:
    """A backend on a fresh alias of its own (dropped by the caller)."""
    impl = EngineBackend(engine_url(), f"chronik-test-{uuid.uuid4().hex[:10]}",
                         **kwargs)  # type: ignore[arg-type]
    await impl.open()
    return impl


@pytest.fixture(params=["fts5", "engine"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchBackend]:
    if request.param == "fts5":
        fts = FtsBackend(tmp_path / "search.sqlite3")
        await fts.open()
        yield fts
        await fts.close()
        return
    engine = await open_engine(refresh=True)
    try:
        yield engine
    finally:
        await engine.drop()
        await engine.close()
