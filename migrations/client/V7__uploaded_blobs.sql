-- Schema version 7: which files' bytes the central store has (sync-model.md, "Files").
--
-- A file record syncs like any other; its bytes (the blob under blobs/, named by their SHA-256)
-- go to the central store in a sync round's upload stage, in chunks that resume after a cut. A
-- hash is listed here once the central store holds those bytes whole — uploaded from here, or
-- downloaded from there — and is never sent again.
CREATE TABLE uploaded_blobs (
    hash TEXT PRIMARY KEY CHECK (length(hash) = 64),
    at   TEXT NOT NULL
);
