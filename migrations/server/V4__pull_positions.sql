-- Schema version 4: pull positions in a table of their own (crate docs of labdesk-server-postgres,
-- "Pull"; the sequencer in pull.rs).
--
-- Until now the sequencer gave a committed revision its pull position by updating the revision's
-- own row (`revisions.seq`). `seq` being indexed, every such update wrote the whole row again and
-- an entry in each of its five indexes, leaving the first version dead for vacuum: about as much
-- as inserting the revision in the first place (PostgreSQL alone, 100,000 revisions in batches of
-- 500, each batch and its numbering committed: 3.9–5.1 s with the update, 1.7–2.1 s as here).
-- Now an inserted revision is queued in `unsequenced` (a narrow row, by a trigger, whichever
-- statement inserted it), and the sequencer moves what has committed from the queue to
-- `pull_positions` (narrow rows too), in arrival order. Revisions themselves are written once
-- (and once more by `superseded_by`).
--
--   unsequenced     revisions inserted and not numbered yet, by arrival: what the sequencer
--                   looks at. Uncommitted rows are invisible to it and wait for a later run.
--   pull_positions  seq → revision, per lab: pull pages and a lab's head read it in seq order.

CREATE TABLE unsequenced (
    arrival     bigint PRIMARY KEY,        -- the revision's arrival: the sequencer's order
    revision_id uuid NOT NULL,
    lab_id      uuid NOT NULL
);

CREATE TABLE pull_positions (
    seq         bigint PRIMARY KEY,        -- from pull_seq, only by the sequencer
    lab_id      uuid NOT NULL,
    revision_id uuid NOT NULL UNIQUE REFERENCES revisions (id)  -- a revision is numbered once
);
-- Pull pages and a lab's head: seq order within one lab, with the revision (once vacuum has seen
-- a page, a pull reads its positions from the index alone).
CREATE INDEX pull_positions_lab ON pull_positions (lab_id, seq) INCLUDE (revision_id);

-- Every inserted revision is queued, whatever inserted it: one statement per inserting statement.
CREATE FUNCTION queue_for_sequencer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO unsequenced (arrival, revision_id, lab_id) SELECT arrival, id, lab_id FROM inserted;
    RETURN NULL;
END $$;
CREATE TRIGGER revisions_queue AFTER INSERT ON revisions
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION queue_for_sequencer();

-- What was numbered and what was waiting move over, then the column goes with its indexes.
INSERT INTO pull_positions (seq, lab_id, revision_id) SELECT seq, lab_id, id FROM revisions WHERE seq IS NOT NULL;
INSERT INTO unsequenced (arrival, revision_id, lab_id) SELECT arrival, id, lab_id FROM revisions WHERE seq IS NULL;
DROP INDEX revisions_unsequenced;
DROP INDEX revisions_pull;
ALTER TABLE revisions DROP COLUMN seq;
