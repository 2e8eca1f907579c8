"""Fast JSON for the hot read paths (timeline, lookup, search): plain dicts and orjson
(which writes enum members as their values and tuples as arrays, so neither is converted
here).

The documented shapes are the pydantic models in ``schemas.py`` (OpenAPI); a test checks that
these functions produce exactly what those models would."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from timeline.models import Customer, Entry


def entry_json(e: Entry) -> dict[str, Any]:
    return {
        "id": e.id, "customer_id": e.customer_id, "channel": e.channel,
        "direction": e.direction, "kind": e.kind, "author": e.author,
        "visibility": e.visibility, "notify": e.notify,
        "occurred_at": e.occurred_at, "recorded_at": e.recorded_at,
        "subject": e.subject, "body": e.body, "html": e.html,
        "attachments": [{"index": i, "name": a.name, "content_type": a.content_type,
                         "size": a.size, "sha256": a.sha256,
                         "url": f"/api/v1/entries/{e.id}/attachments/{i}"}
                        for i, a in enumerate(e.attachments)] if e.attachments else [],
        "tags": e.tags, "source_id": e.source_id, "meta": e.meta,
    }


def customer_json(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id, "name": c.name, "status": c.status,
        "identities": [{"kind": i.kind, "value": i.value, "raw": i.raw,
                        "undeliverable": i.undeliverable} for i in c.identities],
        "created_at": c.created_at, "updated_at": c.updated_at,
    }


def dumps(data: Any) -> bytes:
    """orjson: datetimes as RFC 3339 (UTC as ``Z``), exactly like pydantic's JSON."""
    return orjson.dumps(data, option=orjson.OPT_UTC_Z)


def json_response(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type="application/json")
