"""Agents sign in to the console through the real ``/signin`` form: password, one-time link
by e-mail, sign-out, session expiry and the ``next`` target after sign-in."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from chronik.web.auth import hash_password, session_hash
from tests.notify.conftest import SmtpSink, eventually
from tests.web.conftest import (
    AGENT_EMAIL,
    CSRF_FIELD,
    PASSWORD,
    Console,
    Desk,
    MakeConsole,
)
from timeline.models import Role, utcnow

WRONG = "E-Mail-Adresse oder Passwort stimmt nicht."
TOO_MANY = "Zu viele Versuche. Bitte warten Sie einige Minuten."
LINK_SENT = "Wenn die Adresse bekannt ist, ist ein Anmeldelink unterwegs."
LINK_INVALID = "Dieser Anmeldelink ist abgelaufen oder wurde schon benutzt."
NOTICE = re.compile(r'<p class="notice[^"]*" role="status">([^<]*)</p>')


def notice(html: str) -> str:
    found = NOTICE.search(html)
    assert found, html[:1500]
    return found.group(1)


def next_of(location: str) -> str:
    """The ``next`` a redirect to the sign-in form carries (decoded)."""
    parts = urlsplit(location)
    assert parts.path == "/signin", location
    (value,) = parse_qs(parts.query)["next"]
    return value


async def signed_out(desk: Desk) -> bool:
    """The console sends this browser to the sign-in form."""
    reply = await desk.get("/")
    return reply.status == 303 and reply.location.startswith("/signin")


# ---------------------------------------------------------------------------- password
async def test_right_password_sets_a_strict_session_cookie(console: Console) -> None:
    desk = await console.desk()
    assert await signed_out(desk)
    reply = await desk.sign_in(AGENT_EMAIL)
    assert reply.status == 303 and reply.location == "/"
    cookie = reply.cookies["chronik_session"]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert not cookie["secure"]  # plain http: a Secure cookie would never come back
    home = await desk.get("/")
    assert home.status == 200
    assert "Tom Agent" in home.text


async def test_signing_in_again_replaces_the_session(console: Console) -> None:
    desk = await console.signed_in()
    first = desk.cookie("chronik_session")
    reply = await desk.sign_in(AGENT_EMAIL)
    assert reply.status == 303
    second = desk.cookie("chronik_session")
    assert first and second and first != second
    old = await console.desk()
    old.session.cookie_jar.update_cookies({"chronik_session": first},
                                          response_url=console.server.make_url("/"))
    assert await signed_out(old)  # the earlier session id opens nothing (no fixation)
    assert (await desk.get("/")).status == 200


async def test_session_cookie_is_secure_when_the_public_url_is_https(
        make_console: MakeConsole, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONIK_PUBLIC_URL", "https://chronik.buero.example")
    console = await make_console()
    assert console.state.settings.public_url == "https://chronik.buero.example"
    desk = await console.desk()
    reply = await desk.sign_in(AGENT_EMAIL)
    assert reply.status == 303
    cookie = reply.cookies["chronik_session"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"


async def test_wrong_password_is_refused_without_a_cookie(console: Console) -> None:
    desk = await console.desk()
    reply = await desk.sign_in(AGENT_EMAIL, "not the password at all")
    assert reply.status == 400
    assert notice(reply.text) == WRONG
    assert "chronik_session" not in reply.cookies
    assert desk.cookie("chronik_session") is None
    assert await signed_out(desk)
    # the address stays in the form, the password does not
    assert f'value="{AGENT_EMAIL}"' in reply.text
    assert "not the password at all" not in reply.text


async def test_unknown_address_gets_the_same_answer(console: Console) -> None:
    desk = await console.desk()
    known = await desk.sign_in(AGENT_EMAIL, "wrong password 123")
    unknown = await desk.sign_in("nobody@buero.test", "wrong password 123")
    assert known.status == unknown.status == 400
    assert notice(known.text) == notice(unknown.text) == WRONG
    assert "chronik_session" not in unknown.cookies


async def test_ten_wrong_passwords_then_429_even_for_the_right_one(console: Console) -> None:
    # an agent of its own, so no other test's sign-ins count against this address
    agent = await console.state.store.create_agent(console.office.id, "Rita Rate", Role.AGENT,
                                                   "no-token-" + console.office.id)
    email = f"rita.{console.office.id.lower()}@buero.test"
    await console.state.store.set_agent_login(agent.id, email=email,
                                              password_hash=await hash_password(PASSWORD))
    desk = await console.desk()
    for _ in range(10):
        reply = await desk.sign_in(email, "guessing-password")
        assert reply.status == 400, reply.status
    reply = await desk.sign_in(email, PASSWORD)
    assert reply.status == 429
    assert notice(reply.text) == TOO_MANY
    assert "chronik_session" not in reply.cookies
    assert await signed_out(desk)
    # another agent is not locked out by Rita's guesses
    other = await console.desk()
    assert (await other.sign_in(AGENT_EMAIL)).status == 303


async def test_signin_needs_the_pre_session_csrf_cookie_and_field(console: Console) -> None:
    fields = {"email": AGENT_EMAIL, "password": PASSWORD, "method": "password", "next": "/"}
    # no cookie, no field (a cross-site form)
    bare = await console.desk()
    reply = await bare.post("/signin", fields, csrf="")
    assert reply.status == 403
    assert "chronik_session" not in reply.cookies
    # a field, but no cookie to match it (another browser's token)
    donor = await console.desk()
    token = CSRF_FIELD.search((await donor.get("/signin")).text)
    assert token
    thief = await console.desk()
    reply = await thief.post("/signin", fields, csrf=token.group(1))
    assert reply.status == 403 and "chronik_session" not in reply.cookies
    # the cookie, but a wrong field
    await bare.get("/signin")
    assert bare.cookie("chronik_csrf")
    reply = await bare.post("/signin", fields, csrf="x" + (bare.cookie("chronik_csrf") or ""))
    assert reply.status == 403 and "chronik_session" not in reply.cookies
    assert await signed_out(bare)
    # the cookie and the field: fine
    reply = await bare.post("/signin", fields, csrf=bare.cookie("chronik_csrf"))
    assert reply.status == 303


# ---------------------------------------------------------------------------- link by mail
def link_in(text: str) -> str:
    found = re.search(r"https?://\S+/signin/link/\S+", text)
    assert found, text
    return urlsplit(found.group(0)).path


async def request_link(desk: Desk, email: str, next_path: str = "/") -> str:
    form = await desk.get("/signin?next=" + quote(next_path, safe=""))
    token = CSRF_FIELD.search(form.text)
    assert token
    reply = await desk.post("/signin", {"email": email, "method": "link", "next": next_path},
                            csrf=token.group(1))
    assert reply.status == 200, reply.text
    return notice(reply.text)


async def test_signin_link_by_mail_is_a_button_then_single_use(mail_console: Console,
                                                               smtp: SmtpSink) -> None:
    console = mail_console
    desk = await console.desk()
    unknown_answer = await request_link(desk, "nobody@buero.test", "/complaints")
    known_answer = await request_link(desk, AGENT_EMAIL, "/complaints")
    assert unknown_answer == known_answer
    assert known_answer.startswith(LINK_SENT)

    mails = await eventually(lambda: _received(smtp, 1))
    assert len(mails) == 1  # the unknown address got nothing
    assert mails[0].recipients == [AGENT_EMAIL]
    path = link_in(mails[0].text())

    # opening the link (a mail scanner does that too) shows a button, and spends nothing
    opened = await desk.get(path)
    assert opened.status == 200
    assert "Weiter zu Chronik" in opened.text
    assert f'action="{path}"' in opened.text
    assert await signed_out(desk)
    token = CSRF_FIELD.search(opened.text)
    assert token

    used = await desk.post(path, {}, csrf=token.group(1))
    assert used.status == 303 and used.location == "/complaints"
    assert used.cookies["chronik_session"]["httponly"] is True
    page = await desk.get("/complaints")
    assert page.status == 200 and "Tom Agent" in page.text

    # once only: a second use (another browser) is refused and signs nobody in
    again = await console.desk()
    opened = await again.get(path)
    token = CSRF_FIELD.search(opened.text)
    assert token
    reply = await again.post(path, {}, csrf=token.group(1))
    assert reply.status == 400
    assert LINK_INVALID in reply.text
    assert "chronik_session" not in reply.cookies
    assert await signed_out(again)


async def test_signin_link_post_needs_the_csrf_cookie(mail_console: Console,
                                                      smtp: SmtpSink) -> None:
    desk = await mail_console.desk()
    await request_link(desk, AGENT_EMAIL)
    mails = await eventually(lambda: _received(smtp, 1))
    path = link_in(mails[0].text())
    stranger = await mail_console.desk()  # never saw the page: no pre-session cookie
    reply = await stranger.post(path, {}, csrf="guessed")
    assert reply.status == 403 and "chronik_session" not in reply.cookies
    # the refused attempt did not spend the link
    opened = await desk.get(path)
    token = CSRF_FIELD.search(opened.text)
    assert token
    assert (await desk.post(path, {}, csrf=token.group(1))).status == 303


async def test_a_tampered_link_signs_nobody_in(mail_console: Console, smtp: SmtpSink) -> None:
    desk = await mail_console.desk()
    await request_link(desk, AGENT_EMAIL)
    mails = await eventually(lambda: _received(smtp, 1))
    path = link_in(mails[0].text())
    opened = await desk.get(path)
    token = CSRF_FIELD.search(opened.text)
    assert token
    reply = await desk.post(path[:-3] + "xyz", {}, csrf=token.group(1))
    assert reply.status == 400 and "chronik_session" not in reply.cookies


async def _received(smtp: SmtpSink, n: int) -> list | None:  # type: ignore[type-arg]
    return list(smtp.received) if len(smtp.received) >= n else None


# ---------------------------------------------------------------------------- sign-out, expiry
async def test_signout_ends_the_session_for_good(console: Console) -> None:
    desk = await console.signed_in()
    raw = desk.cookie("chronik_session")
    assert raw
    reply = await desk.post("/signout", {})
    assert reply.status == 303 and reply.location == "/signin"
    assert await signed_out(desk)
    # the old cookie, replayed from another browser, opens nothing either
    replay = await console.desk()
    replay.session.cookie_jar.update_cookies({"chronik_session": raw},
                                             response_url=console.server.make_url("/"))
    assert replay.cookie("chronik_session") == raw
    assert await signed_out(replay)
    status, body = await replay.api("GET", "/me", csrf=False)
    assert status == 401, body


async def test_an_expired_session_goes_back_to_signin(console: Console) -> None:
    desk = await console.signed_in()
    assert (await desk.get("/search")).status == 200
    raw = desk.cookie("chronik_session")
    assert raw
    await console.state.store.extend_web_session(session_hash(raw),
                                                 utcnow() - timedelta(minutes=1))
    reply = await desk.get("/search")
    assert reply.status == 303
    assert next_of(reply.location) == "/search"
    status, _ = await desk.api("GET", "/me")
    assert status == 401


async def test_a_session_in_its_second_half_is_extended(console: Console) -> None:
    desk = await console.signed_in()
    raw = desk.cookie("chronik_session")
    assert raw
    soon = utcnow() + timedelta(minutes=5)
    await console.state.store.extend_web_session(session_hash(raw), soon)
    assert (await desk.get("/")).status == 200
    record = await console.state.store.get_web_session(session_hash(raw), "agent", utcnow())
    assert record is not None
    assert record.expires_at > utcnow() + timedelta(hours=11)


# ---------------------------------------------------------------------------- next=
@pytest.mark.parametrize("path", ["/", "/customers/{id}", "/search?q=K%C3%BCndigung",
                                  "/complaints", "/settings"])
async def test_pages_without_a_session_redirect_to_signin_and_back(console: Console,
                                                                   path: str) -> None:
    customer = await console.customer("Erika Mustermann")
    path = path.replace("{id}", customer.id)
    desk = await console.desk()
    reply = await desk.get(path)
    assert reply.status == 303
    assert next_of(reply.location) == path
    form = await desk.get(reply.location)
    assert form.status == 200
    assert f'name="next" value="{path}"' in form.text.replace("&amp;", "&")
    signed = await desk.sign_in(AGENT_EMAIL, next_path=path)
    assert signed.status == 303 and signed.location == path
    landed = await desk.get(path)
    assert landed.status == 200


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/x",
                                    "/\\evil.example", "http:/evil.example", "evil.example",
                                    "/\t/evil.example", "/\r\nSet-Cookie: x=1"])
async def test_next_to_another_site_is_ignored(console: Console, target: str) -> None:
    desk = await console.desk()
    form = await desk.get("/signin?next=" + quote(target, safe=""))
    assert form.status == 200
    assert 'name="next" value="/"' in form.text
    signed = await desk.sign_in(AGENT_EMAIL, next_path=target)
    assert signed.status == 303
    assert signed.location == "/"
