//! The LabDesk client core: a workstation's local store of cases, files and chat, which works
//! with no network and records every change for sync.
//!
//! Vocabulary (shared with [`labdesk_proto`]):
//! - **case**: a lab order — a patient, restorations to make, due dates (seed 000, "dentals").
//!   Known by its UUID and by its **case number** (`FD1-000042`), minted offline from the
//!   **workstation code** and a local sequence.
//! - **record**: any synced row: a case, a case meta value, a chat message, a file record, a
//!   workflow stage, a case note. See [`Record`].
//! - **revision**: one change to one record; a record's revisions form its **chain**, whose
//!   **head** equals the current row. Nothing is ever hard-deleted (`deleted_at`).
//! - **outbox**: the revisions made here that the central store has not accepted yet.
//!
//! Every change goes through one path ([`record`]): one SQLite transaction writes the row,
//! appends the revision and enqueues it. Reads for the UI are in [`query`]; the store's
//! invariants are checked by [`Store::check`]. Sync with the central store is [`sync`].

mod blobs;
mod cases;
mod chat;
mod check;
mod db;
mod declared;
mod error;
mod files;
mod history;
mod import;
mod kinds;
mod meta;
mod notes;
mod query;
pub mod record;
mod rules;
mod scanner;
pub mod schema;
pub mod sync;
mod validate;
mod workflow;

#[cfg(test)]
mod test_support;

pub use blobs::{mime_for_name, FileProgress, BLOB_DIR};
pub use cases::{
    Aligner, AuthorInfo, Case, GeoLocation, Link, SecretKey, Service, DEFAULT_PRIORITY, DEFAULT_STATUS,
    SUGGESTED_PRIORITIES, SUGGESTED_STATUSES,
};
pub use chat::{ChatMessage, MessageStatus, MessageType, MessageView, NewMessage};
pub use check::CheckReport;
pub use db::{check_workstation_code, normalize_workstation_code, OpenOptions, Store, STORE_FILE};
pub use declared::{FieldInfo, Fields, KindInfo, RecordFilter, SubmittedInfo};
pub use error::{Error, FieldError, Invalid, Result};
pub use files::{mime_allowed, FileRecord, NewFile, ALLOWED_FORMATS, MAX_FILES_PER_UPLOAD, MAX_FILE_SIZE};
pub use history::{
    record_label, short_id, FieldChange, HistoryEntry, OutboxEntry, RevisionConflict, WaitingFile, SHORT_ID_LEN,
};
pub use import::{ImportCase, ImportReport, NumberClash, Skipped};
pub use labdesk_proto::{Origin, RecordKind, Revision, Timestamp, TimestampError};
pub use meta::{CaseMeta, KNOWN_META_KEYS};
pub use notes::CaseNote;
pub use query::{CaseDetail, CasePage, CaseQuery, CaseSort, CaseSummary, SearchHit, CLOSED_STATUSES};
pub use record::{Stored, Written};
pub use rules::check_state;
pub use scanner::{case_number_in_name, ScanOutcome};
pub use workflow::{status_from_stages, Stage, StageAction, StageStatus, StageView, WorkflowStage, STAGE_STATUSES};
