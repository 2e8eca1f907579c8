"""Contract: browser sessions (console and portal), one-time sign-in codes and the attempts
counted against sign-in limits."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

from tests.store_contract.helpers import T0
from timeline.accounts import Audience, LoginCode, WebSession
from timeline.models import Role
from timeline.store import Store

COVERS = frozenset({
    "create_web_session", "get_web_session", "agent_session", "extend_web_session",
    "delete_web_session",
    "set_web_session_language", "revoke_web_sessions", "add_login_code", "count_login_codes",
    "use_login_code", "take_attempt", "count_attempts", "forget_attempts",
})

HOUR = timedelta(hours=1)
EAST = timezone(timedelta(hours=5))
WEST = timezone(timedelta(hours=-5))


def session(id_hash: str, office_id: str, subject_id: str, *,
            audience: Audience = "agent", hours: int = 1) -> WebSession:
    return WebSession(id_hash=id_hash, audience=audience, office_id=office_id,
                      subject_id=subject_id, csrf=f"csrf-{id_hash}", created_at=T0,
                      expires_at=T0 + hours * HOUR)


def code(code_id: str, office_id: str, subject_id: str, *, minutes: int = 180) -> LoginCode:
    return LoginCode(id=code_id, audience="portal", office_id=office_id,
                     subject_id=subject_id, next_path="/portal/inbox",
                     expires_at=T0 + timedelta(minutes=minutes))


async def test_a_session_is_found_for_its_audience_until_it_expires(store: Store) -> None:
    office = await store.create_office("A", "DE")
    agent = await store.create_agent(office.id, "Ann", Role.AGENT, "t" * 64)
    created = session("s1", office.id, agent.id)
    await store.create_web_session(created)
    assert await store.get_web_session("s1", "agent", T0) == created
    assert await store.get_web_session("s1", "portal", T0) is None  # other audience
    assert await store.get_web_session("s1", "agent", T0 + HOUR) is None  # expired
    assert await store.get_web_session("nope", "agent", T0) is None

    await store.extend_web_session("s1", T0 + 3 * HOUR)
    extended = await store.get_web_session("s1", "agent", T0 + 2 * HOUR)
    assert extended is not None and extended.expires_at == T0 + 3 * HOUR
    await store.set_web_session_language("s1", "en")
    again = await store.get_web_session("s1", "agent", T0)
    assert again is not None and again.language == "en" and again.csrf == "csrf-s1"
    [account] = await store.list_agents(office.id)
    assert account.sessions == 0  # counted against the real clock: T0 lies in the past

    await store.delete_web_session("s1")
    assert await store.get_web_session("s1", "agent", T0) is None


async def test_a_console_session_comes_with_its_agent_office_and_login(store: Store) -> None:
    """One read for what every console request needs; nothing for a session that has
    expired, belongs to the portal, or whose agent is gone."""
    office = await store.create_office("A", "DE")
    agent = await store.create_agent(office.id, "Ann", Role.ADMIN, "t" * 64)
    plain = await store.create_agent(office.id, "Bob", Role.AGENT, "u" * 64)
    await store.set_agent_login(agent.id, email="ann@buero.test", language="en",
                                timezone="Europe/Vienna")
    created = session("s1", office.id, agent.id)
    await store.create_web_session(created)
    found = await store.agent_session("s1", T0)
    assert found is not None
    assert found.record == created and found.agent == agent
    assert found.office == await store.get_office(office.id)
    assert found.login == await store.agent_login(agent.id)
    assert found.login is not None and found.login.timezone == "Europe/Vienna"

    await store.create_web_session(session("s2", office.id, plain.id))  # no login settings
    without = await store.agent_session("s2", T0.astimezone(EAST))
    assert without is not None and without.agent == plain and without.login is None

    assert await store.agent_session("s1", T0 + HOUR) is None  # expired
    assert await store.agent_session("nope", T0) is None
    await store.create_web_session(session("p1", office.id, agent.id, audience="portal"))
    assert await store.agent_session("p1", T0) is None  # a portal session
    other = await store.create_office("B", "DE")
    await store.create_web_session(session("x1", other.id, agent.id))
    assert await store.agent_session("x1", T0) is None  # the agent is not of that office


async def test_revoking_a_subjects_sessions_leaves_the_others(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    for s in (session("p1", office.id, "cust-1", audience="portal"),
              session("p2", office.id, "cust-1", audience="portal"),
              session("p3", office.id, "cust-2", audience="portal"),
              session("a1", office.id, "cust-1", audience="agent"),
              session("o1", other.id, "cust-1", audience="portal")):
        await store.create_web_session(s)
    assert await store.revoke_web_sessions(office.id, "portal", "cust-1") == 2
    assert await store.get_web_session("p1", "portal", T0) is None
    assert await store.get_web_session("p2", "portal", T0) is None
    kept: list[tuple[str, Audience]] = [("p3", "portal"), ("a1", "agent"), ("o1", "portal")]
    for id_hash, audience in kept:
        assert await store.get_web_session(id_hash, audience, T0) is not None
    assert await store.revoke_web_sessions(office.id, "portal", "cust-1") == 0


async def test_a_code_is_spent_by_the_first_right_guess_only(store: Store) -> None:
    office = await store.create_office("A", "DE")
    issued = code("c1", office.id, "cust-1")
    await store.add_login_code(issued, "hash-right", T0)
    assert await store.use_login_code("c1", "hash-wrong", T0, 3) is None
    assert await store.use_login_code("c1", "hash-right", T0, 3) == issued
    assert await store.use_login_code("c1", "hash-right", T0, 3) is None  # spent


async def test_a_code_dies_after_max_attempts_and_at_expiry(store: Store) -> None:
    office = await store.create_office("A", "DE")
    await store.add_login_code(code("c1", office.id, "cust-1"), "hash-right", T0)
    for _ in range(3):
        assert await store.use_login_code("c1", "hash-wrong", T0, 3) is None
    assert await store.use_login_code("c1", "hash-right", T0, 3) is None  # guessed to death

    await store.add_login_code(code("c2", office.id, "cust-1", minutes=5), "hash-2", T0)
    late = T0 + timedelta(minutes=6)
    assert await store.use_login_code("c2", "hash-2", late, 3) is None
    assert await store.use_login_code("unknown", "hash-2", T0, 3) is None


async def test_codes_are_counted_per_subject_and_audience_since_a_time(store: Store) -> None:
    office = await store.create_office("A", "DE")
    await store.add_login_code(code("c1", office.id, "cust-1"), "h1", T0)
    await store.add_login_code(code("c2", office.id, "cust-1"), "h2", T0 + HOUR)
    await store.add_login_code(code("c3", office.id, "cust-2"), "h3", T0 + HOUR)
    assert await store.count_login_codes("portal", ["cust-1"], T0) == 2
    assert await store.count_login_codes("portal", ["cust-1"], T0 + HOUR) == 1
    assert await store.count_login_codes("portal", ["cust-1", "cust-2"], T0) == 3
    assert await store.count_login_codes("agent", ["cust-1"], T0) == 0
    assert await store.count_login_codes("portal", [], T0) == 0


async def test_expiry_is_compared_as_an_instant_in_any_time_zone(store: Store) -> None:
    """The same instant written with another UTC offset means the same (compared as text,
    ``…18:00+05:00`` would sort after ``…14:00+00:00`` though it is earlier)."""
    office = await store.create_office("A", "DE")
    await store.create_web_session(session("s1", office.id, "agent-1"))  # until T0 + 1 h
    assert await store.get_web_session("s1", "agent", (T0 + HOUR / 2).astimezone(EAST))
    assert await store.get_web_session("s1", "agent", (T0 + 2 * HOUR).astimezone(WEST)) is None
    eastern = WebSession(id_hash="s2", audience="agent", office_id=office.id,
                         subject_id="agent-1", csrf="c", created_at=T0.astimezone(EAST),
                         expires_at=(T0 + HOUR).astimezone(EAST))
    await store.create_web_session(eastern)  # clean-up at its creation keeps s1
    assert await store.get_web_session("s1", "agent", T0) is not None
    found = await store.get_web_session("s2", "agent", T0 + HOUR / 2)
    assert found == eastern  # the same instants, whatever offset they come back in
    assert await store.get_web_session("s2", "agent", T0 + 2 * HOUR) is None

    await store.add_login_code(code("c1", office.id, "cust-1"), "h1", T0)  # until T0 + 3 h
    await store.add_login_code(code("c2", office.id, "cust-1"), "h2",
                               (T0 + HOUR).astimezone(EAST))  # its clean-up keeps c1
    assert await store.count_login_codes("portal", ["cust-1"],
                                         (T0 + HOUR / 2).astimezone(WEST)) == 1
    assert await store.use_login_code("c1", "h1", (T0 + 4 * HOUR).astimezone(WEST), 3) is None
    assert await store.use_login_code("c1", "h1", (T0 + HOUR).astimezone(EAST), 3) is not None


async def test_a_code_redeemed_by_two_processes_at_once_is_spent_once(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    ids = [f"c{n}" for n in range(8)]
    for code_id in ids:
        await store.add_login_code(code(code_id, office.id, "cust-1"), "hash-right", T0)
    for code_id in ids:
        won = await asyncio.gather(store.use_login_code(code_id, "hash-right", T0, 3),
                                   second_store.use_login_code(code_id, "hash-right", T0, 3))
        assert sorted(w is not None for w in won) == [False, True], code_id


async def test_wrong_guesses_from_two_processes_at_once_all_count(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    await store.add_login_code(code("c1", office.id, "cust-1"), "hash-right", T0)
    await asyncio.gather(*(handle.use_login_code("c1", "hash-wrong", T0, 3)
                           for handle in (store, second_store, store)))
    assert await second_store.use_login_code("c1", "hash-right", T0, 3) is None  # guessed dead


MINUTE = timedelta(minutes=1)


async def test_attempts_count_up_to_the_limit_within_the_window(store: Store) -> None:
    since = T0 - 15 * MINUTE
    taken = [await store.take_attempt("password", "k1", T0 + n * MINUTE / 10, since, 3)
             for n in range(5)]
    assert taken == [True, True, True, False, False]  # refused attempts do not count
    assert await store.count_attempts("password", "k1", since) == 3
    # another key, another scope: counted on their own
    assert await store.take_attempt("password", "k2", T0, since, 3)
    assert await store.take_attempt("code", "k1", T0, since, 3)
    assert await store.count_attempts("code", "k1", since) == 1
    # once the window has moved past them, the attempts no longer count
    later = T0 + 16 * MINUTE
    assert await store.count_attempts("password", "k1", later - 15 * MINUTE) == 0
    assert await store.take_attempt("password", "k1", later, later - 15 * MINUTE, 3)


async def test_attempts_are_forgotten_by_key_and_after_a_day(store: Store) -> None:
    since = T0 - HOUR
    for key in ("k1", "k1", "k2", "k3"):
        assert await store.take_attempt("password", key, T0, since, 10)
    assert await store.forget_attempts("password", ["k1", "k3", "unknown"]) == 3
    assert await store.forget_attempts("password", []) == 0
    assert await store.count_attempts("password", "k1", since) == 0
    assert await store.count_attempts("password", "k2", since) == 1
    # another scope's attempt two days later forgets k2's (older than any window kept),
    # whatever window its own scope counts in
    two_days = T0 + timedelta(days=2)
    assert await store.take_attempt("code", "x", two_days, two_days - 3 * timedelta(days=1), 10)
    assert await store.count_attempts("password", "k2", since) == 0


async def test_attempts_are_compared_as_instants_in_any_time_zone(store: Store) -> None:
    await store.take_attempt("password", "k1", T0.astimezone(EAST), T0 - HOUR, 5)
    assert await store.count_attempts("password", "k1", (T0 - MINUTE).astimezone(WEST)) == 1
    assert await store.count_attempts("password", "k1", (T0 + MINUTE).astimezone(WEST)) == 0


async def test_attempts_from_two_processes_at_once_never_pass_the_limit(
        store: Store, second_store: Store) -> None:
    since = T0 - HOUR
    taken = await asyncio.gather(*(handle.take_attempt("password", "k1", T0, since, 4)
                                   for _ in range(5) for handle in (store, second_store)))
    assert sorted(taken) == [False] * 6 + [True] * 4
    assert await second_store.count_attempts("password", "k1", since) == 4
