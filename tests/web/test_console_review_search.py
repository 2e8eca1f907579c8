"""The console's full-text search as an agent uses it on a call: a caller's number, an
address or a name typed there names the customer too (entries rarely spell a number as it
was typed, so "0171 1234567" found nothing and led nowhere)."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.web.conftest import Console


def _people(html: str) -> str:
    found = re.search(r'<p class="notice" id="search-people">(.*?)</p>', html, re.S)
    return unescape(found.group(1)) if found else ""


@pytest.mark.parametrize("q", ["0171 1234567", "+49 171 1234567", "0049-171/1234567",
                               "erika@example.de", "Mustermann", "erika must"])
async def test_the_customer_behind_a_number_address_or_name_is_named(console: Console,
                                                                     q: str) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",),
                                   emails=("erika@example.de",))
    await console.customer("Max Müller", phones=("030 1234567",))
    desk = await console.signed_in()
    page = await desk.get("/search?" + "q=" + q.replace("+", "%2B").replace(" ", "+"))
    assert page.status == 200
    people = _people(page.text)
    assert f'href="/customers/{erika.id}"' in people and "Erika Mustermann" in people
    assert "Max Müller" not in people


@pytest.mark.parametrize("q", ['"Frau Dr"', "kündig*", "Police -Hausrat", "a OR b"])
async def test_operators_and_one_customers_search_name_nobody(console: Console,
                                                              q: str) -> None:
    await console.customer("Frau Dr Police -Hausrat", emails=("dr@example.de",))
    desk = await console.signed_in()
    page = await desk.get("/search", params={"q": q})
    assert page.status == 200 and _people(page.text) == ""


async def test_searching_one_customers_history_names_nobody_else(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    desk = await console.signed_in()
    page = await desk.get("/search", params={"q": "Mustermann", "customer": erika.id})
    assert page.status == 200 and _people(page.text) == ""
