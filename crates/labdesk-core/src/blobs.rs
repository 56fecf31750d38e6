//! Blobs: the bytes of attached files, kept beside the store under their SHA-256.
//!
//! Vocabulary: a **blob** is a file's content, named by its hash, stored once however many file
//! records point at it (`<data folder>/blobs/<first two hex digits>/<hash>`). A **file record**
//! ([`FileRecord`]) is the synced metadata; the blob travels apart (`sync/blobs.rs`: uploaded in a
//! sync round, downloaded when needed).
//!
//! Attaching from disk checks the lab's rules (count, size, format) before a byte is copied, so
//! a refused upload neither writes a record nor spends time copying 200 MB. A blob is written to
//! a temporary name, synced and then renamed, so a crash never leaves a half blob under a hash.
//! A blob whose record was refused afterwards is harmless: content-addressed, it is reused by a
//! later upload of the same bytes.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::files::{self, ALLOWED_FORMATS, MAX_FILES_PER_UPLOAD, MAX_FILE_SIZE};
use crate::record::Stored;
use crate::{FileRecord, NewFile, RecordKind, Store};

/// The folder of blobs inside a data folder.
pub const BLOB_DIR: &str = "blobs";

const CHUNK: usize = 1 << 20;

/// How far copying one file of an upload is, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FileProgress {
    /// The file being copied, as it was given.
    pub path: String,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// The MIME type the lab's rules give a file name's extension, if they accept it.
pub fn mime_for_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    ALLOWED_FORMATS.iter().find(|(_, exts, _)| exts.contains(&ext.as_str())).map(|(_, _, mimes)| mimes[0])
}

pub(crate) fn blob_path(root: &Path, hash: &str) -> PathBuf {
    root.join(&hash[..2]).join(hash)
}

/// The first bytes of a file, what its format is told from.
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(files::CONTENT_HEAD);
    File::open(path)?.take(files::CONTENT_HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Copies `source` into the blob folder while hashing it; returns the hash.
fn store_blob(root: &Path, source: &Path, total: u64, progress: &mut dyn FnMut(&FileProgress)) -> Result<String> {
    let io = |what: &str, e: std::io::Error| Error::Input(format!("{what}: {e}"));
    fs::create_dir_all(root).map_err(|e| io(&format!("cannot create the blob folder {}", root.display()), e))?;
    let temp = root.join(format!(".incoming-{}", Uuid::new_v4()));
    let result = (|| {
        let mut input = File::open(source).map_err(|e| io(&format!("cannot read {}", source.display()), e))?;
        let mut output = File::create(&temp).map_err(|e| io(&format!("cannot write {}", temp.display()), e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        let shown = source.display().to_string();
        progress(&FileProgress { path: shown.clone(), bytes_done: 0, bytes_total: total });
        loop {
            let n = input.read(&mut buf).map_err(|e| io(&format!("cannot read {}", source.display()), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            output.write_all(&buf[..n]).map_err(|e| io(&format!("cannot write {}", temp.display()), e))?;
            done += n as u64;
            progress(&FileProgress { path: shown.clone(), bytes_done: done, bytes_total: total.max(done) });
        }
        output.sync_all().map_err(|e| io(&format!("cannot write {}", temp.display()), e))?;
        let hash = format!("{:x}", hasher.finalize());
        let target = blob_path(root, &hash);
        if target.exists() {
            // The same bytes are stored already.
            let _ = fs::remove_file(&temp);
        } else {
            let dir = target.parent().unwrap_or(root);
            fs::create_dir_all(dir).map_err(|e| io(&format!("cannot create {}", dir.display()), e))?;
            fs::rename(&temp, &target).map_err(|e| io(&format!("cannot store {}", target.display()), e))?;
        }
        Ok(hash)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

impl Store {
    /// The blob folder of this store (beside its database file).
    pub fn blob_dir(&self) -> Result<PathBuf> {
        let file = self.path().ok_or_else(|| Error::Input("files can be attached only to a store on disk".into()))?;
        Ok(file.parent().unwrap_or(Path::new(".")).join(BLOB_DIR))
    }

    /// Attaches files from disk to a case: checks the lab's rules for all of them first, copies
    /// each into the blob folder (reporting progress), then records them in one transaction —
    /// all of them, or none.
    #[tracing::instrument(skip_all, fields(case = case_key, files = paths.len()))]
    pub fn attach_paths(
        &mut self,
        case_key: &str,
        paths: &[PathBuf],
        message_id: Option<Uuid>,
        progress: &mut dyn FnMut(&FileProgress),
    ) -> Result<Vec<Stored<FileRecord>>> {
        let root = self.blob_dir()?;
        // The case must exist before anything is copied.
        self.case_id(case_key)?;
        if paths.is_empty() {
            return Err(Error::one(RecordKind::File, "files", "choose at least one file"));
        }
        if paths.len() > MAX_FILES_PER_UPLOAD {
            return Err(files::too_many(paths.len()));
        }
        let mut problems = Vec::new();
        let mut sized = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            let field = format!("files[{i}]");
            let name = display_name(path);
            match fs::metadata(path) {
                Err(e) => problems.push(FieldError::new(field, format!("{} cannot be read: {e}", path.display()))),
                Ok(meta) if !meta.is_file() => {
                    problems.push(FieldError::new(field, format!("{} is a folder, not a file", path.display())));
                }
                Ok(meta) => {
                    if meta.len() > MAX_FILE_SIZE {
                        problems.push(FieldError::new(field.clone(), files::too_large(&name, meta.len())));
                    }
                    match mime_for_name(&name) {
                        Some(mime) => match read_head(path) {
                            Err(e) => {
                                problems.push(FieldError::new(field, format!("{} cannot be read: {e}", path.display())))
                            }
                            Ok(head) => match files::content_mismatch(&name, &head, meta.len()) {
                                Some(why) => problems.push(FieldError::new(field, why)),
                                None => sized.push((path, name, meta.len(), mime)),
                            },
                        },
                        None => problems.push(FieldError::new(field, files::not_accepted(&name))),
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(RecordKind::File, problems));
        }
        let mut files = Vec::with_capacity(sized.len());
        for (path, name, size, mime) in sized {
            let hash = store_blob(&root, path, size, progress)?;
            files.push(NewFile { original_name: name, file_size: size, mime_type: mime.to_owned(), hash, message_id });
        }
        self.attach_files(case_key, files)
    }

    /// Where the bytes of a file record are on this workstation, if they are here.
    pub fn blob_of(&self, file_id: Uuid) -> Result<Option<PathBuf>> {
        let root = self.blob_dir()?;
        let hash: Option<String> = crate::record::query_opt(
            &self.conn,
            "SELECT hash FROM files WHERE id = ?1",
            rusqlite::params![file_id.to_string()],
        )?;
        let hash = hash.ok_or(Error::NotFound { kind: RecordKind::File, key: file_id.to_string() })?;
        if !labdesk_proto::sync::is_blob_name(&hash) {
            return Ok(None);
        }
        let path = blob_path(&root, &hash);
        Ok(path.is_file().then_some(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fields;
    use crate::OpenOptions;
    use serde_json::json;

    fn store_on_disk() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), OpenOptions { workstation: Some("FD1".into()), user: Some("ada".into()) })
            .expect("store opens");
        (dir, store)
    }

    fn case(store: &mut Store) -> String {
        store
            .create_case(fields(json!({"patient_name": "Grace Hopper", "author_id": "dr-who"})))
            .expect("case is taken in")
            .record
            .case_number
    }

    #[test]
    fn an_attached_file_is_copied_under_its_hash_and_recorded() {
        let (dir, mut store) = store_on_disk();
        let number = case(&mut store);
        let scan = dir.path().join("upper jaw.STL");
        fs::write(&scan, b"solid jaw\nendsolid jaw\n").expect("scan written");
        let mut seen = Vec::new();
        let files = store.attach_paths(&number, &[scan], None, &mut |p| seen.push(p.clone())).expect("attached");
        let file = &files[0].record;
        assert_eq!(file.mime_type, "application/vnd.ms-pki.stl", "the extension decides the MIME type");
        assert_eq!(file.hash.len(), 64);
        let blob = store.blob_of(files[0].id).expect("looked up").expect("the blob is here");
        assert_eq!(fs::read(blob).expect("blob read"), b"solid jaw\nendsolid jaw\n");
        assert_eq!(seen.last().map(|p| p.bytes_done), Some(23), "progress ends at the file's size");
    }

    /// The start of a PNG: its signature and header chunk.
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

    #[test]
    fn a_file_whose_content_is_not_what_its_name_says_is_refused_and_nothing_is_copied() {
        let (dir, mut store) = store_on_disk();
        let number = case(&mut store);
        let renamed = dir.path().join("photo.png");
        fs::write(&renamed, b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff").expect("written");
        let notes = dir.path().join("notes.txt");
        fs::write(&notes, b"shade A2\0\0\x01binary").expect("written");
        let err = store.attach_paths(&number, &[renamed, notes], None, &mut |_| {}).expect_err("refused");
        let errors = err.field_errors();
        assert_eq!(errors.len(), 2, "each file that breaks the rule is named: {err}");
        assert!(
            errors[0].problem.contains("photo.png is named as PNG but its content is EXE"),
            "{}",
            errors[0].problem
        );
        assert!(errors[1].problem.contains("does not look like TXT inside"), "{}", errors[1].problem);
        assert!(!store.blob_dir().expect("blob dir").exists(), "nothing was copied");
    }

    #[test]
    fn a_refused_upload_records_and_copies_nothing() {
        let (dir, mut store) = store_on_disk();
        let number = case(&mut store);
        let good = dir.path().join("photo.png");
        fs::write(&good, PNG).expect("written");
        let bad = dir.path().join("virus.exe");
        fs::write(&bad, b"MZ").expect("written");
        let err = store.attach_paths(&number, &[good, bad], None, &mut |_| {}).expect_err("an .exe is refused");
        assert_eq!(err.field_errors()[0].field, "files[1]", "the error names the file that broke the rule");
        assert!(store.files(&number).expect("files listed").is_empty(), "no record for the good file either");
        assert!(!store.blob_dir().expect("blob dir").exists(), "nothing was copied");
    }

    #[test]
    fn mime_types_come_from_the_labs_list() {
        assert_eq!(mime_for_name("x.JPG"), Some("image/jpeg"));
        assert_eq!(mime_for_name("archive.tar.gz"), Some("application/gzip"));
        assert_eq!(mime_for_name("noext"), None);
    }
}
