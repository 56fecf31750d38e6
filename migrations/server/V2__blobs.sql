-- Schema version 2: file bytes (sync-model.md, "Files").
--
-- A file's metadata is a record like any other; its bytes are a blob named by their SHA-256,
-- kept once per lab however often they are attached, uploaded in chunks that resume after a cut
-- (the next chunk goes at `received`), and complete only once the bytes hash to the name. Kept in
-- PostgreSQL like everything else, so that every server instance sees every blob.

CREATE TABLE blobs (
    lab_id    uuid NOT NULL REFERENCES labs (id),
    hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    size      bigint NOT NULL CHECK (size >= 0),
    received  bigint NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size),
    complete  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lab_id, hash)
);

-- The bytes, in the chunks they came in; a chunk's offset is what was received before it.
CREATE TABLE blob_chunks (
    lab_id  uuid NOT NULL,
    hash    text NOT NULL,
    "offset" bigint NOT NULL CHECK ("offset" >= 0),
    data    bytea NOT NULL,
    PRIMARY KEY (lab_id, hash, "offset"),
    FOREIGN KEY (lab_id, hash) REFERENCES blobs (lab_id, hash) ON DELETE CASCADE
);
