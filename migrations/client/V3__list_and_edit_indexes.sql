-- Schema version 3: indexes that the store benchmark (crates/labdesk-core/benches/store.rs) found
-- missing at lab scale (100,000 cases, 1,000,000 chat messages). Indexes only: no data changes.

-- The child key of the revisions' own foreign key (superseded_by -> revisions.id). An edit points
-- the old head at the new revision before inserting it (the one-head index allows no other
-- order), so that deferred constraint is briefly violated, and inserting the new revision makes
-- SQLite look for the revisions that reference it. Without this index that look-up read every
-- revision: an edit took ~300 ms at 1.3 million revisions, growing with the store.
CREATE INDEX revisions_superseded_by ON revisions (superseded_by) WHERE superseded_by IS NOT NULL;

-- The case list shows live cases by due date, undated ones last:
--   WHERE deleted_at IS NULL ... ORDER BY due_date IS NULL, due_date, seq
-- No version 1 index has that order and none leaves deleted cases out, so every page sorted all
-- matching cases and every total read every matching row. These hold live cases in list order:
-- a page reads its 50 entries, and a total counts index entries without touching the rows.
CREATE INDEX cases_live_due ON cases (due_date IS NULL, due_date) WHERE deleted_at IS NULL;
-- The same for the list filtered by status, or by status and priority.
CREATE INDEX cases_live_status_priority ON cases (status, priority, due_date IS NULL, due_date)
    WHERE deleted_at IS NULL;
