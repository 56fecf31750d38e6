//! The workstation's sign-in token: a secret.
//!
//! The token is a bearer token (whoever has it can sync as this workstation), so it is never
//! printed, logged or shown in `Debug` output: [`Token`] redacts itself, and only
//! [`Token::expose`] gives the text, for the `Authorization` header. The CLI keeps it in
//! `DATA_DIR/credentials`, readable by the owner only (mode 0600); the server address lives in the
//! store (`sync_state`), since it is no secret. The desktop app keeps the token in the operating
//! system's keychain instead and passes it to [`crate::sync::HttpTransport::new`] itself.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::SyncError;

/// The file in the data folder that holds the token.
pub const CREDENTIALS_FILE: &str = "credentials";

/// A sign-in token. `Debug` shows `Token(…)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token as typed or read: one line of visible ASCII with no spaces (it goes into an HTTP
    /// header as it is).
    pub fn new(text: &str) -> Result<Self, SyncError> {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SyncError::BadToken);
        }
        Ok(Self(text.to_owned()))
    }

    /// The token itself: for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

/// Where the token of the store in `data_dir` is kept.
pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CREDENTIALS_FILE)
}

/// Keeps `token` in `data_dir/credentials`, readable and writable by the owner only. Written to a
/// temporary file that is then renamed over the old one, so a crash leaves the old token or the
/// new one, never half of one.
pub fn save_token(data_dir: &Path, token: &Token) -> Result<PathBuf, SyncError> {
    let path = credentials_path(data_dir);
    let tmp = data_dir.join(format!("{CREDENTIALS_FILE}.tmp"));
    let fail = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| SyncError::Credentials { action, path, source }
    };
    fs::create_dir_all(data_dir).map_err(fail("create the folder of", &path))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(fail("write", &tmp))?;
    // The mode above applies only to a file that did not exist yet.
    restrict(&tmp).map_err(fail("protect", &tmp))?;
    file.write_all(format!("{}\n", token.expose()).as_bytes()).map_err(fail("write", &tmp))?;
    file.sync_all().map_err(fail("write", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(fail("write", &path))?;
    tracing::info!(path = %path.display(), "sign-in token saved");
    Ok(path)
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The token kept in `data_dir`, if this workstation signed in.
pub fn load_token(data_dir: &Path) -> Result<Option<Token>, SyncError> {
    let path = credentials_path(data_dir);
    match fs::read_to_string(&path) {
        Ok(text) => Token::new(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SyncError::Credentials { action: "read", path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let token = Token::new("s3cr3t-t0ken").unwrap();
        assert_eq!(format!("{token:?}"), "Token(…)");
        assert_eq!(token.expose(), "s3cr3t-t0ken");
    }

    #[test]
    fn a_token_with_spaces_or_line_breaks_is_refused() {
        assert!(Token::new("two words").is_err());
        assert!(Token::new("line\nbreak").is_err());
        assert!(Token::new("   ").is_err());
        assert_eq!(Token::new("  padded\n").unwrap().expose(), "padded", "a pasted token's blanks are trimmed");
    }

    #[test]
    fn a_saved_token_is_read_back_and_only_its_owner_may_read_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_token(dir.path()).unwrap(), None, "no file: not signed in");
        let path = save_token(dir.path(), &Token::new("abc").unwrap()).unwrap();
        save_token(dir.path(), &Token::new("def").unwrap()).unwrap();
        assert_eq!(load_token(dir.path()).unwrap(), Some(Token::new("def").unwrap()), "the newer token wins");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the token file must be private to its owner");
        }
        assert!(!dir.path().join("credentials.tmp").exists(), "no temporary file is left behind");
    }
}
