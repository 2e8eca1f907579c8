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
    (2, """
ALTER TABLE offices ADD COLUMN cti_token TEXT;
CREATE UNIQUE INDEX offices_cti_token ON offices(cti_token) WHERE cti_token IS NOT NULL;
ALTER TABLE customers ADD COLUMN merged_into TEXT;
CREATE INDEX entries_source_any ON entries(source_id) WHERE source_id IS NOT NULL;
CREATE TABLE inbound_addresses (
    address TEXT PRIMARY KEY,
    office_id TEXT NOT NULL REFERENCES offices(id)
);
CREATE TABLE customer_tokens (
    token_hash TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX customer_tokens_customer ON customer_tokens(customer_id);
CREATE TABLE quarantine (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    origin TEXT NOT NULL,
    raw_sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    entry_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX quarantine_office ON quarantine(office_id, status, id);
CREATE UNIQUE INDEX quarantine_dedup ON quarantine(office_id, channel, raw_sha256)
    WHERE status = 'open';
CREATE TABLE merges (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    entry_ids TEXT NOT NULL,
    identities TEXT NOT NULL,
    created_at TEXT NOT NULL,
    undone_at TEXT
);
CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    office_id TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    granted INTEGER NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    route TEXT NOT NULL
);
CREATE INDEX consents_customer ON consents(customer_id, channel, id);
CREATE TABLE preferences (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    office_id TEXT NOT NULL,
    data TEXT NOT NULL
);
"""),
    (5, """
CREATE TABLE cti_calls (
    office_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    state TEXT NOT NULL,
    customer_id TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (office_id, call_id)
);
CREATE INDEX cti_calls_customer ON cti_calls(customer_id) WHERE customer_id IS NOT NULL;
"""),
    (3, """
CREATE TABLE notify_jobs (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    entry_id TEXT NOT NULL UNIQUE REFERENCES entries(id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    claimed_until TEXT,
    claimed_by TEXT,
    channel TEXT,
    reason TEXT,
    skip_channels TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX notify_jobs_due ON notify_jobs(status, next_at);
CREATE INDEX notify_jobs_office ON notify_jobs(office_id, status, id);
CREATE INDEX notify_jobs_customer ON notify_jobs(customer_id);
CREATE TABLE notify_deliveries (
    entry_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES notify_jobs(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (entry_id, channel)
);
CREATE INDEX notify_deliveries_job ON notify_deliveries(job_id);
CREATE TABLE notify_attempts (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES notify_jobs(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX notify_attempts_job ON notify_attempts(job_id, id);
CREATE TABLE portal_inbox (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    entry_id TEXT NOT NULL UNIQUE REFERENCES entries(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    attachments TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT
);
CREATE INDEX portal_inbox_customer ON portal_inbox(customer_id, id);
"""),
    (6, """
CREATE TABLE agent_logins (
    agent_id TEXT PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
    office_id TEXT NOT NULL,
    email TEXT UNIQUE,
    password_hash TEXT,
    language TEXT,
    timezone TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    audience TEXT NOT NULL,
    office_id TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    language TEXT
);
CREATE INDEX web_sessions_subject ON web_sessions(audience, subject_id);
CREATE TABLE login_codes (
    id TEXT PRIMARY KEY,
    audience TEXT NOT NULL,
    office_id TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    next_path TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_codes_subject ON login_codes(audience, subject_id, created_at);
"""),
    (7, """
CREATE INDEX entries_tagged ON entries(office_id, customer_id, seq) WHERE tags <> '[]';
"""),
    (8, """
CREATE TABLE data_exports (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    file TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX data_exports_office ON data_exports(office_id, customer_id);
CREATE TABLE erasure_receipts (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    erased_by TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    counts TEXT NOT NULL,
    retained TEXT NOT NULL
);
CREATE INDEX erasure_receipts_office ON erasure_receipts(office_id, id);
CREATE TABLE erasure_suppression (
    office_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (office_id, kind, digest)
);
CREATE TABLE retention_rules (
    office_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    years INTEGER NOT NULL,
    PRIMARY KEY (office_id, kind)
);
"""),
    (9, """
CREATE TABLE privacy_access_log (
    id TEXT PRIMARY KEY,
    office_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    action TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX privacy_access_log_office ON privacy_access_log(office_id, id);
CREATE INDEX privacy_access_log_expires ON privacy_access_log(expires_at);
CREATE TABLE office_privacy (
    office_id TEXT PRIMARY KEY,
    erased_sender TEXT
);
"""),
    (10, """
CREATE TABLE telegram_updates (
    office_id TEXT NOT NULL,
    bot_id INTEGER NOT NULL,
    update_id INTEGER NOT NULL,
    chat_id INTEGER,
    received_at TEXT NOT NULL,
    raw BLOB,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    last_error TEXT,
    PRIMARY KEY (office_id, bot_id, update_id)
);
CREATE INDEX telegram_updates_pending ON telegram_updates(office_id, bot_id, status, update_id);
CREATE INDEX telegram_updates_done ON telegram_updates(status, received_at);
"""),
    (11, """
ALTER TABLE notify_jobs ADD COLUMN held TEXT;
CREATE INDEX notify_jobs_held ON notify_jobs(customer_id, status, next_at) WHERE held IS NOT NULL;
"""),
    (12, """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    office_id TEXT NOT NULL,
    type TEXT NOT NULL,
    customer_id TEXT,
    entry_id TEXT,
    call_id TEXT,
    data TEXT,
    at TEXT NOT NULL
);
CREATE INDEX events_customer ON events(customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX events_entry ON events(entry_id) WHERE entry_id IS NOT NULL;
"""),
    (13, """
INSERT OR IGNORE INTO notify_jobs (id, office_id, entry_id, customer_id, status, attempts,
    generation, next_at, skip_channels, created_at, updated_at)
    SELECT '01' || upper(hex(randomblob(12))), o.office_id, o.entry_id, e.customer_id,
           'pending', 0, 0, o.created_at, '[]', o.created_at, o.created_at
    FROM notify_outbox o JOIN entries e ON e.id = o.entry_id ORDER BY o.id;
DROP TABLE notify_outbox;
"""),
    (14, """
CREATE TABLE component_reports (
    name TEXT PRIMARY KEY,
    process TEXT NOT NULL,
    report TEXT NOT NULL,
    reported_at TEXT NOT NULL
);
"""),
    # every process running components keeps its own reports (several notifier workers)
    (15, """
CREATE TABLE component_reports_by_process (
    name TEXT NOT NULL,
    process TEXT NOT NULL,
    report TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    PRIMARY KEY (name, process)
);
INSERT INTO component_reports_by_process SELECT name, process, report, reported_at
    FROM component_reports;
DROP TABLE component_reports;
ALTER TABLE component_reports_by_process RENAME TO component_reports;
"""),
    # internationalised domains are stored as Unicode (``müller.de``, not
    # ``xn--mller-kva.de``): values stored the other way are rewritten, so mail from either
    # spelling still finds its customer, agent or inbound address; a customer who had both
    # keeps one
    (16, """
DELETE FROM identities WHERE kind = 'email' AND value LIKE '%xn--%'
    AND chronik_unicode_email(value) <> value
    AND EXISTS (SELECT 1 FROM identities AS same WHERE same.customer_id = identities.customer_id
                AND same.kind = 'email' AND same.value = chronik_unicode_email(identities.value));
UPDATE identities SET value = chronik_unicode_email(value)
    WHERE kind = 'email' AND value LIKE '%xn--%';
UPDATE OR IGNORE inbound_addresses SET address = chronik_unicode_email(address)
    WHERE address LIKE '%xn--%';
UPDATE OR IGNORE agent_logins SET email = chronik_unicode_email(email)
    WHERE email LIKE '%xn--%';
"""),
    # the office's customers waiting for an answer (``timeline.replies``): the window of
    # recent inbound entries without reading every entry of the office
    (17, """
CREATE INDEX entries_inbound ON entries(office_id, seq) WHERE direction = 'inbound';
"""),
    # customers' names folded again by today's rules (``timeline.text.fold``: letters like
    # ``ł``, ``ø``, ``æ`` are written as typed), so ``Lukasz`` finds a ``Łukasz`` saved before
    (18, """
UPDATE customers SET name_fold = chronik_fold(name) WHERE name_fold <> chronik_fold(name);
"""),
    # a count every change of what a caller lookup shows raises (customers, identities,
    # entries), so an answer can be kept while it holds (``SqliteDb.change_token``)
    (19, """
CREATE TABLE lookup_changes (n INTEGER NOT NULL);
INSERT INTO lookup_changes (n) VALUES (0);
CREATE TRIGGER customers_insert_counted AFTER INSERT ON customers
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER customers_update_counted AFTER UPDATE ON customers
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER customers_delete_counted AFTER DELETE ON customers
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER identities_insert_counted AFTER INSERT ON identities
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER identities_update_counted AFTER UPDATE ON identities
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER identities_delete_counted AFTER DELETE ON identities
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER entries_insert_counted AFTER INSERT ON entries
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER entries_update_counted AFTER UPDATE ON entries
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
CREATE TRIGGER entries_delete_counted AFTER DELETE ON entries
  BEGIN UPDATE lookup_changes SET n = n + 1; END;
"""),
    # sign-in attempts counted in the store, not in each process's memory, so several
    # server processes share one limit (``AccountStore.take_attempt``)
    (20, """
CREATE TABLE sign_in_attempts (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX sign_in_attempts_key ON sign_in_attempts(scope, key, at);
CREATE INDEX sign_in_attempts_at ON sign_in_attempts(at);
"""),
]
