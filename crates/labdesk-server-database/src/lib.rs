//! The storage the LabDesk sync server is written against: one trait, [`SyncStore`], and the
//! types it speaks in. The PostgreSQL backend is `labdesk-server-postgres`.
//!
//! Vocabulary (with [`labdesk_proto`]'s record, revision, chain and outbox):
//! - **central store**: the database every workstation syncs with; it decides the order of
//!   changes (sync-model.md, "Records, versions and superseded_by chains").
//! - **identity**: who is calling — a user of a lab, signed in on a workstation registered to
//!   that lab, proven by a bearer **token** (only its SHA-256 is stored).
//! - **push**: a workstation sends revisions from its outbox; each gets a [`PushResult`].
//! - **seq**: a revision's position in the pull order, given only after it committed, so a
//!   **cursor** (the last seq a workstation applied) never passes a revision that shows up later.
//! - **head** (of a lab): the highest seq among the lab's revisions: what a cursor catches up to.
//! - **permit**: the one permission check every pushed revision passes ([`permit()`]).
//! - **snapshot**: a whole workstation store, built by the server from a lab's central store up
//!   to a cursor, kept as a blob of the lab ([`SnapshotInfo`]); a fresh workstation takes it
//!   instead of pulling the lab's whole history, then pulls what came after. Kept per lab and
//!   workstation store **schema** (only a workstation of that schema takes it), the newest two.
//! - **snapshot lease**: held by whoever builds a lab's snapshot ([`SnapshotLease`]), so that of
//!   several server instances one builds it at a time.

pub mod permit;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use labdesk_proto::sync::{BlobState, PullPage, PushResult, SnapshotInfo};
use labdesk_proto::{RecordKind, Revision};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use permit::{permit, permit_snapshot, permit_sync};

/// Who is calling: the user and workstation a bearer token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Uuid,
    pub user_name: String,
    pub role: Role,
    pub lab_id: Uuid,
    pub lab_name: String,
    pub workstation_id: Uuid,
    pub workstation_code: String,
    /// The user was disabled by an admin: the token still names them, but they may not sync.
    pub user_disabled: bool,
}

impl Identity {
    /// The identity the server's snapshot builder reads `lab` as: the lab, and no user or
    /// workstation (nil ids, no workstation code). For reading the lab's pages only: it is never
    /// the answer to a token, and [`permit()`] refuses whatever is pushed as it.
    pub fn snapshot_builder(lab: &Lab) -> Identity {
        Identity {
            user_id: Uuid::nil(),
            user_name: "the snapshot builder".to_owned(),
            role: Role::Admin,
            lab_id: lab.id,
            lab_name: lab.name.clone(),
            workstation_id: Uuid::nil(),
            workstation_code: String::new(),
            user_disabled: false,
        }
    }

    /// Is this [`Identity::snapshot_builder`]?
    pub fn is_snapshot_builder(&self) -> bool {
        self.user_id.is_nil()
    }
}

/// A user's role: the roles of seed 001 (`user_role`). The text forms are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Technician,
    Dentist,
    Staff,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Manager, Role::Technician, Role::Dentist, Role::Staff];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Technician => "technician",
            Role::Dentist => "dentist",
            Role::Staff => "staff",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Role::ALL.into_iter().find(|r| r.as_str() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            StoreError::Invalid(format!("'{s}' is not a role; the roles are: {}", names.join(", ")))
        })
    }
}

/// A record as the central store has it now, as [`permit()`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordHead {
    pub kind: RecordKind,
    pub lab_id: Uuid,
    pub version: u32,
    /// The record folded from its chain, `deleted_at` included.
    pub state: Map<String, Value>,
}

/// The rules of one record that every workstation's store keeps and the record alone shows
/// (its fields, their types and sizes, derived ids). They are the workstation's own code
/// (`labdesk-core`'s `check_state`): the server hands them to its store, which checks them on the
/// state a pushed revision would leave, so that no workstation is ever sent a record it cannot
/// store.
pub trait RecordRules: Send + Sync {
    /// `Err(reason)`, a sentence for the person who made the change, when `state` (the record's
    /// fields and `deleted_at`) is not a `kind` record with id `id` that a store can keep.
    fn check(&self, kind: RecordKind, id: Uuid, state: &Map<String, Value>) -> Result<(), String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lab {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub lab: Lab,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workstation {
    pub id: Uuid,
    pub code: String,
    pub lab: Lab,
}

/// A freshly issued bearer token. The token itself exists only here: the store keeps its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub user: String,
    pub workstation: String,
    pub lab: String,
}

impl fmt::Debug for IssuedToken {
    /// Never prints the token: debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<hidden>")
            .field("user", &self.user)
            .field("workstation", &self.workstation)
            .field("lab", &self.lab)
            .finish()
    }
}

/// What an idempotent "add" found: a new row, or the one that was there already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added<T> {
    New(T),
    Existing(T),
}

impl<T> Added<T> {
    pub fn value(&self) -> &T {
        match self {
            Added::New(v) | Added::Existing(v) => v,
        }
    }

    pub fn into_value(self) -> T {
        match self {
            Added::New(v) | Added::Existing(v) => v,
        }
    }

    pub fn is_new(&self) -> bool {
        matches!(self, Added::New(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or stopped answering; the caller may try again later.
    #[error("the central database is unavailable ({0}): try again when it is back")]
    Unavailable(String),

    #[error("no lab named {0}: create it with `labdesk-sync lab add {0}`")]
    NoLab(String),

    #[error("no user named {0}: create it with `labdesk-sync user add --lab LAB --name {0}`")]
    NoUser(String),

    #[error("no workstation with code {0}: register it with `labdesk-sync workstation add --lab LAB --code {0}`")]
    NoWorkstation(String),

    /// A request that cannot be carried out as asked; the message says why and what to do.
    #[error("{0}")]
    Invalid(String),

    /// A request made on an out-of-date view (a blob chunk at another offset than the store's);
    /// the message says where things stand.
    #[error("{0}")]
    Conflict(String),

    #[error(
        "the database was set up by a newer labdesk-sync (schema migration {found}; this one knows up to {known}): \
         update labdesk-sync — the database was left untouched"
    )]
    SchemaTooNew { found: i64, known: i64 },

    #[error("the database schema could not be brought up to date, and was left as it was: {0}")]
    Migration(String),

    /// A fault in the store itself (a bug, or data that breaks its own rules).
    #[error("central store error: {0}")]
    Internal(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The right to build one lab's snapshot, on every server instance at once: while one is held, no
/// one else gets the lab's ([`SyncStore::lease_snapshot`]). Released when dropped (and when the
/// process that holds it dies).
pub struct SnapshotLease {
    lab_id: Uuid,
    /// What the backend holds to keep the lease (a database session holding a lock); dropping it
    /// releases the lease.
    _held: Box<dyn Send + Sync>,
}

impl SnapshotLease {
    /// A lease on `lab_id`'s snapshot kept by `held`: for backends.
    pub fn new(lab_id: Uuid, held: impl Send + Sync + 'static) -> Self {
        Self { lab_id, _held: Box::new(held) }
    }

    pub fn lab_id(&self) -> Uuid {
        self.lab_id
    }
}

impl fmt::Debug for SnapshotLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotLease").field("lab_id", &self.lab_id).finish_non_exhaustive()
    }
}

/// A pull page as JSON text (the shape of [`PullPage`]), and the lab's head it was read with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageText {
    /// The lab's newest pull position, read in the page's snapshot (as [`PullPage::head`]).
    pub head: i64,
    /// The page: a [`PullPage`] as JSON.
    pub json: String,
}

/// The central store the sync server is written against. Every method may be called from many
/// server instances at once: implementations keep no state that another instance would miss.
#[async_trait::async_trait]
pub trait SyncStore: Send + Sync + fmt::Debug + 'static {
    /// Brings the schema up to date (idempotent; safe with several instances starting at once).
    /// Returns the names of the migrations applied.
    async fn migrate(&self) -> Result<Vec<String>>;

    /// Is the database there and answering?
    async fn health(&self) -> Result<()>;

    /// The identity a bearer token stands for: `None` for an unknown or revoked token.
    async fn authenticate(&self, token: &str) -> Result<Option<Identity>>;

    /// Takes revisions in order, each in its own transaction, and answers one [`PushResult`]
    /// per revision in the same order. Idempotent by revision id: a revision sent again gets
    /// the answer it got the first time.
    async fn push(&self, who: &Identity, revisions: Vec<Revision>) -> Result<Vec<PushResult>>;

    /// Accepted revisions of `who`'s lab with `seq > after`, oldest first, at most `limit`: a
    /// [`PullPage`] as its JSON text, which the server sends as it is. A bootstrap pulls a lab's
    /// whole history, and reading every revision into values only to write them out again as
    /// JSON was most of the server's work; a database that can write the page's JSON itself
    /// spares it.
    async fn pull_text(&self, who: &Identity, after: i64, limit: u32) -> Result<PageText>;

    /// [`pull_text`](Self::pull_text)'s page, read.
    async fn pull(&self, who: &Identity, after: i64, limit: u32) -> Result<PullPage> {
        let page = self.pull_text(who, after, limit).await?;
        serde_json::from_str(&page.json)
            .map_err(|e| StoreError::Internal(format!("a pull page does not read as one: {e}")))
    }

    /// What the store holds of `who`'s lab's blob `hash`: `None` when nothing.
    async fn blob_state(&self, who: &Identity, hash: &str) -> Result<Option<BlobState>>;

    /// Takes the chunk of blob `hash` (`size` bytes in all) at `offset`, which must be what the
    /// store holds so far ([`StoreError::Conflict`] saying where to go on, else). The chunk
    /// that completes the blob is taken only if the bytes hash to `hash`: if not, nothing of the
    /// blob is kept ([`StoreError::Invalid`]). A chunk sent to a complete blob changes nothing.
    async fn put_blob_chunk(
        &self,
        who: &Identity,
        hash: &str,
        size: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<BlobState>;

    /// Up to `limit` bytes of `who`'s lab's complete blob `hash` from `offset`: `None` when the
    /// store has no complete blob of that name.
    async fn read_blob(&self, who: &Identity, hash: &str, offset: u64, limit: u64) -> Result<Option<Vec<u8>>>;

    /// The highest seq of `who`'s lab (0 when the lab has none).
    async fn head(&self, who: &Identity) -> Result<i64>;

    /// Returns the lab's head as soon as it is greater than `after`, or at `timeout`.
    async fn wait_for_change(&self, who: &Identity, after: i64, timeout: Duration) -> Result<i64>;

    /// The newest snapshot of `who`'s lab for workstation stores of schema `schema` whose blob is
    /// complete: `None` when there is none. Ask [`permit_snapshot`] first.
    async fn snapshot(&self, who: &Identity, schema: u32) -> Result<Option<SnapshotInfo>>;

    /// The labs whose snapshot for `schema` is due: at least `every` revisions after their newest
    /// snapshot of that schema, or, with none, at least `every` revisions at all. In name order.
    async fn snapshots_due(&self, schema: u32, every: u64) -> Result<Vec<Lab>>;

    /// The lease on `lab_id`'s snapshot (one builder at a time, across server instances): `None`
    /// when someone holds it already.
    async fn lease_snapshot(&self, lab_id: Uuid) -> Result<Option<SnapshotLease>>;

    /// Keeps a snapshot built of `lab_id` (held under its [`SnapshotLease`]): the bytes of `file`
    /// as a complete blob of the lab named `info.hash`, in chunks of at most
    /// [`MAX_BLOB_CHUNK`](labdesk_proto::sync::MAX_BLOB_CHUNK), and its row, in one transaction.
    /// A file whose bytes are not `info.size` bytes hashing to `info.hash` is refused
    /// ([`StoreError::Invalid`]) and nothing is kept. Then only the newest two snapshots of the lab
    /// and schema stay: the older ones go, and their blobs with them unless another snapshot or a
    /// file record of the lab names the same bytes. A snapshot at the same cursor as one kept
    /// replaces it.
    async fn save_snapshot(&self, lab_id: Uuid, info: &SnapshotInfo, file: &Path) -> Result<()>;

    /// The lab of that name ([`StoreError::NoLab`] when there is none).
    async fn lab(&self, name: &str) -> Result<Lab>;

    /// Every lab, in name order.
    async fn labs(&self) -> Result<Vec<Lab>>;

    /// Creates a lab, or finds the one of that name.
    async fn add_lab(&self, name: &str) -> Result<Added<Lab>>;

    /// Creates a user in a lab (role `technician` unless given), or finds the same user there.
    /// A user of that name in another lab, or with another role than the one asked, is an error.
    async fn add_user(&self, lab: &str, name: &str, role: Option<Role>) -> Result<Added<User>>;

    /// Registers a workstation code to a lab, or finds it registered there already.
    async fn add_workstation(&self, lab: &str, code: &str) -> Result<Added<Workstation>>;

    /// Issues a new bearer token for a user on a workstation of the same lab.
    async fn issue_token(&self, user: &str, workstation: &str) -> Result<IssuedToken>;

    /// Revokes a user's tokens (on one workstation, or all). Returns how many were revoked.
    async fn revoke_tokens(&self, user: &str, workstation: Option<&str>) -> Result<u64>;

    /// Disables (or enables again) a user: a disabled user's tokens are refused with 403.
    async fn set_user_disabled(&self, user: &str, disabled: bool) -> Result<User>;
}

/// A new bearer token: 32 random bytes as hex, with a prefix that makes a leaked one easy to
/// recognise (in a log, a paste) and to search for.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut token = String::with_capacity(4 + 64);
    token.push_str("ldk_");
    for b in bytes {
        token.push_str(&format!("{b:02x}"));
    }
    token
}

/// What the store keeps of a token: its SHA-256. A stolen database then grants no access.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A valid workstation code: 2–8 capital letters or digits (the same rule as the client's).
pub fn check_workstation_code(code: &str) -> Result<()> {
    let ok = (2..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "'{code}' is not a workstation code: use 2 to 8 capital letters or digits, e.g. FD1"
        )))
    }
}

/// A valid lab or user name: not blank, no surrounding spaces, at most 100 characters.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid(format!("a {what} name cannot be empty")));
    }
    if name.trim() != name {
        return Err(StoreError::Invalid(format!("the {what} name '{name}' has spaces at its start or end")));
    }
    if name.chars().count() > 100 {
        return Err(StoreError::Invalid(format!("a {what} name can have at most 100 characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_recognisable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b, "two tokens must never be equal");
        assert!(a.starts_with("ldk_") && a.len() == 68, "prefix plus 64 hex digits: {a}");
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn roles_parse_from_any_case_and_a_wrong_one_lists_the_roles() {
        assert_eq!("Technician".parse::<Role>().unwrap(), Role::Technician);
        let err = "boss".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("admin, manager, technician, dentist, staff"), "{err}");
    }

    #[test]
    fn workstation_codes_follow_the_clients_rule() {
        assert!(check_workstation_code("FD1").is_ok());
        assert!(check_workstation_code("fd1").is_err(), "lower case is not a code");
        assert!(check_workstation_code("A").is_err(), "too short");
    }
}
