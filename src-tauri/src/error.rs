//! The one error every command answers with: what the UI shows, and which form fields it marks.

use labdesk_core::sync::SyncError;
use labdesk_core::{Error, FieldError};
use serde::Serialize;
use ts_rs::TS;

/// What kind of failure, so the UI can react (reload on `stale`, mark fields on `invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorKind {
    Invalid,
    NotFound,
    Stale,
    Deleted,
    Sync,
    Other,
}

/// A refused command: nothing was changed. `message` is a sentence for a person; `fields` names
/// each bad form field (`due_date`, `aligners[0].from`) with its problem.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl CommandError {
    pub fn other(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Other, message: message.into(), fields: Vec::new() }
    }
}

impl From<Error> for CommandError {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::NotFound { .. } | Error::NoRecord(_) | Error::NoMetaKey { .. } => ErrorKind::NotFound,
            Error::StaleBase { .. } => ErrorKind::Stale,
            Error::Deleted { .. } => ErrorKind::Deleted,
            _ => ErrorKind::Other,
        };
        if matches!(kind, ErrorKind::Other) {
            tracing::warn!(error = %e, "command failed");
        }
        Self { kind, message: e.to_string(), fields: e.field_errors().to_vec() }
    }
}

impl From<SyncError> for CommandError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(e) => e.into(),
            e => Self { kind: ErrorKind::Sync, message: e.to_string(), fields: Vec::new() },
        }
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
