"""Versioned schema of the embedded store (``PRAGMA user_version``)."""

from __future__ import annotations

from timeline.sqlite_db import Migration

MIGRATIONS: list[Migration] = [
    (1, """
CREATE TABLE offices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL REFERENCES offices(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE agent_tokens (
    token_hash TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL REFERENCES offices(id),
    name TEXT NOT NULL,
    name_fold TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX customers_office ON customers(office_id, id);
CREATE TABLE identities (
    id INTEGER PRIMARY KEY,
    office_id TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    raw TEXT,
    undeliverable INTEGER NOT NULL DEFAULT 0,
    UNIQUE (customer_id, kind, value)
);
CREATE INDEX identities_lookup ON identities(office_id, kind, value);
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    office_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    author TEXT,
    visibility TEXT NOT NULL,
    notify INTEGER NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    html TEXT,
    attachments TEXT NOT NULL,
    tags TEXT NOT NULL,
    source_id TEXT,
    meta TEXT NOT NULL
);
CREATE UNIQUE INDEX entries_source ON entries(office_id, channel, source_id)
    WHERE source_id IS NOT NULL;
CREATE INDEX entries_customer ON entries(customer_id, seq);
CREATE INDEX entries_customer_channel ON entries(customer_id, channel, seq);
CREATE TABLE policies (
    office_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    visibility TEXT,
    notify INTEGER,
    PRIMARY KEY (office_id, agent_id, kind)
);
CREATE TABLE tone_words (
    office_id TEXT NOT NULL,
    word TEXT NOT NULL,
    PRIMARY KEY (office_id, word)
);
CREATE TABLE index_outbox (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE notify_outbox (
    id INTEGER PRIMARY KEY,
    office_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""),
]
