"""The publish policy: what "notify customer" and visibility are preset to, and why.

Layers, strongest first: the request itself, the agent's personal default, the office
default, the system default. Each field (``visibility``, ``notify``) falls through the layers
on its own; ``notify: true`` implies ``published`` and ``internal`` implies no notification.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from timeline.models import Visibility

ENTRY_KINDS: tuple[str, ...] = ("note", "phone_note", "document")


class PresetSource(StrEnum):
    REQUEST = "request"
    AGENT = "agent"
    OFFICE = "office"
    SYSTEM = "system"


class KindPreset(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    visibility: Visibility | None = None
    notify: bool | None = None


PolicyMap = dict[str, KindPreset]

SYSTEM_DEFAULTS: dict[str, KindPreset] = {
    kind: KindPreset(visibility=Visibility.PUBLISHED, notify=True) for kind in ENTRY_KINDS
}
"""A steady flow of information keeps customers: notes, phone notes and documents are
published and notified unless an office or agent says otherwise."""


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)
    visibility: Visibility
    notify: bool
    visibility_source: PresetSource
    notify_source: PresetSource


def _layered(
    kind: str, agent: PolicyMap, office: PolicyMap
) -> list[tuple[PresetSource, KindPreset]]:
    return [
        (PresetSource.AGENT, agent.get(kind, KindPreset())),
        (PresetSource.OFFICE, office.get(kind, KindPreset())),
        (PresetSource.SYSTEM, SYSTEM_DEFAULTS.get(kind, KindPreset(
            visibility=Visibility.INTERNAL, notify=False))),
    ]


def preset(kind: str, agent: PolicyMap, office: PolicyMap) -> Decision:
    """The preset the agent sees in the form before touching anything."""
    return _resolve(kind, agent, office, None, None)


def decide(
    kind: str,
    agent: PolicyMap,
    office: PolicyMap,
    visibility: Visibility | None,
    notify: bool | None,
) -> Decision:
    return _resolve(kind, agent, office, visibility, notify)


def _resolve(
    kind: str,
    agent: PolicyMap,
    office: PolicyMap,
    visibility: Visibility | None,
    notify: bool | None,
) -> Decision:
    layers = _layered(kind, agent, office)
    if notify is True:
        vis, vis_src = Visibility.PUBLISHED, PresetSource.REQUEST
        if visibility is Visibility.INTERNAL:
            raise ValueError("notify requires visibility 'published'")
    elif visibility is not None:
        vis, vis_src = visibility, PresetSource.REQUEST
    else:
        vis_src, layer = next((s, p) for s, p in layers if p.visibility is not None)
        assert layer.visibility is not None
        vis = layer.visibility
    if notify is not None:
        return Decision(visibility=vis, notify=notify, visibility_source=vis_src,
                         notify_source=PresetSource.REQUEST)
    if vis is Visibility.INTERNAL:
        # Internal entries never notify; the reason is whatever made them internal.
        return Decision(visibility=vis, notify=False, visibility_source=vis_src,
                         notify_source=vis_src)
    ntf_src, layer = next((s, p) for s, p in layers if p.notify is not None)
    assert layer.notify is not None
    return Decision(visibility=vis, notify=layer.notify, visibility_source=vis_src,
                     notify_source=ntf_src)
