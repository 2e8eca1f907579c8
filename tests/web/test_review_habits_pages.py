"""What the console's pages say as the browser shows them to people: file sizes in the
reader's number format, names that the browser's page translation must leave alone, and
files with umlauts in their names arriving under their own name."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import pytest

from tests.web.conftest import Console
from timeline.models import Visibility
from timeline.service import UploadedFile

PDF = b"%PDF-1.4\n" + b"0" * (2_621_440 - 9)  # 2.5 MB
SMALL = b"%PDF-1.4\n" + b"1" * 1_527  # 1.5 KB


def _size_after(text: str, name: str) -> str:
    found = re.search(re.escape(name) + r"</span></a> <span class=\"muted\">\(([^)]*)\)", text)
    assert found, text[text.find(name) - 300:text.find(name) + 300]
    return found.group(1)


async def test_file_sizes_in_the_agents_number_format(console: Console) -> None:
    """Before: "(2560.0 KB)" for a 2.5 MB file, with an English decimal point on a German
    page. Now "2,5 MB" in German, "2.5 MB" in English."""
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    await console.record(erika, "document", subject="Unterlagen",
                         visibility=Visibility.INTERNAL,
                         files=(UploadedFile("Police.pdf", "application/pdf", PDF),
                                UploadedFile("Kurz.pdf", "application/pdf", SMALL)))
    desk = await console.signed_in()
    german = (await desk.get(f"/customers/{erika.id}")).text
    assert _size_after(german, "Police.pdf") == "2,5 MB"
    assert _size_after(german, "Kurz.pdf") == "1,5 KB"
    await desk.post("/settings/language", {"language": "en", "next": "/"})
    english = (await desk.get(f"/customers/{erika.id}")).text
    assert _size_after(english, "Police.pdf") == "2.5 MB"


async def test_names_are_left_alone_by_page_translation(console: Console) -> None:
    """Before: the browser's "translate this page" turned "Max Müller" into "Max Miller",
    "Hans Becker" into "Hans Baker" and the product "Chronik" into "Chronicle" -- in the
    heading, the author line, the list of contacts. Names, addresses and file names are
    marked ``translate="no"``; the rest of the page is still translated."""
    max_ = await console.customer("Hans Becker", emails=("hans.becker@example.de",),
                                  phones=("0171 7654321",))
    await console.record(max_, "document", subject="Vertrag",
                         visibility=Visibility.INTERNAL,
                         files=(UploadedFile("Übersicht März.pdf", "application/pdf",
                                             SMALL),))
    await console.customer("Greta Becker", phones=("089 123456",))
    desk = await console.signed_in()
    page = (await desk.get(f"/customers/{max_.id}")).text
    assert re.search(r'<h1 id="customer-name"><span translate="no">Hans Becker</span>', page)
    assert '<span translate="no">hans.becker@example.de</span>' in page
    assert '<span translate="no">0171 7654321</span>' in page
    assert re.search(r'<span class="author">· <span translate="no">[^<]+</span>', page)
    assert '<span translate="no">Übersicht März.pdf</span>' in page
    assert re.search(r'class="brand" href="/" translate="no">Chronik<', page)
    assert re.search(r'class="agent-name"[^>]*><span translate="no">', page)
    found = (await desk.get("/find?q=Becker")).text
    assert ' translate="no">Hans Becker</a>' in found
    assert ' translate="no">Greta Becker</a>' in found

    # the download keeps the file's own name, umlauts and all
    [attachment] = re.findall(r'href="(/api/v1/entries/[^"]+/attachments/0)"', page)
    download = await desk.get(attachment)
    assert download.status == 200
    disposition = download.headers["Content-Disposition"]
    named = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    assert named and unquote(named.group(1)) == "Übersicht März.pdf", disposition


@pytest.mark.parametrize("pasted", [
    "tel:+491711234567",            # "copy link address" on a number in a signature
    "tel:0171-1234567",
    "callto://+491711234567",
    "\u202d0171 1234567\u202c",     # Outlook / Windows: left-to-right override marks
    "\u200e+49 171 1234567",        # a left-to-right mark from a web page
    "0171\u200b1234567",            # a zero-width space
    "\u2066erika@example.de\u2069",  # isolates around an address
], ids=["tel", "tel-local", "callto", "bidi-override", "lrm", "zero-width", "isolate"])
async def test_a_pasted_number_or_address_finds_the_customer(console: Console,
                                                             pasted: str) -> None:
    """Before: a number copied from a ``tel:`` link or from a mail program (which adds
    invisible direction marks) found nobody: "Find: „tel:+491711234567“ -- no customer"."""
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",),
                                   emails=("erika@example.de",))
    desk = await console.signed_in()
    answer = await desk.get("/find?q=" + quote(pasted))
    assert answer.status == 303, answer.text[:300]
    assert answer.location == f"/customers/{erika.id}"
    # the full-text search names the customer beside the hits the same way
    page = await desk.get("/search?q=" + quote(pasted))
    assert f'href="/customers/{erika.id}" translate="no">Erika Mustermann' in page.text



def _inputs_without_off(html: str, ids: tuple[str, ...]) -> list[str]:
    found = []
    for input_id in ids:
        tag = re.search(rf'<input id="{input_id}"[^>]*>', html)
        assert tag, f"no input {input_id}"
        if 'autocomplete="off"' not in tag.group(0):
            found.append(tag.group(0))
    return found


async def test_fields_about_someone_else_get_no_autofill_of_the_agents_own(
        console: Console) -> None:
    """Before: the customer's name and number fields (profile, "create customer" for an
    unknown number) and the admin's "new agent" name were plain ``name``/``value`` text
    fields, and the browser's autofill offered the agent's OWN name, address and phone
    number there -- one click put them on a customer's profile; the search boxes listed
    earlier searches (other customers' names and numbers) to whoever used the computer
    next. They are ``autocomplete="off"`` now, as the header's quick find was."""
    kunde = await console.customer("Ute Unbekannt", phones=("0171 2223334",))
    admin = await console.signed_in("anna.admin@buero.test")
    page = (await admin.get(f"/customers/{kunde.id}")).text
    assert _inputs_without_off(page, ("id-value", "p-name", "quickfind-q")) == []
    find = (await admin.get("/find?q=" + quote("+49 30 9998887"))).text
    assert _inputs_without_off(find, ("new-name", "attach-q")) == []
    assert _inputs_without_off((await admin.get("/")).text, ("home-q",)) == []
    search = (await admin.get("/search?q=x")).text  # (there the whole form says it)
    assert re.search(r'<form [^>]*id="search-form" autocomplete="off">', search)
    assert _inputs_without_off((await admin.get("/admin/agents")).text, ("agent-name",)) == []
