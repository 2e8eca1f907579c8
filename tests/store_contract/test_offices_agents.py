"""Contract: offices, agents, their API tokens and sign-in data, and the store's lifecycle."""

from __future__ import annotations

import asyncio

import pytest

from tests.store_contract.conftest import NewStore
from tests.store_contract.helpers import REFUSED
from timeline.errors import Conflict
from timeline.models import Role
from timeline.store import Store

COVERS = frozenset({
    "open", "close", "create_office", "get_office", "list_offices", "create_agent",
    "agent_for_token", "get_agent", "list_agents", "agent_login", "agent_by_email",
    "set_agent_login", "add_agent_token", "revoke_agent_token",
})

TOKEN_A = "a1" * 32
TOKEN_B = "b2" * 32


async def test_offices_and_agents_round_trip(store: Store) -> None:
    office = await store.create_office("Büro Köln", "de")
    assert office.region == "DE" and office.name == "Büro Köln"
    assert await store.get_office(office.id) == office
    assert await store.get_office("no-such-office") is None
    other = await store.create_office("Büro Bonn", "AT")
    assert {o.id for o in await store.list_offices()} == {office.id, other.id}

    agent = await store.create_agent(office.id, "Ann", Role.ADMIN, TOKEN_A)
    assert (agent.office_id, agent.name, agent.role) == (office.id, "Ann", Role.ADMIN)
    assert await store.agent_for_token(TOKEN_A) == agent
    assert await store.agent_for_token(TOKEN_B) is None
    assert await store.get_agent(office.id, agent.id) == agent
    assert await store.get_agent(other.id, agent.id) is None  # another office's agent


async def test_data_outlives_the_handle_that_wrote_it(new_store: NewStore) -> None:
    first = new_store()
    await first.open()
    office = await first.create_office("A", "DE")
    await first.create_agent(office.id, "Ann", Role.AGENT, TOKEN_A)
    await first.close()

    again = new_store()
    await again.open()
    try:
        assert await again.get_office(office.id) == office
        found = await again.agent_for_token(TOKEN_A)
        assert found is not None and found.name == "Ann"
    finally:
        await again.close()


async def test_api_tokens_are_added_listed_and_revoked_per_office(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    agent = await store.create_agent(office.id, "Ann", Role.AGENT, TOKEN_A)
    token_id = await store.add_agent_token(agent.id, TOKEN_B)
    assert token_id == TOKEN_B[:12]
    assert await store.agent_for_token(TOKEN_B) == agent
    [account] = await store.list_agents(office.id)
    assert set(account.tokens) == {TOKEN_A[:12], TOKEN_B[:12]}

    assert not await store.revoke_agent_token(other.id, token_id)  # not that office's agent
    assert not await store.revoke_agent_token(office.id, token_id[:6])  # too short to name one
    assert await store.agent_for_token(TOKEN_B) == agent
    assert await store.revoke_agent_token(office.id, token_id)
    assert await store.agent_for_token(TOKEN_B) is None
    assert await store.agent_for_token(TOKEN_A) == agent
    assert not await store.revoke_agent_token(office.id, token_id)  # gone already
    with pytest.raises(REFUSED):  # no such agent: a domain error, not a database error
        await store.add_agent_token("no-such-agent", "ee" * 32)
    assert await store.agent_for_token("ee" * 32) is None


async def test_list_agents_sorted_by_name_with_login_and_no_foreign_agents(
        store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    zoe = await store.create_agent(office.id, "Zoe", Role.AGENT, "t1" * 32)
    ann = await store.create_agent(office.id, "Ann", Role.ADMIN, "t2" * 32)
    await store.create_agent(other.id, "Bob", Role.ADMIN, "t3" * 32)
    await store.set_agent_login(ann.id, email="ann@buero.test")
    accounts = await store.list_agents(office.id)
    assert [a.agent.id for a in accounts] == [ann.id, zoe.id]
    assert accounts[0].login is not None and accounts[0].login.email == "ann@buero.test"
    assert accounts[1].login is None
    assert [a.sessions for a in accounts] == [0, 0]


async def test_set_agent_login_changes_only_the_given_fields(store: Store) -> None:
    office = await store.create_office("A", "DE")
    agent = await store.create_agent(office.id, "Ann", Role.AGENT, TOKEN_A)
    assert await store.agent_login(agent.id) is None
    login = await store.set_agent_login(agent.id, email="ann@buero.test",
                                        password_hash="scrypt$1", language="de")
    assert (login.email, login.password_hash, login.language, login.timezone) == (
        "ann@buero.test", "scrypt$1", "de", None)
    login = await store.set_agent_login(agent.id, timezone="Europe/Berlin")
    assert (login.email, login.password_hash, login.language, login.timezone) == (
        "ann@buero.test", "scrypt$1", "de", "Europe/Berlin")
    assert await store.agent_login(agent.id) == login
    assert await store.agent_by_email("ann@buero.test") == (agent, login)
    assert await store.agent_by_email("nobody@buero.test") is None

    login = await store.set_agent_login(agent.id, email=None)  # None clears a field
    assert login.email is None and login.password_hash == "scrypt$1"
    assert await store.agent_by_email("ann@buero.test") is None


async def test_a_taken_email_address_is_refused_and_nothing_changes(store: Store) -> None:
    office = await store.create_office("A", "DE")
    ann = await store.create_agent(office.id, "Ann", Role.AGENT, TOKEN_A)
    bob = await store.create_agent(office.id, "Bob", Role.AGENT, TOKEN_B)
    await store.set_agent_login(ann.id, email="ann@buero.test")
    await store.set_agent_login(bob.id, email="bob@buero.test", language="en")
    with pytest.raises(REFUSED):
        await store.set_agent_login(bob.id, email="ann@buero.test", language="de")
    after = await store.agent_login(bob.id)
    assert after is not None and (after.email, after.language) == ("bob@buero.test", "en")
    found = await store.agent_by_email("ann@buero.test")
    assert found is not None and found[0] == ann


async def test_a_login_for_an_unknown_agent_is_refused(store: Store) -> None:
    with pytest.raises(REFUSED):
        await store.set_agent_login("no-such-agent", email="x@buero.test")
    assert await store.agent_login("no-such-agent") is None
    assert await store.agent_by_email("x@buero.test") is None


async def test_one_address_claimed_for_two_agents_at_once_goes_to_one(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    ann = await store.create_agent(office.id, "Ann", Role.AGENT, TOKEN_A)
    bob = await store.create_agent(office.id, "Bob", Role.AGENT, TOKEN_B)
    outcomes = await asyncio.gather(
        store.set_agent_login(ann.id, email="desk@buero.test", language="de"),
        second_store.set_agent_login(bob.id, email="desk@buero.test", language="en"),
        return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], Conflict)
    found = await second_store.agent_by_email("desk@buero.test")
    assert found is not None
    loser = bob if found[0] == ann else ann
    assert await store.agent_login(loser.id) is None  # the refused call changed nothing
