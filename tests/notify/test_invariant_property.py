"""The invariant, property-based: random mixes of internal and published entries, office
policy and customer preferences, run through the real notifier against the real SMTP sink,
the real python-telegram-bot (Bot API stand-in) and the portal inbox. No internal text ever
leaves; every published+notify entry for a reachable, consenting customer arrives exactly
once, on the channel the preferences choose."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chronik.settings import Settings
from tests.conftest import Hub
from tests.notify.conftest import SmtpSink, customer, free_port, outcome, start_hub
from tests.support.telegram_standin import BotApiStandIn

CHANNELS = ("email", "telegram", "portal")
_chat_ids = itertools.count(10_000)


class World:
    def __init__(self, hub: Hub, sink: SmtpSink, tg: BotApiStandIn) -> None:
        self.hub, self.sink, self.tg = hub, sink, tg

    def __repr__(self) -> str:
        return "World(hub, smtp sink, telegram stand-in)"


@pytest.fixture
async def world(tmp_path: Path, notify_env: dict[str, str], smtp_sink: SmtpSink,
                monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[World]:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with BotApiStandIn() as tg:
        monkeypatch.setenv("CHRONIK_TELEGRAM_BOT_TOKEN", tg.token)
        monkeypatch.setenv("CHRONIK_TELEGRAM_API_BASE_URL", tg.base_url)
        monkeypatch.setenv("CHRONIK_TELEGRAM_API_FILE_URL", tg.base_file_url)
        monkeypatch.setenv("CHRONIK_TELEGRAM_POLL_TIMEOUT", "0")
        hub, session = await start_hub(Settings(data_dir=tmp_path / "data",
                                                http_port=free_port()))
        yield World(hub, smtp_sink, tg)
        await session.close()
        await hub.server.close()


entry_spec = st.tuples(
    st.sampled_from([None, "internal", "published"]),  # visibility in the request
    st.sampled_from([None, True, False]),               # notify in the request
    st.text(alphabet=st.sampled_from("abcäöü <>&\"'ß€\n"), max_size=30),
).filter(lambda t: not (t[0] == "internal" and t[1] is True))

customer_spec = st.fixed_dictionaries({
    "email": st.booleans(), "telegram": st.booleans(), "blocked": st.booleans(),
    "automatic": st.booleans(),
    "channels": st.one_of(st.none(), st.permutations(CHANNELS).flatmap(
        lambda p: st.integers(0, 3).map(lambda n: list(p[:n])))),
    "consents": st.dictionaries(st.sampled_from(CHANNELS), st.booleans(), max_size=3),
    "entries": st.lists(entry_spec, min_size=1, max_size=4),
})

office_policy = st.fixed_dictionaries({
    "visibility": st.sampled_from([None, "internal", "published"]),
    "notify": st.sampled_from([None, True, False]),
})


def expected_channel(spec: dict[str, Any]) -> str | None:
    """What the preferences say, computed independently of the notifier's code."""
    if not spec["automatic"]:
        return None
    if spec["channels"]:
        order = list(spec["channels"])
    else:
        order = [c for c in ("email", "telegram") if spec[c]]
    if "portal" not in order:
        order.append("portal")
    for channel in order:
        if not spec["consents"].get(channel, True):
            continue
        if channel == "portal":
            return channel
        if not spec[channel] or (channel == "telegram" and spec["blocked"]):
            continue
        return channel
    return None


def outputs(sink: SmtpSink, tg: BotApiStandIn, inbox: list[str]) -> dict[str, list[str]]:
    mails = []
    for r in sink.received:
        m = r.message
        mails.append("\n".join([str(m["Subject"]), r.text(), r.html(),
                                *(p.get_filename() or "" for p in m.iter_attachments())]))
    texts = [str(s.get("text") or s.get("caption") or "") for s in tg.sent]
    return {"email": mails, "telegram": texts, "portal": inbox}


@settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(policy=office_policy, specs=st.lists(customer_spec, min_size=1, max_size=3))
async def test_internal_never_leaves_and_published_arrives_exactly_once(
        world: World, policy: dict[str, Any],
        specs: list[dict[str, Any]]) -> None:
    hub, sink, tg = world.hub, world.sink, world.tg
    if policy["visibility"] == "internal" and policy["notify"] is True:
        policy["notify"] = None
    status, body = await hub.admin.put("/policy/office", json={"note": policy})
    assert status == 200, body

    internal: list[str] = []
    expect: dict[str, tuple[str, str | None]] = {}  # marker -> (customer id, channel)
    silent: list[str] = []
    inboxes: list[str] = []
    for spec in specs:
        chat = next(_chat_ids)
        tg.add_chat(chat)
        if spec["blocked"]:
            tg.block_chat(chat)
        c = await customer(hub, "Kundin", email=f"k{chat}@example.de" if spec["email"] else None,
                           telegram=chat if spec["telegram"] else None)
        inboxes.append(c["id"])
        prefs: dict[str, Any] = {"automatic_notifications": spec["automatic"],
                                 "consents": spec["consents"]}
        if spec["channels"] is not None:
            prefs["channels"] = spec["channels"]
        status, body = await hub.agent.put(f"/customers/{c['id']}/preferences", json=prefs)
        assert status == 200, body
        for visibility, notify, text in spec["entries"]:
            marker = uuid.uuid4().hex
            request: dict[str, Any] = {"kind": "note", "body": f"{marker} {text}",
                                       "confirm": True}
            if visibility is not None:
                request["visibility"] = visibility
            if notify is not None:
                request["notify"] = notify
            status, e = await hub.agent.post(f"/customers/{c['id']}/entries", json=request)
            assert status == 201, e
            if e["visibility"] == "internal":
                internal.append(marker)
            elif e["notify"]:
                expect[marker] = (c["id"], e["id"])
            else:
                silent.append(marker)

    channels: dict[str, str | None] = {}
    for marker, (cid, entry_id) in expect.items():
        done = await outcome(hub, cid, entry_id, timeout=20)
        channels[marker] = done["meta"]["notification"]["channel"] \
            if done["meta"]["notification"]["status"] == "sent" else None

    inbox_texts = []
    for cid in inboxes:
        _, page = await hub.agent.get(f"/customers/{cid}/inbox?limit=200")
        inbox_texts += [f"{i['subject']}\n{i['body']}" for i in page["items"]]
    out = outputs(sink, tg, inbox_texts)
    everything = "\n".join(t for texts in out.values() for t in texts)
    for marker in internal + silent:
        assert marker not in everything
    spec_by_customer = {cid: spec for cid, spec in zip(inboxes, specs, strict=True)}
    for marker, (cid, _) in expect.items():
        want = expected_channel(spec_by_customer[cid])
        assert channels[marker] == want, (marker, spec_by_customer[cid])
        for channel, texts in out.items():
            hits = sum(marker in t for t in texts)  # messages carrying it
            assert hits == (1 if channel == want else 0), (channel, marker)
