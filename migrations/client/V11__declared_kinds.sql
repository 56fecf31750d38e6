-- Schema version 11: the search index keys documents by the kind's declared search tag out of
-- 1024 (it was one of 8, and all but one were taken), its views are named after their tables,
-- and the first kind declared with no typed code, the lab's settings, gets its table.
--
-- A search document's rowid is the record's seq * 1024 + its kind's search tag (declared in the
-- kind's module, labdesk_proto::kinds): 1 case, 2 meta value, 3 chat message, 4 case note,
-- 5 workflow stage, 6 file. Each searchable kind has a view `{table}_search` saying what text each
-- of its live records contributes, and three triggers `{table}_search_{insert,update,delete}`
-- that keep the index from every writer; a bootstrap builds the index from the same views
-- (sync/bulk.rs) and Store::check counts them. A test checks every declared kind against this
-- schema (crates/labdesk-core/tests/kinds.rs).

DROP TRIGGER cases_search_insert;
DROP TRIGGER cases_search_update;
DROP TRIGGER cases_search_delete;
DROP TRIGGER case_meta_search_insert;
DROP TRIGGER case_meta_search_update;
DROP TRIGGER case_meta_search_delete;
DROP TRIGGER chat_messages_search_insert;
DROP TRIGGER chat_messages_search_update;
DROP TRIGGER chat_messages_search_delete;
DROP TRIGGER case_notes_search_insert;
DROP TRIGGER case_notes_search_update;
DROP TRIGGER case_notes_search_delete;
DROP TRIGGER workflow_stages_search_insert;
DROP TRIGGER workflow_stages_search_update;
DROP TRIGGER workflow_stages_search_delete;
DROP TRIGGER files_search_insert;
DROP TRIGGER files_search_update;
DROP TRIGGER files_search_delete;
DROP VIEW search_case_documents;
DROP VIEW search_meta_documents;
DROP VIEW search_chat_documents;
DROP VIEW search_note_documents;
DROP VIEW search_stage_documents;
DROP VIEW search_file_documents;
DROP TABLE search_index;

CREATE VIRTUAL TABLE search_index USING fts5 (
    case_id UNINDEXED,
    body,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE VIEW cases_search AS
SELECT seq, seq * 1024 + 1 AS doc_id, id AS case_id,
       case_number || ' ' || patient_name || ' ' || order_note || ' ' ||
       coalesce(json_extract(author_info, '$.name'), '') || ' ' ||
       coalesce((SELECT group_concat(
                    coalesce(json_extract(s.value, '$.service_type'), '') || ' ' ||
                    coalesce((SELECT group_concat(x.value, ' ') FROM json_each(s.value, '$.sub_services') x), '') || ' ' ||
                    coalesce((SELECT group_concat(x.value, ' ') FROM json_each(s.value, '$.extras') x), ''),
                    ' ')
                 FROM json_each(services) s), '') AS body
FROM cases WHERE deleted_at IS NULL;

CREATE TRIGGER cases_search_insert AFTER INSERT ON cases BEGIN
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM cases_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER cases_search_update AFTER UPDATE ON cases BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 1;
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM cases_search WHERE seq = NEW.seq;
END;
-- As in version 5, a case that leaves its table (its creation refused) leaves the assignee index too.
CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 1;
    DELETE FROM case_assignees WHERE case_id = OLD.id
        AND assignee IN (SELECT value FROM json_each(OLD.assignees));
END;

CREATE VIEW case_meta_search AS
SELECT seq, seq * 1024 + 2 AS doc_id, case_id AS case_id,
       key || ' ' || value AS body
FROM case_meta WHERE deleted_at IS NULL;

CREATE TRIGGER case_meta_search_insert AFTER INSERT ON case_meta BEGIN
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM case_meta_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER case_meta_search_update AFTER UPDATE ON case_meta BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 2;
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM case_meta_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER case_meta_search_delete AFTER DELETE ON case_meta BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 2;
END;

CREATE VIEW chat_messages_search AS
SELECT seq, seq * 1024 + 3 AS doc_id, case_id AS case_id,
       message_content AS body
FROM chat_messages WHERE deleted_at IS NULL;

CREATE TRIGGER chat_messages_search_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM chat_messages_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER chat_messages_search_update AFTER UPDATE ON chat_messages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 3;
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM chat_messages_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 3;
END;

CREATE VIEW case_notes_search AS
SELECT seq, seq * 1024 + 4 AS doc_id, case_id AS case_id,
       body AS body
FROM case_notes WHERE deleted_at IS NULL;

CREATE TRIGGER case_notes_search_insert AFTER INSERT ON case_notes BEGIN
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM case_notes_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER case_notes_search_update AFTER UPDATE ON case_notes BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 4;
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM case_notes_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER case_notes_search_delete AFTER DELETE ON case_notes BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 4;
END;

CREATE VIEW workflow_stages_search AS
SELECT seq, seq * 1024 + 5 AS doc_id, case_id AS case_id,
       notes AS body
FROM workflow_stages WHERE deleted_at IS NULL AND trim(notes) <> '';

CREATE TRIGGER workflow_stages_search_insert AFTER INSERT ON workflow_stages BEGIN
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM workflow_stages_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER workflow_stages_search_update AFTER UPDATE ON workflow_stages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 5;
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM workflow_stages_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER workflow_stages_search_delete AFTER DELETE ON workflow_stages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 5;
END;

CREATE VIEW files_search AS
SELECT seq, seq * 1024 + 6 AS doc_id, case_id AS case_id,
       original_name AS body
FROM files WHERE deleted_at IS NULL;

CREATE TRIGGER files_search_insert AFTER INSERT ON files BEGIN
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM files_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER files_search_update AFTER UPDATE ON files BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 6;
    INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM files_search WHERE seq = NEW.seq;
END;
CREATE TRIGGER files_search_delete AFTER DELETE ON files BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 1024 + 6;
END;

INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM cases_search ORDER BY seq;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM case_meta_search ORDER BY seq;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM chat_messages_search ORDER BY seq;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM case_notes_search ORDER BY seq;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM workflow_stages_search ORDER BY seq;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM files_search ORDER BY seq;

-- Seed 001, `settings`: the lab's settings, one record per key, shared by every workstation of the
-- lab (kind `setting`, declared in labdesk_proto::kinds::setting). Two workstations may make the
-- same key offline, so the key is not UNIQUE here: the core refuses a second live one locally.
CREATE TABLE lab_settings (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    key         TEXT NOT NULL,
    value       TEXT,
    description TEXT,
    version     INTEGER NOT NULL CHECK (version >= 1),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX lab_settings_key ON lab_settings (key);
CREATE INDEX lab_settings_updated ON lab_settings (updated_at);
