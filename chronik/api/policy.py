"""Publish policy (defaults for visibility and "notify customer") and the tone lexicon."""

from __future__ import annotations

from aiohttp import web

from chronik.api.base import Caller, Operation, json_model, read_json
from chronik.api.schemas import (
    EffectiveOut,
    PolicyIn,
    PolicyOut,
    PresetSourceOut,
    ToneCheckIn,
    ToneCheckOut,
    ToneHitOut,
    ToneOut,
    ToneWordsIn,
)
from chronik.state import AppState
from timeline import tone
from timeline.errors import InvalidInput
from timeline.policy import ENTRY_KINDS, SYSTEM_DEFAULTS, KindPreset, PolicyMap, preset


async def _policy_view(state: AppState, caller: Caller) -> PolicyOut:
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
    return json_model(await _policy_view(state, caller))


async def _read_policy(request: web.Request) -> PolicyMap:
    body = (await read_json(request, PolicyIn)).root
    unknown = sorted(set(body) - set(ENTRY_KINDS))
    if unknown:
        raise InvalidInput(f"unknown entry kind(s): {', '.join(unknown)}; "
                           f"known: {', '.join(ENTRY_KINDS)}")
    return {kind: KindPreset(**(p.model_dump() if p else {})) for kind, p in body.items()}


async def put_office_policy(request: web.Request, state: AppState, caller: Caller
                            ) -> web.StreamResponse:
    await state.store.set_policy(caller.office.id, None, await _read_policy(request))
    return json_model(await _policy_view(state, caller))


async def put_agent_policy(request: web.Request, state: AppState, caller: Caller
                           ) -> web.StreamResponse:
    await state.store.set_policy(caller.office.id, caller.agent.id, await _read_policy(request))
    return json_model(await _policy_view(state, caller))


async def get_tone(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    lex = tone.shipped_lexicon()
    return json_model(ToneOut(shipped=list(lex.patterns),
                              office=list(await state.store.get_tone_words(caller.office.id)),
                              hint=lex.hint))


async def put_tone(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    body = await read_json(request, ToneWordsIn)
    words = sorted({w.strip() for w in body.words if w.strip()})
    if any(len(w) > 100 for w in words):
        raise InvalidInput("a tone pattern may have at most 100 characters")
    await state.store.set_tone_words(caller.office.id, words)
    return await get_tone(request, state, caller)


async def check_tone(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    body = await read_json(request, ToneCheckIn)
    hits = tone.check(body.text, await state.store.get_tone_words(caller.office.id))
    return json_model(ToneCheckOut(hits=[ToneHitOut(text=h.text, pattern=h.pattern)
                                         for h in hits], hint=tone.shipped_lexicon().hint))


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
              body=ToneCheckIn, response=ToneCheckOut, errors=(400,)),
]
