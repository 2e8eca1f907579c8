"""Broken multipart bodies are 400 with a clear message (API and pages), never a 500."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from tests.web.conftest import Console
from tests.web.test_portal_pages import running_site, sign_in

GOOD = (b"--XyZ\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nnote\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nHallo\r\n--XyZ--\r\n")
NO_CLOSE = (b"--XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nHallo\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nabc")
NUL_NAME = (b"--XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nHallo\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x00.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nabc\r\n--XyZ--\r\n")
NUL_ENCODED = NUL_NAME.replace(b"a\x00.txt", b"a%00.txt")

CASES = [
    ("multipart/form-data", GOOD),
    ("multipart/form-data; boundary=XyZ", NO_CLOSE),
    ("multipart/form-data; boundary=XyZ", NUL_NAME),
    ("multipart/form-data; boundary=XyZ", NUL_ENCODED),
    ("multipart/form-data; boundary=XyZ", b"garbage without any boundary"),
    ("multipart/form-data; boundary=XyZ", b""),
]
IDS = ["no-boundary", "no-closing-boundary", "nul-in-filename", "percent-nul-in-filename",
       "no-parts", "empty"]


@pytest.mark.parametrize(("content_type", "body"), CASES, ids=IDS)
async def test_api_entries_broken_multipart_is_400(hub: Hub, content_type: str,
                                                   body: bytes) -> None:
    c = await make_customer(hub)
    status, got = await hub.agent.post(f"/customers/{c['id']}/entries", data=body,
                                       headers={"Content-Type": content_type})
    assert status == 400, got
    assert got["error"]["code"] == "invalid_input" and got["error"]["message"]
    _, page = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert page["items"] == []


async def test_api_entries_good_multipart_still_works(hub: Hub) -> None:
    c = await make_customer(hub)
    status, got = await hub.agent.post(
        f"/customers/{c['id']}/entries", data=GOOD,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert status == 201 and got["body"] == "Hallo"


@pytest.mark.parametrize(("content_type", "body"), CASES, ids=IDS)
async def test_api_portal_messages_broken_multipart_is_400(hub: Hub, content_type: str,
                                                           body: bytes) -> None:
    c = await make_customer(hub)
    _, token = await hub.agent.post(f"/customers/{c['id']}/portal-token")
    status, got = await hub.anon.post("/portal/messages", data=body, headers={
        "Content-Type": content_type, "Authorization": f"Bearer {token['token']}"})
    assert status == 400, got
    assert got["error"]["code"] == "invalid_input" and got["error"]["message"]


@pytest.mark.parametrize(("content_type", "body"), CASES[:3], ids=IDS[:3])
async def test_console_compose_broken_multipart_is_400(console: Console, content_type: str,
                                                       body: bytes) -> None:
    customer = await console.customer("Erika Muster")
    desk = await console.signed_in()
    reply = await desk.request("POST", f"/customers/{customer.id}/entries?csrf={desk.csrf}",
                               data=body, headers={"Content-Type": content_type})
    assert reply.status == 400, reply.text[:300]
    assert "<html" in reply.text.lower()


@pytest.mark.parametrize(("content_type", "body"), CASES[:3], ids=IDS[:3])
async def test_portal_write_page_broken_multipart_is_400(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content_type: str,
        body: bytes) -> None:
    async with running_site(tmp_path, monkeypatch) as site:
        c = await site.customer()
        browser = site.browser()
        await sign_in(site, browser)
        page = await browser.follow(await browser.get("/portal/write"))
        action = re.search(r'action="(/portal/write\?csrf=[^"]+)"', page.text)
        assert action, page.text
        reply = await browser.post(action.group(1).replace("&amp;", "&"), data=body,
                                   headers={"Content-Type": content_type})
        assert reply.status == 400, reply.text[:300]
        assert await site.timeline(c["id"], "&channel=portal") == []


def _upload(disposition: bytes) -> bytes:
    return (b"--XyZ\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ndocument\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; " + disposition +
            b"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 x\r\n--XyZ--\r\n")


FILE_NAMES = [  # the Content-Disposition parameters as clients write them -> the name kept
    ('filename="Kündigung März.pdf"'.encode(), "Kündigung März.pdf"),  # browsers: raw UTF-8
    (b'filename="Angebot %22Gold%22.pdf"', 'Angebot "Gold".pdf'),  # HTML standard: %22
    ('filename="C:\\Users\\anna\\Kündigung.pdf"'.encode(), "Kündigung.pdf"),  # old IE: path
    (b'filename="\\\\server\\share\\Police 2026.pdf"', "Police 2026.pdf"),  # IE, UNC path
    (b'filename="Angebot \\"Gold\\".pdf"', 'Angebot "Gold".pdf'),  # older curl: escaped
    (b"filename*=UTF-8''K%C3%BCndigung.pdf", "Kündigung.pdf"),  # RFC 5987
    (b"filename=Police.pdf", "Police.pdf"),  # unquoted token
]


@pytest.mark.parametrize(("disposition", "expected"), FILE_NAMES,
                         ids=["utf8", "html-percent", "ie-path", "ie-unc-path", "curl-escaped",
                              "rfc5987", "token"])
async def test_uploaded_file_names_as_clients_send_them(hub: Hub, disposition: bytes,
                                                        expected: str) -> None:
    c = await make_customer(hub)
    status, got = await hub.agent.post(
        f"/customers/{c['id']}/entries", data=_upload(disposition),
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert status == 201, got
    assert [a["name"] for a in got["attachments"]] == [expected]
