"""Notification preferences and consent of one customer (agents and admins).

``GET`` shows the stored preferences, the effective channel order, every channel's current
consent (explicit or implicit) and the consent history; ``PUT`` changes only the fields it
carries (``chronik.preferences.apply_preferences``, the same use case as the portal's
preferences page). Every change is recorded on the customer's timeline (an internal entry)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field, StrictBool, field_validator

from chronik.api.base import Caller, Operation, Param, json_model, read_json
from chronik.api.schemas import _In
from chronik.preferences import (
    DEFAULT_DIGEST_AT,
    KEEP,
    PreferenceChange,
    apply_preferences,
    record_preference_change,
)
from chronik.state import AppState
from notify.evaluate import CHANNELS, consent_state, notified_channels
from timeline.models import Consent, Customer, DailyDigest, Preferences, QuietHours, utcnow

__all__ = ["OPERATIONS", "PreferencesOut", "preferences_out", "record_preference_change"]

ChannelName = Literal["email", "telegram", "portal"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietHoursIO(_In):
    start: str = Field(description="HH:MM, local time when messages start to wait")
    end: str = Field(description="HH:MM, local time when they go out again")
    timezone: str = Field("Europe/Berlin", description="IANA time zone of the customer")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be HH:MM (00:00 to 23:59)")
        return value


class DailyDigestIO(_In):
    at: str = Field(DEFAULT_DIGEST_AT, description="HH:MM, local time of the daily message")
    timezone: str | None = Field(
        None, description="IANA time zone of the customer (default: that of the quiet "
                          "hours, else Europe/Berlin)")

    @field_validator("at")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be HH:MM (00:00 to 23:59)")
        return value


class PreferencesIn(_In):
    channels: list[ChannelName] | None = Field(
        None, description="Preferred channels, best first (the portal is always last resort)")
    automatic_notifications: StrictBool | None = Field(
        None, description="false = no automatic notifications at all")
    quiet_hours: QuietHoursIO | None = Field(None, description="null removes quiet hours")
    language: Literal["de", "en"] | None = None
    daily_digest: DailyDigestIO | None = Field(
        None, description="One e-mail/Telegram message a day listing every item, instead of "
                          "one per item; null = one message per item")
    consents: dict[ChannelName, StrictBool] | None = Field(
        None, description="Record consent given (true) or withdrawn (false) per channel")

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each channel may appear once")
        return value


class ConsentOut(BaseModel):
    channel: str
    granted: bool
    explicit: bool = Field(description="false: implicit (never decided; see README)")
    at: datetime | None = None
    actor: str | None = None
    route: str | None = None


class PreferencesOut(BaseModel):
    customer_id: str
    channels: list[str] = Field(description="As stored; empty = follow the identities")
    effective_channels: list[str] = Field(description="The order the notifier uses now")
    automatic_notifications: bool
    quiet_hours: QuietHoursIO | None
    language: str
    daily_digest: DailyDigestIO | None = Field(
        description="null: one message per item; else one a day at this local time")
    consents: dict[str, ConsentOut]
    consent_history: list[ConsentOut]


def _consent_out(c: Consent) -> ConsentOut:
    return ConsentOut(channel=c.channel, granted=c.granted, explicit=True, at=c.at,
                      actor=c.actor, route=c.route)


async def preferences_out(state: AppState, customer: Customer) -> PreferencesOut:
    office_id = customer.office_id
    prefs = await state.store.get_preferences(office_id, customer.id)
    current = await state.store.consents(office_id, customer.id)
    history = await state.store.consent_history(office_id, customer.id)
    consents = {}
    for channel in CHANNELS:
        if channel in current:
            consents[channel] = _consent_out(current[channel])
        else:
            granted, _ = consent_state(customer, current, channel)
            consents[channel] = ConsentOut(channel=channel, granted=granted, explicit=False)
    qh = prefs.quiet_hours
    return PreferencesOut(
        customer_id=customer.id, channels=list(prefs.channels),
        effective_channels=notified_channels(customer, prefs, current, available=CHANNELS,
                                             now=utcnow()),
        automatic_notifications=prefs.automatic_notifications,
        quiet_hours=QuietHoursIO(start=qh.start, end=qh.end, timezone=qh.timezone)
        if qh else None, language=prefs.language,
        daily_digest=DailyDigestIO(at=prefs.daily_digest.at,
                                   timezone=prefs.daily_digest.timezone)
        if prefs.daily_digest else None, consents=consents,
        consent_history=[_consent_out(c) for c in history])


async def get_preferences(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    return json_model(await preferences_out(state, customer))


async def put_preferences(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    body = await read_json(request, PreferencesIn)
    sent = body.model_fields_set
    qh = body.quiet_hours
    digest = body.daily_digest
    old = await state.store.get_preferences(customer.office_id, customer.id)
    change = PreferenceChange(
        channels=body.channels,
        automatic_notifications=body.automatic_notifications,
        quiet_hours=(KEEP if "quiet_hours" not in sent else
                     None if qh is None else QuietHours(**qh.model_dump())),
        language=body.language,
        daily_digest=(KEEP if "daily_digest" not in sent else
                      None if digest is None else
                      DailyDigest(at=digest.at, timezone=digest.timezone or zone_of(old))),
        consents={str(c): granted for c, granted in (body.consents or {}).items()})
    await apply_preferences(state, customer, change, actor=caller.agent.id, route="agent",
                            who=f"by {caller.agent.name}", author=caller.agent.id)
    return json_model(await preferences_out(state, customer))


def zone_of(prefs: Preferences) -> str:
    """The customer's time zone as the preferences tell it (digest, quiet hours)."""
    if prefs.daily_digest is not None:
        return prefs.daily_digest.timezone
    return prefs.quiet_hours.timezone if prefs.quiet_hours else "Europe/Berlin"


ID = Param("id", "path", description="Customer id")

OPERATIONS = [
    Operation("GET", "/customers/{id}/preferences", get_preferences, "getPreferences",
              "Notification preferences, effective channel order and consent", "notifications",
              params=(ID,), response=PreferencesOut, errors=(404,)),
    Operation("PUT", "/customers/{id}/preferences", put_preferences, "putPreferences",
              "Change notification preferences and record consent (only the fields sent)",
              "notifications", params=(ID,), body=PreferencesIn, response=PreferencesOut,
              errors=(400, 404)),
]
