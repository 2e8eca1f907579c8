"""The store's tables for PostgreSQL, as SQLAlchemy Core metadata.

Same tables and columns as the embedded schema (``timeline/sqlite_schema.py``, migrations
1-12; ``tests/postgres/test_schema.py`` compares the two so they cannot drift), with the
types PostgreSQL has: ``TIMESTAMPTZ`` for every ``*_at`` text column, ``JSONB`` for JSON
text, ``BOOLEAN`` for 0/1 flags, ``BYTEA`` for blobs, ``BIGINT`` for keys and Telegram ids.
The PostgreSQL schema is created and changed only by Alembic (``timeline/pg_migrations``,
``timeline/pg_migrate.py``); ``tests/postgres/test_migrations.py`` checks that the
migrations produce exactly this metadata.

Left out, because they are SQLite's own: ``sqlite_sequence`` (AUTOINCREMENT bookkeeping;
``events.id`` is an identity column here), ``schema_migrations`` (Alembic keeps
``alembic_version``) and the FTS5 tables of the embedded search backend (a separate file,
``search/fts.py``; the scale profile searches in OpenSearch/Elasticsearch).

What changes for many concurrent writers (README "PostgreSQL"):

* ``entries.seq`` stays the time key ``occurred_ms * SEQ_SLOTS + n`` (``timeline/ids.py``;
  newest-first order, date ranges as key ranges, the search document id), so it is not an
  identity column. A writer picks ``n`` as ``max + 1`` within its millisecond while it holds
  a transaction-scoped advisory lock on that millisecond (``timeline/pg_seq.py``), so two
  writers never pick the same key, and those of different milliseconds never wait.
* Every other integer key (``identities``, ``consents``, outboxes, ``notify_attempts``,
  ``events``) is a ``BIGINT`` identity: no ``max(id)+1``.
* ``INSERT OR IGNORE`` becomes ``INSERT … ON CONFLICT DO NOTHING`` on the same unique
  constraints and unique (partial) indexes as on SQLite, declared here.
* Change consumers never follow ``seq`` or an identity upwards ("everything after N"): a
  key is taken at insert, and a reader can see N+1 before N commits. The live feed reads by
  transaction instead: ``events.tx`` (PostgreSQL only) is the writer's transaction id, and
  readers only trust rows of transactions older than every one still running
  (``timeline/pg_events.py``). The outboxes (index, notifications) must be consumed by
  claiming rows (``FOR UPDATE SKIP LOCKED``) and deleting exactly the ids read, never
  ``DELETE … WHERE id <= N`` as the SQLite code does in places: here that could drop a row that
  committed after the read.
* Read-modify-write (tags, call state, preferences) needs ``SELECT … FOR UPDATE`` or one
  ``UPDATE … RETURNING`` here; SQLite's single writer serialised it for free.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

PG_ONLY_COLUMNS = frozenset({("events", "tx"), ("telegram_updates", "claimed_by"),
                             ("telegram_updates", "claimed_until"), ("index_outbox", "tx"),
                             ("index_outbox", "claimed_by"), ("index_outbox", "claimed_until")})
"""Columns PostgreSQL has and SQLite does not (the drift test allows exactly these)."""
PG_ONLY_TABLES = frozenset({"blobs"})
"""Tables PostgreSQL has and SQLite does not (attachment bytes: files on SQLite)."""


Timestamp = sa.DateTime(timezone=True)
"""``TIMESTAMPTZ`` (SQLite: ISO 8601 text, compared as text)."""
Json = postgresql.JSONB(none_as_null=True)
"""``JSONB`` (SQLite: JSON text); Python ``None`` is SQL ``NULL``."""
BigKey = sa.BigInteger()
"""``BIGINT`` keys (SQLite: ``INTEGER``, the rowid)."""
Flag = sa.Boolean(create_constraint=False)


def _text(name: str, nullable: bool = False, **kw: Any) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=nullable, **kw)


def _at(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, Timestamp, nullable=nullable)


def _id_key() -> sa.Column[int]:
    return sa.Column("id", BigKey, sa.Identity(), primary_key=True)


def _fk(name: str, target: str, nullable: bool = False, cascade: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text, sa.ForeignKey(target, ondelete="CASCADE" if cascade else None),
                     nullable=nullable)


def _partial(expr: str) -> dict[str, Any]:
    """A partial index: only rows where ``expr`` holds."""
    return {"postgresql_where": sa.text(expr)}


# ---------------------------------------------------------------- offices, agents, customers
offices = sa.Table(
    "offices", metadata,
    _text("id", primary_key=True), _text("name"), _text("region"), _at("created_at"),
    _text("cti_token", nullable=True),
    sa.Index("offices_cti_token", "cti_token", unique=True, **_partial("cti_token IS NOT NULL")),
)
agents = sa.Table(
    "agents", metadata,
    _text("id", primary_key=True), _fk("office_id", "offices.id"), _text("name"),
    _text("role"), _at("created_at"),
)
agent_tokens = sa.Table(
    "agent_tokens", metadata,
    _text("token_hash", primary_key=True), _fk("agent_id", "agents.id", cascade=True),
    _at("created_at"),
)
agent_logins = sa.Table(
    "agent_logins", metadata,
    sa.Column("agent_id", sa.Text, sa.ForeignKey("agents.id", ondelete="CASCADE"),
              primary_key=True),
    _text("office_id"), _text("email", nullable=True, unique=True),
    _text("password_hash", nullable=True), _text("language", nullable=True),
    _text("timezone", nullable=True), _at("updated_at"),
)
customers = sa.Table(
    "customers", metadata,
    _text("id", primary_key=True), _fk("office_id", "offices.id"), _text("name"),
    _text("name_fold"), _text("status"), _at("created_at"), _at("updated_at"),
    _text("merged_into", nullable=True),
    sa.Index("customers_office", "office_id", "id"),
    # not on SQLite: name search (LIKE 'word%' OR '% word%') by trigrams (extension pg_trgm)
    sa.Index("customers_name_fold", "name_fold", postgresql_using="gin",
             postgresql_ops={"name_fold": "gin_trgm_ops"}),
)
identities = sa.Table(
    "identities", metadata,
    _id_key(), _text("office_id"), _fk("customer_id", "customers.id", cascade=True),
    _text("kind"), _text("value"), _text("raw", nullable=True),
    sa.Column("undeliverable", Flag, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("customer_id", "kind", "value", name="identities_customer_kind_value"),
    sa.Index("identities_lookup", "office_id", "kind", "value"),
)

# ---------------------------------------------------------------- entries and outboxes
entries = sa.Table(
    "entries", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    _text("id", unique=True), _text("office_id"), _text("customer_id"), _text("channel"),
    _text("direction"), _text("kind"), _text("author", nullable=True), _text("visibility"),
    sa.Column("notify", Flag, nullable=False), _at("occurred_at"), _at("recorded_at"),
    _text("subject"), _text("body"), _text("html", nullable=True),
    sa.Column("attachments", Json, nullable=False), sa.Column("tags", Json, nullable=False),
    _text("source_id", nullable=True), sa.Column("meta", Json, nullable=False),
    # idempotent ingest: INSERT … ON CONFLICT (office_id, channel, source_id)
    # WHERE source_id IS NOT NULL DO NOTHING
    sa.Index("entries_source", "office_id", "channel", "source_id", unique=True,
             **_partial("source_id IS NOT NULL")),
    sa.Index("entries_source_any", "source_id", **_partial("source_id IS NOT NULL")),
    sa.Index("entries_customer", "customer_id", "seq"),
    sa.Index("entries_customer_channel", "customer_id", "channel", "seq"),
    # the office's customers waiting for an answer (``timeline.replies``)
    sa.Index("entries_inbound", "office_id", "seq", **_partial("direction = 'inbound'")),
    sa.Index("entries_tagged", "office_id", "customer_id", "seq",
             **_partial("tags <> '[]'::jsonb")),
    # not on SQLite: "entries tagged X" is ``tags @> '["X"]'`` (SQLite scans json_each)
    sa.Index("entries_tags", "tags", postgresql_using="gin",
             postgresql_ops={"tags": "jsonb_path_ops"},
             postgresql_where=sa.text("tags <> '[]'::jsonb")),
)
index_outbox = sa.Table(
    "index_outbox", metadata,
    _id_key(), sa.Column("seq", sa.BigInteger, nullable=False),
    # PostgreSQL only (pg_entries.py): the writer's transaction (what a rebuild covered) and
    # which store holds the row, until when (several indexers)
    sa.Column("tx", sa.BigInteger, nullable=False,
              server_default=sa.text("(pg_current_xact_id()::text::bigint)")),
    _text("claimed_by", nullable=True), _at("claimed_until", nullable=True),
    sa.Index("index_outbox_claimed", "seq", **_partial("claimed_by IS NOT NULL")),
)

# ---------------------------------------------------------------- policy, tone
policies = sa.Table(
    "policies", metadata,
    _text("office_id", primary_key=True), _text("agent_id", primary_key=True),
    _text("kind", primary_key=True), _text("visibility", nullable=True),
    sa.Column("notify", Flag, nullable=True),
)
tone_words = sa.Table(
    "tone_words", metadata,
    _text("office_id", primary_key=True), _text("word", primary_key=True),
)

# ---------------------------------------------------------------- inbound
inbound_addresses = sa.Table(
    "inbound_addresses", metadata,
    _text("address", primary_key=True), _fk("office_id", "offices.id"),
)
customer_tokens = sa.Table(
    "customer_tokens", metadata,
    _text("token_hash", primary_key=True), _text("office_id"),
    _fk("customer_id", "customers.id", cascade=True), _text("purpose"), _at("created_at"),
    _at("expires_at"),
    sa.Index("customer_tokens_customer", "customer_id"),
)
quarantine = sa.Table(
    "quarantine", metadata,
    _text("id", primary_key=True), _text("office_id"), _text("channel"), _text("reason"),
    _text("origin"), _text("raw_sha256"), sa.Column("size", sa.BigInteger, nullable=False),
    _text("status"), _text("entry_id", nullable=True), _at("created_at"), _at("updated_at"),
    sa.Index("quarantine_office", "office_id", "status", "id"),
    sa.Index("quarantine_dedup", "office_id", "channel", "raw_sha256", unique=True,
             **_partial("status = 'open'")),
)
merges = sa.Table(
    "merges", metadata,
    _text("id", primary_key=True), _text("office_id"), _text("source_id"), _text("target_id"),
    sa.Column("entry_ids", Json, nullable=False), sa.Column("identities", Json, nullable=False),
    _at("created_at"), _at("undone_at", nullable=True),
)
cti_calls = sa.Table(
    "cti_calls", metadata,
    _text("office_id", primary_key=True), _text("call_id", primary_key=True),
    sa.Column("state", Json, nullable=False), _text("customer_id", nullable=True),
    _at("updated_at"),
    sa.Index("cti_calls_customer", "customer_id", **_partial("customer_id IS NOT NULL")),
)
component_reports = sa.Table(
    "component_reports", metadata,
    _text("name", primary_key=True), _text("process", primary_key=True),
    sa.Column("report", Json, nullable=False), _at("reported_at"),
)
telegram_updates = sa.Table(
    "telegram_updates", metadata,
    _text("office_id", primary_key=True),
    sa.Column("bot_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("chat_id", sa.BigInteger, nullable=True), _at("received_at"),
    sa.Column("raw", sa.LargeBinary, nullable=True),
    _text("status", server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    _at("next_at"), _text("last_error", nullable=True),
    # PostgreSQL only: which store (process) holds the update, until when (pg_telegram.py)
    _text("claimed_by", nullable=True), _at("claimed_until", nullable=True),
    sa.Index("telegram_updates_pending", "office_id", "bot_id", "status", "update_id"),
    sa.Index("telegram_updates_done", "status", "received_at"),
)

# ---------------------------------------------------------------- consent, preferences
consents = sa.Table(
    "consents", metadata,
    _id_key(), _text("office_id"), _fk("customer_id", "customers.id", cascade=True),
    _text("channel"), sa.Column("granted", Flag, nullable=False), _at("at"), _text("actor"),
    _text("route"),
    sa.Index("consents_customer", "customer_id", "channel", "id"),
)
preferences = sa.Table(
    "preferences", metadata,
    sa.Column("customer_id", sa.Text, sa.ForeignKey("customers.id", ondelete="CASCADE"),
              primary_key=True),
    _text("office_id"), sa.Column("data", Json, nullable=False),
)

# ---------------------------------------------------------------- notifications
notify_jobs = sa.Table(
    "notify_jobs", metadata,
    _text("id", primary_key=True), _text("office_id"),
    sa.Column("entry_id", sa.Text, sa.ForeignKey("entries.id", ondelete="CASCADE"),
              nullable=False, unique=True),
    _fk("customer_id", "customers.id", cascade=True), _text("status"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    _at("next_at"), _at("claimed_until", nullable=True), _text("claimed_by", nullable=True),
    _text("channel", nullable=True), _text("reason", nullable=True),
    sa.Column("skip_channels", Json, nullable=False,
              server_default=sa.text("'[]'")),
    _at("created_at"), _at("updated_at"), _text("held", nullable=True),
    sa.Index("notify_jobs_due", "status", "next_at"),
    sa.Index("notify_jobs_office", "office_id", "status", "id"),
    sa.Index("notify_jobs_customer", "customer_id"),
    sa.Index("notify_jobs_held", "customer_id", "status", "next_at",
             **_partial("held IS NOT NULL")),
)
notify_deliveries = sa.Table(
    "notify_deliveries", metadata,
    sa.Column("entry_id", sa.Text, sa.ForeignKey("entries.id", ondelete="CASCADE"),
              primary_key=True),
    _text("channel", primary_key=True), _fk("job_id", "notify_jobs.id", cascade=True),
    _text("state"), _at("updated_at"),
    sa.Index("notify_deliveries_job", "job_id"),
)
notify_attempts = sa.Table(
    "notify_attempts", metadata,
    _id_key(), _fk("job_id", "notify_jobs.id", cascade=True), _text("channel"),
    _at("started_at"), _at("finished_at", nullable=True), _text("outcome"),
    _text("detail", nullable=True),
    sa.Index("notify_attempts_job", "job_id", "id"),
)
portal_inbox = sa.Table(
    "portal_inbox", metadata,
    _text("id", primary_key=True), _text("office_id"),
    _fk("customer_id", "customers.id", cascade=True),
    sa.Column("entry_id", sa.Text, sa.ForeignKey("entries.id", ondelete="CASCADE"),
              nullable=False, unique=True),
    _text("subject"), _text("body"), sa.Column("attachments", Json, nullable=False),
    _at("created_at"), _at("read_at", nullable=True),
    sa.Index("portal_inbox_customer", "customer_id", "id"),
)

# ---------------------------------------------------------------- sign-in
web_sessions = sa.Table(
    "web_sessions", metadata,
    _text("id_hash", primary_key=True), _text("audience"), _text("office_id"),
    _text("subject_id"), _text("csrf"), _at("created_at"), _at("expires_at"),
    _text("language", nullable=True),
    sa.Index("web_sessions_subject", "audience", "subject_id"),
)
login_codes = sa.Table(
    "login_codes", metadata,
    _text("id", primary_key=True), _text("audience"), _text("office_id"), _text("subject_id"),
    _text("code_hash"), _text("next_path", nullable=True), _at("created_at"),
    _at("expires_at"), _at("used_at", nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("login_codes_subject", "audience", "subject_id", "created_at"),
)
sign_in_attempts = sa.Table(
    "sign_in_attempts", metadata,
    _text("scope"), _text("key"), _at("at"),
    sa.Index("sign_in_attempts_key", "scope", "key", "at"),
    sa.Index("sign_in_attempts_at", "at"),
)

# ---------------------------------------------------------------- privacy
data_exports = sa.Table(
    "data_exports", metadata,
    _text("id", primary_key=True), _text("office_id"), _text("customer_id"),
    _text("requested_by"), _text("status"),
    sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
    _text("file", nullable=True), _text("error", nullable=True), _at("created_at"),
    _at("finished_at", nullable=True),
    sa.Index("data_exports_office", "office_id", "customer_id"),
)
erasure_receipts = sa.Table(
    "erasure_receipts", metadata,
    _text("id", primary_key=True), _text("office_id"), _text("erased_by"), _at("erased_at"),
    sa.Column("counts", Json, nullable=False), sa.Column("retained", Json, nullable=False),
    sa.Index("erasure_receipts_office", "office_id", "id"),
)
erasure_suppression = sa.Table(
    "erasure_suppression", metadata,
    _text("office_id", primary_key=True), _text("kind", primary_key=True),
    _text("digest", primary_key=True), _at("created_at"),
)
retention_rules = sa.Table(
    "retention_rules", metadata,
    _text("office_id", primary_key=True), _text("kind", primary_key=True), _text("action"),
    sa.Column("years", sa.Integer, nullable=False),
)
privacy_access_log = sa.Table(
    "privacy_access_log", metadata,
    _text("id", primary_key=True), _text("office_id"), _text("agent_id"), _text("action"),
    _text("customer_id"), _at("at"), _at("expires_at"),
    sa.Index("privacy_access_log_office", "office_id", "id"),
    sa.Index("privacy_access_log_expires", "expires_at"),
)
office_privacy = sa.Table(
    "office_privacy", metadata,
    _text("office_id", primary_key=True), _text("erased_sender", nullable=True),
)

# ---------------------------------------------------------------- live-event feed
events = sa.Table(
    "events", metadata,
    _id_key(), _text("office_id"), _text("type"), _text("customer_id", nullable=True),
    _text("entry_id", nullable=True), _text("call_id", nullable=True),
    sa.Column("data", Json, nullable=True), _at("at"),
    # not on SQLite: the writer's (top-level, 64-bit) transaction id, for commit order
    sa.Column("tx", sa.BigInteger, nullable=False,
              server_default=sa.text("(pg_current_xact_id()::text::bigint)")),
    sa.Index("events_customer", "customer_id", **_partial("customer_id IS NOT NULL")),
    sa.Index("events_entry", "entry_id", **_partial("entry_id IS NOT NULL")),
    sa.Index("events_tx", "tx", "id"),
)

# ---------------------------------------------------------------- attachments (PostgreSQL only)
blobs = sa.Table(
    # the embedded store keeps attachment bytes as files in the data folder (timeline/blobs.py)
    "blobs", metadata,
    _text("sha256", primary_key=True), sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False), _at("created_at"),
)
