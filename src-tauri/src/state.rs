//! What the app holds while it runs: the store handle the commands use, where its data lives,
//! the sync watch and the scanner-folder watch.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use labdesk_core::{OpenOptions, Store};
use notify::RecommendedWatcher;

use crate::error::{CommandError, CommandResult};
use crate::sync::SyncControl;

#[derive(Debug)]
pub struct AppState {
    store: Mutex<Store>,
    pub data_dir: PathBuf,
    pub sync: SyncControl,
    pub scanner: Mutex<Option<RecommendedWatcher>>,
}

impl AppState {
    /// Opens (creating on first start) the store in `data_dir`. A new store takes its
    /// workstation code from `LABDESK_WORKSTATION` (else a random one, shown in Settings); the
    /// user from `LABDESK_USER`, else the store's default user, else the login name.
    pub fn open(data_dir: &Path) -> labdesk_core::Result<Self> {
        let options = OpenOptions {
            workstation: std::env::var("LABDESK_WORKSTATION").ok().filter(|w| !w.trim().is_empty()),
            user: std::env::var("LABDESK_USER").ok(),
        };
        let store = Store::open(data_dir, options)?;
        Ok(Self {
            store: Mutex::new(store),
            data_dir: data_dir.to_owned(),
            sync: SyncControl::default(),
            scanner: Mutex::new(None),
        })
    }

    /// Runs `f` on the store. Commands take turns: SQLite has one writer anyway, and reads are
    /// a few milliseconds (the sync watch has its own handle and never holds this one).
    pub fn with_store<T, E: Into<CommandError>>(&self, f: impl FnOnce(&mut Store) -> Result<T, E>) -> CommandResult<T> {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut store).map_err(Into::into)
    }
}
