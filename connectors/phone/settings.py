"""Settings of the FRITZ!Box call monitor (``CHRONIK_FRITZBOX_*``).

Read like every Chronik settings model: environment first, then the TOML file named by
``CHRONIK_CONFIG`` (the environment names in lower case without ``CHRONIK_``, e.g.
``fritzbox_enabled = true``). Off unless ``enabled``; the CTI webhook needs no settings."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from timeline.config import ChronikSettingsBase


def _items(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class FritzboxSettings(ChronikSettingsBase):
    """The call monitor of an AVM FRITZ!Box (TCP port 1012, on after dialling #96*5*)."""

    model_config = SettingsConfigDict(env_prefix="CHRONIK_FRITZBOX_", extra="ignore")

    enabled: bool = Field(default=False, description="Read the box's call monitor.")
    host: str = Field(default="fritz.box", min_length=1, description="The box's name or address.")
    port: int = Field(default=1012, ge=1, le=65535, description="Port of the call monitor.")
    office_id: str | None = Field(
        default=None, description="Office the box's calls belong to; default the only office.")
    numbers: str = Field(
        default="",
        description="Comma-separated numbers of the office on the box (called number of an "
                    "incoming call, own number of an outgoing one); unset = all.")
    lines: str = Field(
        default="",
        description="Comma-separated lines of the office on the box (SIP0, SIP1, ...); "
                    "unset = all.")
    timezone: str = Field(default="Europe/Berlin",
                          description="Time zone of the box's clock (its times are local).")
    extensions: str = Field(
        default="",
        description="Who answers at the box's internal numbers, comma-separated "
                    "number=name pairs (10=Anna Admin, 11=Tom Agent): calls say who "
                    "answered; unset: 'extension 10'.")

    @field_validator("extensions")
    @classmethod
    def _pairs(cls, value: str) -> str:
        for item in _items(value):
            number, sep, name = item.partition("=")
            if not sep or not number.strip() or not name.strip():
                raise ValueError(f"{item!r} is not number=name (e.g. 10=Anna Admin)")
        return value

    @property
    def extension_names(self) -> tuple[tuple[str, str], ...]:
        return tuple((number.strip(), name.strip()) for number, _, name in
                     (item.partition("=") for item in _items(self.extensions)))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Berlin)") from None
        return value

    @property
    def number_list(self) -> tuple[str, ...]:
        return _items(self.numbers)

    @property
    def line_list(self) -> tuple[str, ...]:
        return _items(self.lines)
