-- Schema version 8: changes from the lab that this workstation's store could not take.
--
-- A pulled revision the store refuses (a case number another case here already has, a case
-- that is not here for a record attached to it, a record that cannot be rebuilt) must not stop
-- the rest of the pull: it is set aside here with the reason, the cursor moves on past it, and
-- every round tries it again, in seq order, until it applies. Later revisions of the same record
-- wait here behind it, so that a chain never has a gap. While any is here the store is not the
-- central state, and the consistency check says so.
CREATE TABLE held_revisions (
    seq          INTEGER PRIMARY KEY,             -- its central sequence number: the order to retry in
    revision_id  TEXT NOT NULL UNIQUE,
    record_kind  TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    revision     TEXT NOT NULL CHECK (json_valid(revision)),  -- the central revision as received
    reason       TEXT NOT NULL,                   -- why the store refused it, as a sentence
    held_at      TEXT NOT NULL,                   -- when it was first set aside
    attempts     INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    last_tried_at TEXT NOT NULL
);
CREATE INDEX held_revisions_record ON held_revisions (record_id);
