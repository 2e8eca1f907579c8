"""The API against its own OpenAPI document: schemathesis generates requests for every
operation of ``/api/v1/openapi.json`` (bounded: ``MAX_EXAMPLES`` per operation) and sends
them, with an office admin's bearer token, to a real Chronik running in a thread. No answer
may be a 5xx (a 500 is always a bug), and every answer is as the document says (a documented
status code, its content type, its body schema). One test per operation, so pytest's summary
counts them; the total of requests and their status codes is printed at the end (``-s``).
``CHRONIK_SCHEMATHESIS_EXAMPLES`` (default 10) raises the examples per operation for a
longer run by hand."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from chronik.api import OPERATIONS
from chronik.api.base import hash_token, new_token
from chronik.app import create_app
from chronik.settings import Settings
from chronik.state import STATE
from tests.conftest import STORE
from timeline.models import IdentityKind, Role

MAX_EXAMPLES = int(os.environ.get("CHRONIK_SCHEMATHESIS_EXAMPLES", "10"))
SKIPPED = {"events",  # a Server-Sent Events stream never ends: tests/api/test_events.py
           "openapi"}  # the document does not describe itself
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
SENT: dict[str, Counter[int]] = {}
"""operation id -> how many answers of each status code (printed at the end)."""


@dataclass
class LiveChronik:
    base: str
    token: str
    customer_id: str


class _Thread:
    """A Chronik (``create_app``) served by aiohttp on its own loop in a thread, so the
    synchronous HTTP client of schemathesis can call it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    def run(self, coro: Any, timeout: float = 60) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def _start(self) -> LiveChronik:
        app = create_app(self.settings)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        state = app[STATE]
        office = await state.store.create_office("Büro Schema", "DE")
        token = new_token()
        await state.store.create_agent(office.id, "Anna Admin", Role.ADMIN, hash_token(token))
        customer = await state.timeline.create_customer(office, "Erika Mustermann", [
            (IdentityKind.EMAIL, "erika@example.de"), (IdentityKind.PHONE, "0171 1234567")])
        return LiveChronik(f"http://127.0.0.1:{port}", token, customer.id)

    def start(self) -> LiveChronik:
        self.thread.start()
        started: LiveChronik = self.run(self._start())
        return started

    def stop(self) -> None:
        if self.runner is not None:
            self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChronik]:
    """One server for the module, on the store ``CHRONIK_TEST_STORE`` names (PostgreSQL: a
    database of its own, which the emptying before each test leaves alone)."""
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        for name in [n for n in os.environ if n.startswith("CHRONIK_")]:
            mp.delenv(name)
        if STORE == "postgresql":
            from tests.support.postgres import fresh_database_sync

            mp.setenv("CHRONIK_DATABASE_URL", stack.enter_context(fresh_database_sync()))
        mp.setenv("CHRONIK_NOTIFY_WORKER", "false")
        settings = Settings(data_dir=Path(tmp_path_factory.mktemp("schemathesis")) / "data",
                            http_port=0, max_upload_bytes=256 * 1024)
        server = _Thread(settings)
        live = server.start()
        try:
            yield live
        finally:
            server.stop()


@pytest.fixture(scope="module")
def api_schema(live: LiveChronik) -> Any:
    """The document as the running server publishes it."""
    schema = schemathesis.openapi.from_url(live.base + "/api/v1/openapi.json")
    schema.config.update(base_url=live.base)
    return schema


def _operation(schema: Any, operation_id: str) -> schemathesis.APIOperation:
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") == operation_id:
            return operation  # type: ignore[no-any-return]
    raise AssertionError(f"{operation_id} is not in /api/v1/openapi.json")


# One test per operation of the table the router and the document are built from (the
# document itself is checked against the router in tests/api/test_errors_openapi.py).
OPERATION_IDS = sorted(op.operation_id for op in OPERATIONS if op.operation_id not in SKIPPED)


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_no_operation_answers_with_a_server_error(operation_id: str, api_schema: Any,
                                                  live: LiveChronik) -> None:
    operation = _operation(api_schema, operation_id)
    headers = {"Authorization": f"Bearer {live.token}"}

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), known=st.booleans())
    def run(case: schemathesis.Case, known: bool) -> None:
        if known and case.path_parameters and "id" in case.path_parameters \
                and operation.path.startswith("/api/v1/customers/"):
            case.path_parameters["id"] = live.customer_id  # reach past the 404
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        SENT.setdefault(operation_id, Counter())[response.status_code] += 1

    run()
    assert sum(SENT.get(operation_id, Counter()).values()) >= 1


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Iterator[None]:
    yield
    if SENT:
        total = sum(sum(c.values()) for c in SENT.values())
        by_status = sum(SENT.values(), Counter())
        print(f"\nschemathesis: {total} requests over {len(SENT)} operations; status codes "
              f"{dict(sorted(by_status.items()))}")
