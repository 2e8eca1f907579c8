"""Glue for the Telegram connector: the component factory (settings model:
:class:`connectors.telegram.settings.TelegramSettings`, listed in ``chronik.settings``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError

from chronik.components import Component, Misconfigured, redact
from connectors.telegram import (
    RAW_CHANNEL,
    TelegramConfig,
    TelegramConnector,
    TelegramServices,
)
from connectors.telegram.settings import TelegramSettings

if TYPE_CHECKING:
    from chronik.state import AppState
    from timeline.models import Customer

log = logging.getLogger(__name__)


def _problem(exc: ValidationError) -> str:
    fields = ", ".join(
        f"CHRONIK_TELEGRAM_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False))
    return f"invalid Telegram settings: {fields}"


def components(state: AppState) -> list[Component]:
    try:
        settings = TelegramSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        return [Misconfigured("telegram", _problem(exc))]
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        return []

    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    httpx_log = logging.getLogger("httpx")
    httpx_log.setLevel(max(httpx_log.getEffectiveLevel(), logging.WARNING))
    try:
        config = TelegramConfig(
            token=settings.bot_token.get_secret_value().strip(), mode=settings.mode,
            api_base_url=settings.api_base_url, api_file_url=settings.api_file_url,
            poll_timeout=float(settings.poll_timeout), office_id=settings.office_id,
            webhook_base_url=state.settings.public_url,
            webhook_secret=(settings.webhook_secret.get_secret_value()
                            if settings.webhook_secret else ""),
            bot_username=settings.bot_username)
    except ValueError as exc:
        return [Misconfigured("telegram", f"invalid Telegram settings: {exc}")]
    async def portal_link(customer: Customer, lang: str) -> tuple[str, int] | None:
        from chronik.web.portal.signin import sign_in_link  # the web layer, when used
        return await sign_in_link(state, customer, lang)
    connector = TelegramConnector(config, TelegramServices(state.ingest, portal_link),
                                  redact=redact)
    state.ingest.register_reprocessor(RAW_CHANNEL, connector.reprocess)
    return [connector]


def report_token_rejected(state: AppState, reason: str) -> None:
    """The notifier found the bot token rejected: the connector shows it (and reconnects,
    which keeps failing visibly at ``GET /api/v1/connectors`` until the token is fixed)."""
    for component in state.components:
        if isinstance(component, TelegramConnector):
            component.token_rejected(reason)
