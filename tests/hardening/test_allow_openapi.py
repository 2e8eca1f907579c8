"""405 answers name the allowed methods; the OpenAPI document says what downloads send and
which values the enum-like and date query parameters take."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientSession

from tests.conftest import Hub


async def test_405_has_allow_header_and_json_error(hub: Hub) -> None:
    async with ClientSession() as session, session.request(
            "PUT", hub.agent.base + "/customers",
            headers={"Authorization": f"Bearer {hub.agent.token}"}) as resp:
        assert resp.status == 405
        allow = {m.strip() for m in resp.headers.get("Allow", "").split(",")}
        assert {"GET", "POST"} <= allow, resp.headers
        body = await resp.json()
        assert body["error"]["code"] == "method_not_allowed"


async def test_405_page_has_allow_header(hub: Hub) -> None:
    async with ClientSession() as session, session.request(
            "DELETE", str(hub.server.make_url("/signin"))) as resp:
        assert resp.status == 405
        assert resp.headers.get("Allow"), resp.headers


def params(doc: dict[str, Any], path: str, method: str = "get") -> dict[str, dict[str, Any]]:
    op = doc["paths"]["/api/v1" + path][method]
    return {p["name"]: p["schema"] for p in op.get("parameters", [])}


async def test_openapi_declares_download_types_enums_and_dates(hub: Hub) -> None:
    status, doc = await hub.anon.get("/openapi.json")
    assert status == 200
    for path in ("/entries/{entry_id}/attachments/{index}",
                 "/portal/messages/{message_id}/attachments/{index}"):
        content = doc["paths"]["/api/v1" + path]["get"]["responses"]["200"]["content"]
        assert list(content) == ["*/*"], content
    timeline = params(doc, "/customers/{id}/timeline")
    search = params(doc, "/search")
    for schema in (timeline["visibility"], search["visibility"]):
        assert schema["enum"] == ["internal", "published"]
    for schema in (timeline["since"], timeline["until"], search["since"], search["until"]):
        assert {f["format"] for f in schema["anyOf"]} == {"date", "date-time"}
    assert search["order"]["enum"] == ["newest", "relevance"]
    assert "active" in params(doc, "/customers")["status"]["enum"]
    assert params(doc, "/quarantine")["status"]["enum"] == ["open", "processed", "discarded",
                                                            "all"]
    assert "dead" in params(doc, "/notifications")["status"]["enum"]
    kinds = params(doc, "/customers/{id}/identities/{kind}/{value}", "delete")["kind"]["enum"]
    assert set(kinds) >= {"email", "phone", "telegram", "portal"}
