"""The browser-test fixtures work: a real server, the browser, the SMTP sink, axe."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser import conftest as browser_conftest
from tests.browser.conftest import Axe
from tests.support.live_server import MAIL_FROM, ChronikServer, MailSink, message_text


def test_health_json_in_the_browser(chronik: ChronikServer, page: Page) -> None:
    response = page.goto(chronik.url("/api/v1/health"))
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(page.inner_text("body"))["status"] == "ok"


def test_api_helper_arranges_data(chronik: ChronikServer, page: Page) -> None:
    me = chronik.api("GET", "/me")
    assert me["office"]["id"] == chronik.office_id and me["role"] == "admin"
    assert chronik.api("GET", "/me", token=chronik.agent_token)["role"] == "agent"
    assert chronik.call("GET", "/me", token="").status == 401
    customer = chronik.api("POST", "/customers",
                           {"name": "Erika Muster", "phones": ["0171 1234567"]})
    found = chronik.api("GET", "/lookup?phone=%2B491711234567")
    assert [m["customer"]["id"] for m in found["matches"]] == [customer["id"]]
    # the CLI (in a thread) also works while the browser's loop is registered in this one
    office_id, admin = chronik.create_office("Zweites Büro")
    assert chronik.api("GET", "/me", token=admin)["office"]["id"] == office_id != \
        chronik.office_id
    assert chronik.api("GET", "/me", token=chronik.create_agent())["role"] == "agent"


def test_sink_receives_smtplib_mail(mail_sink: MailSink) -> None:
    message = EmailMessage()
    message["From"] = "someone@chronik.test"
    message["To"] = "Erika Müller <erika@kunde.test>"
    message["Subject"] = "Grüße"
    message.set_content("Hallo Erika")
    with smtplib.SMTP(mail_sink.host, mail_sink.port, timeout=10) as smtp:
        smtp.send_message(message)
    got = mail_sink.wait_for("ERIKA@kunde.test", timeout=5)
    assert got["Subject"] == "Grüße"
    assert message_text(got).strip() == "Hallo Erika"
    with pytest.raises(TimeoutError, match=r"no message to nobody@kunde\.test"):
        mail_sink.wait_for("nobody@kunde.test", timeout=0.2)


def test_server_mails_a_published_note_to_the_sink(chronik: ChronikServer,
                                                   mail_sink: MailSink) -> None:
    customer = chronik.api("POST", "/customers",
                           {"name": "Jan Kunde", "emails": ["jan@kunde.test"]})
    chronik.api("POST", f"/customers/{customer['id']}/entries",
                {"kind": "note", "body": "Ihr Vertrag ist verlängert.",
                 "visibility": "published", "notify": True})
    got = mail_sink.wait_for("jan@kunde.test")
    assert MAIL_FROM in got["From"]
    assert "Ihr Vertrag ist verlängert." in message_text(got)


STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
              "base-uri 'none'; frame-ancestors 'none'")
PAGE = """<!doctype html><html lang="de"><head><title>CSP-Test</title></head>
<body><main><h1>Hallo</h1>{extra}<script>document.title = "inline ran"</script></main>
</body></html>"""


def test_axe_runs_under_a_strict_csp(page: Page, axe: Axe, browser_errors: list[str],
                                     chronik: ChronikServer) -> None:
    """A page served (by a route) with a CSP without 'unsafe-inline': axe still runs, and
    the blocked inline script is reported as a CSP violation."""
    def serve(extra: str) -> None:
        page.route(chronik.url("/csp-test"), lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": STRICT_CSP}, body=PAGE.format(extra=extra)))
        page.goto(chronik.url("/csp-test"))
        page.unroute(chronik.url("/csp-test"))

    serve("")
    assert page.title() == "CSP-Test"  # the inline script was blocked ...
    assert axe(page) == []
    serve('<img src="/nothing.png">')  # no alt: critical
    assert [v["id"] for v in axe(page)] == ["image-alt"]
    with pytest.raises(AssertionError, match="image-alt"):
        axe.assert_clean(page)
    assert browser_errors and all("CSP violation" in e for e in browser_errors)  # ... and seen
    browser_errors.clear()  # provoked on purpose


def test_screenshot_only_when_asked(page: Page, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    monkeypatch.setattr(browser_conftest, "SCREENSHOTS", tmp_path / "shots")
    page.set_content("<main><h1>Bild</h1></main>")
    monkeypatch.delenv("CHRONIK_SCREENSHOTS", raising=False)
    assert browser_conftest.take_screenshot(page, "smoke") is None
    monkeypatch.setenv("CHRONIK_SCREENSHOTS", "1")
    shot = browser_conftest.take_screenshot(page, "smoke")
    assert shot == tmp_path / "shots" / "smoke.png"
    assert shot.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="lowercase"):
        browser_conftest.take_screenshot(page, "../Evil")
