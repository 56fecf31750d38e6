-- Server schema version 7: the kinds of record are the ones LabDesk declares
-- (labdesk_proto::kinds), checked by the server's code on every push, so a new kind needs no
-- migration here: the list in records' CHECK goes. The lab's settings get a reporting view.
--
-- A kind of the lab may declare unique fields (a setting's key): one live record of the lab per
-- value. The push path rejects a record that repeats a live one's; `unique_key` (the values as
-- JSON text, set by the push path while the record is live, NULL otherwise) and its index make
-- sure two batches racing with the same value cannot both commit: the later write fails, and its
-- batch runs again and rejects it.

ALTER TABLE records DROP CONSTRAINT records_kind_check;

ALTER TABLE records ADD COLUMN unique_key text;
CREATE UNIQUE INDEX records_unique_key ON records (lab_id, kind, unique_key) WHERE unique_key IS NOT NULL;

CREATE VIEW lab_settings AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at') AS deleted_at,
       r.state ->> 'key'                      AS key,
       r.state ->> 'value'                    AS value,
       r.state ->> 'description'              AS description
  FROM records r WHERE r.kind = 'setting';
