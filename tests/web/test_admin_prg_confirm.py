"""What a browser review of the admin pages found, checked from the outside:

* a new API token is shown on the page *after* the redirect (POST-redirect-GET), once: a
  reload of that page neither shows it again nor makes another agent or token, and the
  token is in no URL, no cookie and no log line;
* destructive buttons (discard a quarantined message, revoke a token, sign an agent out
  everywhere, remove an inbound address) ask first, without JavaScript: the POST answers
  with a confirmation step, and only its own form changes anything;
* a quarantined message shows what it says (sender, subject, text), escaped."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from chronik.api.base import hash_token
from tests.web.conftest import ADMIN_EMAIL, Console, Desk, browser_form
from timeline.ingest import InboundMessage
from timeline.models import Channel, IdentityKind

TOKEN = re.compile(r'id="new-token">(chk_[^<]+)<')


async def _admin(console: Console) -> Desk:
    return await console.signed_in(ADMIN_EMAIL)


async def _agents(console: Console) -> int:
    return len(await console.state.store.list_agents(console.office.id))


async def _tokens(console: Console, agent_id: str) -> tuple[str, ...]:
    for account in await console.state.store.list_agents(console.office.id):
        if account.agent.id == agent_id:
            return account.tokens
    raise AssertionError(agent_id)


# ---------------------------------------------------------------- 1. POST-redirect-GET
@pytest.mark.parametrize("email", ["", "lena@buero.test"], ids=["no-email", "email"])
async def test_a_new_agents_token_is_shown_once_after_the_redirect(
        console: Console, caplog: pytest.LogCaptureFixture, email: str) -> None:
    caplog.set_level(logging.DEBUG)
    desk = await _admin(console)
    before = await _agents(console)
    made = await desk.post("/admin/agents", {"name": "Lena Neu", "role": "agent",
                                             "email": email})
    assert made.status == 303, made.text
    page = await desk.get(made.location)
    assert page.status == 200
    found = TOKEN.search(page.text)
    assert found, page.text
    token = found.group(1)
    status, me = await console.bearer("GET", "/me", token)
    assert status == 200 and me["name"] == "Lena Neu"
    # the token itself is in no URL, no cookie and no log line
    assert token not in made.location
    assert all(token not in c for c in made.headers.getall("Set-Cookie", []))
    assert token not in caplog.text
    # a reload (and going back to the page) shows nothing secret and creates nothing
    for _ in range(3):
        again = await desk.get(made.location)
        assert again.status == 200, again.text[:300]
        assert token not in again.text and not TOKEN.search(again.text)
        assert 'id="token-gone"' in again.text
    assert await _agents(console) == before + 1
    agent_id = me["agent_id"]
    assert made.location.startswith(f"/admin/agents/{agent_id}?")
    assert len(await _tokens(console, agent_id)) == 1


async def test_a_new_token_is_made_once_and_shown_once(console: Console) -> None:
    desk = await _admin(console)
    path = f"/admin/agents/{console.agent.id}"
    assert len(await _tokens(console, console.agent.id)) == 1
    made = await desk.post(f"{path}/token", {})
    assert made.status == 303 and made.location.startswith(path + "?")
    first = await desk.get(made.location)
    found = TOKEN.search(first.text)
    assert found and (await console.bearer("GET", "/me", found.group(1)))[0] == 200
    for _ in range(3):  # the review saw 1 -> 4 tokens after three reloads
        again = await desk.get(made.location)
        assert again.status == 200 and found.group(1) not in again.text
    tokens = await _tokens(console, console.agent.id)
    assert len(tokens) == 2 and hash_token(found.group(1))[:12] in tokens


async def test_the_redirect_url_alone_shows_nothing(console: Console) -> None:
    """Someone with only the URL (browser history, another browser) gets no token: its
    other half was a cookie of the admin's browser, gone after the first look."""
    desk = await _admin(console)
    made = await desk.post(f"/admin/agents/{console.agent.id}/token", {})
    elsewhere = await _admin(console)  # the same admin in another browser
    reply = await elsewhere.get(made.location)
    assert reply.status == 200 and not TOKEN.search(reply.text)
    assert 'id="token-gone"' in reply.text
    tampered = made.location[:-3] + ("AAA" if not made.location.endswith("AAA") else "BBB")
    reply = await desk.get(tampered)  # a changed URL joins to no token of this agent
    assert reply.status == 200 and not TOKEN.search(reply.text)


# ---------------------------------------------------------------- 2. ask first
async def _confirm(desk: Desk, path: str, data: dict[str, str]) -> tuple[str, str]:
    """POST without confirmation: the confirmation page (nothing done yet); returns its
    text and what its own form sends back."""
    reply = await desk.post(path, data)
    assert reply.status == 200, (path, reply.status, reply.text[:300])
    form = browser_form(reply.text, "confirm-form")
    assert form.action == path and form.fields["confirm"] == "yes"
    return reply.text, path


async def _submit(desk: Desk, html: str) -> str:
    form = browser_form(html, "confirm-form")
    reply = await desk.post(form.action, form.fields, csrf="")
    assert reply.status == 303, reply.text[:300]
    return reply.location


async def test_discarding_a_quarantined_message_asks_first(console: Console) -> None:
    desk = await _admin(console)
    item = await console.state.ingest.quarantine(console.office.id, "fax", b"junk",
                                                 "no parser", "t")
    page = await desk.get(f"/admin/quarantine/{item.id}")
    assert f'action="/admin/quarantine/{item.id}/discard"' in page.text
    html, _ = await _confirm(desk, f"/admin/quarantine/{item.id}/discard", {})
    assert "no parser" in html  # says what would be discarded
    assert f'href="/admin/quarantine/{item.id}"' in html  # and the way back
    stored = await console.state.store.get_quarantine(console.office.id, item.id)
    assert stored is not None and stored.status == "open"
    assert await _submit(desk, html) == "/admin/quarantine?msg=discarded"
    stored = await console.state.store.get_quarantine(console.office.id, item.id)
    assert stored is not None and stored.status == "discarded"
    reply = await desk.post(f"/admin/quarantine/{item.id}/discard", {"confirm": "yes"})
    assert reply.status == 409  # not twice


async def test_revoking_a_token_asks_first(console: Console) -> None:
    desk = await _admin(console)
    token_id = hash_token(console.agent_token)[:12]
    path = f"/admin/agents/{console.agent.id}/tokens/revoke"
    html, _ = await _confirm(desk, path, {"token_id": token_id})
    assert token_id in html and "Tom Agent" in html
    assert (await console.bearer("GET", "/me", console.agent_token))[0] == 200
    assert (await _submit(desk, html)).endswith("msg=token_revoked")
    assert (await console.bearer("GET", "/me", console.agent_token))[0] == 401


async def test_signing_out_everywhere_asks_first(console: Console) -> None:
    desk = await _admin(console)
    tom = await console.signed_in()
    path = f"/admin/agents/{console.agent.id}/sessions/end"
    html, _ = await _confirm(desk, path, {})
    assert (await tom.get("/")).status == 200  # still signed in
    assert (await _submit(desk, html)).endswith("msg=sessions_ended")
    assert (await tom.get("/")).status == 303


async def test_removing_an_inbound_address_asks_first(console: Console) -> None:
    desk = await _admin(console)
    await console.state.store.add_inbound_address(console.office.id, "post@buero.test")
    html, _ = await _confirm(desk, "/admin/office/addresses/remove",
                             {"address": "post@buero.test"})
    assert "post@buero.test" in await console.state.store.inbound_addresses(console.office.id)
    assert (await _submit(desk, html)) == "/admin/office?msg=address_removed"
    assert await console.state.store.inbound_addresses(console.office.id) == {}


async def test_confirmation_steps_still_check_what_they_are_about(console: Console) -> None:
    """Another office's message or address, an unknown token: 404 before any question."""
    other = await console.state.store.create_office("Anderes Büro", "DE")
    theirs = await console.state.ingest.quarantine(other.id, "fax", b"x", "no parser", "t")
    await console.state.store.add_inbound_address(other.id, "their@anders.test")
    desk = await _admin(console)
    for path, data in [(f"/admin/quarantine/{theirs.id}/discard", {}),
                       ("/admin/office/addresses/remove", {"address": "their@anders.test"}),
                       (f"/admin/agents/{console.agent.id}/tokens/revoke",
                        {"token_id": "000000000000"})]:
        reply = await desk.post(path, data)
        assert reply.status == 404, path
        assert 'id="confirm-form"' not in reply.text


# ---------------------------------------------------------------- 2. what a message says
def _mail(subject: str, body: str, sender: str = "Max Muster <max@example.com>") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "post@buero.test"
    msg["Subject"] = subject
    msg["Message-ID"] = "<preview-1@example.com>"
    msg["Date"] = "Thu, 01 Jan 2026 10:00:00 +0100"
    msg.set_content(body)
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                       filename="Police.pdf")
    return msg.as_bytes()


async def test_a_quarantined_mail_shows_sender_subject_and_text(console: Console) -> None:
    raw = _mail("Frage <script>alert(1)</script>",
                "Guten Tag,\nmeine Vertragsnummer ist K-4711.\u202egnp.exe\n<b>fett</b>")
    item = await console.state.ingest.quarantine(console.office.id, "email", raw,
                                                 "unknown_sender", "imap:INBOX")
    desk = await _admin(console)
    page = await desk.get(f"/admin/quarantine/{item.id}")
    assert page.status == 200
    content = page.text.split('id="content"')[1].split("</section>")[0]
    assert "Max Muster &lt;max@example.com&gt;" in content
    assert "Frage &lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "meine Vertragsnummer ist K-4711." in content
    assert "&lt;b&gt;fett&lt;/b&gt;" in content and "<script>" not in content
    assert "\u202e" not in content  # no bidirectional override reaches the page
    assert "Police.pdf" in content
    # the confirmation step says whose message would be discarded
    html, _ = await _confirm(desk, f"/admin/quarantine/{item.id}/discard", {})
    assert "Max Muster &lt;max@example.com&gt;" in html


async def test_an_unreadable_mail_shows_why_and_how_it_begins(console: Console) -> None:
    item = await console.state.ingest.quarantine(console.office.id, "email", b" \r\n \r\n",
                                                 "empty message", "smtp")
    desk = await _admin(console)
    page = await desk.get(f"/admin/quarantine/{item.id}", headers={"Accept-Language": "en"})
    content = page.text.split('id="content"')[1].split("</section>")[0]
    assert page.status == 200 and "Cannot be read as a message (empty message)" in content


async def test_a_normalised_message_shows_its_text(console: Console) -> None:
    result = await console.state.ingest.ingest(InboundMessage(
        office_id=console.office.id, channel=Channel.EMAIL, source_id="<q@x>",
        sender_kind=IdentityKind.EMAIL, sender="kaputt", sender_name="Kaputte Adresse",
        subject="Zuordnen", occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        body="Bitte zuordnen"))
    assert result.quarantined is not None
    desk = await _admin(console)
    page = await desk.get(f"/admin/quarantine/{result.quarantined.id}")
    content = page.text.split('id="content"')[1].split("</section>")[0]
    assert "Kaputte Adresse &lt;kaputt&gt;" in content and "Bitte zuordnen" in content
