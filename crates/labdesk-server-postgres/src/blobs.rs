//! File bytes: blobs named by their SHA-256, one per lab and name, taken in chunks
//! (`migrations/server/V2__blobs.sql`). A chunk goes at the offset the store has received up to,
//! in a transaction that locks the blob's row, so that two uploads of the same bytes (two
//! workstations attaching the same scan) take turns instead of interleaving; the chunk that
//! completes the blob is checked against its name before the blob is marked complete.

use deadpool_postgres::{GenericClient, Pool};
use futures_util::TryStreamExt;
use labdesk_proto::sync::BlobState;
use labdesk_server_database::{Identity, Result, StoreError};
use sha2::{Digest, Sha256};

use crate::error::{db, pool as pool_error};

fn state(row: &tokio_postgres::Row) -> Result<BlobState> {
    let size: i64 = row.get("size");
    let received: i64 = row.get("received");
    let bytes = |n: i64| u64::try_from(n).map_err(|_| StoreError::Internal(format!("a blob holds {n} bytes")));
    Ok(BlobState { size: bytes(size)?, received: bytes(received)?, complete: row.get("complete") })
}

fn to_i64(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{what} {n} is too large")))
}

pub(crate) async fn blob_state(pool: &Pool, who: &Identity, hash: &str) -> Result<Option<BlobState>> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client
        .prepare_cached("SELECT size, received, complete FROM blobs WHERE lab_id = $1 AND hash = $2")
        .await
        .map_err(db)?;
    client.query_opt(&statement, &[&who.lab_id, &hash]).await.map_err(db)?.as_ref().map(state).transpose()
}

pub(crate) async fn put_chunk(
    pool: &Pool,
    who: &Identity,
    hash: &str,
    size: u64,
    offset: u64,
    bytes: &[u8],
) -> Result<BlobState> {
    let (size_sql, offset_sql) = (to_i64(size, "a size of")?, to_i64(offset, "an offset of")?);
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client.transaction().await.map_err(db)?;
    tx.execute(
        "INSERT INTO blobs (lab_id, hash, size) VALUES ($1, $2, $3) ON CONFLICT (lab_id, hash) DO NOTHING",
        &[&who.lab_id, &hash, &size_sql],
    )
    .await
    .map_err(db)?;
    let row = tx
        .query_one(
            "SELECT size, received, complete FROM blobs WHERE lab_id = $1 AND hash = $2 FOR UPDATE",
            &[&who.lab_id, &hash],
        )
        .await
        .map_err(db)?;
    let held = state(&row)?;
    if held.complete {
        return Ok(held); // sent again after it completed (a lost answer): nothing to do
    }
    if held.size != size {
        return Err(StoreError::Invalid(format!(
            "blob {hash} is being uploaded as {} bytes, not {size}: send the same file's bytes",
            held.size
        )));
    }
    if offset != held.received {
        return Err(StoreError::Conflict(format!(
            "blob {hash}: the next chunk goes at byte {}, not {offset}: ask for its state and go on from there",
            held.received
        )));
    }
    let received = held.received + bytes.len() as u64;
    if received > size {
        return Err(StoreError::Invalid(format!(
            "blob {hash}: {received} bytes would be more than the {size} announced"
        )));
    }
    if !bytes.is_empty() {
        tx.execute(
            "INSERT INTO blob_chunks (lab_id, hash, \"offset\", data) VALUES ($1, $2, $3, $4)",
            &[&who.lab_id, &hash, &offset_sql, &bytes],
        )
        .await
        .map_err(db)?;
    }
    let complete = received == size;
    if complete && !hashes_to(&tx, who, hash).await? {
        tx.execute("DELETE FROM blobs WHERE lab_id = $1 AND hash = $2", &[&who.lab_id, &hash]).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        return Err(StoreError::Invalid(format!(
            "the {size} bytes sent do not hash to {hash}: nothing of them was kept; upload the file again"
        )));
    }
    let received_sql = to_i64(received, "a size of")?;
    tx.execute(
        "UPDATE blobs SET received = $3, complete = $4 WHERE lab_id = $1 AND hash = $2",
        &[&who.lab_id, &hash, &received_sql, &complete],
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(BlobState { size, received, complete })
}

/// Do the blob's chunks, in order, hash to its name? The chunks are streamed, not read into
/// memory together: a blob may be 200 MB.
async fn hashes_to(client: &impl GenericClient, who: &Identity, hash: &str) -> Result<bool> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&who.lab_id, &hash];
    let rows = client
        .query_raw("SELECT data FROM blob_chunks WHERE lab_id = $1 AND hash = $2 ORDER BY \"offset\"", params)
        .await
        .map_err(db)?;
    futures_util::pin_mut!(rows);
    let mut digest = Sha256::new();
    while let Some(row) = rows.try_next().await.map_err(db)? {
        digest.update(row.get::<_, &[u8]>(0));
    }
    Ok(format!("{:x}", digest.finalize()) == hash)
}

pub(crate) async fn read(pool: &Pool, who: &Identity, hash: &str, offset: u64, limit: u64) -> Result<Option<Vec<u8>>> {
    let client = pool.get().await.map_err(pool_error)?;
    let complete = client
        .query_opt("SELECT size FROM blobs WHERE lab_id = $1 AND hash = $2 AND complete", &[&who.lab_id, &hash])
        .await
        .map_err(db)?;
    let Some(row) = complete else { return Ok(None) };
    let size = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
    let end = offset.saturating_add(limit).min(size);
    if offset >= end {
        return Ok(Some(Vec::new()));
    }
    let (from, to) = (to_i64(offset, "an offset of")?, to_i64(end, "an offset of")?);
    // The chunks that overlap [offset, end), in order.
    let rows = client
        .query(
            "SELECT \"offset\", data FROM blob_chunks WHERE lab_id = $1 AND hash = $2 \
             AND \"offset\" < $4 AND \"offset\" + length(data) > $3 ORDER BY \"offset\"",
            &[&who.lab_id, &hash, &from, &to],
        )
        .await
        .map_err(db)?;
    let mut out = Vec::with_capacity(usize::try_from(end - offset).unwrap_or(0));
    for row in &rows {
        let at = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        let data: &[u8] = row.get(1);
        let start = usize::try_from(offset.saturating_sub(at)).unwrap_or(0);
        let stop = usize::try_from((end - at).min(data.len() as u64)).unwrap_or(0);
        out.extend_from_slice(&data[start..stop]);
    }
    Ok(Some(out))
}
