"""Caller lookup as integrators really call it: a ``+`` not URL-encoded, a country code
written with blanks, pasted Unicode blanks — the right customer or a clear 400, never a
stranger; an unknown caller (200, no matches) is told apart from input that is no number."""

from __future__ import annotations

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub

ERIKA = "+491711234567"


async def erika_and_a_stranger(hub: Hub) -> tuple[dict, dict]:
    """Erika, and someone in Ostfriesland whose number the mangled forms used to make."""
    erika = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    stranger = await make_customer(hub, "Ostfriesland", phones=["04917 11234567"])
    return erika, stranger


@pytest.mark.parametrize("query", [
    "phone=+49%20171%201234567", "phone=+49+171+1234567", "phone=49%20171%201234567",
    "phone=49-171-1234567", "phone=(49)%201711234567", "phone=%22491711234567%22",
    "phone=%252B491711234567", "phone=Tel.:%2049%20171%201234567",
], ids=["unencoded-plus", "unencoded-plus-and-blanks", "blanks", "dashes", "parenthesised",
        "quoted", "double-encoded", "label"])
async def test_a_country_code_without_its_plus_finds_the_caller_not_a_stranger(
        hub: Hub, query: str) -> None:
    erika, _ = await erika_and_a_stranger(hub)
    status, body = await hub.agent.get("/lookup?" + query)
    assert status == 200, body
    assert body["normalised"] == ERIKA
    assert [m["customer"]["id"] for m in body["matches"]] == [erika["id"]]


async def test_an_identity_saved_with_a_lost_plus_is_the_callers_number(hub: Hub) -> None:
    c = await make_customer(hub, phones=[" 49 171 7654321"])
    assert [i["value"] for i in c["identities"] if i["kind"] == "phone"] == ["+491717654321"]


@pytest.mark.parametrize("space", ["\u202f", "\u2009", "\u2007", "\u2002", "\u2000",
                                   "\u200a", "\u205f"], ids=lambda s: f"U+{ord(s):04X}")
async def test_unicode_blanks_pasted_from_documents_find_the_caller(hub: Hub,
                                                                    space: str) -> None:
    erika = await make_customer(hub, phones=[f"0171{space}123{space}45{space}67"])
    status, body = await hub.agent.get("/lookup", params={"phone": f"0171{space}1234567"})
    assert status == 200 and body["normalised"] == ERIKA
    assert [m["customer"]["id"] for m in body["matches"]] == [erika["id"]]


async def test_an_extension_after_a_dash_finds_the_mobile_number(hub: Hub) -> None:
    erika = await make_customer(hub, phones=["0171 1234567-12"])
    assert [i["value"] for i in erika["identities"] if i["kind"] == "phone"] == [ERIKA]
    _, body = await hub.agent.get("/lookup", params={"phone": "0171 1234567-12"})
    assert body["normalised"] == ERIKA and len(body["matches"]) == 1


async def test_a_local_number_without_area_code_is_refused_with_a_reason(hub: Hub) -> None:
    """``2345678`` was stored as +492345678 (read as Bochum 0234 5678): it can never be the
    number that rings."""
    status, body = await hub.agent.post("/customers", json={
        "name": "Erika Mustermann", "phones": ["2345678"]})
    assert status == 400 and "without its area code" in body["error"]["message"]
    status, body = await hub.agent.get("/lookup", params={"phone": "2345678"})
    assert (status, body["error"]["code"]) == (400, "invalid_input")
    assert "area code" in body["error"]["message"]


@pytest.mark.parametrize(("phone", "why"), [
    ("030 1234567 / 0171 2345678", "more than one phone number"),
    ("0171 abc", "letters in a phone number"),
    ("0171 1234567 999 999 999", "phone number"),
    ("hello", "phone number"),
    ("12", "not a possible phone number"),
])
async def test_input_that_is_not_one_number_is_400_not_an_unknown_caller(
        hub: Hub, phone: str, why: str) -> None:
    status, body = await hub.agent.get("/lookup", params={"phone": phone})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input" and why in body["error"]["message"]


@pytest.mark.parametrize("phone", ["anonymous", "unknown", "restricted", " ",
                                   "sip:anonymous@anonymous.invalid"])
async def test_a_withheld_caller_is_nobody_to_find_not_an_error(hub: Hub, phone: str) -> None:
    await make_customer(hub, phones=["0171 1234567"])
    status, body = await hub.agent.get("/lookup", params={"phone": phone})
    assert (status, body) == (200, {"normalised": None, "matches": []})


async def test_an_unknown_valid_number_is_200_with_no_matches(hub: Hub) -> None:
    status, body = await hub.agent.get("/lookup", params={"phone": "0176 9999999"})
    assert (status, body) == (200, {"normalised": "+491769999999", "matches": []})
