"""HTTP as integrators' clients speak it: cursors that are not a next_cursor, the 401
challenge, HEAD on every read."""

from __future__ import annotations

import pytest
from aiohttp import ClientSession

from tests.api.test_customers_entries import make_customer
from tests.api.test_errors_openapi import assert_error
from tests.conftest import Hub

ID_PAGED = ["/customers", "/notifications", "/quarantine", "/customers/{cid}/inbox"]


@pytest.mark.parametrize("path", ID_PAGED, ids=["customers", "notifications", "quarantine",
                                                  "inbox"])
@pytest.mark.parametrize("cursor", ["abc", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "1" * 26 + "x",
                                    "01m958k74ghhcc6nhcdwrkxy5e"],
                         ids=["word", "too-long", "ulid-plus-one", "lower-case"])
async def test_a_cursor_that_is_no_next_cursor_is_400(hub: Hub, path: str, cursor: str
                                                      ) -> None:
    c = await make_customer(hub)
    status, body = await hub.admin.get(path.format(cid=c["id"]), params={"cursor": cursor})
    assert status == 400, body
    assert_error(body, "invalid_cursor")


@pytest.mark.parametrize("cursor", ["abc", "-1", "9" * 20, "١٢٣"],
                         ids=["word", "negative", "too-big", "arabic-digits"])
async def test_a_timeline_cursor_that_is_no_next_cursor_is_400(hub: Hub, cursor: str) -> None:
    """The timeline is paged by entry key: the same ``invalid_cursor`` as every list."""
    c = await make_customer(hub)
    status, body = await hub.agent.get(f"/customers/{c['id']}/timeline",
                                       params={"cursor": cursor})
    assert status == 400, body
    assert_error(body, "invalid_cursor")


async def test_customer_pages_follow_next_cursor_to_the_end(hub: Hub) -> None:
    for n in range(5):
        await make_customer(hub, name=f"Kunde {n}")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        status, page = await hub.agent.get("/customers", params={
            "limit": "2", **({"cursor": cursor} if cursor else {})})
        assert status == 200
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 5


async def test_401_says_how_to_authenticate(hub: Hub) -> None:
    async with hub.anon.session.get(hub.anon.base + "/customers") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="chronik"'
        assert_error(await resp.json(), "unauthorized")
    async with hub.anon.session.get(hub.anon.base + "/customers",
                                    headers={"Authorization": "Bearer chk_revoked"}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == \
            'Bearer realm="chronik", error="invalid_token"'
    async with hub.anon.session.get(hub.anon.base + "/portal/messages") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer ")


async def test_head_answers_like_get_without_a_body(hub: Hub) -> None:
    c = await make_customer(hub)
    for path in ["/customers", f"/customers/{c['id']}", f"/customers/{c['id']}/timeline",
                 "/health", "/openapi.json"]:
        async with hub.admin.session.get(hub.admin.base + path,
                                         headers=hub.admin._headers(None)) as got:
            assert got.status == 200
        async with hub.admin.session.head(hub.admin.base + path,
                                          headers=hub.admin._headers(None)) as head:
            assert head.status == 200, path
            assert head.headers["Content-Type"] == got.headers["Content-Type"]
            assert await head.read() == b""
    async with hub.admin.session.head(hub.admin.base + "/customers/nope",
                                      headers=hub.admin._headers(None)) as head:
        assert head.status == 404
    async with hub.admin.session.head(hub.admin.base + "/customers") as head:
        assert head.status == 401
        assert "WWW-Authenticate" in head.headers
    async with hub.admin.session.delete(hub.admin.base + "/customers",
                                        headers=hub.admin._headers(None)) as resp:
        assert resp.status == 405
        assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}


async def test_reads_have_an_etag_and_answer_304_when_unchanged(hub: Hub) -> None:
    c = await make_customer(hub)
    url = f"{hub.agent.base}/customers/{c['id']}"
    auth = hub.agent._headers(None)
    async with hub.agent.session.get(url, headers=auth) as resp:
        assert resp.status == 200
        etag = resp.headers["ETag"]
        assert resp.headers["Cache-Control"] == "private, no-cache"  # no shared cache
        assert "Authorization" in resp.headers["Vary"]
    for sent in (etag, f'"x", {etag}', etag.removeprefix("W/"), "*"):
        async with hub.agent.session.get(url, headers={**auth, "If-None-Match": sent}) as resp:
            assert resp.status == 304, sent
            assert resp.headers["ETag"] == etag
            assert await resp.read() == b""
    status, _ = await hub.agent.call("PATCH", f"/customers/{c['id']}", json={"name": "Neu"})
    assert status == 200
    async with hub.agent.session.get(url, headers={**auth, "If-None-Match": etag}) as resp:
        assert resp.status == 200  # changed: the new body, a new tag
        assert (await resp.json())["name"] == "Neu"
        assert resp.headers["ETag"] != etag
    async with hub.agent.session.post(hub.agent.base + "/customers", headers=auth,
                                      json={"name": "Neue Kundin"}) as resp:
        assert resp.status == 201
        assert resp.headers["Cache-Control"] == "no-store"
        assert "ETag" not in resp.headers
    # another agent's answer is never someone else's cached copy: the tag is of the body
    async with hub.agent.session.get(hub.agent.base + "/me", headers=auth) as me:
        mine = me.headers["ETag"]
    async with hub.admin.session.get(hub.admin.base + "/me", headers={
            **hub.admin._headers(None), "If-None-Match": mine}) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(("payload", "content_type"), [
    ("name=Erika+Mustermann", "application/x-www-form-urlencoded"),
    ('--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nErika\r\n--b--\r\n',
     "multipart/form-data; boundary=b"),
], ids=["urlencoded", "multipart"])
async def test_a_form_body_where_json_is_expected_is_415_saying_so(
        hub: Hub, payload: str, content_type: str) -> None:
    status, body = await hub.agent.post("/customers", data=payload.encode(),
                                        headers={"Content-Type": content_type})
    assert status == 415
    assert_error(body, "unsupported_media_type")
    assert "application/json" in body["error"]["message"]
    status, spec = await hub.anon.get("/openapi.json")
    assert "415" in spec["paths"]["/api/v1/customers"]["post"]["responses"]


async def test_json_labelled_as_a_form_as_curl_d_sends_it_still_works(hub: Hub) -> None:
    status, body = await hub.agent.post("/customers", data=b'{"name": "Erika"}', headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 201 and body["name"] == "Erika"


async def test_patch_never_sets_or_clears_merged(hub: Hub) -> None:
    a = await make_customer(hub, name="Erika Doppelt", emails=["erika2@example.de"])
    b = await make_customer(hub, name="Erika Mustermann")
    status, body = await hub.agent.call("PATCH", f"/customers/{a['id']}",
                                        json={"status": "merged"})
    assert status == 400, body  # a merge leaves that state behind, with its target
    assert_error(body, "invalid_input")
    _, got = await hub.agent.get(f"/customers/{a['id']}")
    assert got["status"] == "active"
    status, merge = await hub.agent.post(f"/customers/{a['id']}/merge", json={"into": b["id"]})
    assert status == 201, merge
    status, body = await hub.agent.call("PATCH", f"/customers/{a['id']}",
                                        json={"status": "active"})
    assert status == 409, body  # undo the merge instead
    assert_error(body, "conflict")
    _, got = await hub.agent.get(f"/customers/{a['id']}")
    assert got["status"] == "merged"
    status, undone = await hub.agent.post(f"/merges/{merge['id']}/undo")
    assert status == 200, undone
    status, body = await hub.agent.call("PATCH", f"/customers/{a['id']}",
                                        json={"status": "unverified"})
    assert status == 200 and body["status"] == "unverified"


async def test_openapi_names_the_entry_kinds_a_client_may_write(hub: Hub) -> None:
    _, spec = await hub.anon.get("/openapi.json")
    kind = spec["components"]["schemas"]["EntryIn"]["properties"]["kind"]
    assert set(kind["enum"]) == {"note", "phone_note", "document", "reply"}
    c = await make_customer(hub)
    for value in ("note", "phone_note"):  # (a document needs a file, a reply a channel)
        status, body = await hub.agent.post(f"/customers/{c['id']}/entries", json={
            "kind": value, "body": "x", "visibility": "internal"})
        assert status == 201, (value, body)


async def test_options_names_the_allowed_methods(hub: Hub) -> None:
    c = await make_customer(hub)
    for path, allowed in [("/customers", {"GET", "HEAD", "POST", "OPTIONS"}),
                          (f"/customers/{c['id']}", {"GET", "HEAD", "PATCH", "DELETE",
                                                     "OPTIONS"}),
                          ("/events", {"GET", "OPTIONS"})]:
        async with hub.anon.session.options(hub.anon.base + path) as resp:
            assert resp.status == 204, path
            assert set(resp.headers["Allow"].split(",")) == allowed, path
    async with hub.anon.session.options(hub.anon.base + "/no-such-thing") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("name", ["!!", "–", "%FF%FE"], ids=["punctuation", "dash",
                                                             "not-utf8"])
async def test_a_name_filter_without_words_is_400_not_every_customer(hub: Hub, name: str
                                                                     ) -> None:
    await make_customer(hub, name="Erika Mustermann")
    await make_customer(hub, name="Max Muster")
    url = f"{hub.agent.base}/customers?name={name}"  # as a client sends it, unencoded
    async with hub.agent.session.get(url, headers=hub.agent._headers(None)) as resp:
        body = await resp.json()
        assert resp.status == 400, body  # a sync that takes the first match took anyone
        assert_error(body, "invalid_input")
    status, page = await hub.agent.get("/customers", params={"name": "  "})
    assert status == 200 and len(page["items"]) == 2  # blank: no filter, as before


async def test_every_operation_documents_the_errors_any_request_can_meet(hub: Hub) -> None:
    _, spec = await hub.anon.get("/openapi.json")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "400" in op["responses"], (method, path)
            if op.get("security"):
                assert {"401", "503"} <= set(op["responses"]), (method, path)
    status, body = await hub.agent.get("/me", params={"x": "\x00"})
    assert status == 400  # what GET /me documents now
    assert_error(body, "invalid_input")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_match_its_content_encoding_is_400(hub: Hub, encoding: str
                                                                     ) -> None:
    status, body = await hub.agent.post("/customers", data=b'{"name": "Erika"}', headers={
        "Content-Type": "application/json", "Content-Encoding": encoding})
    assert status == 400, body  # it was a 500 "this is a bug"
    assert_error(body, "bad_request")
    assert "could not be read" in body["error"]["message"]
    # (a fresh connection: the server closes one whose body it could not read)
    async with ClientSession() as session, session.post(
            str(hub.server.make_url("/signin")), data=b"email=x", headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Encoding": encoding, "Accept": "text/html"}) as resp:
        assert resp.status == 400  # the pages: not a 500 page


async def test_a_gzip_body_is_read(hub: Hub) -> None:
    import gzip

    status, body = await hub.agent.post("/customers", data=gzip.compress(
        b'{"name": "Erika"}'), headers={"Content-Type": "application/json",
                                         "Content-Encoding": "gzip"})
    assert status == 201 and body["name"] == "Erika"


@pytest.mark.parametrize(("path", "query", "unknown"), [
    ("/customers", {"email": "erika@example.de"}, "email"),
    ("/customers", {"nmae": "Erika"}, "nmae"),
    ("/notifications", {"customer_id": "01M958K74GHHCC6NHCDWRKXY5E"}, "customer_id"),
    ("/customers/{cid}/timeline", {"since": "2025-01-01", "type": "note"}, "type"),
    ("/search", {"q": "Vertrag", "customer_id": "x"}, "customer_id"),
], ids=["email-filter", "typo", "customer-id", "type-for-kind", "search"])
async def test_an_unknown_query_parameter_is_400_not_ignored(
        hub: Hub, path: str, query: dict[str, str], unknown: str) -> None:
    c = await make_customer(hub, name="Erika Mustermann")
    await make_customer(hub, name="Max Muster")
    status, body = await hub.admin.get(path.format(cid=c["id"]), params=query)
    assert status == 400, body  # it answered every customer / the whole list
    assert_error(body, "unknown_parameter")
    assert body["error"]["details"]["unknown"] == [unknown]
    assert unknown in body["error"]["message"]


async def test_known_and_cache_buster_parameters_pass(hub: Hub) -> None:
    c = await make_customer(hub)
    status, page = await hub.agent.get("/customers", params={
        "name": "Erika", "limit": "5", "_": "1733476000000"})
    assert status == 200 and [x["id"] for x in page["items"]] == [c["id"]]
    status, _ = await hub.agent.get(f"/customers/{c['id']}/timeline", params=[
        ("channel", "note"), ("channel", "email"), ("kind", "note")])
    assert status == 200
    status, body = await hub.anon.get("/customers", params={"email": "x"})
    assert status == 401  # who asks comes first
    status, _ = await hub.agent.get(f"/customers/{c['id']}", params={"expand": "x"})
    assert status == 200  # not a list: nothing to filter wrongly
    status, _ = await hub.agent.get("/lookup", params={"phone": "0171 1234567",
                                                       "call_id": "a1"})
    assert status == 200  # a PBX's lookup template adds its own


async def test_a_token_of_bytes_that_are_not_utf8_is_401(hub: Hub) -> None:
    import asyncio

    host, port = hub.server.host, hub.server.port
    for path in ("/api/v1/me", "/api/v1/portal/messages"):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
                     + b"Authorization: Bearer \xff\xfe\xc3\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 401"), (path, answer[:200])  # was a 500
        assert b'"unauthorized"' in answer


async def test_a_session_cookie_of_bytes_that_are_not_utf8_is_no_session(hub: Hub) -> None:
    import asyncio

    host, port = hub.server.host, hub.server.port
    for path, expected in (("/api/v1/me", b"HTTP/1.1 401"), ("/", b"HTTP/1.1 30")):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
                     + b"Cookie: chronik_session=\xff\xfe\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
        assert answer.startswith(expected), (path, answer[:200])  # was a 500


async def test_openapi_names_the_kinds_a_publish_policy_takes(hub: Hub) -> None:
    _, spec = await hub.anon.get("/openapi.json")
    names = spec["components"]["schemas"]["PolicyIn"]["propertyNames"]["enum"]
    assert set(names) == {"note", "phone_note", "document"}
    status, body = await hub.agent.put("/policy/agent", json={
        name: {"visibility": "internal", "notify": False} for name in names})
    assert status == 200, body
    status, body = await hub.agent.put("/policy/agent", json={"email": None})
    assert status == 400  # what the document now says
