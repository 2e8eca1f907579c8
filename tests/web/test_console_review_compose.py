"""Compose as the server renders it, answering an entry: nothing of an internal entry is
put into what could go to the customer."""

from __future__ import annotations

from tests.web.conftest import Console, browser_form
from timeline.models import Visibility


async def test_answering_an_internal_note_does_not_prefill_its_subject(
        console: Console) -> None:
    """ "Antworten" on an internal note prefilled "Re: Kulanz abgelehnt wegen Schadenquote";
    switched to a reply to the customer, that subject went out in the customer's mail."""
    erika = await console.customer("Erika Intern", emails=("erika@example.de",))
    remark = await console.record(erika, subject="Kulanz abgelehnt wegen Schadenquote",
                                  body="Keine Kulanz mehr.", visibility=Visibility.INTERNAL)
    said = await console.record(erika, subject="Ihre Police 2027", body="anbei",
                                visibility=Visibility.PUBLISHED, notify=False)
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}?reply_to={remark.id}")
    assert page.status == 200
    form = browser_form(page.text, "compose-form")
    assert form.fields["subject"] == ""
    assert form.fields["kind"] == "note" and form.fields["visibility"] == "internal"
    assert "Re: Kulanz" not in page.text

    sent = await desk.post(form.action, form.fill(kind="reply", visibility=None,
                                                  body="Wir melden uns morgen.").body())
    assert sent.status == 303
    reply = (await console.state.store.get_entry(console.office.id,
                                                 sent.location.rsplit("#e-", 1)[1]))
    assert reply is not None and reply.kind == "reply" and reply.subject == ""

    # a customer's own (published) entry still gives "Re: …"
    page = await desk.get(f"/customers/{erika.id}?reply_to={said.id}")
    assert browser_form(page.text, "compose-form").fields["subject"] == "Re: Ihre Police 2027"


async def test_a_pinned_note_says_how_to_unpin_it(console: Console) -> None:
    """The button under a pinned fact read "Lösen" -- in an office that resolves
    complaints, it read as "resolve"."""
    erika = await console.customer("Erika Anrede", emails=("erika@example.de",))
    fact = await console.record(erika, subject="Anrede", body="Frau Dr. Anrede",
                                visibility=Visibility.INTERNAL, tags=("pinned",))
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    item = page.text[page.text.index(f'id="e-{fact.id}"'):]
    assert ">Nicht mehr anheften</button>" in item[:item.index("</li>")]
    assert ">Lösen</button>" not in page.text
