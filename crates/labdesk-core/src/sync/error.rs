//! What can go wrong while syncing, in words that tell the person at the workstation what to do.
//! None of these loses a change: whatever was not sent stays in the outbox.

use std::path::PathBuf;
use std::time::Duration;

/// A sync round, a sign-in or a credentials file that did not work.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the server at {url} is not reachable ({detail}); changes stay in the outbox and will be sent later")]
    Unreachable { url: String, detail: String },

    #[error(
        "the server at {url} did not answer within {} s; changes stay in the outbox and will be sent later",
        after.as_secs()
    )]
    TimedOut { url: String, after: Duration },

    #[error("the server at {url} did not accept this workstation's sign-in ({message}); sign in again: labdesk login --server {url} --token TOKEN")]
    Unauthenticated { url: String, message: String },

    #[error("the server at {url} refused: {message}")]
    Forbidden { url: String, message: String },

    #[error("this LabDesk is too old for the server at {url} ({message}); update LabDesk on this workstation, then sync again — changes stay in the outbox until then")]
    UpgradeRequired { url: String, message: String },

    #[error("the server at {url} could not do it right now (HTTP {status}: {message}); changes stay in the outbox and will be sent later")]
    Unavailable { url: String, status: u16, message: String },

    #[error("the server at {url} refused the request (HTTP {status}: {message}); changes stay in the outbox — tell the lab's IT")]
    Refused { url: String, status: u16, message: String },

    #[error("the server at {url} answered something this LabDesk does not understand ({detail}); is that address a LabDesk sync server?")]
    BadAnswer { url: String, detail: String },

    #[error(
        "this workstation is not signed in to a sync server; sign in with: labdesk login --server URL --token TOKEN"
    )]
    NotSignedIn,

    #[error("the contents of {name} are not on this workstation, and the server at {url} is not reachable ({detail}) to fetch them from; open it again once this workstation is online")]
    FetchOffline { name: String, url: String, detail: String },

    #[error("the contents of {name} are not on the sync server yet: the workstation that attached the file sends them with its next sync; try again after that")]
    NotUploaded { name: String },

    #[error("'{url}' is not a server address: {why}")]
    BadServerUrl { url: String, why: String },

    #[error("a sign-in token must be one line of visible characters with no spaces")]
    BadToken,

    #[error("cannot {action} the credentials file {}: {source}", path.display())]
    Credentials { action: &'static str, path: PathBuf, source: std::io::Error },

    /// The local store failed while recording what happened (nothing half-written stays).
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl SyncError {
    /// The server may well answer later: retry with backoff. The others need a person (sign in
    /// again, update LabDesk, fix the address) — a watch keeps retrying them too, slowly.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::TimedOut { .. } | Self::Unavailable { .. } | Self::FetchOffline { .. }
        )
    }

    /// The server could not be reached or did not answer at all (as opposed to answering no).
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::TimedOut { .. } | Self::FetchOffline { .. })
    }
}
