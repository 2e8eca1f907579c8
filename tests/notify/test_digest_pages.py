"""The daily digest as customers and agents set it: the portal's preferences page (signed in
with the code from a real e-mail) and the console's customer profile (signed in agent), both
recorded on the timeline like every preference change. And what the agent sees on the
console timeline when a notification had to fall back."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.notify.conftest import NOTIFY_ENV, eventually
from tests.web.conftest import Console, MakeConsole, make_console  # noqa: F401 (fixture)
from tests.web.test_portal_pages import Site, running_site, sign_in
from timeline.models import Visibility


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    async with running_site(tmp_path, monkeypatch) as s:
        yield s


def _portal_form(csrf: str, **extra: str) -> dict[str, str]:
    """The preferences form as a browser sends it, nothing else changed."""
    return {"csrf": csrf, "consent_email": "1", "consent_telegram": "1",
            "consent_portal": "1", "quiet_timezone": "Europe/Berlin", "language": "de",
            **extra}


async def test_the_customer_sets_the_daily_digest_in_the_portal(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.get("/portal/preferences")
    assert page.status == 200
    for control in ("pref-digest", "pref-digest-at", "pref-digest-tz"):
        assert f'<label for="{control}">' in page.text, control
    assert 'name="digest_at" type="time" value="08:00"' in page.text  # the default shown
    saved = await browser.post("/portal/preferences", data=_portal_form(
        page.field("csrf"), digest="1", digest_at="07:30", digest_timezone="Europe/Vienna"))
    assert saved.status == 303
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["daily_digest"] == {"at": "07:30", "timezone": "Europe/Vienna"}
    assert prefs["automatic_notifications"] is True and prefs["quiet_hours"] is None
    [change] = await site.timeline(c["id"], "&kind=preferences")
    assert change["subject"] == "Notification preferences changed by the customer (portal)"
    assert change["body"] == ("daily digest: off (one message per item) → "
                              "daily at 07:30 Europe/Vienna")
    shown = await browser.get("/portal/preferences")
    assert 'id="pref-digest" name="digest" type="checkbox" value="1" checked' in shown.text
    assert 'value="07:30"' in shown.text
    # a time that is none: 400, the page says so, nothing changes
    bad = await browser.post("/portal/preferences", data=_portal_form(
        shown.field("csrf"), digest="1", digest_at="gleich morgens",
        digest_timezone="Europe/Vienna"))
    assert bad.status == 303 and bad.location == "/portal/preferences?error=digest"
    assert "tägliche Zusammenfassung" in (await browser.follow(bad)).text
    assert len(await site.timeline(c["id"], "&kind=preferences")) == 1
    # a time zone the page does not offer: 400 as well
    odd = await browser.post("/portal/preferences", data=_portal_form(
        shown.field("csrf"), digest="1", digest_at="07:30", digest_timezone="Mars/Base"))
    assert odd.status == 303 and odd.location == "/portal/preferences?error=invalid"
    # unticked: one message per item again, recorded
    off = await browser.post("/portal/preferences", data=_portal_form(shown.field("csrf")))
    assert off.status == 303
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["daily_digest"] is None
    changes = await site.timeline(c["id"], "&kind=preferences")
    assert changes[0]["body"] == ("daily digest: daily at 07:30 Europe/Vienna → "
                                  "off (one message per item)")


async def test_the_agent_sets_the_daily_digest_in_the_customer_profile(
        make_console: MakeConsole) -> None:  # noqa: F811
    console = await make_console()
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert page.status == 200
    assert '<label for="pf-digest">' in page.text and '<label for="pf-digest-at">' in page.text
    form = {"consent_email": "on", "consent_telegram": "on", "consent_portal": "on",
            "language": "de", "digest": "on", "digest_at": "09:15",
            "digest_tz": "Europe/Berlin"}
    saved = await desk.post(f"/customers/{erika.id}/preferences", form)
    assert saved.status == 303, saved.text
    status, prefs = await console.bearer("GET", f"/customers/{erika.id}/preferences")
    assert status == 200 and prefs["daily_digest"] == {"at": "09:15",
                                                       "timezone": "Europe/Berlin"}
    status, page_ = await console.bearer("GET",
                                         f"/customers/{erika.id}/timeline?kind=preferences")
    (change,) = page_["items"]
    assert change["subject"] == "Notification preferences changed by Tom Agent"
    assert "daily digest: off (one message per item) → daily at 09:15 Europe/Berlin" in \
        change["body"]
    shown = await desk.get(f"/customers/{erika.id}")
    assert 'id="pf-digest" name="digest" checked' in shown.text
    # saving the same again records no digest change
    assert (await desk.post(f"/customers/{erika.id}/preferences", form)).status == 303
    status, page_ = await console.bearer("GET",
                                         f"/customers/{erika.id}/timeline?kind=preferences")
    assert all("daily digest" not in c["body"] for c in page_["items"][:-1])
    bad = await desk.post(f"/customers/{erika.id}/preferences", {**form, "digest_at": "25:00"})
    assert bad.status == 400
    status, prefs = await console.bearer("GET", f"/customers/{erika.id}/preferences")
    assert prefs["daily_digest"]["at"] == "09:15"


@pytest.fixture
def refusing_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        yield int(sock.getsockname()[1])


async def test_the_console_timeline_shows_why_a_notification_fell_back(
        make_console: MakeConsole, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        refusing_port: int) -> None:
    for key, value in {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": "127.0.0.1",
                       "CHRONIK_SMTP_PORT": str(refusing_port)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CHRONIK_NOTIFY_WORKER", "true")
    console = await make_console()
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    entry = await console.record(erika, body="Ihre Unterlagen sind da",
                                 visibility=Visibility.PUBLISHED, notify=True)

    async def delivered() -> dict[str, Any] | None:
        got = (await console.entry(entry.id)).meta.get("delivery")
        return got if isinstance(got, dict) and got.get("status") == "sent" else None
    delivery = await eventually(delivered, timeout=20)
    assert delivery["channel"] == "portal"
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    assert page.status == 200
    assert "email: gave up after 4 attempts" in page.text
