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
        let files = self.copy_upload(case_key, paths, message_id, progress)?;
        self.attach_files(case_key, files)
    }

    /// Posts a chat message with files from disk: the files are checked and copied as
    /// [`Store::attach_paths`] does, then recorded on the case and sent with the message in one
    /// transaction — the message and all its files, or nothing. A file whose contents the case
    /// has already is sent as that record, not recorded twice.
    #[tracing::instrument(skip_all, fields(case = case_key, files = paths.len()))]
    pub fn post_message_with_paths(
        &mut self,
        case_key: &str,
        mut message: crate::NewMessage,
        paths: &[PathBuf],
        progress: &mut dyn FnMut(&FileProgress),
    ) -> Result<Stored<crate::ChatMessage>> {
        let files = self.copy_upload(case_key, paths, None, progress)?;
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            let mut new = Vec::with_capacity(files.len());
            for file in files {
                match files::live_file_with_hash(tx, case_id, &file.hash)? {
                    Some((id, _)) => message.attachments.push(crate::record::parse_uuid(&id, "file id")?),
                    None => new.push(file),
                }
            }
            let recorded = files::record_files(tx, actor, case_key, new)?;
            message.attachments.extend(recorded.iter().map(|f| f.id));
            crate::chat::post(tx, actor, case_id, message)
        })
    }

    /// The checks and the copying of an upload, before anything is recorded: the lab's rules for
    /// every file first, so a refused upload copies nothing.
    fn copy_upload(
        &self,
        case_key: &str,
        paths: &[PathBuf],
        message_id: Option<Uuid>,
        progress: &mut dyn FnMut(&FileProgress),
    ) -> Result<Vec<NewFile>> {
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
        let names: Vec<String> = paths.iter().map(|p| display_name(p)).collect();
        // Each problem starts with the file's name: a person does not know the upload's indexes.
        for (i, (path, name)) in paths.iter().zip(names.iter().cloned()).enumerate() {
            let field = format!("files[{i}]");
            let unreadable = |e: std::io::Error| format!("{name} cannot be read ({}): {e}", path.display());
            match fs::metadata(path) {
                Err(e) => problems.push(FieldError::new(field, unreadable(e))),
                Ok(meta) if !meta.is_file() => {
                    problems
                        .push(FieldError::new(field, format!("{name} is a folder, not a file ({})", path.display())));
                }
                Ok(meta) => {
                    if meta.len() > MAX_FILE_SIZE {
                        problems.push(FieldError::new(field.clone(), files::too_large(&name, meta.len())));
                    }
                    match mime_for_name(&name) {
                        Some(mime) => match read_head(path) {
                            Err(e) => problems.push(FieldError::new(field, unreadable(e))),
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
            return Err(Error::refused_upload(problems, &names));
        }
        let mut files = Vec::with_capacity(sized.len());
        for (path, name, size, mime) in sized {
            let hash = store_blob(&root, path, size, progress)?;
            files.push(NewFile { original_name: name, file_size: size, mime_type: mime.to_owned(), hash, message_id });
        }
        Ok(files)
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
    fn several_refused_files_are_each_named_and_the_headline_says_which() {
        let (dir, mut store) = store_on_disk();
        let number = case(&mut store);
        let good = dir.path().join("photo.png");
        fs::write(&good, PNG).expect("written");
        let (first, second) = (dir.path().join("a.png"), dir.path().join("b.exe"));
        fs::write(&first, b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff").expect("written");
        fs::write(&second, b"MZ").expect("written");
        let err = store.attach_paths(&number, &[good, first, second], None, &mut |_| {}).expect_err("refused");
        assert_eq!(
            err.to_string().split(": ").next(),
            Some("a.png and b.exe could not be attached, so none of the 3 files was"),
            "the headline names the refused files, not `the file was not saved`: {err}"
        );
        assert!(!err.to_string().contains("files[0]"), "the message names files, not indexes: {err}");
        let problems: Vec<&str> = err.field_errors().iter().map(|p| p.problem.as_str()).collect();
        assert!(problems[0].starts_with("a.png ") && problems[1].starts_with("b.exe "), "{problems:?}");
        let missing = dir.path().join("gone.png");
        let err = store.attach_paths(&number, &[missing], None, &mut |_| {}).expect_err("refused");
        assert!(err.to_string().starts_with("the file gone.png was not attached: "), "{err}");
        assert!(err.field_errors()[0].problem.starts_with("gone.png cannot be read"), "{err}");
    }

    #[test]
    fn the_same_contents_attached_twice_to_a_case_are_refused_naming_the_file_it_already_is() {
        let (dir, mut store) = store_on_disk();
        let number = case(&mut store);
        let scan = dir.path().join("upper.stl");
        fs::write(&scan, b"solid jaw\nendsolid jaw\n").expect("written");
        let kept =
            store.attach_paths(&number, std::slice::from_ref(&scan), None, &mut |_| {}).expect("attached").remove(0);
        let copy = dir.path().join("upper copy.stl");
        fs::copy(&scan, &copy).expect("copied");
        let err = store.attach_paths(&number, &[copy], None, &mut |_| {}).expect_err("the same bytes again");
        let problem = &err.field_errors()[0].problem;
        assert!(
            problem.starts_with(&format!(
                "upper copy.stl is already attached to case {number} as upper.stl (file {})",
                kept.id
            )),
            "the error names the file and the record it already is: {problem}"
        );
        assert_eq!(store.files(&number).expect("listed").len(), 1, "one record is kept");
        let other = dir.path().join("lower.stl");
        fs::write(&other, b"solid lower\nendsolid lower\n").expect("written");
        let err = store.attach_paths(&number, &[other.clone(), other], None, &mut |_| {}).expect_err("twice in one");
        assert!(err.field_errors()[0].problem.contains("has the same contents as lower.stl in this upload"), "{err}");
        store.remove_file(kept.id).expect("removed");
        store.attach_paths(&number, &[scan], None, &mut |_| {}).expect("a removed file can be attached again");
    }

    #[test]
    fn a_message_posted_with_files_from_disk_carries_them_and_a_refused_file_posts_nothing() {
        let (dir, mut store) = store_on_disk();
        let number = case(&mut store);
        let photo = dir.path().join("shade.png");
        fs::write(&photo, PNG).expect("written");
        let text = crate::NewMessage::text("shade under daylight");
        let posted = store.post_message_with_paths(&number, text, &[photo], &mut |_| {}).expect("posted");
        let files = store.files(&number).expect("listed");
        assert_eq!(posted.record.attachments, [files[0].id], "the message carries the file it was sent with");
        assert_eq!(files[0].record.message_id, Some(posted.id), "and the file says which message sent it");
        let again = crate::NewMessage::text("the same photo");
        let resent = store
            .post_message_with_paths(&number, again, &[dir.path().join("shade.png")], &mut |_| {})
            .expect("a file the case has is sent as its record");
        assert_eq!(resent.record.attachments, [files[0].id], "the record already there, not a second one");
        assert_eq!(store.files(&number).expect("listed").len(), 1);
        let bad = dir.path().join("virus.exe");
        fs::write(&bad, b"MZ").expect("written");
        let err = store
            .post_message_with_paths(&number, crate::NewMessage::text("again"), &[bad], &mut |_| {})
            .expect_err("refused");
        assert!(err.to_string().contains("virus.exe"), "{err}");
        assert_eq!(store.messages(&number).expect("listed").len(), 2, "no message without its files");
    }

    #[test]
    fn mime_types_come_from_the_labs_list() {
        assert_eq!(mime_for_name("x.JPG"), Some("image/jpeg"));
        assert_eq!(mime_for_name("archive.tar.gz"), Some("application/gzip"));
        assert_eq!(mime_for_name("noext"), None);
    }
}
