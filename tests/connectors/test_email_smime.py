"""S/MIME mail as ``openssl`` (the same library as most mail gateways) writes it: an opaquely
signed message shows its content, not an empty mail with ``smime.p7m``; an encrypted one is
kept and says why it cannot be read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from connectors.email.inbound import MailIngest
from connectors.email.parse import parse_message
from tests.conftest import Hub

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="the openssl command is not installed")

TEXT = "Sehr geehrte Damen und Herren,\r\nanbei die Kündigung meines Vertrags.\r\n"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("smime")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
                    "-subj", "/CN=Erika Mustermann/emailAddress=erika@example.de"],
                   check=True, capture_output=True)
    return folder


def content(attachment: bool) -> bytes:
    if not attachment:
        return ("Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n" + TEXT).encode()
    import base64

    return ("Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n--inner\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + TEXT + "--inner\r\nContent-Type: application/pdf; name=\"Kuendigung.pdf\"\r\n"
            "Content-Disposition: attachment; filename=\"Kuendigung.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(PDF).decode() + "\r\n--inner--\r\n").encode()


def openssl(signer: Path, *args: str, data: bytes, recipient: str | None = None) -> bytes:
    done = subprocess.run(["openssl", *args, "-from", "erika@example.de", "-to",
                           "service@makler.example", "-subject", "Kuendigung",
                           *([recipient] if recipient else [])],
                          input=data, check=True, capture_output=True, cwd=signer)
    return done.stdout


SIGNED = {  # opaque signing as gateways write it: DER, and streamed BER (indefinite lengths)
    "smime-der": ("smime", "-sign", "-nodetach", "-signer", "cert.pem", "-inkey", "key.pem"),
    "cms-ber-stream": ("cms", "-sign", "-nodetach", "-stream", "-signer", "cert.pem",
                       "-inkey", "key.pem"),
}


@pytest.mark.parametrize("how", sorted(SIGNED))
@pytest.mark.parametrize("attachment", [False, True], ids=["text", "with-attachment"])
def test_an_opaquely_signed_message_shows_its_content(signer: Path, how: str,
                                                      attachment: bool) -> None:
    raw = openssl(signer, *SIGNED[how], data=content(attachment))
    mail = parse_message(raw)
    assert mail.from_email == "erika@example.de"
    assert mail.text == TEXT.replace("\r\n", "\n").strip()
    names = [a.filename for a in mail.attachments]
    assert names == (["Kuendigung.pdf", "smime.p7m"] if attachment else ["smime.p7m"])
    if attachment:
        assert mail.attachments[0].data == PDF
    assert any("S/MIME signed" in n and "not verified" in n for n in mail.parse_notes)


def test_an_encrypted_message_is_kept_and_says_why_it_cannot_be_read(signer: Path) -> None:
    raw = openssl(signer, "smime", "-encrypt", "-aes256", data=content(False),
                  recipient="cert.pem")
    mail = parse_message(raw)
    assert mail.text == ""
    assert [a.filename for a in mail.attachments] == ["smime.p7m"]
    assert any("S/MIME encrypted" in n and "private key" in n for n in mail.parse_notes)


def test_a_clear_signed_message_is_read_as_before(signer: Path) -> None:
    raw = openssl(signer, "smime", "-sign", "-signer", "cert.pem", "-inkey", "key.pem",
                  data=content(True))
    mail = parse_message(raw)
    assert mail.text == TEXT.replace("\r\n", "\n").strip()
    assert [a.filename for a in mail.attachments] == ["Kuendigung.pdf", "smime.p7s"]


def test_a_damaged_p7m_stays_a_file() -> None:
    raw = (b"From: erika@example.de\nSubject: x\nContent-Type: application/pkcs7-mime; "
           b"smime-type=signed-data; name=smime.p7m\nContent-Transfer-Encoding: base64\n\n"
           b"MIIGiAYJKoZIhvcNAQcCoIIGeTCCBnUCAQExDzANBglg\n")
    mail = parse_message(raw)
    assert [a.filename for a in mail.attachments] == ["smime.p7m"]
    assert not any("S/MIME" in n for n in mail.parse_notes)


async def test_the_agent_sees_the_signed_text(hub: Hub, signer: Path) -> None:
    raw = openssl(signer, *SIGNED["smime-der"], data=content(True))
    delivered = await MailIngest(hub.state.ingest).deliver(hub.office.id, raw, "test")
    assert delivered.outcome == "created" and delivered.result.entry is not None
    status, entry = await hub.agent.get(f"/entries/{delivered.result.entry.id}")
    assert status == 200
    assert "anbei die Kündigung meines Vertrags" in entry["body"]
    assert [a["name"] for a in entry["attachments"]] == ["Kuendigung.pdf", "smime.p7m"]
