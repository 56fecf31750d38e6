//! File records: the metadata of a scan, photo or document attached to a case (seed 000's
//! attachment shape). The bytes are a blob named by SHA-256 and arrive with the files issue;
//! the record syncs like any other.
//!
//! The seed's upload rules live here because they are the lab's rules, whoever enforces them:
//! at most [`MAX_FILES_PER_UPLOAD`] files at once, [`MAX_FILE_SIZE`] each, and only the
//! [`ALLOWED_FORMATS`].

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::record::{self, Record, Stored};
use crate::validate::{live_case, max_len, required};
use crate::{RecordKind, Store, Timestamp};

pub const MAX_FILES_PER_UPLOAD: usize = 15;
pub const MAX_FILE_SIZE: u64 = 200 * 1024 * 1024;

/// The formats of the seed: a name, its file extensions, its MIME types.
pub const ALLOWED_FORMATS: &[(&str, &[&str], &[&str])] = &[
    ("PNG", &["png"], &["image/png"]),
    ("JPEG", &["jpg", "jpeg"], &["image/jpeg"]),
    ("WebP", &["webp"], &["image/webp"]),
    ("HEIC/HEIF", &["heic", "heif"], &["image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"]),
    ("MP4", &["mp4"], &["video/mp4"]),
    ("WebM", &["webm"], &["video/webm"]),
    ("MOV", &["mov"], &["video/quicktime"]),
    ("AVI", &["avi"], &["video/x-msvideo"]),
    ("MKV", &["mkv"], &["video/x-matroska"]),
    ("MP3", &["mp3"], &["audio/mpeg"]),
    ("WAV", &["wav"], &["audio/wav"]),
    ("OGG", &["ogg"], &["audio/ogg"]),
    ("M4A", &["m4a"], &["audio/mp4"]),
    ("AAC", &["aac"], &["audio/aac"]),
    ("FLAC", &["flac"], &["audio/flac"]),
    ("ZIP", &["zip"], &["application/zip"]),
    ("RAR", &["rar"], &["application/vnd.rar", "application/x-rar-compressed"]),
    ("7Z", &["7z"], &["application/x-7z-compressed"]),
    ("TAR", &["tar"], &["application/x-tar"]),
    ("GZIP", &["gz", "tgz"], &["application/gzip"]),
    ("STL", &["stl"], &["application/vnd.ms-pki.stl", "application/sla", "application/x-navistyle"]),
    ("FLY", &["fly"], &["text/vnd.fly"]),
    ("PDF", &["pdf"], &["application/pdf"]),
    ("DOC", &["doc"], &["application/msword"]),
    ("DOCX", &["docx"], &["application/vnd.openxmlformats-officedocument.wordprocessingml.document"]),
    ("XLS", &["xls"], &["application/vnd.ms-excel"]),
    ("XLSX", &["xlsx"], &["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]),
    ("PPT", &["ppt"], &["application/vnd.ms-powerpoint"]),
    ("PPTX", &["pptx"], &["application/vnd.openxmlformats-officedocument.presentationml.presentation"]),
    ("CSV", &["csv"], &["text/csv"]),
    ("TXT", &["txt"], &["text/plain"]),
    ("RTF", &["rtf"], &["application/rtf"]),
];

/// How much of a file its format is told from.
pub const CONTENT_HEAD: usize = 8192;

/// Formats one container can hold as well as another (what `infer` names them): the same bytes
/// may fairly be called either.
const SAME_CONTAINER: &[&[&str]] = &[
    &["jpg", "jpeg"],
    &["heic", "heif", "avif"],
    &["mp4", "m4v", "m4a", "mov", "3gp"],
    &["webm", "mkv"],
    &["ogg", "oga", "opus", "ogx"],
    &["gz", "tgz"],
    // Office documents are ZIP (and the old ones OLE) containers.
    &["docx", "xlsx", "pptx", "zip"],
    &["doc", "xls", "ppt", "msi"],
];

/// Formats with no signature of their own: their content is checked otherwise (text is text, an
/// STL is ASCII `solid` or a binary STL of the size its triangle count says).
const NO_SIGNATURE: &[&str] = &["stl", "fly", "csv", "txt"];

/// Does the content of `name` (its first bytes `head`, its `size`) look like the format its name
/// says? `None` when it does; else what is wrong, in words (sync-model.md: "the format checked
/// from the file's content, not only its name"). `infer` reads the signatures.
pub fn content_mismatch(name: &str, head: &[u8], size: u64) -> Option<String> {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    let format = ALLOWED_FORMATS.iter().find(|(_, exts, _)| exts.contains(&ext.as_str()))?.0;
    let same = |a: &str, b: &str| a == b || SAME_CONTAINER.iter().any(|set| set.contains(&a) && set.contains(&b));
    let found = infer::get(head);
    if NO_SIGNATURE.contains(&ext.as_str()) {
        if let Some(kind) = found {
            return Some(format!("{name} is named as {format} but its content is {}", kind.extension().to_uppercase()));
        }
        let fine = match ext.as_str() {
            "stl" => is_stl(head, size),
            "fly" => true,
            _ => is_text(head),
        };
        return (!fine)
            .then(|| format!("{name} does not look like {format} inside: it may be another kind of file renamed"));
    }
    match found {
        Some(kind) if same(kind.extension(), &ext) => None,
        Some(kind) => {
            Some(format!("{name} is named as {format} but its content is {}", kind.extension().to_uppercase()))
        }
        None => Some(format!("{name} does not look like {format} inside: it may be another kind of file renamed")),
    }
}

/// An ASCII STL starts with `solid`; a binary one is an 80-byte header, a triangle count, and
/// 50 bytes per triangle.
fn is_stl(head: &[u8], size: u64) -> bool {
    if head.trim_ascii_start().starts_with(b"solid") {
        return true;
    }
    match head.get(80..84) {
        Some(count) => {
            let triangles = u64::from(u32::from_le_bytes([count[0], count[1], count[2], count[3]]));
            84 + 50 * triangles == size
        }
        None => false,
    }
}

/// Text: no NUL byte, and UTF-8 (a character cut at the end of `head` allowed).
fn is_text(head: &[u8]) -> bool {
    !head.contains(&0)
        && match std::str::from_utf8(head) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        }
}

/// Whether the seed allows this MIME type.
pub fn mime_allowed(mime: &str) -> bool {
    ALLOWED_FORMATS.iter().any(|(_, _, mimes)| mimes.contains(&mime))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FileRecord {
    pub case_id: Uuid,
    /// The chat message the file was sent with, if any.
    #[serde(default)]
    pub message_id: Option<Uuid>,
    pub original_name: String,
    /// `<hash prefix>_<unix time>.<ext>`: unique, safe on every file system.
    pub stored_name: String,
    /// `Year/Month/user/case`, the seed's folder structure.
    pub file_path: String,
    pub file_size: u64,
    pub mime_type: String,
    pub upload_date: Timestamp,
    pub uploaded_by: String,
    #[serde(default)]
    pub is_temp: bool,
    /// SHA-256 of the bytes, 64 lower-case hex digits: the blob's name.
    pub hash: String,
}

impl Record for FileRecord {
    const KIND: RecordKind = RecordKind::File;

    fn normalize(&mut self) {
        self.hash.make_ascii_lowercase();
        self.mime_type.make_ascii_lowercase();
    }

    fn validate_alone(&self, _id: Uuid, p: &mut Vec<FieldError>) {
        required(p, "original_name", &self.original_name, 255);
        max_len(p, "stored_name", &self.stored_name, 255);
        max_len(p, "file_path", &self.file_path, 1024);
        if self.file_size > MAX_FILE_SIZE {
            p.push(FieldError::new("file_size", too_large(&self.original_name, self.file_size)));
        }
        if !mime_allowed(&self.mime_type) {
            p.push(FieldError::new("mime_type", not_accepted(&format!("{} ({})", self.original_name, self.mime_type))));
        }
        // Normalised to lower case before this check: a blob's name, as the central store has it.
        if !labdesk_proto::sync::is_blob_name(&self.hash) {
            p.push(FieldError::new("hash", "must be the file's SHA-256, 64 hex digits"));
        }
    }

    fn validate(&self, _id: Uuid, conn: &Connection, p: &mut Vec<FieldError>) -> Result<()> {
        live_case(p, conn, "case_id", self.case_id)
    }
}

#[allow(clippy::cast_precision_loss)] // a size shown to one decimal
fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A file being attached: what the uploader knows. The rest is derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFile {
    pub original_name: String,
    pub file_size: u64,
    pub mime_type: String,
    pub hash: String,
    #[serde(default)]
    pub message_id: Option<Uuid>,
}

/// The lab's upload rules, said once: by the records' validation here and by
/// [`Store::attach_paths`](crate::Store::attach_paths), which checks files on disk before copying.
pub(crate) fn too_many(count: usize) -> Error {
    Error::one(
        RecordKind::File,
        "files",
        format!("{count} files were given; at most {MAX_FILES_PER_UPLOAD} can be uploaded at once"),
    )
}

/// `name` is over [`MAX_FILE_SIZE`].
pub(crate) fn too_large(name: &str, size: u64) -> String {
    format!("{name} is {:.1} MB; files may be at most 200 MB", mb(size))
}

/// `what` (a file's name, with its type when known) is not among [`ALLOWED_FORMATS`].
pub(crate) fn not_accepted(what: &str) -> String {
    let names: Vec<&str> = ALLOWED_FORMATS.iter().map(|(name, _, _)| *name).collect();
    format!("{what} is not a format the lab accepts; allowed: {}", names.join(", "))
}

impl Store {
    /// Records the files of one upload on a case: all of them, or none if any breaks a rule.
    pub fn attach_files(&mut self, case_key: &str, files: Vec<NewFile>) -> Result<Vec<Stored<FileRecord>>> {
        if files.len() > MAX_FILES_PER_UPLOAD {
            return Err(too_many(files.len()));
        }
        self.write(|tx, actor| record_files(tx, actor, case_key, files))
    }

    /// A case's live files, oldest first.
    pub fn files(&self, case_key: &str) -> Result<Vec<Stored<FileRecord>>> {
        let case_id = crate::cases::resolve(&self.conn, case_key)?;
        record::load_where::<FileRecord>(
            &self.conn,
            "case_id = ?1 AND deleted_at IS NULL ORDER BY created_at, seq",
            [case_id.to_string()],
        )
    }

    /// One file record by its id, removed or not.
    pub fn file(&self, id: Uuid) -> Result<Stored<FileRecord>> {
        record::current::<FileRecord>(&self.conn, id, None)
    }

    /// Takes a file off its case (soft: the record and its history stay).
    pub fn remove_file(&mut self, id: Uuid) -> Result<Stored<FileRecord>> {
        self.write(|tx, actor| Ok(record::set_deleted::<FileRecord>(tx, actor, id, None, true)?.record))
    }
}

/// Records the files of one upload on a case, in the caller's transaction: an upload alone, or
/// with the chat message that sends them.
pub(crate) fn record_files(
    tx: &Connection,
    actor: &crate::record::Actor,
    case_key: &str,
    files: Vec<NewFile>,
) -> Result<Vec<Stored<FileRecord>>> {
    let case = record::current::<crate::Case>(tx, crate::cases::resolve(tx, case_key)?, None)?;
    let now = Timestamp::now();
    let folder = format!(
        "{}/{}/{}",
        now.as_datetime().format("%Y/%m"),
        safe_segment(&actor.user),
        safe_segment(&case.record.case_number)
    );
    refuse_duplicates(tx, case.id, &case.record.case_number, &files)?;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let ext = file.original_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        let prefix: String = file.hash.chars().take(12).collect::<String>().to_ascii_lowercase();
        let stored_name = if ext.is_empty() {
            format!("{prefix}_{}", now.millis() / 1000)
        } else {
            format!("{prefix}_{}.{}", now.millis() / 1000, safe_segment(&ext))
        };
        let record = FileRecord {
            case_id: case.id,
            message_id: file.message_id,
            original_name: file.original_name,
            stored_name,
            file_path: folder.clone(),
            file_size: file.file_size,
            mime_type: file.mime_type,
            upload_date: now,
            uploaded_by: actor.user.clone(),
            is_temp: false,
            hash: file.hash,
        };
        let stored = record::create(tx, actor, Uuid::now_v7(), record)?.record;
        // Its contents go up with the next sync round (sync/blobs.rs), queued with the
        // record so that a file is never recorded here without its contents queued.
        tx.prepare_cached("INSERT OR IGNORE INTO blob_outbox (hash, added_at) VALUES (?1, ?2)")?
            .execute(rusqlite::params![stored.record.hash, now.to_string()])?;
        out.push(stored);
    }
    Ok(out)
}

/// The same bytes attached twice to one case would be two records of one file, which nobody
/// meant: an upload holding a file the case has already (or holding it twice) is refused, naming
/// the file and the record it already is.
fn refuse_duplicates(tx: &Connection, case_id: Uuid, case_number: &str, files: &[NewFile]) -> Result<()> {
    let mut problems = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let hash = file.hash.to_ascii_lowercase();
        let existing = live_file_with_hash(tx, case_id, &hash)?;
        let field = format!("files[{i}]");
        if let Some((id, name)) = existing {
            problems.push(FieldError::new(
                field,
                format!(
                    "{} is already attached to case {case_number} as {name} (file {id}): the same contents are \
                     kept once",
                    file.original_name
                ),
            ));
        } else if let Some(first) = files[..i].iter().find(|f| f.hash.eq_ignore_ascii_case(&hash)) {
            problems.push(FieldError::new(
                field,
                format!(
                    "{} has the same contents as {} in this upload: attach it once",
                    file.original_name, first.original_name
                ),
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = files.iter().map(|f| f.original_name.clone()).collect();
    Err(Error::refused_upload(problems, &names))
}

/// The case's live file with these contents, if it has one: its id and name.
pub(crate) fn live_file_with_hash(tx: &Connection, case_id: Uuid, hash: &str) -> Result<Option<(String, String)>> {
    Ok(tx
        .prepare_cached(
            "SELECT id, original_name FROM files WHERE case_id = ?1 AND hash = ?2 AND deleted_at IS NULL \
             ORDER BY seq LIMIT 1",
        )?
        .query_row(rusqlite::params![case_id.to_string(), hash.to_ascii_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// A path segment that is safe on every file system.
fn safe_segment(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{fields, store};

    /// A file whose contents differ from every other name's.
    fn scan(name: &str, mime: &str, size: u64) -> NewFile {
        let seed = name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        NewFile {
            original_name: name.into(),
            file_size: size,
            mime_type: mime.into(),
            hash: format!("ab{:062x}", seed),
            message_id: None,
        }
    }

    #[test]
    fn content_is_checked_against_the_name_and_kin_containers_pass() {
        let binary_stl = |triangles: u32, extra: usize| {
            let mut b = vec![b'x'; 80];
            b.extend_from_slice(&triangles.to_le_bytes());
            b.resize(84 + 50 * triangles as usize + extra, 0);
            b
        };
        let stl = binary_stl(3, 0);
        assert_eq!(content_mismatch("jaw.stl", &stl, stl.len() as u64), None, "a binary STL of its size");
        let cut = binary_stl(3, 7);
        assert!(content_mismatch("jaw.stl", &cut, cut.len() as u64).is_some(), "not the size its count says");
        assert_eq!(content_mismatch("jaw.STL", b"  solid jaw\n", 12), None, "an ASCII STL");
        let zip = b"PK\x03\x04\x14\0\0\0\x08\0";
        assert_eq!(content_mismatch("order.docx", zip, 10), None, "an Office document is a ZIP container");
        assert_eq!(content_mismatch("list.csv", "Zahn;Farbe\n11;A2 ü".as_bytes(), 20), None, "UTF-8 text");
        let pdf_as_txt = content_mismatch("notes.txt", b"%PDF-1.7\n", 9).expect("refused");
        assert!(pdf_as_txt.contains("its content is PDF"), "{pdf_as_txt}");
        let jpeg_as_png = content_mismatch("photo.png", b"\xff\xd8\xff\xe0\0\x10JFIF", 10).expect("refused");
        assert!(jpeg_as_png.contains("named as PNG but its content is JPG"), "{jpeg_as_png}");
    }

    #[test]
    fn an_attached_file_gets_the_seed_folder_structure() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let files = s.attach_files("FD1-000001", vec![scan("Upper Jaw.STL", "application/sla", 1024)]).unwrap();
        let f = &files[0].record;
        assert!(f.file_path.ends_with("/ann/FD1-000001"), "{}", f.file_path);
        assert!(
            f.stored_name.starts_with(&format!("{}_", &f.hash[..12])) && f.stored_name.ends_with(".stl"),
            "{}",
            f.stored_name
        );
        assert_eq!(s.files("FD1-000001").unwrap().len(), 1);
    }

    #[test]
    fn the_seed_upload_rules_are_enforced_for_the_whole_upload() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let sixteen = (0..16).map(|i| scan(&format!("{i}.png"), "image/png", 1)).collect();
        let err = s.attach_files("FD1-000001", sixteen).unwrap_err();
        assert!(err.to_string().contains("at most 15"), "{err}");

        let err = s
            .attach_files(
                "FD1-000001",
                vec![scan("ok.png", "image/png", 1), scan("big.mp4", "video/mp4", MAX_FILE_SIZE + 1)],
            )
            .unwrap_err();
        assert!(err.to_string().contains("at most 200 MB"), "{err}");
        assert!(s.files("FD1-000001").unwrap().is_empty(), "one bad file refuses the whole upload");

        let err = s.attach_files("FD1-000001", vec![scan("virus.exe", "application/x-msdownload", 1)]).unwrap_err();
        assert!(err.to_string().contains("not a format the lab accepts"), "{err}");
    }
}
