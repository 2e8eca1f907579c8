"""Loose input is refused or made safe: attachment indexes are canonical integers only,
consents are strict booleans, identities have no control characters, and upload file names
are safe base names on every path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp import FormData

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.filenames import MAX_NAME, safe_file_name
from timeline.ingest import InboundAttachment, InboundMessage
from timeline.models import Channel, IdentityKind


async def document(hub: Hub, filename: str = "police.pdf") -> tuple[dict, dict]:
    c = await make_customer(hub, emails=["erika@example.de"])
    form = FormData()
    form.add_field("kind", "document")
    form.add_field("notify", "false")
    form.add_field("file", b"%PDF police", filename=filename, content_type="application/pdf")
    status, entry = await hub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert status == 201, entry
    return c, entry


@pytest.mark.parametrize("index", ["-1", "00", "%200", "0%20", "+0", "%D9%A0", "1", "1e0"],
                         ids=["minus-one", "zero-zero", "space-zero", "zero-space", "plus",
                              "arabic-zero", "past-end", "float"])
async def test_attachment_index_must_be_canonical(hub: Hub, index: str) -> None:
    _, entry = await document(hub)
    status, body = await hub.agent.get(f"/entries/{entry['id']}/attachments/{index}")
    assert status == 404, body
    assert body["error"]["code"] == "not_found"
    status, data = await hub.agent.get(f"/entries/{entry['id']}/attachments/0")
    assert status == 200 and data == b"%PDF police"


@pytest.mark.parametrize("index", ["-1", "00", "%200"], ids=["minus-one", "zero-zero",
                                                             "space-zero"])
async def test_portal_attachment_index_must_be_canonical(hub: Hub, index: str) -> None:
    c = await make_customer(hub)
    _, token = await hub.agent.post(f"/customers/{c['id']}/portal-token")
    auth = {"Authorization": f"Bearer {token['token']}"}
    form = FormData()
    form.add_field("body", "Anbei das Foto.")
    form.add_field("file", b"foto", filename="foto.png", content_type="image/png")
    status, msg = await hub.anon.post("/portal/messages", data=form, headers=auth)
    assert status == 201, msg
    path = f"/portal/messages/{msg['id']}/attachments/"
    status, body = await hub.anon.get(path + index, headers=auth)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, data = await hub.anon.get(path + "0", headers=auth)
    assert status == 200 and data == b"foto"


@pytest.mark.parametrize("value", [0, 1, "true", None], ids=["zero", "one", "string", "null"])
async def test_consents_must_be_strict_booleans(hub: Hub, value: object) -> None:
    c = await make_customer(hub, emails=["erika@example.de"])
    path = f"/customers/{c['id']}/preferences"
    _, before = await hub.agent.get(path)
    status, body = await hub.agent.put(path, json={"consents": {"email": value}})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input"
    _, after = await hub.agent.get(path)
    assert after == before
    status, body = await hub.agent.put(path, json={"consents": {"email": False}})
    assert status == 200 and body["consents"]["email"]["granted"] is False


@pytest.mark.parametrize("value", ["erika\x00@example.de", "erika@exa\x01mple.de",
                                   "erika@example.de\x7f", "er\u0085ika@example.de"],
                         ids=["nul", "soh", "del", "c1-nel"])
async def test_email_identity_with_control_characters_is_400(hub: Hub, value: str) -> None:
    c = await make_customer(hub)
    status, body = await hub.agent.post(f"/customers/{c['id']}/identities",
                                        json={"kind": "email", "value": value})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input"
    status, body = await hub.agent.post("/customers", json={"name": "X", "emails": [value]})
    assert status == 400, body
    _, got = await hub.agent.get(f"/customers/{c['id']}")
    assert got["identities"] == []


@pytest.mark.parametrize(("raw", "safe"), [
    ("../../etc/passwd", "passwd"), ("..\\..\\boot.ini", "boot.ini"),
    ("\u202egpj.exe", "gpj.exe"),
    ("..", "file"), ("  .profile ", "profile"), ("日本語 Vertrag.pdf", "日本語 Vertrag.pdf"),
], ids=["unix-traversal", "windows-traversal", "bidi-override", "dots", "hidden",
        "unicode"])
async def test_api_upload_names_are_safe_base_names(hub: Hub, raw: str, safe: str) -> None:
    _, entry = await document(hub, raw)
    assert [a["name"] for a in entry["attachments"]] == [safe]


def test_control_characters_leave_names() -> None:
    # clients cannot send CR/LF raw in a header (aiohttp refuses); the store still never
    # keeps one, whatever path a name took
    assert safe_file_name("Schäden\r\nBcc: x@y.z.pdf") == "Schäden Bcc: x@y.z.pdf"
    assert safe_file_name("a\x00b\x1b[31m.txt") == "ab[31m.txt"


def test_long_names_keep_their_extension() -> None:
    name = safe_file_name("Vertrag " * 80 + ".pdf")
    assert len(name) <= MAX_NAME and name.endswith(".pdf")


async def test_portal_upload_name_is_a_safe_base_name(hub: Hub) -> None:
    c = await make_customer(hub)
    _, token = await hub.agent.post(f"/customers/{c['id']}/portal-token")
    form = FormData()
    form.add_field("body", "Anbei.")
    form.add_field("file", b"x", filename="../../etc/passwd", content_type="text/plain")
    status, msg = await hub.anon.post("/portal/messages", data=form,
                                      headers={"Authorization": f"Bearer {token['token']}"})
    assert status == 201, msg
    assert [a["name"] for a in msg["attachments"]] == ["passwd"]


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.CHAT], ids=["email", "telegram"])
async def test_inbound_attachment_names_are_safe_base_names(hub: Hub, channel: Channel
                                                            ) -> None:
    kind = IdentityKind.EMAIL if channel is Channel.EMAIL else IdentityKind.TELEGRAM
    sender = "kunde@example.de" if channel is Channel.EMAIL else "4711"
    result = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=channel, source_id="att-1", sender_kind=kind,
        sender=sender, subject="Unterlagen", body="Anbei.",
        occurred_at=datetime(2026, 3, 4, 10, tzinfo=UTC),
        attachments=(InboundAttachment(name="../../etc/passwd\x00", data=b"x"),
                     InboundAttachment(name="C:\\Users\\kunde\\Police 2026.pdf", data=b"y"))))
    assert result.entry is not None
    assert [a.name for a in result.entry.attachments] == ["passwd", "Police 2026.pdf"]
