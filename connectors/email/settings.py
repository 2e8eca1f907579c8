"""Settings of the e-mail connector: ``CHRONIK_EMAIL_*`` (IMAP, size limit, import) and
``CHRONIK_INBOUND_SMTP_*`` (the inbound SMTP/LMTP listener).

Read like every Chronik settings model: environment first, then the TOML file named by
``CHRONIK_CONFIG`` with the environment names in lower case without ``CHRONIK_``
(``email_imap_host = "imap.example.org"``, ``inbound_smtp_port = 2525``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    SettingsConfigDict,
)

from timeline.config import ChronikSettingsBase

from .parse import DEFAULT_MAX_BYTES

_PrefixedTomlSettings = ChronikSettingsBase


class EmailSettings(_PrefixedTomlSettings):
    """The e-mail connector: IMAP mailbox, size limit, import workers."""

    model_config = SettingsConfigDict(env_prefix="CHRONIK_EMAIL_", extra="ignore")

    imap_host: str | None = Field(
        default=None, description="IMAP server; unset = no IMAP connector.")
    imap_port: int | None = Field(
        default=None, ge=1, le=65535, description="IMAP port; default 993 with tls, else 143.")
    imap_username: str = Field(default="", description="IMAP login name.")
    imap_password: SecretStr | None = Field(default=None, description="IMAP password.")
    imap_tls: Literal["none", "starttls", "tls"] = Field(
        default="tls", description="Connection security: tls (implicit), starttls or none.")
    imap_folder: str = Field(default="INBOX", description="Folder to read new mail from.")
    imap_processed_folder: str | None = Field(
        default=None, description="Move processed mail here (created if missing); unset = "
                                  "leave it, flagged \\Seen plus the processed keyword.")
    imap_processed_keyword: str = Field(
        default="ChronikProcessed", pattern=r"^[A-Za-z0-9_$.-]{1,64}$",
        description="IMAP keyword marking processed mail when no processed folder is set.")
    imap_poll_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="Seconds between checks without IDLE.")
    imap_idle: bool = Field(
        default=True, description="Use IDLE (push) when the server offers it.")
    imap_office_id: str | None = Field(
        default=None, description="Office the mailbox belongs to (required with IMAP).")
    max_message_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1024, description=(
        "Largest message parsed; bigger ones are quarantined (IMAP, import) or refused "
        "with 552 (SMTP)."))
    import_workers: int = Field(
        default=2, ge=1, le=64, description="Parser processes for chronik import.")


class InboundSmtpSettings(_PrefixedTomlSettings):
    """The inbound SMTP/LMTP listener."""

    model_config = SettingsConfigDict(env_prefix="CHRONIK_", extra="ignore")

    inbound_smtp_host: str = Field(
        default="127.0.0.1", description="Address the listener binds to.")
    inbound_smtp_port: int | None = Field(default=None, ge=0, le=65535,
                                          description="Listener port; unset = no listener.")
    inbound_smtp_lmtp: bool = Field(default=False, description="Speak LMTP instead of SMTP.")
