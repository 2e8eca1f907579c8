"""Contract: publish policies, the tone lexicon, what decides a new entry, consent with its
history, and notification preferences."""

from __future__ import annotations

import asyncio

import pytest

from tests.store_contract.helpers import seed
from timeline.errors import NotFound
from timeline.models import DailyDigest, Preferences, QuietHours, Role, Visibility
from timeline.policy import KindPreset
from timeline.store import Store

COVERS = frozenset({
    "get_policy", "set_policy", "get_tone_words", "set_tone_words", "entry_context",
    "record_consent", "consents", "consent_history", "get_preferences", "set_preferences",
})


async def test_policy_and_tone_words(store: Store) -> None:
    office = await store.create_office("A", "DE")
    assert await store.get_policy(office.id, None) == {}
    await store.set_policy(office.id, None, {"document": KindPreset(notify=False)})
    await store.set_policy(office.id, "agent-1", {"note": KindPreset(
        visibility=Visibility.INTERNAL)})
    assert await store.get_policy(office.id, None) == {"document": KindPreset(notify=False)}
    assert await store.get_policy(office.id, "agent-1") == {
        "note": KindPreset(visibility=Visibility.INTERNAL)}
    assert await store.get_policy(office.id, "agent-2") == {}
    await store.set_policy(office.id, None, {"note": KindPreset(
        visibility=Visibility.PUBLISHED, notify=True)})  # another kind: the first one stays
    assert await store.get_policy(office.id, None) == {
        "document": KindPreset(notify=False),
        "note": KindPreset(visibility=Visibility.PUBLISHED, notify=True)}
    await store.set_policy(office.id, None, {"document": KindPreset()})  # empty: removed
    assert await store.get_policy(office.id, None) == {
        "note": KindPreset(visibility=Visibility.PUBLISHED, notify=True)}
    other = await store.create_office("B", "DE")
    assert await store.get_policy(other.id, None) == {}

    assert await store.get_tone_words(office.id) == ()
    await store.set_tone_words(office.id, ["nervensäge", "meckerer*", "nervensäge"])
    assert await store.get_tone_words(office.id) == ("meckerer*", "nervensäge")
    await store.set_tone_words(office.id, ["querulant"])  # replaces the list
    assert await store.get_tone_words(office.id) == ("querulant",)
    assert await store.get_tone_words(other.id) == ()


async def test_entry_context_gathers_what_decides_a_new_entry(store: Store) -> None:
    s = await seed(store, name="Erika Muster")
    office = s.office.id
    me = await store.create_agent(office, "Ann Agent", Role.AGENT, "t1" * 32)
    colleague = await store.create_agent(office, "Bob Kollege", Role.ADMIN, "t2" * 32)
    await store.create_agent((await store.create_office("B", "DE")).id, "Eve Fremd",
                             Role.AGENT, "t3" * 32)
    await store.set_agent_login(colleague.id, email="bob@buero.test")
    await store.set_policy(office, None, {"note": KindPreset(notify=True)})
    await store.set_policy(office, me.id, {"note": KindPreset(visibility=Visibility.INTERNAL)})
    await store.set_policy(office, colleague.id, {"document": KindPreset(notify=False)})
    await store.set_tone_words(office, ["frechheit"])

    ctx = await store.entry_context(office, me.id, s.customer.id)
    assert ctx is not None
    assert ctx.office_policy == {"note": KindPreset(notify=True)}
    assert ctx.agent_policy == {"note": KindPreset(visibility=Visibility.INTERNAL)}
    assert ctx.tone_words == ("frechheit",)
    assert ctx.colleagues == ("Bob Kollege",)  # not me, not another office's agent
    assert ctx.internal_addresses == ("bob@buero.test",)
    assert ctx.customer_name == "Erika Muster"
    assert await store.entry_context(office, me.id, "no-such-customer") is None
    other = await store.create_office("C", "DE")
    assert await store.entry_context(other.id, me.id, s.customer.id) is None


async def test_the_newest_consent_per_channel_counts_and_all_are_kept(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    assert await store.consents(office, c) == {}
    given = await store.record_consent(office, c, "email", True, actor="agent-1", route="agent")
    assert (given.channel, given.granted, given.actor, given.route) == (
        "email", True, "agent-1", "agent")
    await store.record_consent(office, c, "telegram", True, actor="customer",
                               route="telegram_start")
    withdrawn = await store.record_consent(office, c, "email", False, actor="customer",
                                           route="unsubscribe_link")
    current = await store.consents(office, c)
    assert current == {"email": withdrawn, "telegram": current["telegram"]}
    assert current["telegram"].granted
    history = await store.consent_history(office, c)
    assert [(h.channel, h.granted, h.route) for h in history] == [
        ("email", True, "agent"), ("telegram", True, "telegram_start"),
        ("email", False, "unsubscribe_link")]
    assert history[0] == given
    other = await seed(store, office_name="B")
    assert await store.consents(other.office.id, c) == {}
    assert await store.consent_history(other.office.id, c) == []


async def test_preferences_default_and_round_trip(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    assert await store.get_preferences(office, c) == Preferences()
    prefs = Preferences(channels=("telegram", "email"), automatic_notifications=False,
                        quiet_hours=QuietHours(start="22:00", end="07:30"), language="en",
                        daily_digest=DailyDigest(at="18:00", timezone="Europe/Vienna"))
    await store.set_preferences(office, c, prefs)
    assert await store.get_preferences(office, c) == prefs
    await store.set_preferences(office, c, Preferences(language="tr"))  # replaced whole
    assert await store.get_preferences(office, c) == Preferences(language="tr")
    other = await seed(store, office_name="B")
    assert await store.get_preferences(other.office.id, c) == Preferences()
    # never written through another office: refused, the owner's preferences unchanged
    with pytest.raises(NotFound):
        await store.set_preferences(other.office.id, c, Preferences(language="en"))
    with pytest.raises(NotFound):
        await store.set_preferences(office, "no-such-customer", Preferences())
    assert await store.get_preferences(office, c) == Preferences(language="tr")


async def test_two_processes_replacing_the_tone_words_at_once_leave_one_list(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    lists = [tuple(f"{prefix}{n:02}" for n in range(20)) for prefix in ("a", "b")]
    for _ in range(5):
        await asyncio.gather(store.set_tone_words(office.id, lists[0]),
                             second_store.set_tone_words(office.id, lists[1]))
        assert await store.get_tone_words(office.id) in lists  # never a mix of both


async def test_two_processes_setting_a_policy_at_once_both_succeed_and_one_wins_whole(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    kinds = [f"kind{n:02}" for n in range(10)]
    first = {k: KindPreset(notify=True) for k in kinds}
    second = {k: KindPreset(visibility=Visibility.INTERNAL) for k in reversed(kinds)}
    for _ in range(5):
        await asyncio.gather(store.set_policy(office.id, None, first),
                             second_store.set_policy(office.id, None, second))
        assert await store.get_policy(office.id, None) in (first, second)
