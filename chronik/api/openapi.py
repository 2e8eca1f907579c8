"""The OpenAPI 3.1 document, generated from the same ``Operation`` list the router uses."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from chronik.api.base import API_PREFIX, Operation, Param
from chronik.api.schemas import ErrorOut

_STATUS_TEXT = {400: "Bad input", 401: "Missing or invalid token", 403: "Not allowed for "
                "this role", 404: "Not found (or another office's)", 415: "A form body where "
                "JSON is expected", 409: "Conflict (tone "
                "warning: confirm to publish)", 413: "Too large", 422: "Idempotency-Key reused "
                "with a different request", 503: "Not available now (the database or the "
                "search engine cannot be reached; Retry-After says when to try again)",
                507: "Storage full"}


def _schema(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        defs[name] = sub
    defs[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


PARAM_EXAMPLES: dict[tuple[str, str], list[Any]] = {
    ("lookup", "phone"): ["0171 1234567", "+49 171 1234567", "sip:+491711234567@pbx"],
    ("lookup", "email"): ["erika@example.de"],
}
"""Examples of parameters whose ``Param`` does not give its own (``schema["examples"]``):
operation id and parameter name -> example values, each a request that answers 200
(``tests/api/test_openapi_examples.py`` sends them)."""


def _param_schema(op: Operation, p: Param) -> dict[str, Any]:
    examples = PARAM_EXAMPLES.get((op.operation_id, p.name))
    return {**p.schema, "examples": examples} if examples else p.schema


def _operation(op: Operation, defs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                           "tags": [op.tag]}
    if op.params:
        out["parameters"] = [{
            "name": p.name, "in": p.where, "required": p.required or p.where == "path",
            "schema": _param_schema(op, p),
            **({"description": p.description} if p.description else {}),
        } for p in op.params]
    if op.body is not None:
        ref = _schema(op.body, defs)
        out["requestBody"] = {"required": True, "content": {
            kind: {"schema": ref} for kind in op.body_kinds}}
    if op.response is not None:
        content: dict[str, Any] = {op.response_content: {"schema": _schema(op.response, defs)}}
    elif op.response_content == "application/json":
        content = {"application/json": {"schema": {"type": "object"}}}
    else:
        content = {op.response_content: {"schema": {"type": "string", "format": "binary"}}}
    responses: dict[str, Any] = {str(op.status): {"description": "OK", "content": content}}
    error_ref = _schema(ErrorOut, defs)
    codes = set(op.errors) | {400}  # any URL can be refused (a NUL, %00, in it)
    if op.auth != "public":
        codes |= {401, 503}  # the token is checked in the store: it may be unreachable
        out["security"] = [{"bearer": []}]
    if op.auth == "admin":
        codes.add(403)
    if op.body is not None and "application/x-www-form-urlencoded" not in op.body_kinds:
        codes.add(415)  # a form body where JSON is expected
    if op.method in ("POST", "PUT", "PATCH", "DELETE"):
        codes.add(507)  # every write can meet a full disk
    for code in sorted(codes):
        responses[str(code)] = {"description": _STATUS_TEXT.get(code, "Error"),
                                "content": {"application/json": {"schema": error_ref}}}
    out["responses"] = responses
    return out


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    from chronik.api import OPERATIONS

    return build(OPERATIONS)


def build(operations: list[Operation]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = _operation(op, defs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chronik API", "version": "1",
                 "description": "One searchable timeline per customer. Errors always have the "
                                "shape {\"error\": {\"code\", \"message\", \"details\"}}. "
                                "Lists are cursor-paginated: pass next_cursor back as cursor."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": defs, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An agent's API token (chronik agent create)"}}},
    }
