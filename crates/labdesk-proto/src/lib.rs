//! The LabDesk wire protocol: the shapes that workstations and the sync server exchange.
//!
//! Vocabulary, shared by every LabDesk crate:
//! - **record**: one synced row — a case, a case meta value, a chat message, a file's metadata,
//!   a workflow stage, a case note. Identified by a UUID minted where it was created.
//! - **revision**: one accepted change to one record: the fields it set, on which `base_version`
//!   it was made, by whom, on which workstation, when. Immutable but for `superseded_by`.
//! - **chain**: a record's revisions in version order; its **head** is the one not superseded,
//!   and the record's current row equals the chain folded in order.
//! - **outbox**: a workstation's revisions not yet accepted by the central store.

pub mod merge;
pub mod sync;
mod time;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use time::{Timestamp, TimestampError};

/// The kinds of record that sync. The string forms are stable: they are stored and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Case,
    CaseMeta,
    ChatMessage,
    File,
    WorkflowStage,
    CaseNote,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Case,
        RecordKind::CaseMeta,
        RecordKind::ChatMessage,
        RecordKind::File,
        RecordKind::WorkflowStage,
        RecordKind::CaseNote,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Case => "case",
            RecordKind::CaseMeta => "case_meta",
            RecordKind::ChatMessage => "chat_message",
            RecordKind::File => "file",
            RecordKind::WorkflowStage => "workflow_stage",
            RecordKind::CaseNote => "case_note",
        }
    }

    /// How a person would name one of these in a sentence.
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::Case => "case",
            RecordKind::CaseMeta => "case meta value",
            RecordKind::ChatMessage => "chat message",
            RecordKind::File => "file",
            RecordKind::WorkflowStage => "workflow stage",
            RecordKind::CaseNote => "case note",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record kind name that LabDesk does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRecordKind(pub String);

impl fmt::Display for UnknownRecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a kind of record; the kinds are: ", self.0)?;
        let names: Vec<_> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownRecordKind {}

impl FromStr for RecordKind {
    type Err = UnknownRecordKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownRecordKind(s.to_owned()))
    }
}

/// The fields a revision of this kind may set, besides `deleted_at` (the soft delete).
pub fn field_names(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Case => &[
            "case_number",
            "secret_key",
            "status",
            "patient_name",
            "author_id",
            "author_info",
            "links",
            "services",
            "order_note",
            "invoice_ids",
            "assignees",
            "priority",
            "start_date",
            "due_date",
            "parent_id",
            "aligners",
        ],
        RecordKind::CaseMeta => &["case_id", "key", "value"],
        RecordKind::ChatMessage => &[
            "case_id",
            "message_type",
            "message_content",
            "attachments",
            "reply_to",
            "reactions",
            "sender_id",
            "parent_message_id",
            "message_purpose",
            "message_status",
            "sent_at",
            "edited_at",
            "read_at",
        ],
        RecordKind::File => &[
            "case_id",
            "message_id",
            "original_name",
            "stored_name",
            "file_path",
            "file_size",
            "mime_type",
            "upload_date",
            "uploaded_by",
            "is_temp",
            "hash",
        ],
        RecordKind::WorkflowStage => &["case_id", "stage", "status", "assignee", "started_at", "completed_at", "notes"],
        RecordKind::CaseNote => &["case_id", "author_id", "body"],
    }
}

/// Fields set by the creating revision that no later revision may change.
pub fn immutable_fields(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Case => &["case_number", "secret_key"],
        RecordKind::CaseMeta => &["case_id", "key"],
        RecordKind::ChatMessage => &["case_id", "sender_id", "reply_to", "parent_message_id"],
        RecordKind::File => &["case_id", "stored_name", "file_path", "file_size", "hash", "upload_date", "uploaded_by"],
        RecordKind::WorkflowStage => &["case_id", "stage"],
        RecordKind::CaseNote => &["case_id", "author_id"],
    }
}

/// Where a revision was made: here, or pulled from the central store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Local,
    Central,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Central => "central",
        }
    }
}

/// One change to one record (sync-model.md, "Records, versions and superseded_by chains").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revision {
    pub id: Uuid,
    pub record_kind: RecordKind,
    pub record_id: Uuid,
    /// The record's version once this revision is applied: 1 for the creating revision.
    pub version: u32,
    /// The version the change was made on: 0 for the creating revision.
    pub base_version: u32,
    /// The revision the change was made on (the head then): `None` for the creating revision.
    /// Versions can be renumbered when the central store orders concurrent changes; ids cannot,
    /// so this is what pins the merge base.
    #[serde(default)]
    pub parent: Option<Uuid>,
    /// The parent was this workstation's own change that the central store had not yet
    /// confirmed when this one was made. The author then saw the parent as proposed, not as the
    /// central store may have merged it, and that is the base this change must merge against —
    /// else a change made on a merged parent would overwrite edits the author never saw.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parent_unconfirmed: bool,
    /// The fields this revision sets, by name, in their stored form.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub author: String,
    pub workstation: String,
    pub made_at: Timestamp,
    /// The conflicted revisions this one settles (a person picked the values): it supersedes them
    /// all, and the record no longer needs review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolves: Vec<Uuid>,
    /// The revision that replaced this one; `None` for the head of the chain.
    pub superseded_by: Option<Uuid>,
    pub origin: Origin,
}
