-- Schema version 4: what a workstation needs to sync with the central store (issue 3).
-- The rules are in ARCHITECTURE.md, "Sync (issue 3)", and shared/design/sync-model.md.
--
-- Vocabulary used below:
--   pending   a local revision the central store has not answered for yet: in the outbox
--   accepted  a local revision the central store took (applied, merged or conflicted) but that has
--             not come back through pull yet: accepted_version is set, central_seq is not
--   pulled    a revision whose central copy is here: central_seq is set (ours or someone else's)
--   tail      a record's local revisions not pulled yet (pending or accepted), re-applied with the
--             three-way merge on top of the record's pulled revisions

-- Where this workstation syncs, and how far it has pulled. One row.
CREATE TABLE sync_state (
    only_row     INTEGER PRIMARY KEY CHECK (only_row = 1),
    server_url   TEXT,                            -- set by `labdesk login`; the token is kept elsewhere
    cursor       INTEGER NOT NULL DEFAULT 0,      -- the central sequence number pulled up to; written in
                                                  -- the same transaction as the page it follows
    last_sync_at TEXT,                            -- the end of the last round that completed
    last_error   TEXT                             -- why the last round failed, for the UI; null after a good one
);
INSERT INTO sync_state (only_row) VALUES (1);

-- Revisions, as sync sees them:
--   fields      stay what took effect locally (the row always equals the chain folded in order);
--   proposed    what the change proposed when a merge changed what took effect: what push sends.
--               NULL means the same as fields;
--   made_on     the revision the change was made on, when sync later moved it on top of other
--               revisions (parent is always the revision before it in the chain). NULL means the same
--               as parent; a revision made with base_version 0 was made as the record's creation;
--   accepted_version  the central version the server assigned, until the revision comes back
--               through pull (then version, central_seq and fields are the central ones).
ALTER TABLE revisions ADD COLUMN proposed TEXT CHECK (proposed IS NULL OR json_valid(proposed));
ALTER TABLE revisions ADD COLUMN made_on TEXT;
-- 1 when the revision was made on this workstation's own change that the central store had not
-- yet confirmed: the central store then merges it against what the author saw (see Revision).
ALTER TABLE revisions ADD COLUMN parent_unconfirmed INTEGER NOT NULL DEFAULT 0 CHECK (parent_unconfirmed IN (0, 1));
ALTER TABLE revisions ADD COLUMN accepted_version INTEGER CHECK (accepted_version IS NULL OR accepted_version >= 1);

-- Fields two revisions changed to different values (sync-model.md, "Merge"): the value accepted
-- first was kept, the other (proposed by revision_id) stays in the chain. A record with an
-- unresolved row needs review; `Store::resolve` makes a revision that settles it (resolved_by).
CREATE TABLE conflicts (
    seq         INTEGER PRIMARY KEY,
    revision_id TEXT NOT NULL,                    -- the revision whose proposal did not take
    record_kind TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    kept        TEXT NOT NULL CHECK (json_valid(kept)),      -- the value that stayed
    proposed    TEXT NOT NULL CHECK (json_valid(proposed)),  -- the value that did not take
    found_at    TEXT NOT NULL,
    resolved_by TEXT,                             -- the revision that settled it; null = needs review
    UNIQUE (revision_id, field)
);
CREATE INDEX conflicts_unresolved ON conflicts (record_id) WHERE resolved_by IS NULL;

-- Changes the central store refused (invalid or not permitted), with its reason. They left the
-- outbox and their record's chain, and are kept here so that the person who made them sees them:
-- a refused change is shown, never silently undone (sync-model.md, "Push").
CREATE TABLE rejected_changes (
    revision_id TEXT PRIMARY KEY,
    record_kind TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    fields      TEXT NOT NULL CHECK (json_valid(fields)),    -- what the change proposed
    author      TEXT NOT NULL,
    workstation TEXT NOT NULL,
    made_at     TEXT NOT NULL,
    reason      TEXT NOT NULL,                    -- the server's words, for the person who made it
    rejected_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX rejected_changes_record ON rejected_changes (record_id);

-- A record whose creation was refused leaves its table. Version 2 kept the search index and the
-- assignee index on insert and update only; these keep them on delete too, so that every writer
-- stays right without remembering to.
CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 1;
    DELETE FROM case_assignees WHERE case_id = OLD.id;
END;
CREATE TRIGGER case_meta_search_delete AFTER DELETE ON case_meta BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 2;
END;
CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 3;
END;
CREATE TRIGGER case_notes_search_delete AFTER DELETE ON case_notes BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 4;
END;
