//! Lab snapshots (`migrations/server/V3__snapshots.sql`): which labs are due one, the lease that
//! lets one builder at a time build a lab's, and keeping one built: its file's bytes as a blob of
//! the lab (`blobs.rs`: served by the same download as a file's bytes) and its row, the older
//! ones dropped.
//!
//! The **lease** is a session-level advisory lock on a pooled connection taken out of the pool for
//! as long as the build runs (tens of seconds): a transaction-level lock would keep a transaction
//! open all that time. Taken with `pg_try_advisory_lock`, so a second builder, on this instance
//! or another, gives up at once instead of queueing to build the same snapshot again. The
//! connection is closed when the lease is dropped, never given back to the pool: the lock ends
//! with its session, so no pooled connection can ever hold it by mistake, and a builder that dies
//! frees the lab's lease as well.

use std::io::Read;
use std::path::Path;

use deadpool_postgres::{Object, Pool};
use labdesk_proto::sync::{is_blob_name, SnapshotInfo, MAX_BLOB_CHUNK};
use labdesk_server_database::{Identity, Lab, Result, SnapshotLease, StoreError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{corrupt, db, pool as pool_error};
use crate::SNAPSHOT_LOCK;

/// Snapshots kept per lab and schema: the newest, and the one before it, which a workstation may
/// still be downloading when the newest is saved.
const KEEP: i64 = 2;

/// The lab's half of its lease's advisory lock key (the other half is [`SNAPSHOT_LOCK`]): its id
/// folded to 32 bits. Two labs whose ids fold alike share a lease, which only means that one
/// waits for the other's build to end, at the next check.
fn lock_key(lab_id: Uuid) -> i32 {
    let folded = lab_id
        .as_bytes()
        .chunks_exact(4)
        .fold(0u32, |key, four| key ^ u32::from_be_bytes([four[0], four[1], four[2], four[3]]));
    i32::from_be_bytes(folded.to_be_bytes())
}

fn info(row: &tokio_postgres::Row) -> Result<SnapshotInfo> {
    let hash: String = row.get("hash");
    let number = |column: &str| -> Result<u64> {
        let n: i64 = row.get(column);
        u64::try_from(n).map_err(|_| corrupt(format!("snapshot {hash} has {n} as its {column}")))
    };
    let schema: i32 = row.get("schema");
    Ok(SnapshotInfo {
        size: number("size")?,
        store_size: number("store_size")?,
        revisions: number("revisions")?,
        seq: row.get("seq"),
        schema: u32::try_from(schema).map_err(|_| corrupt(format!("snapshot {hash} has schema {schema}")))?,
        hash,
    })
}

pub(crate) async fn newest(pool: &Pool, who: &Identity, schema: u32) -> Result<Option<SnapshotInfo>> {
    let Ok(schema) = i32::try_from(schema) else {
        return Ok(None); // no store schema is numbered that high
    };
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client
        .prepare_cached(
            "SELECT s.hash, s.size, s.store_size, s.seq, s.schema, s.revisions FROM snapshots s \
               JOIN blobs b ON b.lab_id = s.lab_id AND b.hash = s.hash AND b.complete \
              WHERE s.lab_id = $1 AND s.schema = $2 ORDER BY s.seq DESC LIMIT 1",
        )
        .await
        .map_err(db)?;
    client.query_opt(&statement, &[&who.lab_id, &schema]).await.map_err(db)?.as_ref().map(info).transpose()
}

/// Counts at most `every` revisions per lab (the `LIMIT` inside): a lab with a million revisions
/// and no snapshot yet costs no more to look at than one with `every`.
pub(crate) async fn due(pool: &Pool, schema: u32, every: u64) -> Result<Vec<Lab>> {
    let Ok(schema) = i32::try_from(schema) else {
        return Ok(Vec::new());
    };
    let every = i64::try_from(every.max(1)).unwrap_or(i64::MAX);
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client
        .query(
            "SELECT l.id, l.name FROM labs l
              WHERE (SELECT count(*) FROM (
                        SELECT 1 FROM pull_positions p
                         WHERE p.lab_id = l.id
                           AND p.seq > coalesce(
                               (SELECT max(s.seq) FROM snapshots s WHERE s.lab_id = l.id AND s.schema = $1), 0)
                         LIMIT $2) counted) >= $2
              ORDER BY l.name",
            &[&schema, &every],
        )
        .await
        .map_err(db)?;
    Ok(rows.iter().map(|row| Lab { id: row.get(0), name: row.get(1) }).collect())
}

/// The connection that holds a lease's lock (module docs).
struct Held(Option<Object>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            // Out of the pool and closed: the session, and its lock, end.
            drop(Object::take(client));
        }
    }
}

pub(crate) async fn lease(pool: &Pool, lab_id: Uuid) -> Result<Option<SnapshotLease>> {
    let client = pool.get().await.map_err(pool_error)?;
    let held = Held(Some(client));
    let Some(client) = held.0.as_ref() else { return Ok(None) };
    let taken: bool = client
        .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&SNAPSHOT_LOCK, &lock_key(lab_id)])
        .await
        .map_err(db)?
        .get(0);
    // Not taken: the connection holds nothing, but goes the way of a lease's all the same.
    Ok(taken.then(|| SnapshotLease::new(lab_id, held)))
}

/// The next chunk of `file`, at most [`MAX_BLOB_CHUNK`] bytes (none at its end), read on a
/// blocking thread: a snapshot is hundreds of megabytes of disk reads.
async fn next_chunk(mut file: std::fs::File, path: &Path) -> Result<(std::fs::File, Vec<u8>)> {
    let read = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(usize::try_from(MAX_BLOB_CHUNK).unwrap_or(0));
        (&mut file).take(MAX_BLOB_CHUNK).read_to_end(&mut chunk).map(|_| (file, chunk))
    })
    .await
    .map_err(|e| StoreError::Internal(format!("reading a snapshot's file stopped: {e}")))?;
    read.map_err(|e| StoreError::Invalid(format!("cannot read the snapshot file {}: {e}", path.display())))
}

pub(crate) async fn save(pool: &Pool, lab_id: Uuid, snapshot: &SnapshotInfo, path: &Path) -> Result<()> {
    let hash = snapshot.hash.as_str();
    if !is_blob_name(hash) {
        return Err(StoreError::Invalid(format!(
            "`{hash}` is not a snapshot's name: a snapshot is named by its file's SHA-256, 64 lower-case hex digits"
        )));
    }
    let size = i64::try_from(snapshot.size)
        .map_err(|_| StoreError::Invalid(format!("a snapshot of {} bytes is too large", snapshot.size)))?;
    let store_size = i64::try_from(snapshot.store_size)
        .map_err(|_| StoreError::Invalid(format!("a store of {} bytes is too large", snapshot.store_size)))?;
    let revisions = i64::try_from(snapshot.revisions)
        .map_err(|_| StoreError::Invalid(format!("a snapshot of {} revisions is too large", snapshot.revisions)))?;
    let schema = i32::try_from(snapshot.schema)
        .map_err(|_| StoreError::Invalid(format!("{} is not a store schema version", snapshot.schema)))?;
    let file = std::fs::File::open(path)
        .map_err(|e| StoreError::Invalid(format!("cannot open the snapshot file {}: {e}", path.display())))?;

    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client.transaction().await.map_err(db)?;
    // One save of a lab at a time, whoever holds the lease. NO KEY UPDATE: pushes' foreign key
    // checks on the lab's row (KEY SHARE) go on meanwhile.
    if tx.query_opt("SELECT 1 FROM labs WHERE id = $1 FOR NO KEY UPDATE", &[&lab_id]).await.map_err(db)?.is_none() {
        return Err(StoreError::Invalid(format!("no lab has the id {lab_id}: its snapshot cannot be kept")));
    }
    tx.execute(
        "INSERT INTO blobs (lab_id, hash, size) VALUES ($1, $2, $3) ON CONFLICT (lab_id, hash) DO NOTHING",
        &[&lab_id, &hash, &size],
    )
    .await
    .map_err(db)?;
    let complete: bool = tx
        .query_one("SELECT complete FROM blobs WHERE lab_id = $1 AND hash = $2 FOR UPDATE", &[&lab_id, &hash])
        .await
        .map_err(db)?
        .get(0);
    // Complete already: the same bytes are kept (an earlier build of the same state, or a file
    // of the lab), and hash to the name. Otherwise whatever an upload left of them is replaced.
    if !complete {
        tx.execute("DELETE FROM blob_chunks WHERE lab_id = $1 AND hash = $2", &[&lab_id, &hash]).await.map_err(db)?;
        let insert = tx
            .prepare("INSERT INTO blob_chunks (lab_id, hash, \"offset\", data) VALUES ($1, $2, $3, $4)")
            .await
            .map_err(db)?;
        let (mut file, mut offset, mut digest) = (file, 0i64, Sha256::new());
        loop {
            let (rest, chunk) = next_chunk(file, path).await?;
            file = rest;
            if chunk.is_empty() {
                break;
            }
            digest.update(&chunk);
            tx.execute(&insert, &[&lab_id, &hash, &offset, &chunk]).await.map_err(db)?;
            offset += chunk.len() as i64;
        }
        let read = format!("{:x}", digest.finalize());
        if offset != size || read != hash {
            // Dropping the transaction rolls it back: nothing of the snapshot is kept.
            return Err(StoreError::Invalid(format!(
                "the snapshot file {} is {offset} bytes hashing to {read}, not the {size} bytes named {hash} that \
                 were announced: nothing of it was kept; build it again",
                path.display()
            )));
        }
        tx.execute(
            "UPDATE blobs SET size = $3, received = $3, complete = true WHERE lab_id = $1 AND hash = $2",
            &[&lab_id, &hash, &size],
        )
        .await
        .map_err(db)?;
    }

    // A snapshot at the same cursor is replaced (built again by hand); then only the newest stay.
    let mut dropped: Vec<String> = tx
        .query(
            "DELETE FROM snapshots WHERE lab_id = $1 AND schema = $2 AND seq = $3 RETURNING hash",
            &[&lab_id, &schema, &snapshot.seq],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    tx.execute(
        "INSERT INTO snapshots (lab_id, schema, seq, hash, size, store_size, revisions) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&lab_id, &schema, &snapshot.seq, &hash, &size, &store_size, &revisions],
    )
    .await
    .map_err(db)?;
    let older = tx
        .query(
            "DELETE FROM snapshots WHERE lab_id = $1 AND schema = $2 AND seq NOT IN (
                 SELECT seq FROM snapshots WHERE lab_id = $1 AND schema = $2 ORDER BY seq DESC LIMIT $3)
             RETURNING hash, seq",
            &[&lab_id, &schema, &KEEP],
        )
        .await
        .map_err(db)?;
    for row in &older {
        tracing::debug!(hash = row.get::<_, &str>(0), seq = row.get::<_, i64>(1), "an older snapshot dropped");
    }
    dropped.extend(older.iter().map(|row| row.get::<_, String>(0)));
    // A later statement than the deletes above, so it sees them. The bytes stay while anything
    // else names them: a snapshot of another schema or cursor, or a file record (a file attached
    // with exactly a snapshot's bytes, deleted or not).
    if !dropped.is_empty() {
        tx.execute(
            "DELETE FROM blobs b WHERE b.lab_id = $1 AND b.hash = ANY($2)
                AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.lab_id = b.lab_id AND s.hash = b.hash)
                AND NOT EXISTS (SELECT 1 FROM records r
                                 WHERE r.lab_id = b.lab_id AND r.kind = 'file' AND r.state ->> 'hash' = b.hash)",
            &[&lab_id, &dropped],
        )
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use anyhow::Result;
    use labdesk_proto::RecordKind;
    use labdesk_server_database::{Role, SyncStore};
    use labdesk_testkit::{provision, revision, TestPostgres};
    use serde_json::json;
    use tokio_postgres::NoTls;

    use super::*;
    use crate::{PgOptions, PgStore};

    #[test]
    fn a_labs_lock_key_folds_its_whole_id() {
        let a = Uuid::from_u128(0x0001_0000_0000_0000_0000_0000_0000_0001);
        let b = Uuid::from_u128(0x0001_0000_0000_0000_0000_0000_0000_0002);
        assert_ne!(lock_key(a), lock_key(b), "ids that differ in their last bytes get different keys");
        assert_eq!(lock_key(a), lock_key(a));
    }

    /// A store with ann of North, and a folder for snapshot files (removed when dropped).
    struct Setup {
        store: PgStore,
        ann: Identity,
        folder: PathBuf,
        db: TestPostgres,
    }

    impl Drop for Setup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.folder);
        }
    }

    async fn setup() -> Result<Setup> {
        let db = TestPostgres::start()?;
        let store = PgStore::new(&db.url, PgOptions::default())?;
        store.migrate().await?;
        let ann = provision(&store, "North", "ann", Role::Technician, "FD1").await?.identity;
        let folder = std::env::temp_dir().join(format!("labdesk-pg-snapshots-{}", Uuid::now_v7()));
        std::fs::create_dir(&folder)?;
        Ok(Setup { store, ann, folder, db })
    }

    impl Setup {
        /// A "snapshot" file of `bytes` at `seq`, and its info.
        fn file(&self, seq: i64, bytes: &[u8]) -> Result<(SnapshotInfo, PathBuf)> {
            let path = self.folder.join(format!("{seq}.db"));
            std::fs::write(&path, bytes)?;
            let info = SnapshotInfo {
                hash: format!("{:x}", Sha256::digest(bytes)),
                size: bytes.len() as u64,
                store_size: bytes.len() as u64 * 3,
                seq,
                schema: 7,
                revisions: 1,
            };
            Ok((info, path))
        }

        async fn save(&self, seq: i64, bytes: &[u8]) -> Result<SnapshotInfo> {
            let (info, path) = self.file(seq, bytes)?;
            self.store.save_snapshot(self.ann.lab_id, &info, &path).await?;
            Ok(info)
        }

        async fn count(&self, sql: &str) -> Result<i64> {
            let (client, connection) = tokio_postgres::connect(&self.db.url, NoTls).await?;
            tokio::spawn(connection);
            Ok(client.query_one(sql, &[]).await?.get(0))
        }
    }

    #[tokio::test]
    async fn a_snapshot_larger_than_a_chunk_is_kept_in_chunks_and_reads_back_whole() -> Result<()> {
        let s = setup().await?;
        let bytes: Vec<u8> = (0..(MAX_BLOB_CHUNK as usize * 2 + 1000)).map(|i| (i % 251) as u8).collect();
        let info = s.save(10, &bytes).await?;
        assert_eq!(s.store.snapshot(&s.ann, 7).await?, Some(info.clone()));
        assert_eq!(s.store.snapshot(&s.ann, 8).await?, None, "only for the schema it was built at");
        assert_eq!(s.count("SELECT count(*) FROM blob_chunks").await?, 3, "chunks of at most MAX_BLOB_CHUNK");
        let mut read = Vec::new();
        while (read.len() as u64) < info.size {
            let part = s.store.read_blob(&s.ann, &info.hash, read.len() as u64, MAX_BLOB_CHUNK).await?;
            read.extend(part.unwrap_or_default());
        }
        assert!(read == bytes, "the blob reads back as the file");
        Ok(())
    }

    #[tokio::test]
    async fn a_file_that_is_not_what_its_info_says_is_refused_and_nothing_of_it_kept() -> Result<()> {
        let s = setup().await?;
        let (mut info, path) = s.file(10, b"a store")?;
        info.hash = format!("{:x}", Sha256::digest(b"another store"));
        let err = s.store.save_snapshot(s.ann.lab_id, &info, &path).await.unwrap_err().to_string();
        assert!(err.contains("nothing of it was kept"), "{err}");
        assert_eq!(s.count("SELECT count(*) FROM blobs").await?, 0);
        assert_eq!(s.count("SELECT count(*) FROM snapshots").await?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn the_newest_two_stay_and_an_older_ones_bytes_stay_only_while_a_file_record_names_them() -> Result<()> {
        let s = setup().await?;
        let first = s.save(10, b"store one").await?;
        // A file of the lab with exactly the first snapshot's bytes.
        let case = revision(RecordKind::Case, Uuid::now_v7(), None, "ann", "FD1", json!({"case_number": "FD1-1"}));
        let file = revision(
            RecordKind::File,
            Uuid::now_v7(),
            None,
            "ann",
            "FD1",
            json!({"case_id": case.record_id.to_string(), "hash": first.hash}),
        );
        s.store.push(&s.ann, vec![case, file]).await?;
        let second = s.save(20, b"store two").await?;
        let third = s.save(30, b"store three").await?;
        assert_eq!(s.count("SELECT count(*) FROM snapshots").await?, 2);
        assert_eq!(s.count("SELECT count(*) FROM blobs").await?, 3, "the first's bytes stay: a file names them");
        let fourth = s.save(40, b"store four").await?;
        assert_eq!(s.store.snapshot(&s.ann, 7).await?, Some(fourth));
        assert_eq!(s.store.read_blob(&s.ann, &second.hash, 0, 10).await?, None, "the second's bytes went");
        assert!(s.store.read_blob(&s.ann, &third.hash, 0, 10).await?.is_some());
        assert!(s.store.read_blob(&s.ann, &first.hash, 0, 10).await?.is_some());
        Ok(())
    }

    #[tokio::test]
    async fn a_snapshot_at_the_same_cursor_replaces_the_one_there() -> Result<()> {
        let s = setup().await?;
        let old = s.save(10, b"built once").await?;
        let new = s.save(10, b"built again").await?;
        assert_eq!(s.store.snapshot(&s.ann, 7).await?, Some(new));
        assert_eq!(s.count("SELECT count(*) FROM snapshots").await?, 1);
        assert_eq!(s.store.read_blob(&s.ann, &old.hash, 0, 10).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn one_builder_holds_a_labs_lease_at_a_time_and_dropping_it_frees_it() -> Result<()> {
        let s = setup().await?;
        let south = provision(&s.store, "South", "sam", Role::Technician, "SO1").await?.identity;
        let lease = s.store.lease_snapshot(s.ann.lab_id).await?.expect("a free lease");
        assert!(s.store.lease_snapshot(s.ann.lab_id).await?.is_none(), "held: no second builder");
        let other = PgStore::new(&s.db.url, PgOptions::default())?;
        assert!(other.lease_snapshot(s.ann.lab_id).await?.is_none(), "not on another instance either");
        assert!(s.store.lease_snapshot(south.lab_id).await?.is_some(), "another lab's is free");
        drop(lease);
        // Freed when its session ends, which takes a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while other.lease_snapshot(s.ann.lab_id).await?.is_none() {
            assert!(Instant::now() < deadline, "a dropped lease was never freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_lab_is_due_once_it_has_enough_revisions_past_its_newest_snapshot() -> Result<()> {
        let s = setup().await?;
        provision(&s.store, "South", "sam", Role::Technician, "SO1").await?;
        let names = |labs: Vec<Lab>| labs.into_iter().map(|l| l.name).collect::<Vec<_>>();
        let cases = |n: usize| -> Vec<_> {
            (0..n)
                .map(|i| {
                    revision(
                        RecordKind::Case,
                        Uuid::now_v7(),
                        None,
                        "ann",
                        "FD1",
                        json!({"case_number": format!("FD1-{i}-{}", Uuid::now_v7().simple())}),
                    )
                })
                .collect()
        };
        assert!(s.store.snapshots_due(7, 1).await?.is_empty(), "no revisions: nothing due");
        s.store.push(&s.ann, cases(3)).await?;
        assert_eq!(names(s.store.snapshots_due(7, 3).await?), ["North"], "3 revisions and no snapshot");
        assert!(s.store.snapshots_due(7, 4).await?.is_empty());
        let head = s.store.head(&s.ann).await?;
        s.save(head, b"North at its head").await?;
        assert!(s.store.snapshots_due(7, 1).await?.is_empty(), "caught up");
        assert_eq!(names(s.store.snapshots_due(8, 3).await?), ["North"], "another schema has none");
        s.store.push(&s.ann, cases(2)).await?;
        assert!(s.store.snapshots_due(7, 3).await?.is_empty(), "2 of 3");
        assert_eq!(names(s.store.snapshots_due(7, 2).await?), ["North"]);
        Ok(())
    }
}
