"""The one way every component's settings are read (each component has its own model).

Environment variables first (``CHRONIK_…``), then the TOML file named by ``CHRONIK_CONFIG``,
whose keys are the variable names in lower case without ``CHRONIK_``
(``http_port = 8081``, ``email_imap_host = "imap.example"``, ``smtp_host = "…"``).
Lives here because connectors and notify may import ``timeline`` but not each other."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource

CONFIG_ENV = "CHRONIK_CONFIG"


class ChronikSettingsBase(BaseSettings):
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
            sources.append(InitSettingsSource(settings_cls, toml_values(cls, Path(path))))
        return tuple(sources)


def toml_values(cls: type[BaseSettings], path: Path) -> dict[str, object]:
    """The keys of the shared TOML file that belong to ``cls`` (by its env prefix)."""
    if not path.is_file():
        raise FileNotFoundError(f"{CONFIG_ENV}={path}: no such file")
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    prefix = str(cls.model_config.get("env_prefix", "")).lower().removeprefix("chronik_")
    return {key.removeprefix(prefix): value for key, value in data.items()
            if key.startswith(prefix)}
