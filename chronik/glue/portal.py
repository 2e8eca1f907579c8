"""Wiring of the portal connector: its settings, read once at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chronik.components import Component
from chronik.state import AppState
from connectors.portal import PortalSettings


def load_settings() -> PortalSettings:
    """Environment, then the ``CHRONIK_CONFIG`` file (blocking: reads the file)."""
    return PortalSettings.model_validate({})


def components(state: AppState) -> Sequence[Component]:
    """Nothing runs in the background; the portal API only needs its settings."""
    state.portal = load_settings()
    return []


async def portal_settings(state: AppState) -> PortalSettings:
    settings = state.portal
    if settings is None:  # an app built without the default registry
        settings = state.portal = await asyncio.to_thread(load_settings)
    return settings
