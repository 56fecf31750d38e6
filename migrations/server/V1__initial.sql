-- LabDesk central store, schema version 1: who may sync, the records, their revision chains,
-- and the pull order. The rules are in ARCHITECTURE.md, "Sync (issue 3)", and
-- shared/design/sync-model.md; the code that keeps them is crates/labdesk-server-postgres.
--
-- Vocabulary used below:
--   record     any synced row (case, case meta value, chat message, file, workflow stage, note)
--   revision   one accepted change to one record; a record's revisions form its chain
--   arrival    a number taken when a revision is inserted, after its record's row lock
--   seq        the revision's position in the pull order, given only after it has committed
--
-- Nothing here is ever hard-deleted: records are soft-deleted (state.deleted_at), revisions are
-- immutable but for superseded_by (set once) and seq (set once, by the sequencer).

-- ---------------------------------------------------------------------------------------------
-- Who may sync.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE labs (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- User names are unique across labs: they author revisions (revision.author) and the admin
-- commands name users without their lab.
CREATE TABLE users (
    id          uuid PRIMARY KEY,
    lab_id      uuid NOT NULL REFERENCES labs (id),
    name        text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    -- Seed 001's user_role. Text, not an enum type: adding a role is then a CHECK change only.
    role        text NOT NULL CHECK (role IN ('admin', 'manager', 'technician', 'dentist', 'staff')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz                       -- a disabled user's tokens are refused (403)
);
CREATE INDEX users_lab ON users (lab_id);

-- Workstation codes are unique across labs, not only within one: every case number minted on a
-- workstation starts with its code, and case numbers must never collide.
CREATE TABLE workstations (
    id         uuid PRIMARY KEY,
    lab_id     uuid NOT NULL REFERENCES labs (id),
    code       text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]{2,8}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workstations_lab ON workstations (lab_id);

-- Bearer tokens, by their SHA-256 only: a copy of this table signs no one in.
CREATE TABLE tokens (
    sha256         bytea PRIMARY KEY CHECK (length(sha256) = 32),
    user_id        uuid NOT NULL REFERENCES users (id),
    workstation_id uuid NOT NULL REFERENCES workstations (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id, workstation_id);

-- ---------------------------------------------------------------------------------------------
-- Records and their chains.
-- ---------------------------------------------------------------------------------------------

-- One row per record of every kind, its content as JSONB (the chain folded in order,
-- deleted_at included). One table rather than one per kind: push, merge and pull treat every
-- kind alike, and a new field needs no migration; the per-kind views below give reporting its
-- typed columns.
CREATE TABLE records (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('case', 'case_meta', 'chat_message', 'file', 'workflow_stage', 'case_note')),
    lab_id        uuid NOT NULL REFERENCES labs (id),  -- the pusher's lab at creation
    version       integer NOT NULL CHECK (version >= 1),
    head_revision uuid NOT NULL,                     -- the revision at `version` (FK added below)
    state         jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    -- Some field was changed on both sides to different values and no one has settled it yet.
    needs_review  boolean NOT NULL DEFAULT false,
    -- The conflicted revisions not settled yet; needs_review = (unresolved is not empty).
    unresolved    uuid[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,              -- made_at of the creating revision
    updated_at    timestamptz NOT NULL,              -- made_at of the head revision
    updated_by    text NOT NULL                      -- author of the head revision
);
CREATE INDEX records_lab_kind ON records (lab_id, kind);
CREATE INDEX records_needs_review ON records (lab_id) WHERE needs_review;

CREATE SEQUENCE revision_arrival;
-- Only the sequencer takes numbers from pull_seq, under its advisory lock.
CREATE SEQUENCE pull_seq;

CREATE TABLE revisions (
    id            uuid PRIMARY KEY,                  -- minted by the workstation: the idempotency key
    -- The pull position. NULL until the sequencer numbers the revision, which it does only once
    -- the revision has committed: numbers then become visible in order, and a pull cursor never
    -- passes a revision that commits later (see the sequencer in labdesk-server-postgres).
    seq           bigint UNIQUE,
    -- Taken at insert, after the record's row lock: per record, arrival follows version order.
    -- Across records it follows the order of inserts, not of commits; the sequencer numbers in
    -- arrival order among what has committed.
    arrival       bigint NOT NULL UNIQUE DEFAULT nextval('revision_arrival'),
    record_id     uuid NOT NULL REFERENCES records (id),
    kind          text NOT NULL,
    lab_id        uuid NOT NULL REFERENCES labs (id),
    version       integer NOT NULL CHECK (version >= 1),  -- the central version it became
    base_version  integer NOT NULL CHECK (base_version >= 0),  -- as pushed: the version it was made on
    parent        uuid,                              -- as pushed: the revision it was made on (merge base)
    -- As pushed: the parent was the pusher's own change, not yet confirmed when this was made, so
    -- the author saw it as proposed; the merge base walks back through such parents.
    parent_unconfirmed boolean NOT NULL DEFAULT false,
    previous      uuid REFERENCES revisions (id),    -- the central revision it superseded (chain order)
    fields        jsonb NOT NULL,                    -- what took effect
    proposed      jsonb,                             -- what was pushed, when a merge changed it
    conflicts     jsonb NOT NULL DEFAULT '[]',       -- [{field, kept, proposed}] when conflicted
    resolves      uuid[] NOT NULL DEFAULT '{}',      -- the conflicted revisions this one settles
    outcome       text NOT NULL CHECK (outcome IN ('applied', 'merged', 'conflicted')),
    author        text NOT NULL,
    workstation   text NOT NULL,
    made_at       timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    pushed_by     uuid REFERENCES users (id),        -- the signed-in user who sent it
    superseded_by uuid REFERENCES revisions (id),
    UNIQUE (record_id, version),
    CHECK ((version = 1) = (previous IS NULL))
);
-- What the sequencer looks for: tiny, since revisions are numbered right after they commit.
CREATE INDEX revisions_unsequenced ON revisions (arrival) WHERE seq IS NULL;
-- Pull pages and a lab's head: seq order within one lab.
CREATE INDEX revisions_pull ON revisions (lab_id, seq) WHERE seq IS NOT NULL;

ALTER TABLE records ADD CONSTRAINT records_head_revision
    FOREIGN KEY (head_revision) REFERENCES revisions (id) DEFERRABLE INITIALLY DEFERRED;

-- Revisions refused, so that one sent again gets the same answer (a retry, or a response lost
-- after commit), and so that support can see what was tried.
CREATE TABLE rejections (
    revision_id uuid PRIMARY KEY,
    record_id   uuid NOT NULL,
    kind        text NOT NULL,
    lab_id      uuid NOT NULL REFERENCES labs (id),  -- the pusher's lab
    pushed_by   uuid REFERENCES users (id),
    reason      text NOT NULL,
    answered    jsonb NOT NULL,                      -- the PushResult as answered, re-sent as it is
    revision    jsonb NOT NULL,                      -- the revision as pushed
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejections_record ON rejections (record_id);

-- ---------------------------------------------------------------------------------------------
-- Reporting: one view per kind with typed columns, for headquarters' queries. Values are cast
-- leniently (a value that does not parse reads as NULL) so that one odd row cannot break a
-- report.
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION labdesk_uuid(value text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN value::uuid;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- STABLE, not IMMUTABLE: a time written without an offset is read in the session's time zone.
CREATE FUNCTION labdesk_time(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE VIEW cases AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at') AS deleted_at,
       r.state ->> 'case_number'               AS case_number,
       r.state ->> 'status'                    AS status,
       r.state ->> 'patient_name'              AS patient_name,
       r.state ->> 'author_id'                 AS author_id,
       r.state -> 'author_info'                AS author_info,
       r.state -> 'links'                      AS links,
       r.state -> 'services'                   AS services,
       r.state ->> 'order_note'                AS order_note,
       r.state -> 'invoice_ids'                AS invoice_ids,
       r.state -> 'assignees'                  AS assignees,
       r.state ->> 'priority'                  AS priority,
       labdesk_time(r.state ->> 'start_date')  AS start_date,
       labdesk_time(r.state ->> 'due_date')    AS due_date,
       labdesk_uuid(r.state ->> 'parent_id')   AS parent_id,
       r.state -> 'aligners'                   AS aligners
  FROM records r WHERE r.kind = 'case';
-- (secret_key, the share key, is left out on purpose: reports are no place for it.)

CREATE VIEW case_meta AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at') AS deleted_at,
       labdesk_uuid(r.state ->> 'case_id')    AS case_id,
       r.state ->> 'key'                      AS key,
       r.state ->> 'value'                    AS value
  FROM records r WHERE r.kind = 'case_meta';

CREATE VIEW chat_messages AS
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
       r.state ->> 'message_status'                  AS message_status,
       labdesk_time(r.state ->> 'sent_at')           AS sent_at,
       labdesk_time(r.state ->> 'edited_at')         AS edited_at,
       labdesk_time(r.state ->> 'read_at')           AS read_at
  FROM records r WHERE r.kind = 'chat_message';

CREATE VIEW files AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at')  AS deleted_at,
       labdesk_uuid(r.state ->> 'case_id')     AS case_id,
       labdesk_uuid(r.state ->> 'message_id')  AS message_id,
       r.state ->> 'original_name'             AS original_name,
       r.state ->> 'stored_name'               AS stored_name,
       r.state ->> 'file_path'                 AS file_path,
       CASE WHEN jsonb_typeof(r.state -> 'file_size') = 'number'
            THEN (r.state ->> 'file_size')::numeric::bigint END AS file_size,
       r.state ->> 'mime_type'                 AS mime_type,
       labdesk_time(r.state ->> 'upload_date') AS upload_date,
       r.state ->> 'uploaded_by'               AS uploaded_by,
       CASE WHEN jsonb_typeof(r.state -> 'is_temp') = 'boolean'
            THEN (r.state ->> 'is_temp')::boolean END AS is_temp,
       r.state ->> 'hash'                      AS hash
  FROM records r WHERE r.kind = 'file';

CREATE VIEW workflow_stages AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at')   AS deleted_at,
       labdesk_uuid(r.state ->> 'case_id')      AS case_id,
       r.state ->> 'stage'                      AS stage,
       r.state ->> 'status'                     AS status,
       r.state ->> 'assignee'                   AS assignee,
       labdesk_time(r.state ->> 'started_at')   AS started_at,
       labdesk_time(r.state ->> 'completed_at') AS completed_at,
       r.state ->> 'notes'                      AS notes
  FROM records r WHERE r.kind = 'workflow_stage';

CREATE VIEW case_notes AS
SELECT r.id, r.lab_id, r.version, r.needs_review, r.created_at, r.updated_at, r.updated_by,
       labdesk_time(r.state ->> 'deleted_at') AS deleted_at,
       labdesk_uuid(r.state ->> 'case_id')    AS case_id,
       r.state ->> 'author_id'                AS author_id,
       r.state ->> 'body'                     AS body
  FROM records r WHERE r.kind = 'case_note';
