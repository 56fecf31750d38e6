//! Configuration: an optional TOML file (`--config FILE`), overridden by the environment
//! (`DATABASE_URL`, `LABDESK_SYNC_LISTEN`, `LABDESK_SYNC_SNAPSHOT_EVERY`,
//! `LABDESK_SYNC_SNAPSHOT_CHECK_SECS`) and by flags, over built-in defaults.
//!
//! ```toml
//! listen = "0.0.0.0:7400"
//! database_url = "postgres://labdesk@db.example/labdesk"
//! max_body_bytes = 16777216   # the largest request body taken
//! max_connections = 16        # pooled database connections per instance; more requests than
//!                             # that wait in line for one (up to 30 s) rather than fail
//! snapshot_every = 10000      # build a lab's snapshot once it has this many revisions more than
//!                             # its newest (0: never build any)
//! snapshot_check_secs = 600   # how often to look for labs whose snapshot is due
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::snapshot::{SnapshotPolicy, DEFAULT_SNAPSHOT_CHECK, DEFAULT_SNAPSHOT_EVERY};
use crate::DEFAULT_MAX_BODY_BYTES;

/// Where the server listens unless told otherwise: this machine only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";

/// The configuration file, every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub snapshot_every: Option<u64>,
    pub snapshot_check_secs: Option<u64>,
}

/// What the environment or flags said, if anything: each overrides the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub snapshot_every: Option<u64>,
    pub snapshot_check_secs: Option<u64>,
}

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: Option<String>,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// Build a lab's snapshot once it has this many revisions more than its newest (0: never).
    pub snapshot_every: u64,
    /// How often the snapshot builder looks for labs whose snapshot is due.
    pub snapshot_check: Duration,
}

impl fmt::Debug for Config {
    /// Leaves the database URL out: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &self.database_url.as_ref().map(|_| "<set>"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_connections", &self.max_connections)
            .field("snapshot_every", &self.snapshot_every)
            .field("snapshot_check", &self.snapshot_check)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },

    #[error("the configuration file {} is not valid: {message}", path.display())]
    Parse { path: PathBuf, message: String },

    #[error("'{0}' is not an address to listen on: use IP:PORT, e.g. 127.0.0.1:7400 or 0.0.0.0:7400")]
    BadListen(String),

    #[error("no database given: set DATABASE_URL, pass --database-url, or put database_url in the configuration file")]
    NoDatabase,

    #[error("snapshot_check_secs must be at least 1 (it is how often to look for labs whose snapshot is due); to build no snapshots, set snapshot_every = 0")]
    NoSnapshotCheck,
}

impl Config {
    /// `overrides` are what the environment or flags said: they override the file.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.message().to_owned() })?
            }
            None => FileConfig::default(),
        };
        let listen = overrides.listen.or(from_file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let check_secs =
            overrides.snapshot_check_secs.or(from_file.snapshot_check_secs).unwrap_or(DEFAULT_SNAPSHOT_CHECK.as_secs());
        if check_secs == 0 {
            return Err(ConfigError::NoSnapshotCheck);
        }
        Ok(Config {
            listen: listen.trim().parse().map_err(|_| ConfigError::BadListen(listen.clone()))?,
            database_url: overrides.database_url.filter(|u| !u.trim().is_empty()).or(from_file.database_url),
            max_body_bytes: from_file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            max_connections: from_file.max_connections.unwrap_or(16),
            snapshot_every: overrides.snapshot_every.or(from_file.snapshot_every).unwrap_or(DEFAULT_SNAPSHOT_EVERY),
            snapshot_check: Duration::from_secs(check_secs),
        })
    }

    /// When the snapshot builder builds.
    pub fn snapshot_policy(&self) -> SnapshotPolicy {
        SnapshotPolicy { every: self.snapshot_every, check: self.snapshot_check }
    }

    pub fn database_url(&self) -> Result<&str, ConfigError> {
        self.database_url.as_deref().ok_or(ConfigError::NoDatabase)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn flags_and_environment_override_the_file_and_the_file_overrides_defaults() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"postgres://file/db\"\nmax_connections = 4\n\
             snapshot_every = 500\nsnapshot_check_secs = 60"
        )
        .unwrap();
        let from_file = Config::load(Some(file.path()), Overrides::default()).unwrap();
        assert_eq!(from_file.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(from_file.database_url().unwrap(), "postgres://file/db");
        assert_eq!(from_file.max_connections, 4);
        assert_eq!((from_file.snapshot_every, from_file.snapshot_check), (500, Duration::from_secs(60)));
        let overridden = Config::load(
            Some(file.path()),
            Overrides {
                database_url: Some("postgres://env/db".into()),
                listen: Some("127.0.0.1:7401".into()),
                snapshot_every: Some(0),
                snapshot_check_secs: Some(5),
            },
        )
        .unwrap();
        assert_eq!(overridden.listen.to_string(), "127.0.0.1:7401", "the flag/env listen wins");
        assert_eq!(overridden.database_url().unwrap(), "postgres://env/db", "DATABASE_URL wins");
        assert_eq!((overridden.snapshot_every, overridden.snapshot_check), (0, Duration::from_secs(5)));
        let defaults = Config::load(None, Overrides::default()).unwrap();
        assert_eq!(defaults.listen.to_string(), DEFAULT_LISTEN);
        assert!(defaults.database_url().unwrap_err().to_string().contains("DATABASE_URL"));
        assert_eq!(defaults.snapshot_policy(), SnapshotPolicy::default());
        assert_eq!((defaults.snapshot_every, defaults.snapshot_check), (10_000, Duration::from_secs(600)));
    }

    #[test]
    fn an_unknown_key_or_bad_address_is_refused_in_words() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "listn = \"0.0.0.0:9000\"").unwrap();
        let err = Config::load(Some(file.path()), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("listn"), "the message names the unknown key: {err}");
        let listen = Overrides { listen: Some("localhost".into()), ..Overrides::default() };
        let err = Config::load(None, listen).unwrap_err().to_string();
        assert!(err.contains("IP:PORT"), "{err}");
        let never = Overrides { snapshot_check_secs: Some(0), ..Overrides::default() };
        let err = Config::load(None, never).unwrap_err().to_string();
        assert!(err.contains("snapshot_every = 0"), "says how to turn snapshots off instead: {err}");
    }

    #[test]
    fn debug_output_never_shows_the_database_url() {
        let url = Overrides { database_url: Some("postgres://u:secret@h/db".into()), ..Overrides::default() };
        let config = Config::load(None, url).unwrap();
        assert!(!format!("{config:?}").contains("secret"));
    }
}
