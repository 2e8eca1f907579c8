"""Settings: typed, enumerable, documented (a test checks README lists every variable).

Read from ``CHRONIK_*`` environment variables and, when ``CHRONIK_CONFIG`` names a TOML
file, from that file (environment wins). Each component has its own model; all of them are
listed in ``SETTINGS_MODELS``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.email.settings import EmailSettings, InboundSmtpSettings
from connectors.phone.settings import FritzboxSettings
from connectors.portal.settings import PortalSettings
from connectors.telegram.settings import TelegramSettings
from notify.settings import NotifySettings
from timeline.config import ChronikSettingsBase
from timeline.ingest import UnknownSenderPolicy
from timeline.privacy_models import ErasedSenderPolicy

_ORIGIN = re.compile(r"https?://[^/\s:]+(?::[0-9]{1,5})?/?", re.IGNORECASE)
"""A web origin as ``CHRONIK_CORS_ORIGINS`` takes it (a trailing slash tolerated)."""


class Settings(ChronikSettingsBase):
    """Core server settings."""

    model_config = SettingsConfigDict(env_prefix="CHRONIK_", extra="ignore")

    data_dir: Path = Field(Path("chronik-data"),
                           description="Folder of the SQLite store, search index and attachments.")
    http_host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP server.")
    public_url: str | None = Field(
        None, description="Base URL for links in messages; default http://HOST:PORT.")
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024,
                                  description="Largest accepted document upload (bytes).")
    cors_origins: str = Field(
        "", description="Web pages of other origins allowed to call the HTTP API from a "
                        "browser (CORS), comma-separated (https://crm.example.com), or * for "
                        "any; unset: none.")
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL URL (postgresql://user:password@host:5432/db) of the "
                          "store; unset: the embedded SQLite store in data_dir.")
    search_url: SecretStr | None = Field(
        None, description="Search engine URL (http://host:9200, credentials allowed): "
                          "OpenSearch 2.x or Elasticsearch 8.x. Unset: embedded SQLite FTS5.")
    search_engine: Literal["auto", "opensearch", "elasticsearch"] = Field(
        "auto", description="Which engine search_url is; 'auto' asks the server "
                            "(GET / -> version.distribution).")
    search_index: str = Field("chronik-entries",
                              description="Index alias on the search engine.")
    search_attachments: bool = Field(
        True, description="Index the text of attached files (PDF, Word, Excel, PowerPoint, "
                          "OpenDocument, RTF, HTML, plain text) with their entries.")
    search_attachment_max_bytes: int = Field(
        20 * 1024 * 1024, ge=0, description="Attached files larger than this are not read "
                                            "for search (their names still are).")
    search_backend: Literal["sqlite", "elasticsearch"] = Field(
        "sqlite", description="Deprecated: set search_url. 'elasticsearch' with "
                              "elasticsearch_url acts like search_url.")
    elasticsearch_url: SecretStr | None = Field(
        None, description="Deprecated alias of search_url (read when search_url is unset "
                          "and search_backend=elasticsearch).")
    elasticsearch_index: str = Field(
        "chronik-entries", description="Deprecated alias of search_index (read when "
                                       "search_index is left at its default).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the server process.")
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="Event loop of every command: auto takes uvloop when it is "
                            "installed (a dependency on Linux and macOS; about a tenth less "
                            "CPU per request), else asyncio's own.")
    sqlite_readers: int = Field(
        1, ge=1, le=64,
        description="Reader threads per SQLite database. More threads only help while reads "
                    "wait on the disk (a database much bigger than RAM): reading rows into "
                    "Python objects needs the interpreter lock, and reader threads fighting "
                    "for it cost CPU and latency (bench/RESULTS.md). Scale with --processes.")
    unknown_sender: UnknownSenderPolicy = Field(
        UnknownSenderPolicy.CREATE,
        description="Unknown inbound sender: 'create' an unverified customer, or keep the "
                    "message 'unassigned' in the quarantine until an agent assigns it.")
    erased_sender: ErasedSenderPolicy = Field(
        ErasedSenderPolicy.QUARANTINE,
        description="A message from an erased person: 'quarantine' it (reason "
                    "erased_sender) or 'drop' it; either way no customer is re-created.")
    retention_interval_hours: float = Field(
        24, ge=0, le=24 * 366,
        description="How often the server applies the retention rules of every office, "
                    "removes expired exports and prunes the access record (hours; the first "
                    "run is a few minutes after start); 0 = off (run 'chronik retention' "
                    "from cron instead).")
    privacy_log_years: int = Field(
        3, ge=1, le=100,
        description="Years a row of the access record (who exported or erased whom) is "
                    "kept before the retention job prunes it.")

    session_hours: int = Field(12, ge=1, le=24 * 30,
                               description="How long an agent's browser session lasts without "
                                           "use (each use extends it).")
    portal_session_minutes: int = Field(
        120, ge=5, le=24 * 60 * 30,
        description="How long a customer's portal browser session lasts without use.")
    dev_print_signin: bool = Field(
        False, description="Print sign-in links and codes on the console when no SMTP server "
                           "is configured (set by 'chronik demo'; never in production).")
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that GET /metrics requires (Prometheus: "
                          "'authorization: credentials'); unset or empty: /metrics answers "
                          "only requests from this machine (loopback) that came through no "
                          "proxy.")

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::") else self.http_host  # noqa: S104
        return f"http://{host}:{self.http_port}"

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port] without a "
                                 "path, e.g. https://crm.example.com (or * for any)")
        return value

    @property
    def cors_origin_set(self) -> frozenset[str]:
        """The allowed origins (lower case, no trailing slash; ``*``: any)."""
        return frozenset(o.strip().rstrip("/").lower() for o in self.cors_origins.split(",")
                         if o.strip())

    @model_validator(mode="after")
    def _engine_has_a_url(self) -> Settings:
        if self.search_backend == "elasticsearch" and self.engine_url is None:
            raise ValueError("search_backend=elasticsearch needs a URL: set "
                             "CHRONIK_SEARCH_URL (CHRONIK_SEARCH_BACKEND is deprecated)")
        return self

    @property
    def engine_url(self) -> str | None:
        """The search engine's URL (search_url, or the deprecated elasticsearch_url when
        search_backend=elasticsearch); None: SQLite FTS5."""
        if self.search_url is not None:
            return self.search_url.get_secret_value()
        if self.search_backend == "elasticsearch" and self.elasticsearch_url is not None:
            return self.elasticsearch_url.get_secret_value()
        return None

    @property
    def engine_index(self) -> str:
        default = type(self).model_fields["search_index"].default
        if self.search_index == default and self.elasticsearch_index != default:
            return self.elasticsearch_index
        return self.search_index

    @property
    def store_url(self) -> str | None:
        """The PostgreSQL store's URL; None: the embedded store (``store_path``)."""
        return self.database_url.get_secret_value() if self.database_url else None

    @property
    def store_path(self) -> Path:
        return self.data_dir / "chronik.sqlite3"

    @property
    def search_path(self) -> Path:
        return self.data_dir / "search.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


SETTINGS_MODELS: list[type[BaseSettings]] = [Settings]
SETTINGS_MODELS.append(PortalSettings)
SETTINGS_MODELS.append(TelegramSettings)
SETTINGS_MODELS.append(NotifySettings)
SETTINGS_MODELS.extend([EmailSettings, InboundSmtpSettings])
SETTINGS_MODELS.append(FritzboxSettings)
"""Every settings model of every component; the docs test walks this list."""


def env_names(model: type[BaseSettings]) -> list[str]:
    prefix = str(model.model_config.get("env_prefix", ""))
    return [(prefix + name).upper() for name in model.model_fields]


def unknown_config_keys(path: Path) -> list[tuple[str, str | None]]:
    """The keys of the TOML settings file ``path`` that no component reads (each model only
    takes the keys of its prefix, so a typo would be ignored in silence), each with the
    closest known key (or None). Raises what reading the file raises."""
    import difflib
    import tomllib

    known = sorted({name.lower().removeprefix("chronik_")
                    for model in SETTINGS_MODELS for name in env_names(model)})
    with path.open("rb") as fh:
        unknown = [key for key in tomllib.load(fh) if key not in known]
    return [(key, next(iter(difflib.get_close_matches(key, known, n=1, cutoff=0.75)), None))
            for key in unknown]
