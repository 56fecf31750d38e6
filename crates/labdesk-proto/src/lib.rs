//! The LabDesk wire protocol: the shapes that workstations and the sync server exchange.
//!
//! Vocabulary, shared by every LabDesk crate:
//! - **record**: one synced row — a case, a case meta value, a chat message, a file's metadata,
//!   a workflow stage, a case note, a lab setting: one of the **kinds** declared in [`kinds`].
//!   Identified by a UUID minted where it was created.
//! - **revision**: one accepted change to one record: the fields it set, on which `base_version`
//!   it was made, by whom, on which workstation, when. Immutable but for `superseded_by`.
//! - **chain**: a record's revisions in version order; its **head** is the one not superseded,
//!   and the record's current row equals the chain folded in order.
//! - **outbox**: a workstation's revisions not yet accepted by the central store.

pub mod kinds;
pub mod merge;
pub mod sync;
mod time;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use kinds::{
    kinds_from_header, kinds_header, FieldDecl, FieldType, IdRule, KindDecl, Merge, Module, RecordKind, Scope, Search,
    Storage, Submitted, KINDS_HEADER, SEARCH_TAGS,
};
pub use time::{Timestamp, TimestampError};

impl RecordKind {
    /// The stable name, stored and sent.
    pub fn as_str(self) -> &'static str {
        self.decl().name
    }

    /// How a person would name one of these in a sentence.
    pub fn label(self) -> &'static str {
        self.decl().label
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
        RecordKind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| UnknownRecordKind(s.to_owned()))
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
