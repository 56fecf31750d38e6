-- Server schema version 7: the kinds of record are the ones LabDesk declares
-- (labdesk_proto::kinds), checked by the server's code on every push, so a new kind needs no
-- migration here: the list in records' CHECK goes. The lab's settings get a reporting view.

ALTER TABLE records DROP CONSTRAINT records_kind_check;

CREATE VIEW lab_settings AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at') AS deleted_at,
       r.state ->> 'key'                      AS key,
       r.state ->> 'value'                    AS value,
       r.state ->> 'description'              AS description
  FROM records r WHERE r.kind = 'setting';
