"""Settings of the notifier (``CHRONIK_SMTP_*``, ``CHRONIK_MAIL_FROM``, ``CHRONIK_NOTIFY_*``,
``CHRONIK_SECRET_KEY``): environment first, then the TOML file named by ``CHRONIK_CONFIG``
(names in lower case without the prefix), like every Chronik settings model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    SettingsConfigDict,
)

from notify.transports.email import SmtpConfig
from timeline.config import ChronikSettingsBase


class NotifySettings(ChronikSettingsBase):
    """Notifier: SMTP transport, retries, worker, unsubscribe signing key."""

    model_config = SettingsConfigDict(env_prefix="CHRONIK_", extra="ignore")

    smtp_host: str | None = Field(
        default=None, description="SMTP server for notification e-mails; unset = none.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_username: str | None = Field(default=None, description="SMTP login (optional).")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="none (plain), starttls, or tls (implicit TLS).")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0,
                                        description="Timeout per SMTP command.")
    smtp_pool_size: int = Field(default=2, ge=1, le=64,
                                description="SMTP connections kept open and reused.")
    smtp_messages_per_connection: int = Field(
        default=100, ge=1, description="Messages over one SMTP connection before renewal.")
    mail_from: str | None = Field(
        default=None, description="Sender address (required with CHRONIK_SMTP_HOST).")
    notify_retry_base_seconds: float = Field(
        default=30.0, gt=0, description="First retry delay (doubles, with jitter).")
    notify_max_attempts: int = Field(
        default=10, ge=1, description="Transient failures before a job is dead-lettered.")
    notify_max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024, ge=0,
        description="Attachments go along up to this total size (e-mail: as sent, base64); "
                    "above it a portal link.")
    notify_worker: bool = Field(
        default=True, description="Run the notification worker inside 'chronik serve'.")
    notify_lease_seconds: float = Field(
        default=120.0, gt=0, description="How long a claimed job stays with one worker.")
    notify_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle worker looks for due jobs.")
    notify_concurrency: int = Field(default=8, ge=1, le=256,
                                    description="Jobs one worker processes at once.")
    notify_template_dir: Path | None = Field(
        default=None, description="Template overrides; default DATA_DIR/templates.")
    secret_key: SecretStr | None = Field(
        default=None, description="Key signing unsubscribe links; default generated once "
                                  "into DATA_DIR/secret_key.")

    def smtp_config(self) -> SmtpConfig | None:
        if not self.smtp_host:
            return None
        if not self.mail_from:
            raise ValueError("CHRONIK_MAIL_FROM is required when CHRONIK_SMTP_HOST is set")
        return SmtpConfig(
            host=self.smtp_host, port=self.smtp_port, mail_from=self.mail_from,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            tls=self.smtp_tls, timeout=self.smtp_timeout_seconds,
            pool_size=self.smtp_pool_size,
            messages_per_connection=self.smtp_messages_per_connection)
