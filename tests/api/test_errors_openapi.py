"""One error shape, the right statuses, no 500s; the OpenAPI document matches the routes."""

from __future__ import annotations

import re

import pytest
from aiohttp import ClientSession, web

from chronik.api import OPERATIONS
from chronik.app import create_app
from chronik.settings import Settings
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub


def assert_error(body: object, code: str | None = None) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code


async def test_missing_and_invalid_tokens(hub: Hub) -> None:
    status, body = await hub.anon.get("/customers")
    assert status == 401
    assert_error(body, "unauthorized")
    status, body = await hub.anon.as_("chk_wrong").get("/customers")
    assert status == 401
    assert_error(body, "unauthorized")
    status, body = await hub.anon.get("/customers", headers={"Authorization": "Basic abc"})
    assert status == 401


async def test_other_offices_objects_are_plain_404(hub: Hub) -> None:
    c = await make_customer(hub)
    _, e = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "x", "visibility": "internal"})
    _, other = await hub.new_office()
    for path in [f"/customers/{c['id']}", f"/customers/{c['id']}/timeline",
                 f"/entries/{e['id']}", f"/entries/{e['id']}/attachments/0",
                 "/customers/does-not-exist"]:
        status, body = await other.get(path)
        assert status == 404, path
        assert_error(body, "not_found")
    status, body = await other.post(f"/customers/{c['id']}/entries",
                                    json={"kind": "note", "body": "x"})
    assert status == 404
    _, own = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert len(own["items"]) == 1


@pytest.mark.parametrize("payload,content_type", [
    (b"{not json", "application/json"),
    (b"", "application/json"),
    (b"[1,2,3]", "application/json"),
    (b'{"name": 5}', "application/json"),
    (b'{"name": "x", "unknown": 1}', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b'{"name": "' + b"x" * 400 + b'"}', "application/json"),
], ids=["malformed", "empty", "array", "wrong-type", "unknown-field", "binary", "too-long"])
async def test_bad_json_bodies_are_400(hub: Hub, payload: bytes, content_type: str) -> None:
    status, body = await hub.agent.post("/customers", data=payload,
                                        headers={"Content-Type": content_type})
    assert status == 400
    assert_error(body)


@pytest.mark.parametrize(("payload", "content_type"), [
    (b"\xef\xbb\xbf" + '{"name": "Jörg Müller"}'.encode(), "application/json"),  # UTF-8 BOM
    ('{"name": "Jörg Müller"}'.encode("utf-16"), "application/json"),  # UTF-16, its BOM
    ('{"name": "Jörg Müller"}'.encode("latin-1"), "application/json; charset=iso-8859-1"),
    ('{"name": "Jörg Müller"}'.encode("cp1252"), "application/json; charset=windows-1252"),
], ids=["utf8-bom", "utf16-bom", "latin1-declared", "cp1252-declared"])
async def test_json_as_windows_tools_send_it(hub: Hub, payload: bytes, content_type: str
                                            ) -> None:
    status, body = await hub.agent.post("/customers", data=payload,
                                        headers={"Content-Type": content_type})
    assert status == 201, body
    assert body["name"] == "Jörg Müller"


@pytest.mark.parametrize(("payload", "content_type", "says"), [
    ('{"name": "Jörg"}'.encode("latin-1"), "application/json", "not UTF-8"),
    (b'{"name": "x"}', "application/json; charset=klingon", "unknown charset"),
], ids=["latin1-undeclared", "unknown-charset"])
async def test_json_in_an_unsaid_or_unknown_charset_is_400(hub: Hub, payload: bytes,
                                                          content_type: str, says: str) -> None:
    status, body = await hub.agent.post("/customers", data=payload,
                                        headers={"Content-Type": content_type})
    assert status == 400 and body["error"]["code"] == "invalid_json"
    assert says in body["error"]["message"]


async def test_bad_entry_bodies(hub: Hub) -> None:
    c = await make_customer(hub)
    url = f"/customers/{c['id']}/entries"
    for payload in [{"kind": "fax", "body": "x"}, {"kind": "note"},
                    {"kind": "note", "body": "x", "visibility": "secret"},
                    {"kind": "note", "body": "x", "occurred_at": "yesterday"},
                    {"kind": "note", "body": "x", "occurred_at": "2026-01-01T10:00:00"}]:
        status, body = await hub.agent.post(url, json=payload)
        assert status == 400, payload
        assert_error(body)


async def test_unknown_route_and_method_are_json(hub: Hub) -> None:
    status, body = await hub.agent.get("/nope")
    assert status == 404
    assert_error(body)
    status, body = await hub.agent.call("DELETE", "/customers")
    assert status == 405
    assert_error(body)


async def test_bad_query_parameters(hub: Hub) -> None:
    c = await make_customer(hub)
    for path in [f"/customers/{c['id']}/timeline?limit=0",
                 f"/customers/{c['id']}/timeline?limit=abc",
                 f"/customers/{c['id']}/timeline?since=soon",
                 "/customers?limit=100000", "/customers?status=vip",
                 "/search?q=a&order=random", "/search?q=a&cursor=zzz&order=relevance"]:
        status, body = await hub.agent.get(path)
        assert status == 400, path
        assert_error(body)


async def test_a_nul_character_in_the_url_is_400_on_every_store(hub: Hub) -> None:
    """No id, word or filter holds U+0000 (PostgreSQL's text cannot): refused as such
    instead of a 404 on one store and a 500 on the other."""
    c = await make_customer(hub)
    for path in ["/customers/%00abc", f"/customers/{c['id']}%00/timeline",
                 f"/customers/{c['id']}/timeline?kind=a%00b", "/lookup?email=a%00b@kunde.test",
                 "/search?q=K%00ndigung", "/entries/%00x"]:
        status, body = await hub.agent.get(path)
        assert status == 400, path
        assert_error(body, "invalid_input")
    status, _ = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert status == 200


async def test_health_is_public(hub: Hub) -> None:
    status, body = await hub.anon.get("/health")
    assert status == 200 and body["status"] == "ok"


def _spec_paths(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


def _router_paths(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if path.startswith("/api/v1") and route.method != "HEAD":
            out.add((route.method, path))
    return out


async def test_openapi_matches_the_real_routes(hub: Hub, settings: Settings) -> None:
    status, spec = await hub.anon.get("/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    app = create_app(settings)
    assert _spec_paths(spec) == _router_paths(app)
    for path, ops in spec["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (path, declared)
            assert "operationId" in op and op["responses"]


def test_every_operation_has_a_unique_id() -> None:
    ids = [op.operation_id for op in OPERATIONS]
    assert len(ids) == len(set(ids))


async def test_the_reference_page_shows_every_operation_and_schema(hub: Hub) -> None:
    """``/api/v1/docs``: the OpenAPI document as a page, public, without a script; every
    operation has its section and every schema link lands on a schema."""
    _, doc = await hub.anon.get("/openapi.json")
    async with ClientSession() as http, http.get(hub.server.make_url("/api/v1/docs")) as r:
        assert r.status == 200 and r.content_type == "text/html"
        page = await r.text()
    assert "<script" not in page
    for methods in doc["paths"].values():
        for op in methods.values():
            assert f'id="op-{op["operationId"]}"' in page, op["operationId"]
    linked = set(re.findall(r'href="#schema-(\w+)"', page))
    shown = set(re.findall(r'id="schema-(\w+)"', page))
    assert linked and linked <= shown == set(doc["components"]["schemas"])
    assert "<code>GET /api/v1/search</code>" in page
