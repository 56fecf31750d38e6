-- Schema version 9: a workflow stage's notes and a file's name are found by search too.
--
-- Two more kinds of search document, in the scheme of version 2 (rowid = seq * 8 + kind tag):
-- 5 a workflow stage's notes, 6 a file's original name. Tags go up to 7, so one is left. As
-- before, the views say what text each record contributes and the triggers keep the index from
-- every writer; a bootstrap builds the index from these same views (sync/bulk.rs), and
-- Store::check counts them. A stage with no notes has no document.

CREATE VIEW search_stage_documents AS
SELECT seq, seq * 8 + 5 AS doc_id, case_id, notes AS body
FROM workflow_stages WHERE deleted_at IS NULL AND trim(notes) <> '';

CREATE VIEW search_file_documents AS
SELECT seq, seq * 8 + 6 AS doc_id, case_id, original_name AS body
FROM files WHERE deleted_at IS NULL;

CREATE TRIGGER workflow_stages_search_insert AFTER INSERT ON workflow_stages BEGIN
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_stage_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER workflow_stages_search_update AFTER UPDATE ON workflow_stages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 5;
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_stage_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER workflow_stages_search_delete AFTER DELETE ON workflow_stages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 5;
END;

CREATE TRIGGER files_search_insert AFTER INSERT ON files BEGIN
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_file_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER files_search_update AFTER UPDATE ON files BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 6;
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_file_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER files_search_delete AFTER DELETE ON files BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 6;
END;

-- Index what stores made before this version already hold.
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM search_stage_documents ORDER BY seq;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM search_file_documents ORDER BY seq;
