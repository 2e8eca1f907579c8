"""The OpenAPI document as an integrator reads it: its examples are requests that work
(sent here to a real Chronik, each must answer 200 with a body of the documented shape),
and the search operation says what its parameters and answers mean."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from chronik.api import OPERATIONS
from chronik.api.schemas import LookupOut, SearchPage
from chronik.api.search import ENTRY_KINDS
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.models import Channel

RESPONSES: dict[str, type[BaseModel]] = {
    op.operation_id: op.response for op in OPERATIONS if op.response is not None}


def _examples(operation: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """The operation's example requests (query strings): the required parameters with their
    first example, and one request for each other example value of each parameter."""
    params = operation.get("parameters", [])
    required = {p["name"]: p["schema"]["examples"][0] for p in params
                if p["required"] and p["schema"].get("examples")}
    requests: list[dict[str, Any]] = []
    for p in params:
        for value in p["schema"].get("examples", []):
            requests.append({**required, p["name"]: value})
    return [[(k, str(v).lower() if isinstance(v, bool) else str(v))
             for k, vs in r.items() for v in (vs if isinstance(vs, list) else [vs])]
            for r in requests]


async def _document(hub: Hub) -> dict[str, Any]:
    status, document = await hub.anon.get("/openapi.json")
    assert status == 200
    return dict(document)


async def test_every_documented_example_request_answers_200(hub: Hub) -> None:
    erika = await make_customer(hub, phones=["0171 1234567"], emails=["erika@example.de"])
    for body, subject in [
            ("Die Kündigung zum 31.03. ist bestätigt, der Vertrag gekündigt. Police "
             "HR-20391; der Beitrag wird erstattet.", "Vertrag gekündigt"),
            ("Prämie für 2025 erhöht, Kündigung angedroht", "Prämienerhöhung")]:
        status, _ = await hub.agent.post(f"/customers/{erika['id']}/entries", json={
            "kind": "note", "subject": subject, "body": body, "visibility": "internal",
            "occurred_at": "2025-03-10T09:00:00Z"})
        assert status == 201
    await hub.indexed()
    document = await _document(hub)
    sent: dict[str, int] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for query in _examples(operation):
                assert method == "get", (path, "examples are for reading operations")
                status, body = await hub.agent.get(path.removeprefix("/api/v1"),
                                                   params=query)
                assert status == 200, (path, query, body)
                model = RESPONSES[operation["operationId"]]
                model.model_validate(body)
                if operation["operationId"] == "search" and len(query) == 1:
                    assert body["items"], query  # each documented query finds the entry
                if operation["operationId"] == "lookup":
                    assert [m["customer"]["id"] for m in body["matches"]] == [erika["id"]]
                sent[operation["operationId"]] = sent.get(operation["operationId"], 0) + 1
    assert sent["search"] >= 10 and sent["lookup"] >= 3, sent


@pytest.mark.parametrize("model", [SearchPage, LookupOut], ids=lambda m: m.__name__)
async def test_the_documented_answers_are_of_their_shape(hub: Hub, model: type[BaseModel]
                                                         ) -> None:
    schema = (await _document(hub))["components"]["schemas"][model.__name__]
    assert schema["examples"]
    for example in schema["examples"]:
        model.model_validate(example)


async def test_the_search_parameters_and_answers_are_described(hub: Hub) -> None:
    document = await _document(hub)
    search = document["paths"]["/api/v1/search"]["get"]
    params = {p["name"]: p for p in search["parameters"]}
    q = params["q"]
    assert q["required"] and q["schema"]["maxLength"] == 500 and q["schema"]["minLength"] == 1
    for said in ["500 characters", "32 terms", "prefix*", "OR", "-word", '"a phrase']:
        assert said in q["description"], said
    assert params["limit"]["schema"]["default"] == 20 and params["limit"]["description"]
    assert params["order"]["schema"]["default"] == "newest"
    assert "null" in params["order"]["description"]  # no score in newest order
    assert "opaque" in params["cursor"]["description"]
    assert "order" in params["cursor"]["description"]
    assert params["channel"]["schema"]["items"]["enum"] == [c.value for c in Channel]
    assert params["kind"]["schema"]["items"]["enum"] == list(ENTRY_KINDS)
    for name in ("since", "until"):
        text = params[name]["description"]
        assert "UTC day" in text and "%2B" in text and "without an offset it is UTC" in text
    assert "whole day" in params["until"]["description"]
    assert params["total"]["schema"] == {"type": "boolean", "default": False,
                                         "examples": [True]}
    assert {"200", "400", "401", "503"} <= set(search["responses"])
    schemas = document["components"]["schemas"]
    item = schemas["SearchItem"]
    assert set(item["required"]) == {"entry", "snippet", "score", "attachment"}
    assert "HTML" in item["properties"]["snippet"]["description"]
    assert "<mark>" in item["properties"]["snippet"]["description"]
    assert "null" in item["properties"]["score"]["description"]
    total = schemas["SearchPage"]["properties"]["total"]
    assert "total=true" in total["description"]
    assert set(schemas["SearchTotal"]["required"]) == {"count", "exact"}
