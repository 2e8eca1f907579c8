"""An office admin sets "notify customer" for the office and sees where it does not hold:
colleagues' personal defaults win over the office's, so the policy page names them, and
each agent's page shows theirs."""

from __future__ import annotations

import re
from html import unescape

from tests.web.conftest import ADMIN_EMAIL, Console


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", html)))


async def test_the_policy_page_names_colleagues_whose_own_defaults_win(
        console: Console) -> None:
    """The office keeps documents quiet. Tom's personal default notifies: his documents
    reach customers, and the admin could not see that anywhere."""
    status, _ = await console.bearer("PUT", "/policy/office", token=console.admin_token,
                                     json={"document": {"notify": False}})
    assert status == 200
    status, _ = await console.bearer("PUT", "/policy/agent", json={
        "document": {"visibility": "published", "notify": True},
        "note": {"notify": False}})  # the office (system) notifies notes
    assert status == 200
    desk = await console.signed_in(ADMIN_EMAIL)
    page = await desk.get("/admin/policy")
    assert page.status == 200
    others = re.search(r'id="document-others">(.*?)</span>', page.text, re.S)
    assert others, _text(page.text)
    assert _text(others.group(1)).strip().endswith(
        "Tom Agent (veröffentlicht, mit Benachrichtigung)")
    assert f'href="/admin/agents/{console.agent.id}"' in others.group(1)
    assert 'id="note-others"' in page.text  # the office notifies notes, Tom does not
    assert 'id="phone_note-others"' not in page.text  # no personal default there

    agent_page = await desk.get(f"/admin/agents/{console.agent.id}")
    defaults = _text(agent_page.text[agent_page.text.index('id="defaults"'):])
    assert "Dokument: veröffentlicht, mit Benachrichtigung (persönlich)" in defaults
    assert "Notiz: veröffentlicht, ohne Benachrichtigung (Systemvorgabe / persönlich)" \
        in defaults
    own = await desk.get(f"/admin/agents/{console.admin.id}")
    assert "Keine – es gelten die Voreinstellungen des Büros." in _text(own.text)


async def test_a_personal_default_equal_to_the_offices_is_not_listed(
        console: Console) -> None:
    status, _ = await console.bearer("PUT", "/policy/office", token=console.admin_token,
                                     json={"document": {"visibility": "internal"}})
    assert status == 200
    status, _ = await console.bearer("PUT", "/policy/agent", json={
        "document": {"visibility": "internal", "notify": False}})
    assert status == 200
    desk = await console.signed_in(ADMIN_EMAIL)
    page = await desk.get("/admin/policy")
    assert 'id="document-others"' not in page.text


async def test_a_too_long_agent_name_is_said_as_such_in_the_admins_language(
        console: Console) -> None:
    """A pasted 500-character name was answered "a name may have at most 200 characters"
    (English), and -- with a sign-in address typed -- "Das ist keine gültige E-Mail-Adresse"
    about a valid address."""
    desk = await console.signed_in(ADMIN_EMAIL)
    for email in ("", "eva@buero.test"):
        reply = await desk.post("/admin/agents", {"name": "Eva " + "x" * 500,
                                                  "role": "agent", "email": email})
        assert reply.status == 400
        shown = _text(reply.text)
        assert "Der Name ist zu lang (höchstens 200 Zeichen)." in shown
        assert "E-Mail-Adresse gehört" not in shown and "keine gültige" not in shown
        assert 'value="eva@buero.test"' in reply.text or not email  # typed values kept
    agents = await console.state.store.list_agents(console.office.id)
    assert len(agents) == 2
