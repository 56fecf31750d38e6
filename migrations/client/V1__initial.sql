-- LabDesk local store, schema version 1: the records, their revision chains and the outbox.
--
-- Every synced record table has the same bookkeeping columns:
--   seq        local, stable integer key (never renumbered by VACUUM); the search index keys on it
--   id         the record's UUID, minted where the record was created
--   version    1 at creation, +1 per revision; equals the head revision's version
--   created_at, updated_at, updated_by   from the first and the head revision
--   deleted_at soft delete: medical and financial records are never hard-deleted
-- Timestamps are UTC text in one fixed format (2026-11-21T09:30:00.000Z) so they sort as text.
-- JSON parts are TEXT checked with json_valid; their shape is checked by the core before a write.

CREATE TABLE workstation (
    only_row      INTEGER PRIMARY KEY CHECK (only_row = 1),
    code          TEXT NOT NULL,                 -- printed in every case number minted here
    next_case_seq INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Seed 000, the "dentals" table.
CREATE TABLE cases (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    case_number  TEXT NOT NULL UNIQUE,           -- seed: dental_id
    secret_key   TEXT NOT NULL,                  -- share key for the /d path, >= 128 random bits
    status       TEXT NOT NULL,                  -- seed: dental_status, free text on purpose
    patient_name TEXT NOT NULL,
    author_id    TEXT NOT NULL,
    author_info  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(author_info)),
    links        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(links)),
    services     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(services)),
    order_note   TEXT NOT NULL DEFAULT '',
    invoice_ids  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(invoice_ids)),
    assignees    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(assignees)),
    priority     TEXT NOT NULL,                  -- free text on purpose
    start_date   TEXT,
    due_date     TEXT,
    parent_id    TEXT,                           -- seed: dental_parent; checked by the core (sync may deliver out of order)
    aligners     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(aligners)),
    version      INTEGER NOT NULL CHECK (version >= 1),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    deleted_at   TEXT
);
CREATE INDEX cases_status ON cases (status, due_date);
CREATE INDEX cases_priority ON cases (priority, due_date);
CREATE INDEX cases_due ON cases (due_date);
CREATE INDEX cases_created ON cases (created_at);
CREATE INDEX cases_updated ON cases (updated_at);
CREATE INDEX cases_parent ON cases (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX cases_patient ON cases (patient_name COLLATE NOCASE);

-- Seed 000, "Custom Meta Data": one record per (case, key); its id is derived from both so two
-- workstations setting the same key offline write to the same record.
CREATE TABLE case_meta (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    case_id    TEXT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    deleted_at TEXT,
    UNIQUE (case_id, key)
);

-- Seed 000, the attachment record shape. Bytes live in the blob store (a later issue).
CREATE TABLE files (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    case_id       TEXT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    message_id    TEXT,                          -- set when the file was sent in a chat message
    original_name TEXT NOT NULL,
    stored_name   TEXT NOT NULL,
    file_path     TEXT NOT NULL,                 -- Year/Month/user/case folder structure
    file_size     INTEGER NOT NULL CHECK (file_size >= 0),
    mime_type     TEXT NOT NULL,
    upload_date   TEXT NOT NULL,
    uploaded_by   TEXT NOT NULL,
    is_temp       INTEGER NOT NULL DEFAULT 0 CHECK (is_temp IN (0, 1)),
    hash          TEXT NOT NULL,                 -- SHA-256 of the bytes, hex
    version       INTEGER NOT NULL CHECK (version >= 1),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    deleted_at    TEXT
);
CREATE INDEX files_case ON files (case_id);

-- Seed 000, the "Dental Chat" table. Append-only; only the sender edits or deletes.
CREATE TABLE chat_messages (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    case_id           TEXT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    message_type      TEXT NOT NULL,
    message_content   TEXT NOT NULL DEFAULT '',
    attachments       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(attachments)),
    reply_to          TEXT,
    reactions         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(reactions)),
    sender_id         TEXT NOT NULL,
    parent_message_id TEXT,
    message_purpose   TEXT,
    message_status    TEXT NOT NULL,
    sent_at           TEXT,
    edited_at         TEXT,
    read_at           TEXT,
    version           INTEGER NOT NULL CHECK (version >= 1),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    updated_by        TEXT NOT NULL,
    deleted_at        TEXT
);
CREATE INDEX chat_messages_case ON chat_messages (case_id, created_at);

-- Seed 001, the 7-stage lab workflow: one record per (case, stage), id derived from both.
CREATE TABLE workflow_stages (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    case_id      TEXT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    stage        TEXT NOT NULL,
    status       TEXT NOT NULL,
    assignee     TEXT,
    started_at   TEXT,
    completed_at TEXT,
    notes        TEXT NOT NULL DEFAULT '',
    version      INTEGER NOT NULL CHECK (version >= 1),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    deleted_at   TEXT,
    UNIQUE (case_id, stage)
);
CREATE INDEX workflow_stages_assignee ON workflow_stages (assignee, status) WHERE assignee IS NOT NULL;

-- Seed 001, case_notes: timestamped notes on a case.
CREATE TABLE case_notes (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    case_id    TEXT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    author_id  TEXT NOT NULL,
    body       TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX case_notes_case ON case_notes (case_id, created_at);

-- The revision chains of every record above (sync-model.md, "Records, versions and chains").
-- Immutable but for superseded_by, set once to the revision that replaced this one.
CREATE TABLE revisions (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    record_kind   TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    base_version  INTEGER NOT NULL CHECK (base_version >= 0),
    parent        TEXT,                          -- the head revision this change was made on; null at creation
    fields        TEXT NOT NULL CHECK (json_valid(fields)),   -- the fields this revision sets
    author        TEXT NOT NULL,
    workstation   TEXT NOT NULL,
    made_at       TEXT NOT NULL,
    resolves      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(resolves)), -- conflicted revisions this one settles
    superseded_by TEXT REFERENCES revisions (id) DEFERRABLE INITIALLY DEFERRED,
    origin        TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'central')),
    central_seq   INTEGER,                       -- the central store's sequence number, once accepted
    UNIQUE (record_id, version)
);
-- A chain has exactly one head.
CREATE UNIQUE INDEX revisions_one_head ON revisions (record_id) WHERE superseded_by IS NULL;

-- Revisions made here and not yet accepted by the central store, in the order they were made:
-- exactly the local revisions whose central_seq is null.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    revision_id TEXT NOT NULL UNIQUE REFERENCES revisions (id),
    attempts    INTEGER NOT NULL DEFAULT 0,  -- pushes tried without an answer (network, server away)
    last_error  TEXT,
    enqueued_at TEXT NOT NULL
);
