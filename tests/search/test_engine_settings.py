"""``CHRONIK_SEARCH_URL`` selects the search engine (unset: FTS5), the engine is detected, the
old ``CHRONIK_SEARCH_BACKEND``/``CHRONIK_ELASTICSEARCH_*`` settings still work, and the CLI
(``chronik reindex``) and the API (``GET /health``) use what the settings chose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from chronik.app import make_backend
from chronik.settings import Settings
from search.engine import EngineBackend
from search.fts import FtsBackend
from tests.conftest import Hub
from tests.search.conftest import engine_url
from tests.test_cli_settings import chronik


@pytest.fixture
def alias() -> str:
    return f"chronik-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def settings(tmp_path: Path, alias: str) -> AsyncIterator[Settings]:
    yield Settings(data_dir=tmp_path / "data", http_port=0,
                   search_url=engine_url(), search_index=alias)  # type: ignore[arg-type]
    await _drop(alias)


async def _drop(alias: str) -> None:
    leftover = EngineBackend(engine_url(), alias)
    await leftover.open()
    await leftover.drop()
    await leftover.close()


async def test_health_names_the_detected_engine(hub: Hub) -> None:
    status, body = await hub.anon.get("/health")
    assert status == 200 and body["search_backend"] == "opensearch"


def test_without_a_url_search_stays_embedded(tmp_path: Path) -> None:
    assert isinstance(make_backend(Settings(data_dir=tmp_path)), FtsBackend)


async def test_the_deprecated_settings_still_select_the_engine(tmp_path: Path,
                                                               alias: str) -> None:
    old = Settings(data_dir=tmp_path, search_backend="elasticsearch",
                   elasticsearch_url=engine_url(),  # type: ignore[arg-type]
                   elasticsearch_index=alias)
    backend = make_backend(old)
    assert isinstance(backend, EngineBackend) and backend.alias == alias
    await backend.open()
    try:
        assert backend.name == "opensearch"  # detected, whatever the old name said
    finally:
        await backend.drop()
        await backend.close()
    with pytest.raises(ValidationError, match="CHRONIK_SEARCH_URL"):
        Settings(data_dir=tmp_path, search_backend="elasticsearch")


async def test_cli_reindex_rebuilds_the_engine_index(tmp_path: Path, alias: str) -> None:
    env = {"CHRONIK_SEARCH_URL": engine_url(), "CHRONIK_SEARCH_INDEX": alias}
    try:
        made = chronik("office", "create", "Büro Süd", data_dir=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        done = chronik("reindex", data_dir=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert "reindexed 0 entries into opensearch" in done.stdout
        wrong = chronik("reindex", data_dir=tmp_path,
                        env={**env, "CHRONIK_SEARCH_ENGINE": "elasticsearch"})
        assert wrong.returncode != 0 and "not Elasticsearch" in wrong.stderr
        assert "Traceback" not in wrong.stderr
    finally:
        await _drop(alias)
