"""Settings of the customer portal API (``CHRONIK_PORTAL_*``).

Read like every Chronik settings model: environment first, then the TOML file named by
``CHRONIK_CONFIG`` (same names in lower case without the prefix, e.g.
``portal_session_days = 7``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import (
    SettingsConfigDict,
)

from timeline.config import ChronikSettingsBase


class PortalSettings(ChronikSettingsBase):
    model_config = SettingsConfigDict(env_prefix="CHRONIK_PORTAL_", extra="ignore")

    session_days: int = Field(30, ge=1, le=366,
                              description="How long a customer portal session token is valid.")
