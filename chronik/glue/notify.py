"""Glue for the notifier: settings, the signing key, transports and the worker component
(in ``chronik serve`` unless ``CHRONIK_NOTIFY_WORKER=false``; alone as ``chronik worker``)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from chronik.components import Supervisor, redact, reporting
from chronik.serving import stop_on_signals
from chronik.settings import Settings
from notify.render import Renderer
from notify.settings import NotifySettings
from notify.transports import Transport
from notify.transports.email import SmtpTransport, message_host
from notify.transports.portal import PortalInboxTransport
from notify.transports.telegram import TelegramTransport
from notify.worker import Worker, WorkerConfig
from timeline.files import private_dir
from timeline.models import Entry

if TYPE_CHECKING:
    from chronik.components import Component
    from chronik.state import AppState

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- the signing key
_KEYS: dict[Path, bytes] = {}


def _load_or_create_key(path: Path) -> bytes:
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = secrets.token_urlsafe(48).encode("ascii")
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


async def secret_key(settings: Settings, notify: NotifySettings) -> bytes:
    """``CHRONIK_SECRET_KEY``, or one generated once and kept in ``DATA_DIR/secret_key``
    (shared by the server and ``chronik worker`` on the same data folder)."""
    if notify.secret_key is not None and notify.secret_key.get_secret_value():
        return notify.secret_key.get_secret_value().encode("utf-8")
    path = settings.data_dir.resolve() / "secret_key"
    key = _KEYS.get(path)
    if key is None:
        key = await asyncio.to_thread(_load_or_create_key, path)
        _KEYS[path] = key
    return key


# ---------------------------------------------------------------------- the worker
def _telegram(state: AppState) -> tuple[TelegramTransport | None, str | None]:
    try:
        from connectors.telegram.settings import TelegramSettings

        tg = TelegramSettings()  # type: ignore[call-arg]
    except (ImportError, ValidationError) as exc:
        log.warning("Telegram notifications are off: %s", exc)
        return None, None
    if tg.bot_token is None or not tg.bot_token.get_secret_value().strip():
        return None, None
    from chronik.glue.telegram import report_token_rejected

    transport = TelegramTransport(tg.bot_token.get_secret_value().strip(),
                                  base_url=tg.api_base_url, base_file_url=tg.api_file_url,
                                  on_token_rejected=lambda why: report_token_rejected(state, why))
    return transport, tg.office_id


class NotifyComponent:
    """The worker as a supervised component: reads the signing key (off the loop), then
    runs the worker until cancelled."""

    kind = "worker"
    name = "notify-worker"

    def __init__(self, state: AppState, settings: NotifySettings | None,
                 problem: str | None = None) -> None:
        self.state = state
        self.settings = settings or NotifySettings.model_construct()
        self.problem = problem
        self.worker: Worker | None = None
        state.timeline.subscribe(self._wake)

    def _wake(self, entry: Entry | None) -> None:
        if self.worker is not None:
            self.worker.wake(entry)

    def build(self, key: bytes) -> Worker:
        s, core = self.settings, self.state.settings
        transports: list[Transport] = [PortalInboxTransport(self.state.store)]
        smtp = s.smtp_config()
        if smtp is not None:
            transports.append(SmtpTransport(smtp))
        telegram, telegram_office = _telegram(self.state)
        if telegram is not None:
            transports.append(telegram)
        config = WorkerConfig(
            base_url=core.base_url, secret_key=key,
            mail_host=message_host(smtp.mail_from) if smtp else "localhost",
            retry_base_seconds=s.notify_retry_base_seconds,
            max_attempts=s.notify_max_attempts,
            max_attachment_bytes=s.notify_max_attachment_bytes,
            lease_seconds=s.notify_lease_seconds, poll_seconds=s.notify_poll_seconds,
            concurrency=s.notify_concurrency, batch=max(8, s.notify_concurrency * 4),
            channel_offices={"telegram": telegram_office} if telegram_office else {})
        template_dir = s.notify_template_dir or core.data_dir / "templates"
        return Worker(self.state.timeline, transports, config, Renderer(template_dir))

    async def run(self) -> None:
        if self.problem:  # reported at /api/v1/connectors and retried, like any failure
            raise ValueError(self.problem)
        key = await secret_key(self.state.settings, self.settings)
        self.worker = self.build(key)
        await self.worker.run()

    def diagnostics(self) -> dict[str, Any]:
        base: dict[str, Any] = {"problem": self.problem, "smtp_host": self.settings.smtp_host,
                                "smtp_password": self.settings.smtp_password and "set",
                                "secret_key": self.settings.secret_key and "set"}
        if self.worker is not None:
            base.update(self.worker.diagnostics())
        return redact(base)


def load_settings() -> NotifySettings:
    return NotifySettings()


def _checked() -> tuple[NotifySettings | None, str | None]:
    try:
        settings = load_settings()
        settings.smtp_config()
    except ValidationError as exc:
        return None, "invalid notifier settings: " + "; ".join(
            f"CHRONIK_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False))
    except ValueError as exc:
        return None, str(exc)
    return settings, None


def components(state: AppState) -> list[Component]:
    """The worker runs in the server unless CHRONIK_NOTIFY_WORKER=false (the portal inbox is
    always there, so there is always something to deliver to)."""
    settings, problem = _checked()
    if settings is not None and not settings.notify_worker:
        return []
    return [NotifyComponent(state, settings, problem)]


async def run_worker(state: AppState, ready: asyncio.Event | None = None,
                     announce: Callable[[], None] | None = None) -> None:
    """``chronik worker``: the worker alone (another process than the server is fine:
    claims are leased in the shared store). Supervised as in the server (restarted with
    backoff when it fails) and its state stored for every process to show
    (``GET /api/v1/connectors``: one ``notify-worker`` per worker process). Stops on
    SIGTERM/SIGINT."""
    settings, problem = _checked()
    if problem:
        raise ValueError(problem)
    supervisor = Supervisor([NotifyComponent(state, settings)])
    stop = stop_on_signals()
    supervisor.start()
    async with reporting(supervisor, state.store):
        try:
            if ready is not None:
                ready.set()
            if announce is not None:
                announce()
            await stop.wait()
        finally:
            await supervisor.stop()
