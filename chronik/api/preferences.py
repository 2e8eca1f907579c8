"""Notification preferences and consent of one customer (agents and admins).

``GET`` shows the stored preferences, the effective channel order, every channel's current
consent (explicit or implicit) and the consent history; ``PUT`` changes only the fields it
carries. Every change is recorded on the customer's timeline (an internal entry)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from chronik.api.base import Caller, Operation, Param, json_model, read_json
from chronik.api.schemas import _In
from chronik.state import AppState
from notify.evaluate import CHANNELS, channel_order, consent_state
from timeline.errors import InvalidInput
from timeline.models import (
    Channel,
    Consent,
    Customer,
    Direction,
    EntryDraft,
    Preferences,
    QuietHours,
    Visibility,
    utcnow,
)

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


class PreferencesIn(_In):
    channels: list[ChannelName] | None = Field(
        None, description="Preferred channels, best first (the portal is always last resort)")
    automatic_notifications: bool | None = Field(
        None, description="false = no automatic notifications at all")
    quiet_hours: QuietHoursIO | None = Field(None, description="null removes quiet hours")
    language: Literal["de", "en"] | None = None
    consents: dict[ChannelName, bool] | None = Field(
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
        effective_channels=channel_order(customer, prefs),
        automatic_notifications=prefs.automatic_notifications,
        quiet_hours=QuietHoursIO(start=qh.start, end=qh.end, timezone=qh.timezone)
        if qh else None, language=prefs.language, consents=consents,
        consent_history=[_consent_out(c) for c in history])


def _qh_text(qh: QuietHours | None) -> str:
    return "none" if qh is None else f"{qh.start}–{qh.end} {qh.timezone}"


async def get_preferences(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    return json_model(await preferences_out(state, customer))


async def put_preferences(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    body = await read_json(request, PreferencesIn)
    sent = body.model_fields_set
    old = await state.store.get_preferences(caller.office.id, customer.id)
    update: dict[str, object] = {}
    changes: list[str] = []
    if "channels" in sent and body.channels is not None:
        update["channels"] = tuple(body.channels)
        changes.append(f"channels: {', '.join(old.channels) or 'automatic'} → "
                       f"{', '.join(body.channels) or 'automatic'}")
    if "automatic_notifications" in sent and body.automatic_notifications is not None:
        update["automatic_notifications"] = body.automatic_notifications
        changes.append("automatic notifications: "
                       f"{'on' if body.automatic_notifications else 'off'}")
    if "quiet_hours" in sent:
        qh = None
        if body.quiet_hours is not None:
            try:
                await asyncio.to_thread(ZoneInfo, body.quiet_hours.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InvalidInput(f"quiet_hours.timezone: unknown time zone "
                                   f"{body.quiet_hours.timezone!r}") from None
            qh = QuietHours(**body.quiet_hours.model_dump())
        update["quiet_hours"] = qh
        changes.append(f"quiet hours: {_qh_text(old.quiet_hours)} → {_qh_text(qh)}")
    if "language" in sent and body.language is not None:
        update["language"] = body.language
        changes.append(f"language: {old.language} → {body.language}")
    if update:
        new = Preferences.model_validate({**old.model_dump(), **update})
        await state.store.set_preferences(caller.office.id, customer.id, new)
    for channel, granted in (body.consents or {}).items():
        await state.store.record_consent(caller.office.id, customer.id, channel, granted,
                                         actor=caller.agent.id, route="agent")
        changes.append(f"{channel} consent {'given' if granted else 'withdrawn'}")
    if changes:
        await record_preference_change(state, caller.office.id, customer.id,
                                       f"by {caller.agent.name}", changes, caller.agent.id)
    return json_model(await preferences_out(state, customer))


async def record_preference_change(state: AppState, office_id: str, customer_id: str,
                                   who: str, changes: list[str], author: str | None) -> None:
    """An internal timeline entry for a change of preferences or consent."""
    await state.timeline.append(EntryDraft(
        office_id=office_id, customer_id=customer_id, channel=Channel.NOTE,
        direction=Direction.INTERNAL, kind="preferences", author=author,
        visibility=Visibility.INTERNAL, notify=False, occurred_at=utcnow(),
        subject=f"Notification preferences changed {who}", body="\n".join(changes),
        meta={"preferences_change": changes}))


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
