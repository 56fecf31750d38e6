-- Schema version 2: full-text search and the assignee index, kept by triggers so that every
-- writer (local edits, pulled revisions, imports) keeps them true without remembering to.
--
-- One FTS5 document per searchable record. Its rowid is the record's seq * 8 + a kind tag, so a
-- record's document is found by rowid alone: 1 case, 2 meta, 3 chat message, 4 case note.
-- Soft-deleted records are taken out of the index.

CREATE VIRTUAL TABLE search_index USING fts5 (
    case_id UNINDEXED,
    body,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE VIEW search_case_documents AS
SELECT seq, seq * 8 + 1 AS doc_id, id AS case_id,
       case_number || ' ' || patient_name || ' ' || order_note || ' ' ||
       coalesce(json_extract(author_info, '$.name'), '') || ' ' ||
       coalesce((SELECT group_concat(
                    coalesce(json_extract(s.value, '$.service_type'), '') || ' ' ||
                    coalesce((SELECT group_concat(x.value, ' ') FROM json_each(s.value, '$.sub_services') x), '') || ' ' ||
                    coalesce((SELECT group_concat(x.value, ' ') FROM json_each(s.value, '$.extras') x), ''),
                    ' ')
                 FROM json_each(services) s), '') AS body
FROM cases WHERE deleted_at IS NULL;

CREATE VIEW search_meta_documents AS
SELECT seq, seq * 8 + 2 AS doc_id, case_id, key || ' ' || value AS body
FROM case_meta WHERE deleted_at IS NULL;

CREATE VIEW search_chat_documents AS
SELECT seq, seq * 8 + 3 AS doc_id, case_id, message_content AS body
FROM chat_messages WHERE deleted_at IS NULL;

CREATE VIEW search_note_documents AS
SELECT seq, seq * 8 + 4 AS doc_id, case_id, body
FROM case_notes WHERE deleted_at IS NULL;

CREATE TRIGGER cases_search_insert AFTER INSERT ON cases BEGIN
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_case_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER cases_search_update AFTER UPDATE ON cases BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 1;
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_case_documents WHERE seq = NEW.seq;
END;

CREATE TRIGGER case_meta_search_insert AFTER INSERT ON case_meta BEGIN
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_meta_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER case_meta_search_update AFTER UPDATE ON case_meta BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 2;
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_meta_documents WHERE seq = NEW.seq;
END;

CREATE TRIGGER chat_messages_search_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_chat_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER chat_messages_search_update AFTER UPDATE ON chat_messages BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 3;
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_chat_documents WHERE seq = NEW.seq;
END;

CREATE TRIGGER case_notes_search_insert AFTER INSERT ON case_notes BEGIN
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_note_documents WHERE seq = NEW.seq;
END;
CREATE TRIGGER case_notes_search_update AFTER UPDATE ON case_notes BEGIN
    DELETE FROM search_index WHERE rowid = OLD.seq * 8 + 4;
    INSERT INTO search_index (rowid, case_id, body)
    SELECT doc_id, case_id, body FROM search_note_documents WHERE seq = NEW.seq;
END;

-- Assignee filter for the case list: one row per (assignee, case), from cases.assignees.
CREATE TABLE case_assignees (
    assignee TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    PRIMARY KEY (assignee, case_id)
) WITHOUT ROWID;

CREATE TRIGGER cases_assignees_insert AFTER INSERT ON cases BEGIN
    INSERT OR IGNORE INTO case_assignees (assignee, case_id)
    SELECT value, NEW.id FROM json_each(NEW.assignees);
END;
CREATE TRIGGER cases_assignees_update AFTER UPDATE OF assignees ON cases BEGIN
    DELETE FROM case_assignees WHERE case_id = OLD.id
        AND assignee IN (SELECT value FROM json_each(OLD.assignees));
    INSERT OR IGNORE INTO case_assignees (assignee, case_id)
    SELECT value, NEW.id FROM json_each(NEW.assignees);
END;

-- Bring stores made at version 1 up to date.
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM search_case_documents;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM search_meta_documents;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM search_chat_documents;
INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM search_note_documents;
INSERT OR IGNORE INTO case_assignees (assignee, case_id)
SELECT a.value, c.id FROM cases c, json_each(c.assignees) a;
