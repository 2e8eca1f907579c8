"""The portal inbox through the API (the customer's session token), receipt copies of portal
messages, and the preferences API (partial PUT, consent, effective order, history)."""

from __future__ import annotations

from tests.conftest import Hub
from tests.notify.conftest import SmtpSink, customer, note, outcome


async def _portal_token(hub: Hub, customer_id: str) -> str:
    status, body = await hub.agent.post(f"/customers/{customer_id}/portal-token")
    assert status == 201, body
    return str(body["token"])


async def test_portal_inbox_for_the_customer(nhub: Hub) -> None:
    c = await customer(nhub, "Ohne Mail")
    other = await customer(nhub, "Andere Kundin")
    e = await note(nhub, c["id"], "Ihr Vertrag liegt bereit", subject="Vertrag")
    await note(nhub, c["id"], "nur intern: schwieriger Fall", visibility="internal")
    await note(nhub, other["id"], "Für jemand anderen")
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["channel"] == "portal"
    me = nhub.anon.as_(await _portal_token(nhub, c["id"]))
    status, inbox = await me.get("/portal/inbox")
    assert status == 200 and inbox["unread"] == 1
    (item,) = inbox["items"]
    assert item["entry_id"] == e["id"] and item["read"] is False
    assert "Ihr Vertrag liegt bereit" in item["body"] and "Vertrag" in item["subject"]
    assert "intern" not in str(inbox) and "jemand anderen" not in str(inbox)
    status, read = await me.post(f"/portal/inbox/{item['id']}/read")
    assert status == 200 and read["read"] is True
    status, inbox = await me.get("/portal/inbox")
    assert inbox["unread"] == 0 and inbox["items"][0]["read"] is True
    # another customer's token cannot see or mark it
    them = nhub.anon.as_(await _portal_token(nhub, other["id"]))
    status, _ = await them.post(f"/portal/inbox/{item['id']}/read")
    assert status == 404
    for bad in (None, "cpt_forged", "chk_not_a_portal_token"):
        status, body = await nhub.anon.as_(bad).get("/portal/inbox")
        assert status == 401 and body["error"]["code"] == "unauthorized"
    # an agent sees the same inbox
    status, agent_view = await nhub.agent.get(f"/customers/{c['id']}/inbox")
    assert status == 200 and agent_view["items"][0]["id"] == item["id"]


async def test_portal_message_gets_a_receipt_copy(nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, email="erika@example.de", prefs={"language": "en"})
    me = nhub.anon.as_(await _portal_token(nhub, c["id"]))
    status, sent = await me.post("/portal/messages",
                                 json={"subject": "Schaden", "body": "Mein Auto hat eine Delle"})
    assert status == 201, sent
    got = (await smtp_sink.wait(1))[0]
    assert got.message["Subject"] == "Copy of your message to Büro Müller & Partner: Schaden"
    assert "Mein Auto hat eine Delle" in got.text()
    done = await outcome(nhub, c["id"], sent["id"])
    assert done["meta"]["notification"]["status"] == "sent"


async def test_preferences_get_put_partial_and_recorded(nhub: Hub) -> None:
    c = await customer(nhub, email="erika@example.de", telegram=99)
    status, prefs = await nhub.agent.get(f"/customers/{c['id']}/preferences")
    assert status == 200
    assert prefs["channels"] == [] and prefs["effective_channels"] == [
        "email", "telegram", "portal"]
    assert prefs["automatic_notifications"] is True and prefs["language"] == "de"
    assert prefs["consents"]["telegram"] == {"channel": "telegram", "granted": True,
                                             "explicit": False, "at": None, "actor": None,
                                             "route": None}
    status, prefs = await nhub.agent.put(f"/customers/{c['id']}/preferences", json={
        "channels": ["telegram"], "quiet_hours": {"start": "21:30", "end": "07:00"}})
    assert status == 200
    assert prefs["effective_channels"] == ["telegram", "portal"]
    assert prefs["quiet_hours"] == {"start": "21:30", "end": "07:00",
                                    "timezone": "Europe/Berlin"}
    status, prefs = await nhub.agent.put(f"/customers/{c['id']}/preferences", json={
        "language": "en", "consents": {"telegram": False}})
    assert prefs["channels"] == ["telegram"] and prefs["quiet_hours"]["start"] == "21:30"
    assert prefs["language"] == "en"
    assert prefs["consents"]["telegram"]["granted"] is False
    assert prefs["consents"]["telegram"]["route"] == "agent"
    assert prefs["effective_channels"] == ["portal"]  # withdrawn consent: not used any more
    assert len(prefs["consent_history"]) == 1
    status, prefs = await nhub.admin.put(f"/customers/{c['id']}/preferences",
                                         json={"quiet_hours": None})
    assert prefs["quiet_hours"] is None and prefs["language"] == "en"
    _, timeline = await nhub.agent.get(f"/customers/{c['id']}/timeline?kind=preferences")
    bodies = [i["body"] for i in timeline["items"]]
    assert len(bodies) == 3 and all(i["visibility"] == "internal" for i in timeline["items"])
    assert "quiet hours: 21:30–07:00 Europe/Berlin → none" in bodies[0]
    assert "telegram consent withdrawn" in bodies[1]


async def test_bad_preferences_are_400(nhub: Hub) -> None:
    c = await customer(nhub)
    url = f"/customers/{c['id']}/preferences"
    for body in [{"channels": ["fax"]}, {"channels": ["email", "email"]},
                 {"quiet_hours": {"start": "25:00", "end": "07:00"}},
                 {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Base"}},
                 {"language": "fr"}, {"unknown": 1}, {"consents": {"fax": True}},
                 {"automatic_notifications": "maybe"}]:
        status, got = await nhub.agent.put(url, json=body)
        assert status == 400, body
        assert set(got) == {"error"}
    status, _ = await nhub.agent.get("/customers/nope/preferences")
    assert status == 404
    _, other = await nhub.new_office()
    status, _ = await other.get(url)
    assert status == 404


async def test_worker_is_supervised_and_its_diagnostics_hide_secrets(nhub: Hub) -> None:
    import json

    from pydantic import SecretStr

    from chronik.glue.notify import NotifyComponent
    from notify.settings import NotifySettings

    status, body = await nhub.admin.get("/connectors")
    assert status == 200
    (worker,) = [c for c in body["items"] if c["name"] == "notify-worker"]
    assert worker["state"] == "running" and worker["kind"] == "worker"
    channels = set(worker["diagnostics"]["transports"])
    assert channels == {"portal", "email"}
    settings = NotifySettings(smtp_host="mail.example", mail_from="a@b.c",
                              smtp_password=SecretStr("hunter2"), secret_key=SecretStr("s3cr3t"))
    component = NotifyComponent(nhub.state, settings)
    component.worker = component.build(b"s3cr3t")
    text = json.dumps(component.diagnostics(), default=str)
    assert "hunter2" not in text and "s3cr3t" not in text and "mail.example" in text
