"""The console's search hits as agents read them: a compound found through its first part is
highlighted in the entry (not "Gefunden im Anhang" when the entry itself holds the word),
and "Meinten Sie" spells each word as the office's entries write it."""

from __future__ import annotations

import re
from urllib.parse import quote

from tests.api.test_search_snippets import inventory_document
from tests.web.conftest import Console
from tests.web.test_console_search import text_of


async def test_a_compound_part_is_found_in_the_entry_not_in_its_file(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    status, entry = await console.bearer("POST", f"/customers/{erika.id}/entries",
                                         data=inventory_document())
    assert status == 201, entry
    await console.state.indexer.drain()
    desk = await console.signed_in()
    page = await desk.get("/search?q=Hausrat")
    assert "1 Treffer" in text_of(page.text) and f"#e-{entry['id']}" in page.text
    assert "Gefunden im Anhang" not in text_of(page.text)
    assert "<mark>Hausratversicherung</mark> ist gekündigt" in page.text
    page = await desk.get("/search?q=Okapifeld")
    assert "Gefunden im Anhang liste.txt" in text_of(page.text)


async def test_did_you_mean_spells_words_as_the_entries_do(console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    await console.add(erika, subject="Vertrag", body="Ich kündige den Vertrag.")
    await console.add(erika, subject="Kündigung", body="Die Kündigung ist da.")
    await console.state.indexer.drain()
    desk = await console.signed_in()
    page = await desk.get("/search?q=" + quote("Kündigng"))
    offer = re.search(r'id="did-you-mean">(.*?)</p>', page.text, re.S)
    assert offer and text_of(offer.group(1)).strip() == "Meinten Sie: Kündigung · kündige"
