"""The API reference as a page (``GET /api/v1/docs``): the OpenAPI document, rendered for
people. No second source: every operation, parameter, body and schema shown here is read from
``openapi.document()``, which is built from the router's own table. No script (the pages'
CSP holds); links within the page only."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aiohttp import web

from chronik.api.base import API_PREFIX
from chronik.api.openapi import document
from chronik.state import AppState
from chronik.web.render import page

Part = tuple[str, str]
"""("text", words) or ("ref", schema name): a type as words with links to schemas."""


def type_parts(schema: dict[str, Any]) -> list[Part]:
    """A JSON schema's type in words, schemas it refers to as links."""
    if "$ref" in schema:
        return [("ref", str(schema["$ref"]).rsplit("/", 1)[-1])]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            parts: list[Part] = []
            for i, sub in enumerate(schema[union]):
                if i:
                    parts.append(("text", " or "))
                parts += type_parts(sub)
            return parts
    if "enum" in schema:
        return [("text", "one of " + ", ".join(repr(v) for v in schema["enum"]))]
    if "const" in schema:
        return [("text", repr(schema["const"]))]
    kind = schema.get("type")
    if kind == "array":
        return [("text", "array of "), *type_parts(schema.get("items", {}))]
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return [("text", "object of "), *type_parts(schema["additionalProperties"])]
    words = str(kind) if isinstance(kind, str) else ""
    if "format" in schema:
        words = f"{words} ({schema['format']})" if words else str(schema["format"])
    return [("text", words or "any")]


def _schema_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    return [{"name": name, "type": type_parts(prop), "required": name in required,
             "description": prop.get("description", "")}
            for name, prop in schema.get("properties", {}).items()]


@lru_cache(maxsize=1)
def reference() -> dict[str, Any]:
    """The document, arranged for the page: operations by tag, schemas by name."""
    doc = document()
    tags: dict[str, list[dict[str, Any]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            tags.setdefault(op["tags"][0], []).append({
                "id": op["operationId"], "method": method.upper(), "path": path,
                "summary": op.get("summary", ""),
                "auth": "token" if op.get("security") else "public",
                "params": [{"name": p["name"], "in": p["in"], "required": p["required"],
                            "type": type_parts(p.get("schema", {})),
                            "description": p.get("description", "")}
                           for p in op.get("parameters", ())],
                "body": [{"kind": kind, "type": type_parts(c.get("schema", {}))}
                         for kind, c in body.items()],
                "responses": [{"code": code, "description": r.get("description", ""),
                               "type": [part for c in r.get("content", {}).values()
                                        for part in type_parts(c.get("schema", {}))][:3]}
                              for code, r in op["responses"].items()],
            })
    schemas = {name: {"description": s.get("description", ""), "rows": _schema_rows(s),
                      "type": [] if "properties" in s else type_parts(s)}
               for name, s in sorted(doc["components"]["schemas"].items())}
    return {"info": doc["info"], "tags": tags, "schemas": schemas, "prefix": API_PREFIX}


async def docs(request: web.Request, state: AppState) -> web.StreamResponse:
    return page("api/reference.html", "en", reference())
