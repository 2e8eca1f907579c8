"""A revoked API token is refused by every process sharing the store within moments — not
only by the one that revoked it, and not after the 30 s the token cache trusts a checked
token: the revocation travels on the store's change feed (``token.revoked``)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import ClientSession

from chronik.api.base import hash_token, new_token
from chronik.app import close_state, open_state
from chronik.settings import Settings
from chronik.state import TOKEN_TTL
from chronik.web.admin.accounts import revoke_token
from tests.api.test_events import Stream
from tests.conftest import Api, Hub, serving
from timeline.models import Role

PROMPTLY = 3.0
"""Seconds another process may take to refuse a revoked token (the feed is read every
50 ms on SQLite, on NOTIFY on PostgreSQL); far below the cache's ``TOKEN_TTL``."""


async def refused_within(api: Api, seconds: float) -> float:
    """Seconds until ``api``'s token is answered 401 (fails after ``seconds``)."""
    start = time.monotonic()
    while True:
        status, body = await api.get("/customers")
        if status == 401:
            assert body["error"]["message"] == "invalid or revoked token"
            return time.monotonic() - start
        assert status == 200, body
        assert time.monotonic() - start < seconds, f"still accepted after {seconds} s"
        await asyncio.sleep(0.05)


async def temp_agent(hub: Hub) -> str:
    token = new_token()
    await hub.state.store.create_agent(hub.office.id, "Eva Aushilfe", Role.AGENT,
                                       hash_token(token))
    return token


async def test_a_token_revoked_in_one_process_is_refused_by_another_at_once(
        hub: Hub, settings: Settings) -> None:
    assert PROMPTLY < TOKEN_TTL
    token = await temp_agent(hub)
    async with serving(settings, workers=False) as (other, base), ClientSession() as session:
        there = Api(session, base, token)
        assert (await there.get("/customers"))[0] == 200  # checked, now trusted there
        assert (await Api(session, base, hub.agent.token).get("/customers"))[0] == 200
        assert len(other.token_cache) == 2
        async with session.get(base + "/events", headers={
                "Authorization": f"Bearer {hub.admin.token}"}) as resp:
            assert resp.status == 200
            live = Stream(resp)
            # the admin revokes it in the first process (admin page, API and CLI alike)
            await revoke_token(hub.state, hub.office.id, hash_token(token)[:12])
            assert (await hub.agent.as_(token).get("/customers"))[0] == 401
            await refused_within(there, PROMPTLY)
            await live.nothing_within(0.3)  # for processes, not for screens
        # only that token was forgotten: the other agents' stay trusted
        assert set(other.token_cache) == {hub.agent.token, hub.admin.token}
        assert (await Api(session, base, hub.agent.token).get("/customers"))[0] == 200


async def test_a_token_revoked_by_a_separate_process_is_refused_by_every_server(
        hub: Hub, settings: Settings) -> None:
    """``chronik agent revoke-token`` runs in a process of its own that follows no feed:
    what it writes reaches every serving process all the same."""
    token = await temp_agent(hub)
    async with serving(settings, workers=False) as (_, base), ClientSession() as session:
        here, there = hub.agent.as_(token), Api(session, base, token)
        assert (await here.get("/customers"))[0] == (await there.get("/customers"))[0] == 200
        cli = await open_state(settings)
        try:
            await revoke_token(cli, hub.office.id, hash_token(token)[:12])
        finally:
            await close_state(cli)
        await asyncio.gather(refused_within(here, PROMPTLY), refused_within(there, PROMPTLY))
    assert (await hub.agent.get("/customers"))[0] == 200
