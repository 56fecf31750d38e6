//! The scanner folder: intraoral scanners and cameras save into a folder this workstation
//! watches, and a file whose name begins with a case number (`FD1-000042_upper.stl`) is attached
//! to that case. Watching is the desktop shell's (it owns the threads); what a file means is
//! decided here, so the CLI and the app agree.

use std::path::{Path, PathBuf};

use rusqlite::params;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::record::{query_opt, Stored};
use crate::{FileRecord, Store};

/// What became of a file that appeared in the scanner folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ScanOutcome {
    Attached {
        case_number: String,
        file: Box<Stored<FileRecord>>,
    },
    /// The name does not begin with a case number: left where it is for a person to file.
    NoCaseNumber,
    /// The name begins with a case number this workstation does not know (yet).
    UnknownCase {
        case_number: String,
    },
}

/// The case number a file name begins with: 2–8 letters or digits, a dash, digits
/// (`fd1-42 lower.stl` → `FD1-42`). Case numbers are minted in capitals, so the match is too.
pub fn case_number_in_name(name: &str) -> Option<String> {
    let (code, rest) = name.split_once('-')?;
    if !(2..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("{}-{digits}", code.to_ascii_uppercase()))
}

impl Store {
    /// The folder this workstation watches for scans, if one is set.
    pub fn scanner_folder(&self) -> Result<Option<PathBuf>> {
        Ok(query_opt::<String>(&self.conn, "SELECT value FROM settings WHERE key = 'scanner_folder'", [])?
            .map(PathBuf::from))
    }

    /// Sets (or, with `None`, clears) the scanner folder. The folder must exist.
    pub fn set_scanner_folder(&mut self, folder: Option<&Path>) -> Result<()> {
        match folder {
            Some(path) => {
                if !path.is_dir() {
                    return Err(Error::Input(format!(
                        "{} is not a folder on this workstation; choose the folder the scanner saves into",
                        path.display()
                    )));
                }
                self.conn.execute(
                    "INSERT INTO settings (key, value) VALUES ('scanner_folder', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![path.display().to_string()],
                )?;
            }
            None => {
                self.conn.execute("DELETE FROM settings WHERE key = 'scanner_folder'", [])?;
            }
        }
        Ok(())
    }

    /// Attaches a file from the scanner folder to the case its name begins with.
    #[tracing::instrument(skip(self))]
    pub fn take_in_scan(&mut self, path: &Path) -> Result<ScanOutcome> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(case_number) = case_number_in_name(&name) else {
            return Ok(ScanOutcome::NoCaseNumber);
        };
        match self.case_id(&case_number) {
            Ok(_) => {}
            Err(Error::NotFound { .. }) => return Ok(ScanOutcome::UnknownCase { case_number }),
            Err(e) => return Err(e),
        }
        let mut files = self.attach_paths(&case_number, &[path.to_owned()], None, &mut |_| {})?;
        let file = files.pop().ok_or_else(|| Error::Corrupt("an attached file was not returned".into()))?;
        Ok(ScanOutcome::Attached { case_number, file: Box::new(file) })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::fields;
    use crate::OpenOptions;

    #[test]
    fn a_case_number_is_read_from_the_start_of_a_file_name() {
        assert_eq!(case_number_in_name("FD1-000042_upper.stl").as_deref(), Some("FD1-000042"));
        assert_eq!(case_number_in_name("fd1-42 lower.stl").as_deref(), Some("FD1-42"));
        assert_eq!(case_number_in_name("scan-upper.stl"), None, "'upper' is not a sequence");
        assert_eq!(case_number_in_name("IMG_2034.jpg"), None);
        assert_eq!(case_number_in_name("TOOLONGCODE-1.stl"), None);
    }

    #[test]
    fn a_scan_named_for_a_case_is_attached_to_it_and_others_are_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store =
            Store::open(dir.path(), OpenOptions { workstation: Some("FD1".into()), user: None }).expect("store opens");
        let number = store
            .create_case(fields(json!({"patient_name": "Ada", "author_id": "dr"})))
            .expect("case taken in")
            .record
            .case_number;
        let scans = tempfile::tempdir().expect("scanner folder");
        store.set_scanner_folder(Some(scans.path())).expect("folder set");
        assert_eq!(store.scanner_folder().expect("read").as_deref(), Some(scans.path()));

        let named = scans.path().join(format!("{number}_upper.stl"));
        std::fs::write(&named, b"solid x\nendsolid x\n").expect("scan written");
        let ScanOutcome::Attached { case_number, .. } = store.take_in_scan(&named).expect("taken in") else {
            panic!("a scan named for an existing case is attached");
        };
        assert_eq!(case_number, number);
        assert_eq!(store.files(&number).expect("files").len(), 1);

        let stray = scans.path().join("photo.jpg");
        std::fs::write(&stray, b"jpg").expect("written");
        assert_eq!(store.take_in_scan(&stray).expect("looked at"), ScanOutcome::NoCaseNumber);
        let unknown = scans.path().join("ZZ9-1.stl");
        std::fs::write(&unknown, b"x").expect("written");
        assert!(matches!(store.take_in_scan(&unknown).expect("looked at"), ScanOutcome::UnknownCase { .. }));
    }

    #[test]
    fn a_scanner_folder_that_does_not_exist_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(dir.path(), OpenOptions::default()).expect("opens");
        let err = store.set_scanner_folder(Some(Path::new("/no/such/folder"))).expect_err("refused");
        assert!(err.to_string().contains("not a folder"), "{err}");
    }
}
