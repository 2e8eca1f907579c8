"""Web pages of other origins calling the API from a browser (CORS): only the origins an
admin listed in ``CHRONIK_CORS_ORIGINS``, with bearer tokens (never cookies); error answers
readable by the page too; nothing changes when no origin is listed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from pydantic import ValidationError

from chronik.settings import Settings
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub

CRM = "https://crm.example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cors_origins": f"{CRM}, http://localhost:3000/"})


@pytest.fixture
async def web() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def test_a_listed_origin_may_call_the_api_with_a_token(hub: Hub, web: ClientSession
                                                             ) -> None:
    c = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    preflight = await web.options(f"{hub.agent.base}/customers/{c['id']}/timeline", headers={
        "Origin": CRM, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == CRM
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers

    got = await web.get(f"{hub.agent.base}/lookup", params={"phone": "+49 171 1234567"},
                        headers={"Origin": CRM, "Authorization": f"Bearer {hub.agent.token}"})
    assert got.status == 200
    assert got.headers["Access-Control-Allow-Origin"] == CRM
    assert "Origin" in got.headers["Vary"]
    assert "ETag" in got.headers["Access-Control-Expose-Headers"]
    assert (await got.json())["matches"][0]["customer"]["id"] == c["id"]

    local = await web.get(f"{hub.agent.base}/customers", headers={
        "Origin": "http://localhost:3000", "Authorization": f"Bearer {hub.agent.token}"})
    assert local.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"

    # an error is readable by the page too (it can say why)
    denied = await web.get(f"{hub.agent.base}/customers", headers={"Origin": CRM})
    assert denied.status == 401
    assert denied.headers["Access-Control-Allow-Origin"] == CRM
    assert (await denied.json())["error"]["code"]


async def test_other_origins_and_the_pages_get_no_cors(hub: Hub, web: ClientSession) -> None:
    evil = "https://evil.example"
    preflight = await web.options(f"{hub.agent.base}/customers", headers={
        "Origin": evil, "Access-Control-Request-Method": "GET"})
    assert preflight.status == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert (await preflight.json())["error"]["code"] == "origin_not_allowed"
    got = await web.get(f"{hub.agent.base}/customers", headers={
        "Origin": evil, "Authorization": f"Bearer {hub.agent.token}"})
    assert "Access-Control-Allow-Origin" not in got.headers  # the browser keeps it from the page
    page = await web.get(str(hub.server.make_url("/portal/")), headers={"Origin": CRM})
    assert "Access-Control-Allow-Origin" not in page.headers


def test_origins_must_be_origins() -> None:
    with pytest.raises(ValidationError, match="not an origin"):
        Settings(cors_origins="https://crm.example.com/api")
    assert Settings(cors_origins="*").cors_origin_set == frozenset({"*"})
    assert Settings().cors_origin_set == frozenset()
