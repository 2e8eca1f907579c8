"""``chronik import`` as a user runs it (a subprocess) into the data folder of a running
Chronik; the results are checked through the HTTP API."""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from connectors.email.importer import parse_batch
from tests.conftest import Hub
from tests.support.documents import pdf

ROOT = Path(__file__).resolve().parents[2]


def chronik(hub: Hub, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(hub.state.settings.data_dir),
         *args], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
        env={**os.environ, **(env or {})})


def eml(n: int, *, sender: str = "kunde@example.de", body: str | None = None,
        extra: str = "") -> bytes:
    return (f"From: Karl Kunde <{sender}>\nTo: service@buero-test.de\n"
            f"Subject: Nachricht {n}\nMessage-ID: <imp-{n}@example.de>\n"
            f"Date: Wed, 04 Mar 2026 1{n % 10}:00:00 +0100\n{extra}\n"
            f"{body if body is not None else f'Inhalt der Nachricht {n}.'}\n").encode()


def mbox(*messages: bytes) -> bytes:
    out = b""
    for raw in messages:
        body = b"\n".join(b">" + line if line.startswith(b"From ") else line
                          for line in raw.rstrip(b"\n").split(b"\n"))
        out += b"From kunde@example.de Wed Mar  4 10:00:00 2026\n" + body + b"\n\n"
    return out


def summary(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


async def subjects(hub: Hub, email: str = "kunde@example.de") -> list[str]:
    _, found = await hub.agent.get(f"/lookup?email={email}")
    if not found["matches"]:
        return []
    customer = found["matches"][0]["customer"]["id"]
    _, page = await hub.agent.get(f"/customers/{customer}/timeline?limit=200")
    return sorted(e["subject"] for e in page["items"])


async def quarantine(hub: Hub) -> list[dict[str, Any]]:
    _, page = await hub.admin.get("/quarantine?limit=200")
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_eml_file_folder_mbox_and_maildir(hub: Hub, tmp_path: Path) -> None:
    single = tmp_path / "one.eml"
    single.write_bytes(eml(1))
    folder = tmp_path / "folder"
    folder.mkdir()
    for n in (2, 3):
        (folder / f"{n}.eml").write_bytes(eml(n))
    (folder / "notes.txt").write_text("not mail")
    box = tmp_path / "archive.mbox"
    box.write_bytes(mbox(eml(4, body="From the desk of Karl:\nHallo"), eml(5)))
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1700000000.1.host:2,S").write_bytes(eml(6))
    (maildir / "new" / "1700000001.2.host").write_bytes(eml(7))

    assert summary(chronik(hub, "import", str(single), "--office", hub.office.id)) == (
        "imported 1, duplicates 0, quarantined 0")
    assert summary(chronik(hub, "import", str(folder), "--office", hub.office.id)) == (
        "imported 2, duplicates 0, quarantined 0; skipped 1 file(s) that hold no mail "
        "(not a message, mbox, .emlx or Outlook mail: notes.txt)")
    assert summary(chronik(hub, "import", str(box), "--office", hub.office.id)) == (
        "imported 2, duplicates 0, quarantined 0")
    assert summary(chronik(hub, "import", str(maildir), "--office", hub.office.id)) == (
        "imported 2, duplicates 0, quarantined 0")
    assert await subjects(hub) == [f"Nachricht {n}" for n in range(1, 8)]
    status, found = await hub.agent.get("/search?q=desk")  # indexed by the import
    assert status == 200 and [i["entry"]["subject"] for i in found["items"]] == ["Nachricht 4"]
    assert "From the desk of Karl:\nHallo" in found["items"][0]["entry"]["body"]


async def test_a_folder_as_other_tools_leave_it(hub: Hub, tmp_path: Path) -> None:
    """A corpus of messages named .txt, Apple Mail's .emlx, a Thunderbird mailbox file
    without suffix; a file that only looks like an Outlook .msg is named as skipped, not
    silently dropped."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "msg_01.txt").write_bytes(eml(1))
    raw = eml(2)
    (folder / "2.emlx").write_bytes(b"%d\n" % len(raw) + raw + b"<?xml?><plist/>")
    (folder / "Inbox").write_bytes(mbox(eml(3), eml(4)))
    (folder / "Brief.msg").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    assert summary(chronik(hub, "import", str(folder), "--office", hub.office.id)) == (
        "imported 4, duplicates 0, quarantined 0; skipped 1 file(s) that hold no mail "
        "(not a message, mbox, .emlx or Outlook mail: Brief.msg)")
    assert await subjects(hub) == [f"Nachricht {n}" for n in range(1, 5)]


async def test_the_same_mbox_twice_gives_no_duplicates(hub: Hub, tmp_path: Path) -> None:
    box = tmp_path / "archive.mbox"
    box.write_bytes(mbox(*(eml(n, sender=f"k{n % 3}@example.de") for n in range(1, 31))))
    first = summary(chronik(hub, "import", str(box), "--office", hub.office.id))
    assert first == "imported 30, duplicates 0, quarantined 0"
    again = summary(chronik(hub, "import", str(box), "--office", hub.office.id))
    assert again == "imported 0, duplicates 30, quarantined 0"
    _, customers = await hub.agent.get("/customers?limit=100")
    assert sorted(c["name"] for c in customers["items"]) == ["Karl Kunde"] * 3
    total = 0
    for c in customers["items"]:
        _, page = await hub.agent.get(f"/customers/{c['id']}/timeline?limit=100")
        total += len(page["items"])
    assert total == 30


async def test_bad_input_is_quarantined_never_lost(hub: Hub, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a-empty.eml").write_bytes(b"")
    garbage = bytes((i * 7919 + 13) % 256 for i in range(5000))
    (folder / "b-garbage.eml").write_bytes(garbage)
    (folder / "c-no-sender.eml").write_bytes(b"Subject: wer bin ich\n\nohne Absender\n")
    (folder / "d-broken-mime.eml").write_bytes(eml(1, extra=(
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="nirgends"\n'),
        body="--anders\nContent-Type: text/plain\n\nTrotzdem lesbar\n--anders\n"
             "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
             "JVBERi0x!!!kaputt\n--anders--"))
    (folder / "e-good.eml").write_bytes(eml(2))
    result = chronik(hub, "import", str(folder), "--office", hub.office.id)
    assert summary(result) == "imported 2, duplicates 0, quarantined 3"
    items = await quarantine(hub)
    by_origin = {Path(i["origin"]).name: i for i in items}
    assert sorted(by_origin) == ["a-empty.eml", "b-garbage.eml", "c-no-sender.eml"]
    assert by_origin["a-empty.eml"]["reason"] == "unparseable: empty message"
    assert by_origin["a-empty.eml"]["size"] == 0
    assert by_origin["c-no-sender.eml"]["reason"].startswith("unparseable: no sender")
    status, raw = await hub.admin.get(f"/quarantine/{by_origin['b-garbage.eml']['id']}/raw")
    assert status == 200 and raw == garbage
    # the lenient parser reads the mislabelled multipart: text kept, nothing lost
    assert await subjects(hub) == ["Nachricht 1", "Nachricht 2"]
    status, found = await hub.agent.get("/search?q=Trotzdem")
    assert status == 200 and len(found["items"]) == 1
    # importing the same folder again does not pile up quarantined copies
    assert summary(chronik(hub, "import", str(folder), "--office", hub.office.id)) == (
        "imported 0, duplicates 2, quarantined 3")
    assert len(await quarantine(hub)) == 3


async def test_truncated_last_message_of_an_mbox(hub: Hub, tmp_path: Path) -> None:
    whole = mbox(eml(1), eml(2), eml(3))
    box = tmp_path / "cut.mbox"
    box.write_bytes(whole[: whole.rindex(b"Karl Kunde <kunde")])  # cut inside From:
    assert summary(chronik(hub, "import", str(box), "--office", hub.office.id)) == (
        "imported 2, duplicates 0, quarantined 1")
    (item,) = await quarantine(hub)
    assert item["origin"].endswith("cut.mbox#3")
    assert item["reason"].startswith("unparseable: no sender")
    # a cut inside the body still gives the message with what arrived
    box.write_bytes(whole[:-8])
    assert summary(chronik(hub, "import", str(box), "--office", hub.office.id)) == (
        "imported 1, duplicates 2, quarantined 0")
    assert await subjects(hub) == ["Nachricht 1", "Nachricht 2", "Nachricht 3"]


async def test_a_60_mb_message_is_quarantined(hub: Hub, tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    line = b"y" * 998 + b"\n"
    with big.open("wb") as fh:
        fh.write(eml(1, body=""))
        for _ in range(60 * 1024):
            fh.write(line)
    box = tmp_path / "big-inside.mbox"
    box.write_bytes(mbox(eml(2)) + b"From kunde@example.de Wed Mar  4 10:00:00 2026\n"
                    + big.read_bytes().replace(b"Nachricht 1", b"Nachricht 4") + b"\n"
                    + mbox(eml(3)))
    assert summary(chronik(hub, "import", str(big), "--office", hub.office.id)) == (
        "imported 0, duplicates 0, quarantined 1")
    assert summary(chronik(hub, "import", str(box), "--office", hub.office.id)) == (
        "imported 2, duplicates 0, quarantined 1")
    items = await quarantine(hub)
    assert len(items) == 2
    assert all(i["reason"].startswith("too_large: message is more than the limit of "
                                      "52428800 bytes") for i in items)
    assert sorted(i["size"] for i in items) == [52428801] * 2
    assert sorted(Path(i["origin"]).name for i in items) == ["big-inside.mbox#2", "big.eml"]
    assert await subjects(hub) == ["Nachricht 2", "Nachricht 3"]


@pytest.mark.parametrize("case", ["missing", "empty-unknown", "office"])
async def test_bad_path_or_office_is_a_clear_error(hub: Hub, tmp_path: Path,
                                                   case: str) -> None:
    path, office = tmp_path / "nope.mbox", hub.office.id
    if case == "empty-unknown":
        path = tmp_path / "leer.dat"
        path.write_bytes(b"")
    elif case == "office":
        path = tmp_path / "x.eml"
        path.write_bytes(eml(1))
        office = "01NOTANOFFICE"
    result = chronik(hub, "import", str(path), "--office", office)
    assert result.returncode == 2
    expected = {"missing": "no such file or folder", "empty-unknown": "not an .eml file",
                "office": "no office with id '01NOTANOFFICE'"}[case]
    assert result.stderr.startswith("chronik: ") and expected in result.stderr
    assert "Traceback" not in result.stderr


async def test_office_create_with_inbound_addresses(hub: Hub) -> None:
    result = chronik(hub, "office", "create", "Zweigstelle", "--inbound-address",
                     "Info@Zweig.de", "--inbound-address", "schaden@zweig.de")
    assert result.returncode == 0, result.stderr
    office_id = result.stdout.strip()
    assert sorted(await hub.state.store.inbound_addresses(office_id)) == [
        "info@zweig.de", "schaden@zweig.de"]
    taken = chronik(hub, "office", "create", "Dritte", "--inbound-address", "info@zweig.de")
    assert taken.returncode == 2 and "already used" in taken.stderr
    bad = chronik(hub, "office", "create", "Vierte", "--inbound-address", "kein-at")
    assert bad.returncode == 2 and "not an e-mail address" in bad.stderr
    listed = chronik(hub, "office", "list")
    assert "Dritte" not in listed.stdout and "Vierte" not in listed.stdout


async def test_one_batch_behaves_like_one_message_at_a_time(hub: Hub, tmp_path: Path) -> None:
    """Repeats, a reused Message-ID and a reply to an earlier message of the same batch."""
    reply = eml(5, extra="In-Reply-To: <imp-1@example.de>\n").replace(
        b"Subject: Nachricht 5", b"Subject: Re: Nachricht 1")
    reused = eml(1, body="Ganz anderer Inhalt.").replace(b"Subject: Nachricht 1",
                                                          b"Subject: Andere Nachricht")
    box = tmp_path / "batch.mbox"
    box.write_bytes(mbox(eml(1), eml(1), reused, reply, eml(2, sender="neu@example.de"),
                         eml(3, sender="neu@example.de")))
    assert summary(chronik(hub, "import", str(box), "--office", hub.office.id)) == (
        "imported 5, duplicates 1, quarantined 0")
    _, found = await hub.agent.get("/lookup?email=kunde@example.de")
    items = {e["subject"]: e for e in found["matches"][0]["recent"]}
    assert sorted(items) == ["Andere Nachricht", "Nachricht 1", "Re: Nachricht 1"]
    assert items["Andere Nachricht"]["source_id"].startswith("imp-1@example.de#")
    assert items["Re: Nachricht 1"]["meta"]["in_reply_to"]["entry_id"] == (
        items["Nachricht 1"]["id"])
    _, new = await hub.agent.get("/lookup?email=neu@example.de")
    assert len(new["matches"]) == 1  # one new customer for two messages of one batch
    assert len(new["matches"][0]["recent"]) == 2


async def test_words_inside_imported_attachments_are_found(hub: Hub, tmp_path: Path) -> None:
    """The parser processes read the attached files' text (the storing process only keeps
    it); after ``chronik import`` the words inside a mailed PDF find the mail."""
    message = EmailMessage()
    message["From"], message["To"] = "Karl Kunde <kunde@example.de>", "service@buero-test.de"
    message["Subject"], message["Message-ID"] = "Unterlagen", "<imp-pdf@example.de>"
    message.set_content("Anbei.")
    police = pdf(["Versicherungsschein VS-2027-4711", "Wohngebäudeversicherung"])
    message.add_attachment(police, maintype="application", subtype="pdf",
                           filename="Police.pdf")
    raw = message.as_bytes()
    parsed = parse_batch([raw], 1 << 20, text_max_bytes=1 << 20)[0]
    assert not isinstance(parsed, str)
    assert "VS-2027-4711" in (parsed.attachments[0].text or "")
    assert parse_batch([raw], 1 << 20)[0].attachments[0].text is None  # type: ignore[union-attr]
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "1.eml").write_bytes(raw)
    assert summary(chronik(hub, "import", str(folder), "--office", hub.office.id)) == (
        "imported 1, duplicates 0, quarantined 0")
    status, found = await hub.agent.get("/search?q=Wohngeb%C3%A4udeversicherung")
    assert status == 200 and [i["entry"]["subject"] for i in found["items"]] == ["Unterlagen"]
    assert found["items"][0]["attachment"]["name"] == "Police.pdf"
