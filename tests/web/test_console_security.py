"""The console's security promises, checked from the outside: one office never sees
another's customers, every state-changing form needs the session's CSRF token (and so does
the API when called with the session cookie), pages carry strict headers, and e-mail HTML is
shown inert (sanitised at ingest, served with a no-script CSP in a sandboxed frame)."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from connectors.email.parse import parse_message
from tests.web.conftest import Console, Desk, multipart
from timeline.models import Channel, Customer, Direction, Entry, Visibility
from timeline.store import TimelineQuery

NOT_FOUND = "Nicht gefunden."
CSRF_TEXT = "Das Formular ist abgelaufen."

HOSTILE_HTML = (
    '<p>Hallo <b>Frau Berger</b>,</p>'
    '<script>alert("x")</script>'
    '<img src="x" onerror="alert(1)">'
    '<img src="http://remote.example/x.png" alt="tracker">'
    '<a href="javascript:alert(1)">klick</a>'
    '<a href="https://www.example.org/info" onclick="alert(2)">Info</a>'
    '<form action="https://evil.example/"><input name="pw"></form>'
    '<style>body { background: url(http://remote.example/bg.png) }</style>'
    '<p>Gruß, Max</p>'
)


def mail_html(html: str) -> str:
    """The HTML as the e-mail connector stores it: through its own parser and sanitiser."""
    msg = EmailMessage()
    msg["From"] = "max@example.com"
    msg["To"] = "office@buero.test"
    msg["Subject"] = "Mit HTML"
    msg["Message-ID"] = "<hostile-1@example.com>"
    msg.set_content("Hallo Frau Berger (Textfassung)")
    msg.add_alternative(html, subtype="html")
    parsed = parse_message(msg.as_bytes())
    assert parsed.html is not None
    return parsed.html


async def other_office(console: Console) -> tuple[Customer, Entry]:
    office = await console.state.store.create_office("Fremdes Büro", "DE")
    customer = await console.customer("Fremde Kundin", phones=("089 9876543",),
                                      emails=("fremd@example.org",), office=office)
    entry = await console.add(customer, subject="Geheime Anfrage",
                              body="Vertragsnummer FREMD-4711", html="<p>Geheim</p>")
    return customer, entry


def assert_not_found_page(reply_status: int, text: str, content_type: str) -> None:
    assert reply_status == 404
    assert content_type.startswith("text/html")
    assert NOT_FOUND in text


# ---------------------------------------------------------------------------- tenants
async def test_another_offices_customer_and_entries_are_not_found(console: Console) -> None:
    theirs, entry = await other_office(console)
    desk = await console.signed_in()
    for path in (f"/customers/{theirs.id}", f"/customers/{theirs.id}/items",
                 f"/customers/{theirs.id}/items?cursor=99999999999999",
                 f"/customers/{theirs.id}/merge", f"/customers/{theirs.id}/recipients",
                 f"/entries/{entry.id}/item", f"/entries/{entry.id}/mail"):
        reply = await desk.get(path)
        assert_not_found_page(reply.status, reply.text, reply.headers["Content-Type"])
        assert "Fremde Kundin" not in reply.text and "FREMD-4711" not in reply.text
    # the office's own lookups do not find them either
    found = await desk.get("/find?q=089 9876543")
    assert found.status == 200 and "Fremde Kundin" not in found.text
    found = await desk.get("/find?q=fremd@example.org")
    assert found.status == 200 and "Fremde Kundin" not in found.text
    found = await desk.get("/find?q=Fremde")
    assert found.status == 200 and "Fremde Kundin" not in found.text
    banner = await desk.get("/calls/banner?number=089 9876543")
    assert banner.status == 200 and "Fremde Kundin" not in banner.text
    await console.state.indexer.drain()
    search = await desk.get("/search?q=FREMD")
    assert search.status == 200 and "FREMD-4711" not in search.text
    mine = await console.customer("Eigene Kundin")
    reply = await desk.get(f"/customers/{mine.id}?reply_to={entry.id}")
    assert reply.status == 200 and "Geheime Anfrage" not in reply.text


async def test_another_offices_entries_cannot_be_changed(console: Console) -> None:
    theirs, entry = await other_office(console)
    mine = await console.customer("Eigene Kundin")
    desk = await console.signed_in()
    attempts = [
        (f"/entries/{entry.id}/complaint", {"action": "open"}),
        (f"/entries/{entry.id}/pin", {"action": "pin"}),
        (f"/customers/{theirs.id}/identities", {"kind": "phone", "value": "0171 5550000"}),
        (f"/customers/{theirs.id}/update", {"name": "Umbenannt"}),
        (f"/customers/{theirs.id}/merge", {"into": mine.id}),
        (f"/customers/{mine.id}/merge", {"into": theirs.id}),
        ("/identities/attach", {"customer_id": theirs.id, "phone": "0171 5550000"}),
    ]
    for path, data in attempts:
        reply = await desk.post(path, data)
        assert_not_found_page(reply.status, reply.text, reply.headers["Content-Type"])
    form = multipart(kind="note", body="Hallo")
    reply = await desk.request("POST", f"/customers/{theirs.id}/entries?csrf={desk.csrf}",
                               data=form)
    assert reply.status == 404
    after = await console.state.store.get_customer(theirs.office_id, theirs.id)
    assert after is not None
    assert after.name == "Fremde Kundin" and after.status.value == "active"
    assert {i.value for i in after.identities} == {"+49899876543", "fremd@example.org"}
    page = await console.state.store.timeline(theirs.office_id, theirs.id,
                                              TimelineQuery())
    assert [e.id for e in page.items] == [entry.id]
    assert page.items[0].tags == ()
    status, body = await console.bearer("GET", "/lookup?phone=0171 5550000")
    assert status == 200 and body["matches"] == []


# ---------------------------------------------------------------------------- CSRF
async def _complaint_tags(console: Console, entry: Entry) -> tuple[str, ...]:
    return (await console.entry(entry.id)).tags


@pytest.mark.parametrize("token", ["", "wrong-token"])
async def test_form_posts_without_the_csrf_token_change_nothing(console: Console,
                                                                token: str) -> None:
    customer = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    entry = await console.add(customer, subject="Beschwerde", body="Das dauert zu lange!")
    note = await console.record(customer, body="Mag keine Anrufe", visibility=Visibility.INTERNAL)
    desk = await console.signed_in()
    other = await console.customer("Max Müller")

    async def refused(path: str, data: dict[str, str]) -> None:
        reply = await desk.post(path, data, csrf=token)
        assert reply.status == 403, (path, reply.status)
        assert CSRF_TEXT in reply.text

    await refused(f"/entries/{entry.id}/complaint", {"action": "open"})
    await refused(f"/entries/{note.id}/pin", {"action": "pin"})
    await refused(f"/customers/{customer.id}/identities",
                  {"kind": "email", "value": "neu@example.de"})
    await refused(f"/customers/{customer.id}/update", {"name": "Gekapert"})
    await refused("/customers", {"name": "Neu Angelegt", "phone": "0171 7654321"})
    await refused("/identities/attach", {"customer_id": other.id, "phone": "0171 1234567"})
    await refused(f"/customers/{customer.id}/merge", {"into": other.id})
    await refused("/settings", {"language": "en", "timezone": "America/New_York",
                                "policy-note": "internal"})
    await refused("/settings/language", {"language": "en", "next": "/"})
    await refused("/signout", {})
    # the token in the body only: multipart needs it in the URL
    form = multipart(kind="note", body="per Formular ohne Token", csrf=desk.csrf)
    suffix = f"?csrf={token}" if token else ""
    reply = await desk.request("POST", f"/customers/{customer.id}/entries{suffix}", data=form)
    assert reply.status == 403

    # nothing changed
    assert await _complaint_tags(console, entry) == ()
    assert (await console.entry(note.id)).tags == ()
    after = await console.state.store.get_customer(console.office.id, customer.id)
    assert after is not None and after.name == "Erika Mustermann"
    assert [i.value for i in after.identities] == ["+491711234567"]
    status, found = await console.bearer("GET", "/lookup?phone=0171 7654321")
    assert found["matches"] == []
    status, found = await console.bearer("GET", "/lookup?phone=0171 1234567")
    assert [m["customer"]["id"] for m in found["matches"]] == [customer.id]
    status, timeline = await console.bearer("GET", f"/customers/{customer.id}/timeline")
    assert {e["id"] for e in timeline["items"]} == {entry.id, note.id}
    login = await console.state.store.agent_login(console.agent.id)
    assert login is not None and login.language is None and login.timezone is None
    status, policy = await console.bearer("GET", "/policy")
    assert policy["agent"] == {}
    # still signed in (the sign-out was refused), still German
    home = await desk.get("/")
    assert home.status == 200 and 'lang="de"' in home.text


async def test_the_same_posts_with_the_token_work(console: Console) -> None:
    """The counterpart of the test above (so it cannot pass for the wrong reason)."""
    customer = await console.customer("Erika Mustermann")
    entry = await console.add(customer, subject="Beschwerde", body="Das dauert zu lange!")
    desk = await console.signed_in()
    reply = await desk.post(f"/entries/{entry.id}/complaint", {"action": "open"})
    assert reply.status == 303
    assert "complaint" in await _complaint_tags(console, entry)
    reply = await desk.post(f"/customers/{customer.id}/identities",
                            {"kind": "email", "value": "neu@example.de"})
    assert reply.status == 303
    # the console's scripts send the token as a header instead of a field
    reply = await desk.request("POST", "/settings/language", data={"language": "en",
                                                                   "next": "/"},
                               headers={"X-CSRF-Token": desk.csrf})
    assert reply.status == 303
    reply = await desk.post("/signout", {})
    assert reply.status == 303
    assert (await desk.get("/")).status == 303


async def test_a_post_without_a_session_is_401_and_changes_nothing(console: Console) -> None:
    desk = await console.desk()
    reply = await desk.post("/customers", {"name": "Anonym Angelegt", "phone": "0171 1112223"},
                            csrf="anything")
    assert reply.status == 401
    assert "/signin" in reply.text
    status, found = await console.bearer("GET", "/lookup?phone=0171 1112223")
    assert found["matches"] == []


# ---------------------------------------------------------------------------- API + cookie
async def test_api_with_the_session_cookie_needs_the_csrf_header_to_write(
        console: Console) -> None:
    customer = await console.customer("Erika Mustermann")
    desk = await console.signed_in()
    status, body = await desk.api("GET", f"/customers/{customer.id}", csrf=False)
    assert status == 200 and body["name"] == "Erika Mustermann"
    status, me = await desk.api("GET", "/me", csrf=False)
    assert status == 200 and me["name"] == "Tom Agent"

    entry = {"kind": "note", "body": "Rückruf vereinbart", "visibility": "internal"}
    status, body = await desk.api("POST", f"/customers/{customer.id}/entries", json=entry,
                                  csrf=False)
    assert status == 403
    assert body["error"]["code"] == "csrf"
    status, body = await desk.api("POST", f"/customers/{customer.id}/entries", json=entry,
                                  csrf=False, headers={"X-CSRF-Token": "not-the-token"})
    assert status == 403 and body["error"]["code"] == "csrf"
    status, timeline = await desk.api("GET", f"/customers/{customer.id}/timeline")
    assert timeline["items"] == []

    status, body = await desk.api("POST", f"/customers/{customer.id}/entries", json=entry)
    assert status == 201, body
    assert body["author"] == console.agent.id
    status, timeline = await desk.api("GET", f"/customers/{customer.id}/timeline")
    assert [e["body"] for e in timeline["items"]] == ["Rückruf vereinbart"]


async def test_api_admin_operations_follow_the_sessions_agent(console: Console) -> None:
    agent = await console.signed_in()
    status, body = await agent.api("PUT", "/policy/office",
                                   json={"note": {"visibility": "internal"}})
    assert status == 403, body
    admin = await console.signed_in("anna.admin@buero.test")
    status, body = await admin.api("PUT", "/policy/office",
                                   json={"note": {"visibility": "internal"}})
    assert status == 200, body


# ---------------------------------------------------------------------------- headers
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def assert_strict_page(reply_headers: dict[str, str] | object, text: str) -> None:
    headers = reply_headers
    csp = headers["Content-Security-Policy"]  # type: ignore[index]
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";")}
    assert "script-src" in directives
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives.get("default-src", "")
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"  # type: ignore[index]
    assert headers["Cache-Control"] == "no-store"  # type: ignore[index]
    assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    # nothing inline that the CSP would have to allow: scripts are files or JSON data
    for attrs in SCRIPT_TAG.findall(text):
        assert 'src="/static/' in attrs or 'type="application/json"' in attrs, attrs
    assert " on" + "click=" not in text and "javascript:" not in text
    assert ' style="' not in text  # style-src 'self' would drop inline styles


async def test_pages_carry_strict_security_headers(console: Console) -> None:
    customer = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    entry = await console.add(customer, subject="Hallo", body="Text")
    desk = await console.desk()
    signin = await desk.get("/signin")
    assert_strict_page(signin.headers, signin.text)
    desk = await console.signed_in()
    for path in ("/", f"/customers/{customer.id}", f"/customers/{customer.id}/items",
                 f"/entries/{entry.id}/item", "/calls/banner?number=0171 1234567",
                 "/search?q=Hallo", "/complaints", "/settings", "/find?q=0175 000000",
                 f"/customers/{customer.id}/merge", "/customers/NOPE"):
        reply = await desk.get(path)
        assert reply.status in (200, 404), path
        assert_strict_page(reply.headers, reply.text)


async def test_names_and_texts_are_escaped_everywhere(console: Console) -> None:
    evil = '<img src=x onerror="alert(1)">'
    customer = await console.customer(f"Eve {evil}", phones=("0171 1234567",))
    await console.add(customer, subject=f"Betreff {evil}", body=f"Kündigung {evil}",
                      tags=("complaint",))
    await console.state.indexer.drain()
    desk = await console.signed_in()
    for path in ("/", f"/customers/{customer.id}", "/complaints",
                 "/calls/banner?number=0171 1234567", "/search?q=Kündigung", "/find?q=Eve",
                 f"/find?q={evil}"):
        reply = await desk.get(path, follow=True)
        assert reply.status == 200, path
        assert "<img src=x" not in reply.text, path
        assert "&lt;img src=x" in reply.text, path


# ---------------------------------------------------------------------------- e-mail HTML
async def test_mail_html_is_served_inert(console: Console) -> None:
    customer = await console.customer("Max Müller", emails=("max@example.com",))
    entry = await console.add(customer, subject="Mit HTML", body="Hallo (Textfassung)",
                              html=mail_html(HOSTILE_HTML))
    desk = await console.signed_in()
    reply = await desk.get(f"/entries/{entry.id}/mail")
    assert reply.status == 200
    body = reply.text.lower()
    assert "frau berger" in body and "gruß, max" in body  # the mail itself is there
    for banned in ("<script", "onerror", "onclick", "javascript:", "<form", "<style",
                   "remote.example/bg.png"):
        assert banned not in body, banned
    csp = reply.headers["Content-Security-Policy"]
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";")}
    assert directives["default-src"] == "default-src 'none'"
    assert directives["img-src"] == "img-src data:"  # the remote tracker cannot load
    assert "script-src" not in directives  # falls back to default-src 'none'
    assert "sandbox" in directives
    assert "allow-scripts" not in directives["sandbox"]
    assert "allow-same-origin" not in directives["sandbox"]
    assert reply.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert reply.headers["Cache-Control"] == "no-store"  # a mail is as personal as a page

    page = await desk.get(f"/customers/{customer.id}")
    frames = re.findall(r"<iframe\b[^>]*>", page.text)
    assert len(frames) == 1
    frame = frames[0]
    assert f'src="/entries/{entry.id}/mail"' in frame
    sandbox = re.search(r'sandbox="([^"]*)"', frame)
    assert sandbox is not None
    assert "allow-scripts" not in sandbox.group(1)
    assert "allow-same-origin" not in sandbox.group(1)
    # and the page itself never inlines the mail's HTML
    assert "tracker" not in page.text and "<b>Frau Berger</b>" not in page.text


async def test_an_entry_without_html_has_no_mail_frame(console: Console) -> None:
    customer = await console.customer("Max Müller")
    entry = await console.add(customer, channel=Channel.EMAIL, direction=Direction.INBOUND,
                              subject="Nur Text", body="<script>alert(1)</script>")
    desk = await console.signed_in()
    reply = await desk.get(f"/entries/{entry.id}/mail")
    assert reply.status == 404
    page = await desk.get(f"/customers/{customer.id}")
    assert "<iframe" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_desk_helper_sends_no_token_when_asked(console: Console) -> None:
    """Guard for the helpers: ``csrf=""`` really sends no token (else the CSRF tests above
    would pass for the wrong reason)."""
    desk: Desk = await console.signed_in()
    echo = await desk.post("/settings/language", {"language": "en", "next": "/"}, csrf="")
    assert echo.status == 403
