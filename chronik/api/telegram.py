"""Telegram: the webhook Telegram POSTs updates to, and link tokens for ``/start`` deep links."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chronik.api.base import ApiError, Caller, Operation, Param, json_model, read_json
from chronik.state import AppState
from connectors.telegram import (
    LINK_PURPOSE,
    TelegramConnector,
    TelegramNotReady,
    hash_link_token,
    new_link_token,
)
from connectors.telegram.context import SECRET_HEADER
from timeline.errors import Conflict
from timeline.models import Customer, CustomerStatus, utcnow


class TelegramLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    valid_days: int = Field(7, ge=1, le=90, description="How long the link works (days).")


class TelegramLinkOut(BaseModel):
    token: str
    url: str
    """``https://t.me/<bot>?start=<token>``: opening it and pressing Start links the chat."""
    expires_at: datetime


class WebhookOut(BaseModel):
    ok: bool


def connector_of(state: AppState) -> TelegramConnector | None:
    """The Telegram connector, also in a process that does not run it: a webhook update
    or a deep link needs only its settings and the store."""
    for component in state.components:
        if isinstance(component, TelegramConnector):
            return component
    return None


async def webhook(request: web.Request, state: AppState) -> web.StreamResponse:
    connector = connector_of(state)
    if (connector is None or connector.config.mode != "webhook"
            or not connector.config.secret_matches(request.match_info["secret"],
                                                   request.headers.get(SECRET_HEADER))):
        raise ApiError(404, "not_found", "no such webhook")
    body = await request.read()
    try:
        await connector.receive_webhook(body)
    except TelegramNotReady as exc:
        raise ApiError(503, "telegram_unavailable",
                       f"{exc}; Telegram delivers the update again later") from None
    return json_model(WebhookOut(ok=True))


async def issue_link(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    body = (await read_json(request, TelegramLinkIn) if request.can_read_body
            else TelegramLinkIn.model_validate({}))
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    link = await create_link(state, customer, timedelta(days=body.valid_days))
    return json_model(link, status=201)


async def create_link(state: AppState, customer: Customer, valid_for: timedelta
                      ) -> TelegramLinkOut:
    """A one-time ``/start`` deep link for the customer (the API above, and the portal's
    "link Telegram" button). ``ApiError``/``Conflict`` when it cannot be made."""
    if customer.status is CustomerStatus.MERGED:
        raise Conflict("this customer was merged into another one; link that one")
    connector = connector_of(state)
    if connector is None:
        raise ApiError(409, "telegram_not_configured",
                       "Telegram is not configured (CHRONIK_TELEGRAM_BOT_TOKEN)")
    if connector.office_id not in (None, customer.office_id):
        raise ApiError(409, "telegram_not_configured",
                       "this server's Telegram bot belongs to another office")
    username = await connector.username()
    if not username:
        raise ApiError(503, "telegram_unavailable",
                       "the Telegram bot has not connected yet, so its username is unknown "
                       "(or set CHRONIK_TELEGRAM_BOT_USERNAME)")
    token = new_link_token()
    expires_at = utcnow() + valid_for
    await state.store.add_customer_token(customer.office_id, customer.id, LINK_PURPOSE,
                                         hash_link_token(token), expires_at)
    return TelegramLinkOut(token=token, expires_at=expires_at,
                           url=f"https://t.me/{username}?start={token}")


OPERATIONS = [
    Operation("POST", "/telegram/webhook/{secret}", webhook, "telegramWebhook",
              "Telegram delivers one bot update (webhook mode; the secret is checked, also "
              "in X-Telegram-Bot-Api-Secret-Token). Answered once the update is stored, "
              "also while the bot reconnects; 503 only when it cannot be stored",
              "telegram", auth="public",
              params=(Param("secret", "path"),), response=WebhookOut, errors=(404, 503)),
    Operation("POST", "/customers/{id}/telegram-link", issue_link, "issueTelegramLink",
              "A one-time t.me deep link that links the customer's Telegram chat", "telegram",
              params=(Param("id", "path"),), body=TelegramLinkIn, response=TelegramLinkOut,
              status=201, errors=(400, 404, 409, 503)),
]
