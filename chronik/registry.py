"""Built-in components, registered exactly as a third-party plugin would register one:
``"module.path:factory"`` entries, each factory taking the running ``AppState``."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from chronik.components import Component, ComponentFactory

DEFAULT_COMPONENTS: list[str] = [
    "chronik.glue.phone:components",
    "chronik.glue.portal:components",
    "chronik.glue.telegram:components",
    "chronik.glue.notify:components",
    "chronik.glue.email:components",
    "chronik.glue.privacy:components",
]


def load_factory(spec: str) -> ComponentFactory:
    module, _, attr = spec.partition(":")
    factory: ComponentFactory = getattr(importlib.import_module(module), attr)
    return factory


def build_components(state: object, specs: Sequence[str] | None = None) -> list[Component]:
    components: list[Component] = []
    for spec in DEFAULT_COMPONENTS if specs is None else specs:
        components.extend(load_factory(spec)(state))
    return components
