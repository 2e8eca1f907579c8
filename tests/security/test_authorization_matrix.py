"""The authorisation matrix: EVERY route of the app (API operations and pages; a route
missing from ``MATRIX`` fails the test) × every kind of caller → the expected outcome.

Callers: nobody (``anon``), an agent and an admin of office A, an admin of office B, the
portal customer whose objects the paths name, another portal customer of office A, and the
agent's browser session without its CSRF token. The objects in the paths (customer, entry,
quarantine item, notification job, …) all belong to office A; office B's admin must get 404
for them (their existence is never revealed).

Outcomes: ``ok`` — past authorisation (2xx, a 3xx that is not to a sign-in page, or a 4xx
about the input such as 400/409/413/415); ``401``; ``403``; ``404``; ``in`` — 303 to the
console's sign-in; ``pin`` — 303 to the portal's sign-in; ``405``. A 5xx is always a failure.
API calls carry a bearer token (agents: ``chk_…``, portal customers: ``cpt_…``); pages the
session cookie (and the CSRF token as form field and header, except for ``nocsrf``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession, FormData
from aiohttp.test_utils import TestServer

from chronik.api.base import hash_token, new_token
from chronik.app import create_app
from chronik.settings import Settings
from chronik.state import STATE, AppState
from chronik.web.auth import session_hash
from timeline.accounts import WebSession
from timeline.models import IdentityKind, Role, utcnow

pytestmark = pytest.mark.asyncio(loop_scope="module")  # one shared world (see ``world``)

CALLERS = ("anon", "agent", "admin", "other_admin", "portal", "other_portal", "nocsrf")
OBSERVE = os.environ.get("CHRONIK_MATRIX_OBSERVE") == "1"
"""``CHRONIK_MATRIX_OBSERVE=1 pytest -s tests/security/test_authorization_matrix.py``
prints each route's row as observed: a starting point for a new route's row (check it!)."""


@dataclass
class World:
    server: TestServer
    state: AppState
    base: str
    http: ClientSession
    bearer: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """caller -> (cookie name, raw session id, csrf token)"""
    ids: dict[str, str] = field(default_factory=dict)


async def _session(state: AppState, audience: str, office_id: str, subject_id: str
                   ) -> tuple[str, str]:
    raw, csrf = os.urandom(16).hex(), os.urandom(12).hex()
    now = utcnow()
    await state.store.create_web_session(WebSession(
        id_hash=session_hash(raw), audience=audience,  # type: ignore[arg-type]
        office_id=office_id, subject_id=subject_id, csrf=csrf, created_at=now,
        expires_at=now + timedelta(hours=1)))
    return raw, csrf


async def build_world(data_dir: Path) -> World:
    settings = Settings(data_dir=data_dir, http_port=0, max_upload_bytes=256 * 1024)
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state = app[STATE]
    store = state.store
    a = await store.create_office("Büro A", "DE")
    b = await store.create_office("Büro B", "DE")
    tokens = {"admin": new_token(), "agent": new_token(), "other_admin": new_token()}
    admin = await store.create_agent(a.id, "Anna Admin", Role.ADMIN, hash_token(tokens["admin"]))
    agent = await store.create_agent(a.id, "Tom Agent", Role.AGENT, hash_token(tokens["agent"]))
    other = await store.create_agent(b.id, "Otto Other", Role.ADMIN,
                                     hash_token(tokens["other_admin"]))
    world = World(server=server, state=state, base=str(server.make_url("")).rstrip("/"),
                  http=ClientSession(), bearer=dict(tokens))
    timeline = state.timeline
    c1 = await timeline.create_customer(a, "Erika Mustermann", [
        (IdentityKind.EMAIL, "erika@example.de"), (IdentityKind.PHONE, "0171 1234567")])
    c2 = await timeline.create_customer(a, "Max Muster", [(IdentityKind.EMAIL, "max@example.de")])
    victim = await timeline.create_customer(a, "Doppelt Erika", [])
    undo = await timeline.create_customer(a, "Noch einmal Erika", [])
    api = world.base + "/api/v1"
    auth = {"Authorization": f"Bearer {tokens['admin']}"}

    async def call(method: str, path: str, headers: dict[str, str] | None = None,
                   **kw: Any) -> Any:
        async with world.http.request(method, api + path, headers=headers or auth,
                                      **kw) as resp:
            body = await resp.json()
            assert resp.status in (200, 201, 202), (path, resp.status, body)
            return body

    form = FormData()
    form.add_field("kind", "document")
    form.add_field("notify", "false")
    form.add_field("visibility", "published")
    form.add_field("file", b"%PDF-1.4 Police", filename="police.pdf",
                   content_type="application/pdf")
    entry = await call("POST", f"/customers/{c1.id}/entries", data=form)
    await call("POST", f"/customers/{c1.id}/entries", json={
        "kind": "note", "body": "Ihr Vertrag ist verlängert.", "visibility": "published",
        "notify": True})
    merge = await call("POST", f"/customers/{undo.id}/merge", json={"into": c1.id})
    for caller, customer in (("portal", c1), ("other_portal", c2)):
        got = await call("POST", f"/customers/{customer.id}/portal-token")
        world.bearer[caller] = got["token"]
    pform = FormData()
    pform.add_field("subject", "Frage")
    pform.add_field("body", "Anbei das Formular.")
    pform.add_field("file", b"%PDF-1.4 Formular", filename="formular.pdf",
                    content_type="application/pdf")
    message = await call("POST", "/portal/messages", data=pform,
                         headers={"Authorization": f"Bearer {world.bearer['portal']}"})
    inbox = await store.add_inbox_item(a.id, c1.id, entry["id"], "Neu", "Text", [])
    raw_sha = await state.blobs.put(b"not a mail at all")
    quarantined = await store.add_quarantine(a.id, "email", "unparseable", "test", raw_sha, 17)
    jobs = await call("GET", "/notifications?limit=5")
    office = await call("GET", "/office")
    await call("POST", "/office/inbound-addresses", json={"address": "service@buero-a.de"})
    from chronik import privacy  # a finished export of c1, provided in c1's portal
    service = await privacy.service(state)
    export = await call("POST", f"/customers/{c1.id}/export")
    await service.wait_exports()
    record = await service.current_export(a, export["id"])
    assert record is not None
    copy = await service.provide_export(a, admin, record, subject="Kopie", body="Kopie")
    world.ids.update({
        "customer_id": c1.id, "export_id": export["id"], "copy_id": copy.id,
        "id": c1.id, "customer": c1.id, "victim": victim.id, "entry_id": entry["id"],
        "index": "0", "merge": merge["id"], "merge_id": merge["id"],
        "message_id": message["id"], "inbox": inbox.id, "quarantine": quarantined.id,
        "item_id": quarantined.id, "job": jobs["items"][0]["id"] if jobs["items"] else "x",
        "job_id": jobs["items"][0]["id"] if jobs["items"] else "x",
        "kind": "email", "value": "erika@example.de", "address": "service@buero-a.de",
        "agent_id": agent.id, "token": office["cti_url_path"].rsplit("/", 1)[1],
        "secret": "not-the-secret",
    })
    for caller, audience, office_id, subject in (
            ("agent", "agent", a.id, agent.id), ("admin", "agent", a.id, admin.id),
            ("other_admin", "agent", b.id, other.id), ("portal", "portal", a.id, c1.id),
            ("other_portal", "portal", a.id, c2.id), ("nocsrf", "agent", a.id, agent.id)):
        raw, csrf = await _session(state, audience, office_id, subject)
        name = "chronik_session" if audience == "agent" else "chronik_portal"
        world.cookies[caller] = (name, raw, csrf)
    return world


async def close_world(world: World) -> None:
    await world.http.close()
    await world.server.close()


@dataclass(frozen=True)
class Pristine:
    """A world built once and stopped: its data folder and what callers hold (tokens,
    session cookies, object ids). Every route that uses its object up gets a copy of the
    folder, served afresh -- the same world as a new ``build_world``, without building."""

    data_dir: Path
    bearer: dict[str, str]
    cookies: dict[str, tuple[str, str, str]]
    ids: dict[str, str]

    @classmethod
    async def build(cls, data_dir: Path) -> Pristine:
        world = await build_world(data_dir)
        await close_world(world)
        return cls(data_dir, dict(world.bearer), dict(world.cookies), dict(world.ids))

    async def copy(self, data_dir: Path) -> World:
        await asyncio.to_thread(shutil.copytree, self.data_dir, data_dir)
        settings = Settings(data_dir=data_dir, http_port=0, max_upload_bytes=256 * 1024)
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        return World(server=server, state=app[STATE], base=str(server.make_url("")).rstrip("/"),
                     http=ClientSession(), bearer=dict(self.bearer), cookies=dict(self.cookies),
                     ids=dict(self.ids))


# ------------------------------------------------------------------ requests
_ID_BY_PREFIX = (("/api/v1/merges/", "merge"), ("/api/v1/quarantine/", "quarantine"),
                 ("/api/v1/notifications/", "job"), ("/api/v1/portal/inbox/", "inbox"))

API_BODIES: dict[str, Any] = {
    "POST /api/v1/customers": {"name": "Neu Kunde"},
    "PATCH /api/v1/customers/{id}": {"name": "Erika M."},
    "POST /api/v1/customers/{id}/entries": {"kind": "note", "body": "intern",
                                            "visibility": "internal"},
    "POST /api/v1/customers/{id}/identities": {"kind": "email", "value": "e2@example.de"},
    "POST /api/v1/customers/{id}/merge": {"into": "{customer}"},
    "POST /api/v1/entries/{entry_id}/move": {"customer_id": "{victim}"},
    "PUT /api/v1/customers/{id}/preferences": {},
    "POST /api/v1/customers/{id}/telegram-link": {},
    "POST /api/v1/office/inbound-addresses": {"address": "neu@buero-a.de"},
    "PUT /api/v1/office/privacy": {"erased_sender": None},
    "PUT /api/v1/policy/agent": {},
    "PUT /api/v1/policy/office": {},
    "POST /api/v1/portal/messages": {"subject": "Frage", "body": "Noch eine Frage."},
    "POST /api/v1/quarantine/{id}/reprocess": {"customer_id": "{customer}"},
    "POST /api/v1/cti/{token}": {"event": "newCall", "callId": "m1", "from": "491711234567",
                                 "to": "4921112345670", "direction": "in"},
    "POST /api/v1/telegram/webhook/{secret}": {},
    "PUT /api/v1/tone": {"words": []},
    "POST /api/v1/tone/check": {"text": "Guten Tag", "customer_id": "{customer}"},
}
PAGE_FORMS: dict[str, dict[str, str]] = {
    "POST /customers": {"name": "Neu Kunde"},
    "POST /customers/{id}/entries": {"kind": "note", "body": "intern",
                                     "visibility": "internal"},
    "POST /customers/{id}/identities": {"kind": "email", "value": "e2@example.de"},
    "POST /customers/{id}/identities/remove": {"kind": "email", "value": "erika@example.de"},
    "POST /customers/{id}/merge": {"into": "{customer}"},
    "POST /entries/{entry_id}/move": {"to": "{victim}"},
    "POST /customers/{id}/update": {"name": "Erika M."},
    "POST /identities/attach": {"customer_id": "{customer}", "email": "e3@example.de"},
    "POST /admin/office/addresses": {"address": "neu@buero-a.de"},
    "POST /admin/office/addresses/remove": {"address": "service@buero-a.de"},
    "POST /admin/quarantine/{item_id}/reprocess": {"customer": "{customer}"},
    "POST /portal/write": {"subject": "Frage", "body": "Noch eine Frage."},
}
# A wrong confirmation: past the lookup of the customer, but nothing is erased.
QUERIES = {"DELETE /api/v1/customers/{id}": "?confirm=not-the-token"}
# Routes whose success uses their object up: every caller gets a world of its own.
CONSUMING = {
    "DELETE /api/v1/customers/{id}/identities/{kind}/{value}",
    "POST /api/v1/customers/{id}/merge", "POST /api/v1/merges/{id}/undo",
    "POST /api/v1/entries/{entry_id}/move", "POST /api/v1/quarantine/{id}/discard",
    "POST /api/v1/quarantine/{id}/reprocess",
    "DELETE /api/v1/office/inbound-addresses/{address}",
    "POST /customers/{id}/identities/remove", "POST /customers/{id}/merge",
    "POST /entries/{entry_id}/move",
    "POST /merges/{merge_id}/undo", "POST /admin/quarantine/{item_id}/discard",
    "POST /admin/quarantine/{item_id}/reprocess", "POST /admin/office/addresses/remove",
    "POST /admin/agents/{agent_id}/sessions/end", "POST /admin/agents/{agent_id}/tokens/revoke",
    "POST /signout", "POST /portal/signout",
}


def _fill(template: str, world: World, key: str) -> str:
    values = dict(world.ids)
    for prefix, name in _ID_BY_PREFIX:
        if template.startswith(prefix):
            values["id"] = world.ids[name]
    if key.endswith("/customers/{id}/merge"):
        values["id"] = world.ids["victim"]  # merged into the customer everyone else uses
    return template.format(**values)


def _fill_body(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return value.format(**world.ids)
    if isinstance(value, dict):
        return {k: _fill_body(v, world) for k, v in value.items()}
    return value


def classify(status: int, location: str) -> str:
    if status >= 500:
        return f"BUG {status}"
    if status in (301, 302, 303, 307, 308):
        path = location.split("?", 1)[0]
        if path.startswith("/portal/signin"):
            return "pin"
        if path.startswith("/signin"):
            return "in"
        return "ok"
    if status in (401, 403, 404, 405):
        return str(status)
    return "ok"


async def request_as(world: World, caller: str, method: str, template: str) -> str:
    key = f"{method} {template}"
    path = _fill(template, world, key) + QUERIES.get(key, "")
    headers: dict[str, str] = {}
    kw: dict[str, Any] = {}
    unsafe = method not in ("GET", "HEAD")
    if template.startswith("/api/v1/"):
        if caller == "nocsrf":
            name, raw, _ = world.cookies[caller]
            headers["Cookie"] = f"{name}={raw}"
        elif caller != "anon":
            headers["Authorization"] = f"Bearer {world.bearer[caller]}"
        if unsafe and key in API_BODIES:
            kw["json"] = _fill_body(API_BODIES[key], world)
    else:
        form: dict[str, str] = dict(_fill_body(PAGE_FORMS.get(key, {}), world))
        if caller != "anon":
            name, raw, csrf = world.cookies[caller]
            headers["Cookie"] = f"{name}={raw}"
            if unsafe and caller != "nocsrf":
                headers["X-CSRF-Token"] = csrf
                form["csrf"] = csrf
        if unsafe:
            kw["data"] = form
    async with world.http.request(method, world.base + path, headers=headers,
                                  allow_redirects=False, **kw) as resp:
        if resp.content_type != "text/event-stream":  # a live stream never ends
            await resp.read()
        return classify(resp.status, resp.headers.get("Location", ""))


# ------------------------------------------------------------------ the table
def _app_routes() -> tuple[list[str], set[str]]:
    """Every (method, path) of the app but HEAD, and the paths that answer HEAD too."""
    app = create_app(Settings(data_dir=Path("unused-data-dir"), http_port=0))
    found, head = set(), set()
    for route in app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD":
            head.add(info)
        else:
            found.add(f"{route.method} {info}")
    return sorted(found), head


ROUTES, HEAD_PATHS = _app_routes()
E = dict[str, str]


def row(spec: str) -> E:
    values = spec.split()
    assert len(values) == len(CALLERS), spec
    return dict(zip(CALLERS, values, strict=True))


# Columns: anon agent admin other_admin portal other_portal nocsrf (see the module docstring).
MATRIX: dict[str, str] = {
    'GET /admin/customers/{customer_id}/erase':
        "in   403  ok   404  in   in   403",
    'POST /admin/customers/{customer_id}/erase':
        "401  403  ok   404  401  401  403",
    'POST /admin/customers/{customer_id}/export':
        "401  403  ok   404  401  401  403",
    'POST /admin/exports/{export_id}/provide':
        "401  403  ok   404  401  401  403",
    'GET /portal/data/copies/{copy_id}':
        "pin  pin  pin  pin  ok   404  pin",
    'DELETE /api/v1/customers/{id}':
        "401  403  ok   404  401  401  403",
    'DELETE /api/v1/customers/{id}/identities/{kind}/{value}':
        "401  ok   ok   404  401  401  403",
    'DELETE /api/v1/office/inbound-addresses/{address}':
        "401  403  ok   404  401  401  403",
    'DELETE /api/v1/retention-rules/{kind}':
        "401  403  404  404  401  401  403",
    'GET /':
        "in   ok   ok   ok   in   in   ok",
    'GET /admin':
        "in   403  ok   ok   in   in   403",
    'GET /admin/agents':
        "in   403  ok   ok   in   in   403",
    'GET /admin/agents/{agent_id}':
        "in   403  ok   404  in   in   403",
    'GET /admin/connectors':
        "in   403  ok   ok   in   in   403",
    'GET /admin/data-requests':
        "in   403  ok   ok   in   in   403",
    'GET /admin/dead-letters':
        "in   403  ok   ok   in   in   403",
    'GET /admin/office':
        "in   403  ok   ok   in   in   403",
    'GET /admin/policy':
        "in   403  ok   ok   in   in   403",
    'GET /admin/quarantine':
        "in   403  ok   ok   in   in   403",
    'GET /admin/quarantine/{item_id}':
        "in   403  ok   404  in   in   403",
    'GET /admin/tone':
        "in   403  ok   ok   in   in   403",
    'GET /api/v1/connectors':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/customers':
        "401  ok   ok   ok   401  401  ok",
    'GET /api/v1/customers/{id}':
        "401  ok   ok   404  401  401  ok",
    'GET /api/v1/customers/{id}/erasure':
        "401  403  ok   404  401  401  403",
    'GET /api/v1/customers/{id}/inbox':
        "401  ok   ok   404  401  401  ok",
    'GET /api/v1/customers/{id}/preferences':
        "401  ok   ok   404  401  401  ok",
    'GET /api/v1/customers/{id}/timeline':
        "401  ok   ok   404  401  401  ok",
    'GET /api/v1/entries/{entry_id}':
        "401  ok   ok   404  401  401  ok",
    'GET /api/v1/entries/{entry_id}/attachments/{index}':
        "401  ok   ok   404  401  401  ok",
    'GET /api/v1/erasures':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/events':
        "401  ok   ok   ok   401  401  ok",
    'GET /api/v1/exports/{id}':
        "401  403  404  404  401  401  403",
    'GET /api/v1/exports/{id}/download':
        "401  403  404  404  401  401  403",
    'GET /api/v1/docs':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /api/v1/health':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /api/v1/lookup':
        "401  ok   ok   ok   401  401  ok",
    'GET /api/v1/waiting':
        "401  ok   ok   ok   401  401  ok",
    'GET /api/v1/me':
        "401  ok   ok   ok   401  401  ok",
    'GET /api/v1/notifications':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/office':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/office/privacy':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/openapi.json':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /api/v1/policy':
        "401  ok   ok   ok   401  401  ok",
    'GET /api/v1/portal/inbox':
        "401  401  401  401  ok   ok   401",
    'GET /api/v1/portal/messages':
        "401  401  401  401  ok   ok   401",
    'GET /api/v1/portal/messages/{message_id}/attachments/{index}':
        "401  401  401  401  ok   404  401",
    'GET /api/v1/privacy-log':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/quarantine':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/quarantine/{id}':
        "401  403  ok   404  401  401  403",
    'GET /api/v1/quarantine/{id}/raw':
        "401  403  ok   404  401  401  403",
    'GET /api/v1/ready':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /api/v1/retention-rules':
        "401  403  ok   ok   401  401  403",
    'GET /api/v1/search':
        "401  ok   ok   ok   401  401  ok",
    'GET /api/v1/tone':
        "401  ok   ok   ok   401  401  ok",
    'GET /calls/banner':
        "in   ok   ok   ok   in   in   ok",
    'GET /complaints':
        "in   ok   ok   ok   in   in   ok",
    'GET /waiting':
        "in   ok   ok   ok   in   in   ok",
    'GET /waiting/list':
        "in   ok   ok   ok   in   in   ok",
    'GET /customers/{id}':
        "in   ok   ok   404  in   in   ok",
    'GET /customers/{id}/entries':
        "in   ok   ok   404  in   in   ok",
    'GET /customers/{id}/items':
        "in   ok   ok   404  in   in   ok",
    'GET /customers/{id}/merge':
        "in   ok   ok   404  in   in   ok",
    'GET /customers/{id}/recipients':
        "in   ok   ok   404  in   in   ok",
    'GET /entries/{entry_id}/item':
        "in   ok   ok   404  in   in   ok",
    'GET /entries/{entry_id}/move':
        "in   ok   ok   404  in   in   ok",
    'GET /entries/{entry_id}/mail':
        "in   404  404  404  in   in   404",
    'GET /find':
        "in   ok   ok   ok   in   in   ok",
    'GET /healthz':
        "ok   ok   ok   ok   ok   ok   ok",
    # loopback peers only while CHRONIK_METRICS_TOKEN is unset (tests/ops/test_metrics.py)
    'GET /metrics':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /portal':
        "pin  pin  pin  pin  ok   ok   pin",
    'GET /portal/':
        "pin  pin  pin  pin  ok   ok   pin",
    'GET /portal/data':
        "pin  pin  pin  pin  ok   ok   pin",
    'GET /portal/entries/{entry_id}':
        "pin  pin  pin  pin  ok   404  pin",
    'GET /portal/entries/{entry_id}/attachments/{index}':
        "pin  pin  pin  pin  ok   404  pin",
    'GET /portal/preferences':
        "pin  pin  pin  pin  ok   ok   pin",
    'GET /portal/signin':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /portal/signin/code':
        "pin  pin  pin  pin  pin  pin  pin",
    'GET /portal/signin/link/{token}':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /portal/write':
        "pin  pin  pin  pin  ok   ok   pin",
    'GET /readyz':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /search':
        "in   ok   ok   ok   in   in   ok",
    'GET /settings':
        "in   ok   ok   ok   in   in   ok",
    'GET /settings/session':  # the sign-in's CSRF token for a page from an earlier one
        "in   ok   ok   ok   in   in   ok",
    'GET /signin':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /signin/link/{token}':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /static':
        "ok   ok   ok   ok   ok   ok   ok",
    'GET /unsubscribe/{token}':
        "ok   ok   ok   ok   ok   ok   ok",
    'PATCH /api/v1/customers/{id}':
        "401  ok   ok   404  401  401  403",
    'POST /admin/agents':
        "401  403  ok   ok   401  401  403",
    'POST /admin/agents/{agent_id}/email':
        "401  403  ok   404  401  401  403",
    'POST /admin/agents/{agent_id}/sessions/end':
        "401  403  ok   404  401  401  403",
    'POST /admin/agents/{agent_id}/signin-link':
        "401  403  ok   404  401  401  403",
    'POST /admin/agents/{agent_id}/token':
        "401  403  ok   404  401  401  403",
    'POST /admin/agents/{agent_id}/tokens/revoke':
        "401  403  404  404  401  401  403",
    'POST /admin/data-requests/{entry_id}/answered':
        "401  403  404  404  401  401  403",
    'POST /admin/data-requests/{entry_id}/export':
        "401  403  404  404  401  401  403",
    'POST /admin/dead-letters/{job_id}/retry':
        "401  403  ok   404  401  401  403",
    'POST /admin/office/addresses':
        "401  403  ok   ok   401  401  403",
    'POST /admin/office/addresses/remove':
        "401  403  ok   404  401  401  403",
    'POST /admin/office/privacy':
        "401  403  ok   ok   401  401  403",
    'POST /admin/policy':
        "401  403  ok   ok   401  401  403",
    'POST /admin/quarantine/{item_id}/discard':
        "401  403  ok   404  401  401  403",
    'POST /admin/quarantine/{item_id}/reprocess':
        "401  403  ok   404  401  401  403",
    'POST /admin/tone':
        "401  403  ok   ok   401  401  403",
    'POST /api/v1/cti/{token}':
        "ok   ok   ok   ok   ok   ok   ok",
    'POST /api/v1/customers':
        "401  ok   ok   ok   401  401  403",
    'POST /api/v1/customers/{id}/entries':
        "401  ok   ok   404  401  401  403",
    'POST /api/v1/customers/{id}/export':
        "401  403  ok   404  401  401  403",
    'POST /api/v1/customers/{id}/identities':
        "401  ok   ok   404  401  401  403",
    'POST /api/v1/customers/{id}/merge':
        "401  ok   ok   404  401  401  403",
    'POST /api/v1/customers/{id}/portal-token':
        "401  ok   ok   404  401  401  403",
    'POST /api/v1/customers/{id}/telegram-link':
        "401  ok   ok   404  401  401  403",
    'POST /api/v1/entries/{entry_id}/move':
        "401  ok   ok   404  401  401  403",
    'POST /api/v1/merges/{id}/undo':
        "401  ok   ok   404  401  401  403",
    'POST /api/v1/notifications/{id}/retry':
        "401  403  ok   404  401  401  403",
    'POST /api/v1/office/inbound-addresses':
        "401  403  ok   ok   401  401  403",
    'POST /api/v1/portal/inbox/{id}/read':
        "401  401  401  401  ok   404  401",
    'POST /api/v1/portal/messages':
        "401  401  401  401  ok   ok   401",
    'POST /api/v1/quarantine/{id}/discard':
        "401  403  ok   404  401  401  403",
    'POST /api/v1/quarantine/{id}/reprocess':
        "401  403  ok   404  401  401  403",
    'POST /api/v1/telegram/webhook/{secret}':
        "404  404  404  404  404  404  404",
    'POST /api/v1/tone/check':
        "401  ok   ok   404  401  401  403",
    'POST /customers':
        "401  ok   ok   ok   401  401  403",
    'POST /customers/{id}/entries':
        "401  ok   ok   404  401  401  403",
    'POST /customers/{id}/identities':
        "401  ok   ok   404  401  401  403",
    'POST /customers/{id}/identities/remove':
        "401  ok   ok   404  401  401  403",
    'POST /customers/{id}/merge':
        "401  ok   ok   404  401  401  403",
    'POST /customers/{id}/preferences':
        "401  ok   ok   404  401  401  403",
    'POST /customers/{id}/telegram-link':
        "401  ok   ok   404  401  401  403",
    'POST /customers/{id}/update':
        "401  ok   ok   404  401  401  403",
    'POST /entries/{entry_id}/complaint':
        "401  ok   ok   404  401  401  403",
    'POST /entries/{entry_id}/pin':
        "401  ok   ok   404  401  401  403",
    'POST /entries/{entry_id}/move':
        "401  ok   ok   404  401  401  403",
    'POST /entries/{entry_id}/no-reply':
        "401  ok   ok   404  401  401  403",
    'POST /identities/attach':
        "401  ok   ok   404  401  401  403",
    'POST /merges/{merge_id}/undo':
        "401  ok   ok   404  401  401  403",
    'POST /portal/data':
        "401  401  401  401  ok   ok   401",
    'POST /portal/language':
        "401  401  401  401  ok   ok   401",
    'POST /portal/preferences':
        "401  401  401  401  ok   ok   401",
    'POST /portal/preferences/automatic':
        "401  401  401  401  ok   ok   401",
    'POST /portal/preferences/telegram':
        "401  401  401  401  ok   ok   401",
    'POST /portal/signin':
        "403  403  403  403  403  403  403",
    'POST /portal/signin/code':
        "403  403  403  403  403  403  403",
    'POST /portal/signin/link/{token}':
        "403  403  403  403  403  403  403",
    'POST /portal/signout':  # (without a portal session: the "signed out" page)
        "pin  pin  pin  pin  pin  pin  pin",
    'POST /portal/write':
        "401  401  401  401  ok   ok   401",
    'POST /settings':
        "401  ok   ok   ok   401  401  403",
    'POST /settings/language':
        "401  ok   ok   ok   401  401  403",
    'POST /signin':
        "403  403  403  403  403  403  403",
    'POST /signin/link/{token}':
        "403  403  403  403  403  403  403",
    'POST /signout':
        "401  in   in   in   401  401  403",
    'POST /unsubscribe/{token}':
        "ok   ok   ok   ok   ok   ok   ok",
    'PUT /api/v1/customers/{id}/preferences':
        "401  ok   ok   404  401  401  403",
    'PUT /api/v1/office/privacy':
        "401  403  ok   ok   401  401  403",
    'PUT /api/v1/policy/agent':
        "401  ok   ok   ok   401  401  403",
    'PUT /api/v1/policy/office':
        "401  403  ok   ok   401  401  403",
    'PUT /api/v1/retention-rules/{kind}':
        "401  403  ok   ok   401  401  403",
    'PUT /api/v1/tone':
        "401  403  ok   ok   401  401  403",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """One world for every route that does not use its object up."""
    built = await build_world(tmp_path_factory.mktemp("matrix") / "data")
    yield built
    await close_world(built)


async def test_every_route_is_in_the_table() -> None:
    missing = [r for r in ROUTES if r not in MATRIX]
    stale = [r for r in MATRIX if r not in ROUTES]
    assert not missing and not stale, {"not in MATRIX": missing, "no such route": stale}


async def _observe(world: World, pristine: Pristine, route: str, tmp: Callable[[], Path]
                   ) -> dict[str, str]:
    method, template = route.split(" ", 1)
    has_head = method == "GET" and template in HEAD_PATHS
    if template == "/static":
        template = "/static/app.css"
    got: dict[str, str] = {}
    for caller in CALLERS:
        own = await pristine.copy(tmp()) if route in CONSUMING else world
        try:
            got[caller] = await request_as(own, caller, method, template)
            if has_head:  # HEAD answers like GET, without the body
                head = await request_as(own, caller, "HEAD", template)
                got[caller] += "" if head == got[caller] else f"/HEAD:{head}"
        finally:
            if own is not world:
                await close_world(own)
    return got


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    """The world every route that uses its object up starts from (a copy per caller)."""
    return await Pristine.build(tmp_path_factory.mktemp("pristine") / "data")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTES)
async def test_route(route: str, world: World, pristine: Pristine,
                     tmp_path_factory: pytest.TempPathFactory) -> None:
    got = await _observe(world, pristine, route,
                         lambda: tmp_path_factory.mktemp("own") / "data")
    if OBSERVE:  # CHRONIK_MATRIX_OBSERVE=1 pytest -s …: print the rows as they are now
        print(f"\nMATRIX-ROW {route!r}: {' '.join(got[c] for c in CALLERS)!r},")
    if route not in MATRIX:
        pytest.fail(f"{route} is not in MATRIX")
    assert got == row(MATRIX[route])
