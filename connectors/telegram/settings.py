"""Settings of the Telegram connector (``CHRONIK_TELEGRAM_*``).

Read like every Chronik settings model: environment first, then the TOML file named by
``CHRONIK_CONFIG`` (the environment names in lower case without ``CHRONIK_``, e.g.
``telegram_mode = "webhook"``). No token, no connector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    SettingsConfigDict,
)

from connectors.telegram.context import DEFAULT_API_BASE_URL, DEFAULT_API_FILE_URL
from timeline.config import ChronikSettingsBase

_TOML_PREFIX = "telegram_"


class TelegramSettings(ChronikSettingsBase):
    model_config = SettingsConfigDict(env_prefix="CHRONIK_TELEGRAM_", extra="ignore")

    bot_token: SecretStr | None = Field(
        None, description="Bot token from @BotFather; unset = the connector is off.")
    mode: Literal["polling", "webhook"] = Field(
        "polling", description="'polling' (getUpdates long polling) or 'webhook'.")
    api_base_url: str = Field(DEFAULT_API_BASE_URL,
                              description="Bot API base URL (the token is appended).")
    api_file_url: str = Field(DEFAULT_API_FILE_URL,
                              description="Bot API file download base URL.")
    webhook_secret: SecretStr | None = Field(
        None, description="Secret in the webhook path and X-Telegram-Bot-Api-Secret-Token "
                          "(16-256 of A-Z a-z 0-9 _ -); default derived from the token.")
    poll_timeout: int = Field(30, ge=0, le=300,
                              description="Seconds one long-polling request waits for news.")
    office_id: str | None = Field(
        None, description="Office the bot belongs to; default the only office.")
    bot_username: str | None = Field(
        None, description="Bot username for link URLs until the bot has connected.")
