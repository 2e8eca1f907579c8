"""A bounce that arrives after a person was erased (a notification sent the minute before)
names their address: it must not bring the address back. Under the office's ``drop`` policy
nothing is kept; under ``quarantine`` the report waits without naming anyone erased."""

from __future__ import annotations

import pytest

from connectors.email.inbound import MailIngest
from tests.conftest import Hub
from tests.privacy.test_office_erased_sender import ADDRESS, _erase_person


def _bounce(*recipients: str) -> bytes:
    reports = "".join(f"Final-Recipient: rfc822; {r}\nAction: failed\nStatus: 5.1.1\n\n"
                      for r in recipients)
    return ("From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
            "To: service@buero.example\nSubject: Undelivered Mail Returned to Sender\n"
            "Message-ID: <bounce-1@mx.example.net>\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\n\n"
            "--R\nContent-Type: text/plain\n\nThe mail could not be delivered.\n\n"
            "--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
            f"{reports}--R--\n").encode()


@pytest.mark.parametrize("policy", ["drop", "quarantine"])
async def test_a_late_bounce_never_names_an_erased_person(hub: Hub, policy: str) -> None:
    await _erase_person(hub, hub.admin)
    status, _ = await hub.admin.put("/office/privacy", json={"erased_sender": policy})
    assert status == 200
    mail = MailIngest(hub.state.ingest)
    done = await mail.deliver(hub.office.id, _bounce(ADDRESS), "smtp:<>")
    assert done.result.entry is None
    _, items = await hub.admin.get("/quarantine")
    assert all(ADDRESS not in i["reason"] for i in items["items"])
    if policy == "drop":
        assert done.result.dropped and items["items"] == []
    else:
        [item] = items["items"]
        assert item["reason"] == "unattributed_bounce: erased_sender"


async def test_a_bounce_naming_someone_else_too_names_only_them(hub: Hub) -> None:
    await _erase_person(hub, hub.admin)
    done = await MailIngest(hub.state.ingest).deliver(
        hub.office.id, _bounce(ADDRESS, "fremd@kunde.test"), "smtp:<>")
    assert done.result.quarantined is not None
    assert done.result.quarantined.reason == "unattributed_bounce: fremd@kunde.test"
