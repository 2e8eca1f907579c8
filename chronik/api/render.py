"""Fast JSON for the hot read paths (timeline, lookup, search): plain dicts and orjson
(which writes enum members as their values and tuples as arrays, so neither is converted
here).

The documented shapes are the pydantic models in ``schemas.py`` (OpenAPI); a test checks that
these functions produce exactly what those models would."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from chronik.api.schemas import utc
from timeline.models import Customer, Entry


def entry_json(e: Entry) -> dict[str, Any]:
    """The entry's fields as they are (a copy of the model's own dict: 2.5x faster than
    naming each), minus the two that are not shown, attachments with their URLs, times in
    UTC."""
    out = e.__dict__.copy()
    del out["office_id"], out["seq"]
    out["occurred_at"], out["recorded_at"] = utc(e.occurred_at), utc(e.recorded_at)
    if e.attachments:
        out["attachments"] = [{"index": i, "name": a.name, "content_type": a.content_type,
                               "size": a.size, "sha256": a.sha256,
                               "url": f"/api/v1/entries/{e.id}/attachments/{i}"}
                              for i, a in enumerate(e.attachments)]
    return out


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
