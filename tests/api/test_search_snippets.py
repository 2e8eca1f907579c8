"""What the search API says about each hit and about a query without hits, as the review
found it: decomposed umlauts and compound parts highlighted in the entry's own text (not
"found in the file"), the characters before a snippet's first word kept, and suggestions
that keep the user's operators and spell corrected words as the entries do."""

from __future__ import annotations

from aiohttp import FormData

from tests.api.test_customers_entries import make_customer
from tests.api.test_search_language import note
from tests.conftest import Hub


async def _search(hub: Hub, q: str) -> dict:
    status, page = await hub.agent.get("/search", params={"q": q})
    assert status == 200, page
    return dict(page)


def inventory_document() -> FormData:
    """A document whose text says "Hausratversicherung" and whose file says "Hausrat"."""
    form = FormData()
    form.add_field("subject", "Inventar")
    form.add_field("body", "Hausratversicherung ist gekündigt")
    form.add_field("notify", "false")
    form.add_field("file", b"Inventar Hausrat Liste Okapifeld", filename="liste.txt",
                   content_type="text/plain")
    return form


async def test_hits_in_the_entry_itself_are_marked_there(hub: Hub) -> None:
    c = await make_customer(hub)
    nfd = await note(hub, c, "Zebrafink Ku\u0308ndigungsschreiben von Frau Mu\u0308ller")
    status, doc = await hub.agent.post(f"/customers/{c['id']}/entries",
                                       data=inventory_document())
    assert status == 201, doc
    await hub.indexed()

    [hit] = (await _search(hub, "Kündigungsschreiben"))["items"]
    assert hit["entry"]["id"] == nfd and hit["attachment"] is None
    assert hit["snippet"] == ("Zebrafink <mark>Ku\u0308ndigungsschreiben</mark> von Frau "
                              "Mu\u0308ller")
    [hit] = (await _search(hub, "Hausrat"))["items"]
    assert hit["entry"]["id"] == doc["id"] and hit["attachment"] is None
    assert hit["snippet"] == "Inventar <mark>Hausratversicherung</mark> ist gekündigt"
    [hit] = (await _search(hub, "Okapifeld"))["items"]
    assert hit["attachment"]["name"] == "liste.txt"
    assert hit["snippet"] == "Inventar Hausrat Liste <mark>Okapifeld</mark>"


async def test_a_snippet_keeps_the_sign_and_the_quote_before_its_first_word(hub: Hub) -> None:
    c = await make_customer(hub)
    await note(hub, c, "-150,00 € Gutschrift Gnuherde")
    await note(hub, c, "Gnuherde", subject="„Nicht zustellbar“")
    await hub.indexed()
    snippets = {i["snippet"] for i in (await _search(hub, "Gnuherde"))["items"]}
    assert snippets == {"-150,00 € Gutschrift <mark>Gnuherde</mark>",
                        "„Nicht zustellbar“ <mark>Gnuherde</mark>"}


async def test_suggestions_keep_operators_and_the_entries_spelling(hub: Hub) -> None:
    c = await make_customer(hub)
    await note(hub, c, "Ich kündige den Vertrag, Order und Seite anbei.")
    await note(hub, c, "Die Kündigung ist da.")
    await note(hub, c, "Geheimwort Quokkaverein Zebrafink")
    await hub.indexed()
    for q, said in [("Geheimwrt ODER Quokkavrein", ["Geheimwort ODER Quokkaverein"]),
                    ("Zebrafnk !Seitte", ["Zebrafink !Seitte"]),
                    ("Kündigng", ["Kündigung", "kündige"]),
                    ("Kündigng OR Zebrafnk", ["Kündigung OR Zebrafink",
                                              "kündige OR Zebrafink"])]:
        page = await _search(hub, q)
        assert page["items"] == [] and [s["q"] for s in page["suggestions"]] == said, q


async def test_a_phone_number_is_found_in_a_note_however_it_is_written(hub: Hub) -> None:
    """The agent types the number as the caller lookup shows it; the note wrote it the way
    people do. Found, marked where it is written, in the entry itself; reindexing keeps it."""
    c = await make_customer(hub)
    nid = await note(hub, c, "Bitte Rückruf unter 0171 / 123 45 67 wegen Schaden")
    await note(hub, c, "Rückruf unter 0171 7654321")
    await hub.indexed()
    for typed in ("+49 171 1234567", "01711234567"):
        [hit] = (await _search(hub, typed))["items"]
        assert hit["entry"]["id"] == nid and hit["attachment"] is None
        assert hit["snippet"] == ("Bitte Rückruf unter <mark>0171</mark> / <mark>123</mark> "
                                  "<mark>45</mark> <mark>67</mark> wegen Schaden")
    from search.indexer import reindex
    await reindex(hub.state.store, hub.state.backend, texts=hub.state.indexer.texts,
                  phones=hub.state.indexer.phones)
    [hit] = (await _search(hub, "0049 171 1234567"))["items"]
    assert hit["entry"]["id"] == nid


async def test_a_hyphenated_word_is_marked_for_its_joined_spelling(hub: Hub) -> None:
    c = await make_customer(hub)
    nid = await note(hub, c, "Bitte die Police per E-Mail schicken")
    await hub.indexed()
    [hit] = (await _search(hub, "Email"))["items"]
    assert hit["entry"]["id"] == nid and hit["attachment"] is None
    assert hit["snippet"] == "Bitte die Police per <mark>E</mark>-<mark>Mail</mark> schicken"
