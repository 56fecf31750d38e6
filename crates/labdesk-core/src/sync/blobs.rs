//! Files' bytes and the central store (sync-model.md, "Files").
//!
//! A file record syncs like any other record; its bytes, the **blob** named by their SHA-256
//! (`blobs.rs`), travel apart:
//! - **upload**: a round's upload stage, after its push, sends every blob attached here that the
//!   central store does not hold whole yet, in chunks of at most [`MAX_BLOB_CHUNK`]. Each chunk
//!   goes where the central store says it has received up to, so an upload cut short (the network,
//!   a closed laptop) goes on from there in the next round. What waits is the **blob outbox**
//!   (`blob_outbox`, schema V7): the blobs attached here, queued in the transaction that records
//!   their files, each taken out once the central store holds it whole. Files pulled from
//!   elsewhere never enter it, so a round looks at what was attached here, not at every file;
//! - **download**: [`fetch_blob`], when a file attached elsewhere is needed here (to open or
//!   preview it), in chunks into a temporary file beside the blobs, which a download cut short
//!   goes on from; the bytes are checked against their name before they take it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use labdesk_proto::sync::{is_blob_name, MAX_BLOB_CHUNK};
use rusqlite::params;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::engine::{Progress, SyncReport, SyncStage};
use super::error::SyncError;
use super::transport::Transport;
use crate::blobs::blob_path;
use crate::error::Error;
use crate::{RecordKind, Store};

/// A file operation on this workstation that failed, in words.
fn io(what: String, e: &std::io::Error) -> SyncError {
    SyncError::Store(Error::Input(format!("{what}: {e}")))
}

impl Store {
    /// Blobs in the blob outbox (attached here, not held whole by the central store yet) whose
    /// contents are here: (hash, path, size).
    fn blobs_to_upload(&self) -> crate::Result<Vec<(String, PathBuf, u64)>> {
        let Ok(root) = self.blob_dir() else {
            return Ok(Vec::new()); // a store in memory keeps no blobs
        };
        let mut statement = self.conn.prepare_cached("SELECT hash FROM blob_outbox ORDER BY added_at, hash")?;
        let hashes = statement.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        Ok(hashes
            .into_iter()
            .filter(|hash| is_blob_name(hash))
            .filter_map(|hash| {
                let path = blob_path(&root, &hash);
                let size = fs::metadata(&path).ok().filter(fs::Metadata::is_file)?.len();
                Some((hash, path, size))
            })
            .collect())
    }

    /// Takes blob `hash` out of the blob outbox: the central store holds it whole.
    fn blob_uploaded(&self, hash: &str) -> crate::Result<()> {
        self.conn.prepare_cached("DELETE FROM blob_outbox WHERE hash = ?1")?.execute(params![hash])?;
        Ok(())
    }

    /// How many files' contents wait to go to the central store.
    pub fn blobs_waiting(&self) -> crate::Result<u64> {
        Ok(self.blobs_to_upload()?.len() as u64)
    }
}

/// A round's upload stage (module docs): every blob here that the central store does not hold
/// whole, each from where the central store has it.
pub(super) fn upload_stage(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let waiting = store.blobs_to_upload()?;
    if waiting.is_empty() {
        return Ok(());
    }
    let total: u64 = waiting.iter().map(|(_, _, size)| size).sum();
    let mut p = Progress {
        stage: SyncStage::Push,
        records_done: 0,
        records_total: waiting.len() as u64,
        bytes_done: 0,
        bytes_total: Some(total),
    };
    progress(&p);
    for (hash, path, size) in waiting {
        upload(transport, &hash, &path, size, &mut |sent| {
            report.bytes_up += sent;
            p.bytes_done += sent;
            progress(&p);
        })?;
        store.blob_uploaded(&hash)?;
        report.files_up += 1;
        p.records_done += 1;
        progress(&p);
    }
    Ok(())
}

/// Sends blob `hash` (the file at `path`, `size` bytes) from where the central store has it.
fn upload(
    transport: &dyn Transport,
    hash: &str,
    path: &Path,
    size: u64,
    sent: &mut dyn FnMut(u64),
) -> Result<(), SyncError> {
    let mut offset = match transport.blob_state(hash)? {
        Some(held) if held.complete => return Ok(()),
        Some(held) => held.received,
        None => 0,
    };
    let mut file = File::open(path).map_err(|e| io(format!("cannot read {}", path.display()), &e))?;
    let mut buf = vec![0u8; usize::try_from(MAX_BLOB_CHUNK).unwrap_or(1 << 22)];
    // Another workstation may be sending the same bytes: then the central store's offset moves
    // under this one, and it is asked again (a few times: each time it has moved on).
    let mut moved = 0;
    loop {
        file.seek(SeekFrom::Start(offset)).map_err(|e| io(format!("cannot read {}", path.display()), &e))?;
        let want = usize::try_from((size - offset.min(size)).min(MAX_BLOB_CHUNK)).unwrap_or(buf.len());
        file.read_exact(&mut buf[..want]).map_err(|e| io(format!("cannot read {}", path.display()), &e))?;
        match transport.put_blob(hash, size, offset, &buf[..want]) {
            Ok(held) => {
                sent(want as u64);
                if held.complete {
                    return Ok(());
                }
                offset = held.received;
            }
            Err(SyncError::Refused { status: 409, .. }) if moved < 5 => {
                moved += 1;
                match transport.blob_state(hash)? {
                    Some(held) if held.complete => return Ok(()),
                    Some(held) => offset = held.received,
                    None => offset = 0,
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Where the bytes of file `file_id` are on this workstation, downloading them from the central
/// store first if they are not here (module docs). A download cut short goes on from where it
/// stopped the next time.
#[tracing::instrument(skip_all, fields(file = %file_id))]
pub fn fetch_blob(
    store: &Store,
    transport: &dyn Transport,
    file_id: Uuid,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PathBuf, SyncError> {
    if let Some(path) = store.blob_of(file_id)? {
        return Ok(path);
    }
    let (hash, size, name): (String, i64, String) = store
        .conn
        .prepare_cached("SELECT hash, file_size, original_name FROM files WHERE id = ?1")
        .map_err(Error::from)?
        .query_row(params![file_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(|_| Error::NotFound { kind: RecordKind::File, key: file_id.to_string() })?;
    if !is_blob_name(&hash) {
        return Err(SyncError::Store(Error::Input(format!(
            "file {file_id} names its bytes `{hash}`, which is not a SHA-256: they cannot be fetched"
        ))));
    }
    let size = u64::try_from(size).unwrap_or(0);
    let root = store.blob_dir()?;
    let target = blob_path(&root, &hash);
    let dir = target.parent().unwrap_or(&root).to_path_buf();
    fs::create_dir_all(&dir).map_err(|e| io(format!("cannot create {}", dir.display()), &e))?;
    // Named for the blob, so that a download cut short is found and continued.
    let partial = dir.join(format!(".download-{hash}"));
    download(transport, &hash, size, &partial, progress, &mut |_| Ok(())).map_err(|e| match e {
        SyncError::Refused { status: 404, .. } => SyncError::NotUploaded { name: name.clone() },
        // The transport's words are about the outbox; a fetch has none.
        SyncError::Unreachable { url, detail } => SyncError::FetchOffline { name: name.clone(), url, detail },
        SyncError::TimedOut { url, after } => SyncError::FetchOffline {
            name: name.clone(),
            url,
            detail: format!("no answer within {} s", after.as_secs()),
        },
        SyncError::BadAnswer { url, detail } if detail == MISMATCH => SyncError::BadAnswer {
            url,
            detail: format!("the bytes downloaded for file {file_id} do not hash to its name; fetch it again"),
        },
        other => other,
    })?;
    fs::rename(&partial, &target).map_err(|e| io(format!("cannot store {}", target.display()), &e))?;
    Ok(target)
}

/// [`download`]'s detail when the bytes do not hash to their name.
const MISMATCH: &str = "the bytes downloaded do not hash to their name";

/// Downloads blob `hash` (`size` bytes) into `partial`, going on from what `partial` holds
/// already (a download cut short), hashing as the bytes come; returns once `partial` holds them
/// all, synced, and they hash to `hash`. Bytes that do not are deleted: the next try starts over.
/// `bytes` sees every byte, in order, from the first (those kept from before, then those that
/// come): for whoever reads them as they come.
pub(super) fn download(
    transport: &dyn Transport,
    hash: &str,
    size: u64,
    partial: &Path,
    progress: &mut dyn FnMut(u64, u64),
    bytes: &mut dyn FnMut(&[u8]) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(partial)
        .map_err(|e| io(format!("cannot write {}", partial.display()), &e))?;
    let mut have = file.metadata().map_err(|e| io(format!("cannot read {}", partial.display()), &e))?.len();
    if have > size {
        file.set_len(0).map_err(|e| io(format!("cannot write {}", partial.display()), &e))?;
        have = 0;
    }
    // Hashed as it comes; a download resumed first hashes what it kept.
    let mut digest = Sha256::new();
    if have > 0 {
        read_kept(partial, &mut digest, bytes)?;
    }
    progress(have, size);
    while have < size {
        let chunk = transport.get_blob(hash, have, MAX_BLOB_CHUNK.min(size - have))?;
        if chunk.is_empty() {
            return Err(SyncError::BadAnswer {
                url: transport.address(),
                detail: format!("blob {hash} ended at byte {have} of {size}"),
            });
        }
        file.write_all(&chunk).map_err(|e| io(format!("cannot write {}", partial.display()), &e))?;
        digest.update(&chunk);
        bytes(&chunk)?;
        have += chunk.len() as u64;
        progress(have, size);
    }
    file.sync_all().map_err(|e| io(format!("cannot write {}", partial.display()), &e))?;
    drop(file);
    if format!("{:x}", digest.finalize()) != hash {
        let _ = fs::remove_file(partial);
        return Err(SyncError::BadAnswer { url: transport.address(), detail: MISMATCH.to_owned() });
    }
    Ok(())
}

/// What a download cut short kept: hashed, and handed to `bytes`.
fn read_kept(
    path: &Path,
    digest: &mut Sha256,
    bytes: &mut dyn FnMut(&[u8]) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let mut file = File::open(path).map_err(|e| io(format!("cannot read {}", path.display()), &e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| io(format!("cannot read {}", path.display()), &e))?;
        if n == 0 {
            return Ok(());
        }
        digest.update(&buf[..n]);
        bytes(&buf[..n])?;
    }
}
