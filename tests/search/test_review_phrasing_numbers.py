"""Numbers typed in another grouping than the text writes them, on every backend: a
reference number typed without its separators (``HV202400123`` for ``HV-2024-00123``,
``471122`` for ``4711/22``), an IBAN typed in groups for one written together and the
reverse -- found, and marked in the snippet where the text writes them."""

from __future__ import annotations

import pytest

from search.backend import SearchBackend
from search.query import SearchFilters
from search.references import reference_joins
from tests.search.test_backend_contract import entry, hits
from tests.search.test_service_contract import Office
from tests.search.test_service_contract import office as office  # the fixture

REFERENCES = [
    "Policennummer HV-2024-00123, Auffahrunfall",
    "Ihr Vertrag Nr. 4711/22 ist gekündigt.",
    "Mahnung zu KV-2022/0815 über 218,40 €",
    "Police 12/345678-9 neu ausgestellt",
    "Aktenzeichen ST/0815/2025 der Polizei",
    "Anhang: Police_KV-2023-0042.pdf",  # a file name: its extension is not a part
]
OTHER = "Policennummer HV-2023-00456, Typklasse 17"


@pytest.mark.parametrize(("typed", "found"), [
    ("HV202400123", 0), ("hv202400123", 0), ("HV2024-00123", 0), ("HV 2024 00123", 0),
    ("471122", 1), ("4711 22", 1), ("KV20220815", 2), ("KV-2022-0815", 2),
    ("123456789", 3), ("12345678-9", 3), ("ST08152025", 4), ("KV20230042", 5),
    ("KV-2023-0042", 5)])
async def test_a_reference_number_typed_without_its_separators(backend: SearchBackend,
                                                               typed: str, found: int) -> None:
    docs = [entry(t, minutes=i) for i, t in enumerate([*REFERENCES, OTHER])]
    await backend.index(docs)
    assert await hits(backend, typed) == [docs[found].seq]


IBANS = [
    "Rücklastschrift, IBAN DE89 3704 0044 0532 0130 00, Gebühr 3,00 €",
    "Neues Mandat, IBAN DE02120300000000202051, Kontoinhaber Groß",
    "korrekt ist de44 5001 0517 5407 3249 31.",
]


@pytest.mark.parametrize(("typed", "found"), [
    ("DE89370400440532013000", 0), ("de89 3704 0044 0532 0130 00", 0),
    ("DE02 1203 0000 0000 2020 51", 1), ("DE02120300000000202051", 1),
    ("DE44500105175407324931", 2), ("DE44 5001 0517 5407 3249 31", 2)])
async def test_an_iban_typed_in_other_groups(office: Office, typed: str, found: int) -> None:
    docs = [await office.add(t, minutes=i) for i, t in enumerate(IBANS)]
    docs.append(await office.add("Betrag 3704 0044 EUR, Frist 0532", minutes=9))
    results = await office.service.search(typed, SearchFilters(office_id="OFFICEA"))
    assert [f.entry.seq for f in results.items] == [docs[found].seq]
    assert "<mark>" in results.items[0].snippet


async def test_the_number_is_marked_where_the_text_writes_it(office: Office) -> None:
    await office.add("Schaden zu HV-2024-00123 gemeldet")
    await office.add("Rücklastschrift, IBAN DE89 3704 0044 0532 0130 00, Gebühr")
    (found,) = (await office.search("HV202400123")).items
    assert found.snippet == ("Schaden zu <mark>HV</mark>-<mark>2024</mark>-<mark>00123</mark>"
                             " gemeldet")
    (found,) = (await office.search("DE89370400440532013000")).items
    assert "IBAN <mark>DE89</mark> <mark>3704</mark> <mark>0044</mark> <mark>0532</mark> " \
           "<mark>0130</mark> <mark>00</mark>, Gebühr" in found.snippet


@pytest.mark.parametrize("text", [
    "Betrag 1.234,56 € am 03.02.2025",  # amounts and dates: their own joins, no IBAN
    "DE89 3704 0044 0532 0130 01",  # check digits do not hold: not an IBAN
    "Tel. 0171 1234567, Ref DE12 3456",
])
def test_invalid_ibans_are_not_joined(text: str) -> None:
    assert not any(len(w) > 10 for _, _, w in reference_joins(text))


DATES = [
    "Auffahrunfall vom 03.02.2025 auf der A3",
    "Kündigung zum 31.12.25 bestätigt",
    "Termin am 2025-03-14 vereinbart",
    "Schreiben vom 7. Januar 2026 eingegangen",
    "Betrag 3.022,25 € und Version 3.2.1",
]


@pytest.mark.parametrize(("typed", "found"), [
    ("03.02.2025", 0), ("3.2.2025", 0), ("3.2.25", 0), ("2025-02-03", 0),
    ("3. Februar 2025", 0), ("3 Feb 2025", 0), ("Unfall 03/02/2025", 0),
    ("31.12.2025", 1), ("31. Dezember 2025", 1), ("2025-12-31", 1),
    ("14.03.2025", 2), ("14. März 2025", 2), ("07.01.2026", 3), ("2026-01-07", 3)])
async def test_a_date_typed_in_another_format(office: Office, typed: str, found: int) -> None:
    docs = [await office.add(t, minutes=i) for i, t in enumerate(DATES)]
    results = await office.service.search(typed, SearchFilters(office_id="OFFICEA"))
    assert [f.entry.seq for f in results.items] == [docs[found].seq]
    assert "<mark>" in results.items[0].snippet


@pytest.mark.parametrize("text", ["32.01.2025", "29.02.2025", "Version 1.2.3", "4711/22",
                                  "HV-2024-00123", "1.234,56", "12.06. um 14:30"])
def test_no_date_where_there_is_no_day(text: str) -> None:
    assert not [w for _, _, w in reference_joins(text) if w.startswith("dt")]


def test_both_days_of_a_range_are_dates() -> None:
    found = [w for _, _, w in reference_joins("Laufzeit 01.01.2025-31.12.2025, Vertrag")]
    assert {"dt20250101", "dt20251231"} <= set(found)
