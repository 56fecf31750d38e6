-- Schema version 6: headquarters' chat view reports the delivery state the workstations show.
-- A message's status is not a synced field (workstations work it out when they read it, so each
-- answer of the central store is not a second revision per message): the stored
-- `message_status` stays what the message was posted with, `sending`. Every message here has been
-- accepted, so centrally it is `sent`, or `read` once someone other than its sender read it
-- (a workstation records no read receipt for the sender's own reading).
CREATE OR REPLACE VIEW chat_messages AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at')        AS deleted_at,
       labdesk_uuid(r.state ->> 'case_id')           AS case_id,
       r.state ->> 'message_type'                    AS message_type,
       r.state ->> 'message_content'                 AS message_content,
       r.state -> 'attachments'                      AS attachments,
       labdesk_uuid(r.state ->> 'reply_to')          AS reply_to,
       r.state -> 'reactions'                        AS reactions,
       r.state ->> 'sender_id'                       AS sender_id,
       labdesk_uuid(r.state ->> 'parent_message_id') AS parent_message_id,
       r.state ->> 'message_purpose'                 AS message_purpose,
       CASE WHEN r.state ->> 'read_at' IS NOT NULL THEN 'read' ELSE 'sent' END AS message_status,
       labdesk_time(r.state ->> 'sent_at')           AS sent_at,
       labdesk_time(r.state ->> 'edited_at')         AS edited_at,
       labdesk_time(r.state ->> 'read_at')           AS read_at
  FROM records r WHERE r.kind = 'chat_message';
