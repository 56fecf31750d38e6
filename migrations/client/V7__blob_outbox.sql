-- Schema version 7: files' contents waiting to go to the central store (sync-model.md, "Files").
--
-- A file record syncs like any other; its contents (the blob under blobs/, named by their
-- SHA-256) go up in a sync round's upload stage, in chunks that resume after a cut. The blob
-- outbox lists the blobs attached on this workstation, written in the transaction that records
-- their files, until the central store holds them whole. Files pulled from elsewhere never
-- enter it: their contents are fetched when needed.
CREATE TABLE blob_outbox (
    hash     TEXT PRIMARY KEY CHECK (length(hash) = 64),
    added_at TEXT NOT NULL
);

-- Files attached here before this version: their contents never went up.
INSERT OR IGNORE INTO blob_outbox (hash, added_at)
SELECT f.hash, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM files f JOIN revisions r ON r.record_id = f.id AND r.version = 1
 WHERE r.workstation = (SELECT code FROM workstation WHERE only_row = 1) AND length(f.hash) = 64;
