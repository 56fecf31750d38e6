-- Schema version 6: a fresh workstation's first pull (its bootstrap) in bulk.
--
-- Applying a lab's whole history one revision at a time kept the search index and the assignee
-- index up to date row by row: an FTS5 insert per row, each flushed to disk as a segment of its
-- own by the statement savepoint around it (the sync benchmark: ~6,000 records/s). A bootstrap
-- instead writes rows and revisions set-based, with the triggers of versions 2, 4 and 5 set
-- aside inside each of its transactions, and builds both indexes once, at its end, from the
-- tables (crates/labdesk-core/src/sync/bulk.rs).

-- bootstrap        1 from a fresh workstation's first pull until it has caught up with the central
--                  store: pages are applied in bulk, even after an interruption.
-- indexes_pending  1 while the search index and the assignee index miss rows a bootstrap wrote
--                  and must be built from the tables. Set and cleared in the transactions of the
--                  pages it covers, so a bootstrap cut short (even by a killed process) leaves it
--                  set, and the next open of the store (or the end of the round) builds them.
ALTER TABLE sync_state ADD COLUMN bootstrap INTEGER NOT NULL DEFAULT 0 CHECK (bootstrap IN (0, 1));
ALTER TABLE sync_state ADD COLUMN indexes_pending INTEGER NOT NULL DEFAULT 0 CHECK (indexes_pending IN (0, 1));

-- The tail revisions (local, not pulled back yet): few, whatever the size of the store. A bulk
-- page needs to know that there are none; without this index that question read every revision.
CREATE INDEX revisions_tail ON revisions (record_id) WHERE central_seq IS NULL;
