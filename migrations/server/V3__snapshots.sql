-- Schema version 3: lab snapshots (ARCHITECTURE.md, "Sync"; labdesk-core sync/snapshot.rs).
--
-- A snapshot is a whole workstation store (SQLite), built by the server with the workstation's
-- own bootstrap and caught up with a lab's central store up to a cursor (`seq`), that a fresh
-- workstation downloads and takes instead of pulling the lab's whole history, then pulls what
-- came after. Its bytes are a blob like a file's (V2: `blobs`, `blob_chunks`, lab-scoped, named
-- by their SHA-256), so that every server instance serves it through the same download; this
-- table says which blobs are snapshots and of what.
--
-- A workstation takes only a snapshot of its own store schema (`schema`), so a lab may have
-- snapshots of several schemas at once (while workstations are being updated). The server keeps
-- the newest two per lab and schema: a workstation that began downloading the older one just
-- before the newer was saved can still finish.

CREATE TABLE snapshots (
    lab_id    uuid NOT NULL REFERENCES labs (id),
    -- The workstation store schema version the snapshot was built with (labdesk-core's client
    -- migrations): only a workstation at that version takes it.
    schema    integer NOT NULL CHECK (schema >= 0),
    -- The cursor it is caught up to: the workstation that takes it pulls after this.
    seq       bigint NOT NULL CHECK (seq >= 0),
    -- The blob holding the store file, complete before this row is written (same transaction).
    -- A snapshot dropped takes its blob along, unless another snapshot or a file record names
    -- the same bytes: that is decided in code (labdesk-server-postgres, snapshots.rs).
    hash      text NOT NULL,
    size      bigint NOT NULL CHECK (size >= 0),        -- the blob's: the store file compressed (zstd)
    store_size bigint NOT NULL CHECK (store_size >= 0), -- the store file's, decompressed
    revisions bigint NOT NULL CHECK (revisions >= 0),  -- revisions the store holds
    built_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lab_id, schema, seq),
    FOREIGN KEY (lab_id, hash) REFERENCES blobs (lab_id, hash)
);
-- Dropping a blob asks whether a snapshot still names it (and so does the foreign key's check).
CREATE INDEX snapshots_blob ON snapshots (lab_id, hash);
