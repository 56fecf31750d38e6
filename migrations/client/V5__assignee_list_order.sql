-- Schema version 5: the case list filtered by assignee, in list order from the index alone.
--
-- Version 2's assignee index held only (assignee, case): the list then read every matching case
-- row to leave out deleted ones, to count them and to sort them by due date — 20 ms for one
-- technician's page at 100,000 cases (crates/labdesk-core/benches/store.rs). Here each entry also
-- carries what the list sorts and filters by, and a partial index holds live entries in list
-- order, so a page reads its 50 entries and a total counts index entries.

DROP TRIGGER cases_assignees_insert;
DROP TRIGGER cases_assignees_update;
DROP TABLE case_assignees;

CREATE TABLE case_assignees (
    assignee TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    case_seq INTEGER NOT NULL,   -- cases.seq: the list's tie-break, so pages never overlap
    due_date TEXT,               -- cases.due_date
    live     INTEGER NOT NULL,   -- 1 while the case is not deleted
    PRIMARY KEY (assignee, case_id)
) WITHOUT ROWID;
CREATE INDEX case_assignees_live_due ON case_assignees (assignee, due_date IS NULL, due_date, case_seq)
    WHERE live = 1;

CREATE TRIGGER cases_assignees_insert AFTER INSERT ON cases BEGIN
    INSERT OR IGNORE INTO case_assignees (assignee, case_id, case_seq, due_date, live)
    SELECT value, NEW.id, NEW.seq, NEW.due_date, NEW.deleted_at IS NULL FROM json_each(NEW.assignees);
END;
-- The store writes a case with an upsert naming every column, so this fires on every change of
-- a case; the delete goes by primary key (assignee first), one entry per old assignee.
CREATE TRIGGER cases_assignees_update AFTER UPDATE OF assignees, due_date, deleted_at ON cases BEGIN
    DELETE FROM case_assignees WHERE case_id = OLD.id
        AND assignee IN (SELECT value FROM json_each(OLD.assignees));
    INSERT OR IGNORE INTO case_assignees (assignee, case_id, case_seq, due_date, live)
    SELECT value, NEW.id, NEW.seq, NEW.due_date, NEW.deleted_at IS NULL FROM json_each(NEW.assignees);
END;
DROP TRIGGER cases_search_delete;
CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 1;
    DELETE FROM case_assignees WHERE case_id = OLD.id
        AND assignee IN (SELECT value FROM json_each(OLD.assignees));
END;

INSERT OR IGNORE INTO case_assignees (assignee, case_id, case_seq, due_date, live)
SELECT a.value, c.id, c.seq, c.due_date, c.deleted_at IS NULL FROM cases c, json_each(c.assignees) a;
