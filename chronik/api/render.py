"""Fast JSON for the hot read paths (timeline, lookup, search): plain dicts and orjson
(which writes enum members as their values and tuples as arrays, so neither is converted
here).

The documented shapes are the pydantic models in ``schemas.py`` (OpenAPI); a test checks that
these functions produce exactly what those models would."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from timeline.models import Customer
from timeline.public import JSON_OPTIONS, public_entry

entry_json = public_entry
"""An entry as the API shows it (``timeline.public``: the store's own JSON of a timeline page
gives the same)."""


def customer_json(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id, "name": c.name, "status": c.status,
        "identities": [{"kind": i.kind, "value": i.value, "raw": i.raw,
                        "undeliverable": i.undeliverable} for i in c.identities],
        "created_at": c.created_at, "updated_at": c.updated_at,
    }


def dumps(data: Any) -> bytes:
    """orjson: datetimes as RFC 3339 (UTC as ``Z``), exactly like pydantic's JSON."""
    return orjson.dumps(data, option=JSON_OPTIONS)


def json_response(data: dict[str, Any], status: int = 200) -> web.Response:
    return raw_json_response(dumps(data), status)


def raw_json_response(body: bytes, status: int = 200, etag: str | None = None
                      ) -> web.Response:
    """An answer whose JSON is written already (a timeline page SQLite wrote); with its
    ``etag`` when that is known already (a kept answer), else ``conditional`` makes it."""
    response = web.Response(body=body, status=status, content_type="application/json")
    if etag is not None:
        response.headers["ETag"] = etag
    return response


def etag_of(body: bytes) -> str:
    """The weak ``ETag`` of an answer's body (``chronik.app.conditional``)."""
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
