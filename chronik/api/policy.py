"""Publish policy (defaults for visibility and "notify customer") and the tone lexicon."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiohttp import web

from chronik.api.base import Caller, Operation, json_model, read_json
from chronik.api.schemas import (
    DisclosureHitOut,
    EffectiveOut,
    PolicyIn,
    PolicyOut,
    PresetIn,
    PresetSourceOut,
    ToneCheckIn,
    ToneCheckOut,
    ToneHitOut,
    ToneOut,
    ToneWordsIn,
)
from chronik.state import AppState
from timeline import tone
from timeline.errors import InvalidInput, NotFound
from timeline.policy import ENTRY_KINDS, SYSTEM_DEFAULTS, KindPreset, PolicyMap, preset
from timeline.service import screen


async def policy_view(state: AppState, caller: Caller) -> PolicyOut:
    office = await state.store.get_policy(caller.office.id, None)
    agent = await state.store.get_policy(caller.office.id, caller.agent.id)
    effective = {}
    for kind in ENTRY_KINDS:
        eff = preset(kind, agent, office)
        effective[kind] = EffectiveOut(
            visibility=eff.visibility, notify=eff.notify,
            source=PresetSourceOut(visibility=eff.visibility_source, notify=eff.notify_source))
    return PolicyOut(kinds=list(ENTRY_KINDS), system=SYSTEM_DEFAULTS, office=office, agent=agent,
                     effective=effective)


async def get_policy(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    return json_model(await policy_view(state, caller))


async def save_policy(state: AppState, caller: Caller, body: Mapping[str, PresetIn | None], *,
                      office: bool) -> PolicyOut:
    """Set the office's (``office=True``) or the caller's own defaults for the kinds in
    ``body`` (``None`` clears a kind; kinds not named stay). The API's PUTs and the admin
    page both come here."""
    unknown = sorted(set(body) - set(ENTRY_KINDS))
    if unknown:
        raise InvalidInput(f"unknown entry kind(s): {', '.join(unknown)}; "
                           f"known: {', '.join(ENTRY_KINDS)}")
    policy: PolicyMap = {kind: KindPreset(**(p.model_dump() if p else {}))
                         for kind, p in body.items()}
    await state.store.set_policy(caller.office.id, None if office else caller.agent.id, policy)
    return await policy_view(state, caller)


async def put_office_policy(request: web.Request, state: AppState, caller: Caller
                            ) -> web.StreamResponse:
    body = (await read_json(request, PolicyIn)).root
    return json_model(await save_policy(state, caller, body, office=True))


async def put_agent_policy(request: web.Request, state: AppState, caller: Caller
                           ) -> web.StreamResponse:
    body = (await read_json(request, PolicyIn)).root
    return json_model(await save_policy(state, caller, body, office=False))


async def tone_view(state: AppState, office_id: str) -> ToneOut:
    lex = tone.shipped_lexicon()
    return ToneOut(shipped=list(lex.patterns),
                   office=list(await state.store.get_tone_words(office_id)), hint=lex.hint)


async def save_tone_words(state: AppState, office_id: str, words: Iterable[str]) -> ToneOut:
    """Replace the office's own tone patterns (blank ones dropped, duplicates merged); the
    API's PUT and the admin page both come here."""
    clean = sorted({w.strip() for w in words if w.strip()})
    if any(len(w) > 100 for w in clean):
        raise InvalidInput("a tone pattern may have at most 100 characters")
    if len(clean) > 1000:
        raise InvalidInput("at most 1000 tone patterns")
    broad = [w for w in clean if tone.too_broad(w)]
    if broad:
        raise InvalidInput("a tone pattern needs a word of at least three letters or digits: "
                           "this one would match nearly every text", {"too_broad": broad[:20]})
    await state.store.set_tone_words(office_id, clean)
    return await tone_view(state, office_id)


async def get_tone(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    return json_model(await tone_view(state, caller.office.id))


async def put_tone(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    body = await read_json(request, ToneWordsIn)
    return json_model(await save_tone_words(state, caller.office.id, body.words))


async def check_tone(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    body = await read_json(request, ToneCheckIn)
    context = None
    if body.customer_id:
        context = await state.store.entry_context(caller.office.id, caller.agent.id,
                                                  body.customer_id)
        if context is None:
            raise NotFound("no such customer")
    found = screen(body.text, context, await state.store.get_tone_words(caller.office.id))
    return json_model(ToneCheckOut(
        hits=[ToneHitOut(text=h.text, pattern=h.pattern) for h in found.tone_hits],
        disclosure=[DisclosureHitOut(kind=h.kind, text=h.text) for h in found.disclosure_hits],
        hint=tone.shipped_lexicon().hint))


OPERATIONS = [
    Operation("GET", "/policy", get_policy, "getPolicy",
              "Office defaults, your personal defaults and the effective preset per entry kind",
              "policy", response=PolicyOut),
    Operation("PUT", "/policy/office", put_office_policy, "putOfficePolicy",
              "Set the office defaults per entry kind (admin); null clears a kind", "policy",
              auth="admin", body=PolicyIn, response=PolicyOut, errors=(400, 403)),
    Operation("PUT", "/policy/agent", put_agent_policy, "putAgentPolicy",
              "Set your personal defaults per entry kind; null clears a kind", "policy",
              body=PolicyIn, response=PolicyOut, errors=(400,)),
    Operation("GET", "/tone", get_tone, "getTone",
              "The shipped tone lexicon and the office's own additions", "policy",
              response=ToneOut),
    Operation("PUT", "/tone", put_tone, "putTone",
              "Replace the office's own tone patterns (admin)", "policy", auth="admin",
              body=ToneWordsIn, response=ToneOut, errors=(400, 403)),
    Operation("POST", "/tone/check", check_tone, "checkTone",
              "Check a text for derogatory wording before publishing it", "policy",
              body=ToneCheckIn, response=ToneCheckOut, errors=(400, 404)),
]
