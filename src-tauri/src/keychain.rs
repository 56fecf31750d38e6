//! The sign-in token, kept in the operating system's keychain (Secret Service on Linux).
//!
//! A workstation without a running keychain (a bare X session, a kiosk) still has to sync, so
//! the token then goes to the core's credentials file (readable by this user only) and the
//! Settings screen says so. `LABDESK_KEYRING=mock` keeps it in memory: for tests.

use std::path::Path;

use labdesk_core::sync::credentials::{credentials_path, load_token, save_token};
use labdesk_core::sync::{SyncError, Token};
use serde::Serialize;
use ts_rs::TS;

const SERVICE: &str = "app.labdesk.desktop";

/// Where the token is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum TokenStore {
    Keychain,
    /// The credentials file in the data folder: no keychain was reachable.
    File,
}

/// Chooses the keychain backend once, at start.
pub fn init() {
    if std::env::var("LABDESK_KEYRING").is_ok_and(|v| v == "mock") {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
    }
}

fn entry(workstation: &str) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, workstation)
}

/// Keeps the token: in the keychain if one answers, else in the credentials file.
pub fn save(data_dir: &Path, workstation: &str, token: &Token) -> Result<TokenStore, SyncError> {
    match entry(workstation).and_then(|e| e.set_password(token.expose())) {
        Ok(()) => {
            // A token left in the file from a keychain-less session must not outlive this one.
            let _ = std::fs::remove_file(credentials_path(data_dir));
            Ok(TokenStore::Keychain)
        }
        Err(e) => {
            tracing::warn!(error = %e, "no keychain; keeping the token in the credentials file");
            save_token(data_dir, token)?;
            Ok(TokenStore::File)
        }
    }
}

/// The token, and where it was found.
pub fn load(data_dir: &Path, workstation: &str) -> Result<Option<(Token, TokenStore)>, SyncError> {
    if let Ok(secret) = entry(workstation).and_then(|e| e.get_password()) {
        return Ok(Some((Token::new(&secret)?, TokenStore::Keychain)));
    }
    Ok(load_token(data_dir)?.map(|t| (t, TokenStore::File)))
}

/// Forgets the token everywhere it may be.
pub fn forget(data_dir: &Path, workstation: &str) {
    if let Ok(e) = entry(workstation) {
        let _ = e.delete_credential();
    }
    let _ = std::fs::remove_file(credentials_path(data_dir));
}
