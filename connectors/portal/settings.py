"""Settings of the customer portal API (``CHRONIK_PORTAL_*``).

Read like every Chronik settings model: environment first, then the TOML file named by
``CHRONIK_CONFIG`` (same names in lower case without the prefix, e.g.
``portal_session_days = 7``)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

CONFIG_ENV = "CHRONIK_CONFIG"


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHRONIK_PORTAL_", extra="ignore")

    session_days: int = Field(30, ge=1, le=366,
                              description="How long a customer portal session token is valid.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get(CONFIG_ENV)
        if path:
            if not Path(path).is_file():
                raise FileNotFoundError(f"{CONFIG_ENV}={path}: no such file")
            sources.append(_prefixed_toml(settings_cls, Path(path), "portal_"))
        return tuple(sources)


def _prefixed_toml(settings_cls: type[BaseSettings], path: Path, prefix: str
                   ) -> PydanticBaseSettingsSource:
    """The shared TOML file holds every component's keys: take the ``portal_*`` ones."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return InitSettingsSource(settings_cls, {k[len(prefix):]: v for k, v in data.items()
                                             if k.startswith(prefix)})
