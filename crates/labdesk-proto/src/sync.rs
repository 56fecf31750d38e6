//! The sync protocol between a workstation and the central store, version [`PROTOCOL_VERSION`].
//!
//! Every request carries `LabDesk-Protocol: <version>` and `Authorization: Bearer <token>`.
//! A workstation older than [`MIN_PROTOCOL_VERSION`] is answered `426 Upgrade Required` with a
//! message asking to update LabDesk, before anything is read or written.
//!
//! Kinds of record are added within version 1: a workstation names the kinds it keeps in
//! `LabDesk-Kinds` ([`crate::KINDS_HEADER`]) and its pull pages leave out revisions of any other
//! (the cursor moves past them); the server names its own in every answer, and a workstation
//! pushes it no revision of another kind (they wait in the outbox). A peer that names none is of
//! the first release and keeps [`crate::RecordKind::FIRST`].
//!
//! - `POST /v1/push` — [`PushRequest`] → [`PushResponse`]: outbox revisions, oldest first; one
//!   [`PushResult`] per revision, in the same order. Idempotent by revision id.
//! - `GET /v1/pull?after=CURSOR&limit=N` — [`PullPage`]: accepted revisions in the order the
//!   central store made them visible. `next` is the cursor to ask with next time.
//! - `GET /v1/wait?after=CURSOR&timeout_ms=N` — [`WaitResponse`]: returns as soon as anything
//!   newer than `after` exists (long poll), or at the timeout. With `&limit=N` as well (added
//!   within version 1: a server that does not know it ignores it) — [`WaitPageResponse`]: the
//!   answer to news carries the first page after `after` too, as `GET /v1/pull` would give it,
//!   which spares the workstation that request.
//! - `GET /v1/blobs/{hash}/state` — [`BlobState`]: how much of a file's bytes (a blob, named by
//!   its SHA-256) the central store holds; 404 when none.
//! - `PUT /v1/blobs/{hash}?size=S&offset=O` — the next chunk (at most [`MAX_BLOB_CHUNK`] bytes)
//!   of a blob of `size` bytes, at `offset` = what the store holds (so an upload cut short
//!   resumes where the store says) → [`BlobState`]. The last chunk completes the blob, once its
//!   bytes hash to its name; bytes that do not are refused and nothing of them kept.
//! - `GET /v1/blobs/{hash}?offset=O&limit=N` — up to `limit` bytes of a complete blob from
//!   `offset`, for a workstation that needs the file (`application/octet-stream`).
//! - `GET /v1/snapshot?schema=N` — [`SnapshotInfo`]: the newest **snapshot** of the caller's lab
//!   for workstation stores of schema version `N`: a whole workstation store, built by the server
//!   from the central store up to a cursor and kept as a blob (downloaded as any blob is), that a
//!   fresh workstation takes instead of pulling the lab's whole history, then pulls what came
//!   after it; 404 when there is none for that schema (added within version 1: a workstation
//!   that does not ask pulls everything, as before).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Revision;

/// The protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol the server still accepts.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
/// The header that carries the protocol version.
pub const PROTOCOL_HEADER: &str = "LabDesk-Protocol";
/// At most this many revisions in one push.
pub const MAX_PUSH_REVISIONS: usize = 1000;
/// At most this many revisions in one pull page.
pub const MAX_PULL_LIMIT: u32 = 5000;
/// At most this many bytes of a blob in one upload or download request.
pub const MAX_BLOB_CHUNK: u64 = 4 * 1024 * 1024;

/// What the central store holds of a blob (a file's bytes, named by their SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobState {
    /// The blob's size in bytes, as its first chunk announced it.
    pub size: u64,
    /// Bytes received so far, from the start: where the next chunk goes.
    pub received: u64,
    /// Every byte is there and they hash to the blob's name: it can be downloaded.
    pub complete: bool,
}

/// A snapshot of a lab's central store, as a workstation store file (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotInfo {
    /// The blob holding the store file, compressed with zstd: its SHA-256, as for a file's
    /// bytes.
    pub hash: String,
    /// The blob's size in bytes (compressed).
    pub size: u64,
    /// The store file's size in bytes, once decompressed.
    pub store_size: u64,
    /// The cursor the snapshot is caught up to: a workstation taking it pulls after this.
    pub seq: i64,
    /// The workstation store's schema version it was built with; only a workstation at the same
    /// version takes it.
    pub schema: u32,
    /// Revisions it holds.
    pub revisions: u64,
}

/// Is `hash` a blob's name: a SHA-256 as 64 lower-case hex digits?
pub fn is_blob_name(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub revisions: Vec<Revision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub results: Vec<PushResult>,
}

/// What became of one pushed revision (sync-model.md, "Push").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Made on the central head: taken as it is.
    Applied,
    /// Made on an older version; merged with what came between, no field disputed.
    Merged,
    /// Merged, but some field was changed on both sides to different values: the value accepted
    /// first stays, the other is kept in the chain, and the record needs review.
    Conflicted,
    /// Invalid or not permitted; `reason` says why. Nothing of it was stored.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResult {
    pub revision_id: Uuid,
    pub outcome: Outcome,
    /// The record's central version this revision became (none when rejected).
    pub version: Option<u32>,
    /// Why it was rejected, in words for the person who made the change.
    pub reason: Option<String>,
    /// The disputed fields, when conflicted.
    #[serde(default)]
    pub conflicts: Vec<FieldConflict>,
}

/// A field two revisions changed to different values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldConflict {
    pub field: String,
    /// The value that stays (accepted first).
    pub kept: Value,
    /// The value this revision proposed, kept in the chain for review.
    pub proposed: Value,
}

/// A revision as the central store accepted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CentralRevision {
    /// Position in the pull order; cursors follow it.
    pub seq: i64,
    /// The revision, with `version` as assigned centrally and `fields` as they took effect.
    pub revision: Revision,
    pub outcome: Outcome,
    /// Fields proposed but not taken (when conflicted).
    #[serde(default)]
    pub conflicts: Vec<FieldConflict>,
    /// The fields as the workstation proposed them, when a merge changed what took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub proposed: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullPage {
    pub revisions: Vec<CentralRevision>,
    /// The cursor to pull after next time.
    pub next: i64,
    /// More pages wait.
    pub more: bool,
    /// The newest cursor the central store has now: with `next`, how much is left (progress).
    pub head: i64,
    /// At most this many revisions remain after this page (an upper bound, for progress: pull
    /// positions are shared by every lab, so some of the distance to the head may be others').
    pub remaining: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitResponse {
    /// The newest cursor; greater than `after` when there is something to pull.
    pub head: i64,
}

/// The answer to a long poll that asked for a page (`limit`): [`WaitResponse`]'s `head`, and —
/// when `head` is past `after` — the page a pull after `after` with that limit gives. A workstation
/// older than the field reads this as a [`WaitResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitPageResponse {
    /// The newest cursor; greater than `after` when there is something to pull.
    pub head: i64,
    /// The first page after `after`, when there is news (none from a server that does not know
    /// `limit`: then pull as usual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PullPage>,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong and what to do, for a person.
    pub error: String,
    /// A stable code for programs: `unauthenticated`, `forbidden`, `protocol_too_old`,
    /// `protocol_too_new`, `bad_request`, `too_large`, `unavailable`, `internal`; from the
    /// accounts issue also `session_expired` (401: sign in again; local work goes on),
    /// `wrong_password` (401), `too_many_attempts` (429, with `Retry-After` seconds).
    pub code: String,
}

/// `POST /v1/sessions`: sign in with a user name and password on a registered workstation.
/// The answer's token is a session: it expires (`expires_at`) and can be revoked (sign out,
/// or an admin). The password never appears in `Debug` output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInRequest {
    pub user: String,
    pub password: String,
    /// The code of the workstation signing in (registered to the user's lab).
    pub workstation: String,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("workstation", &self.workstation)
            .finish()
    }
}

/// Who a token signs in, as `POST /v1/sessions` and `GET /v1/me` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub user: String,
    /// One of `admin`, `manager`, `technician`, `dentist`, `staff`.
    pub role: String,
    pub lab: String,
    pub workstation: String,
    /// When the session ends (RFC 3339, UTC); none for an admin-issued script token.
    pub expires_at: Option<String>,
}

/// The answer to a sign-in: the session token (shown once: only its hash is kept) and who it is.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInResponse {
    pub token: String,
    pub session: SessionInfo,
}

impl std::fmt::Debug for SignInResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInResponse").field("token", &"<hidden>").field("session", &self.session).finish()
    }
}

/// `POST /v1/password`: set a new password with the one-time reset token an admin issued
/// (`labdesk-sync reset-password USER`). Needs no sign-in; the reset token is used up.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordResetRequest {
    pub user: String,
    pub reset_token: String,
    pub new_password: String,
}

impl std::fmt::Debug for PasswordResetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetRequest").field("user", &self.user).finish_non_exhaustive()
    }
}
