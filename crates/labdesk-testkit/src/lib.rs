//! What LabDesk's server tests stand on: a throwaway PostgreSQL ([`TestPostgres`], [`Cluster`]),
//! an in-process sync server ([`TestServer`]), someone to sync as ([`provision`]), and revisions
//! to push ([`revision`]). For tests only (`publish = false`).
//!
//! Vocabulary:
//! - **cluster**: a PostgreSQL server of the test's own, in a temp folder, gone afterwards;
//! - **test database**: a fresh database per test, in the shared cluster or in `DATABASE_URL`;
//! - **test server**: `labdesk_sync::app` served on a free port of 127.0.0.1, on a thread and
//!   runtime of its own so that blocking HTTP clients can call it from the test's thread.
//!
//! When running as root (CI), the cluster runs as the `postgres` system user: initdb refuses root.

mod postgres;
mod server;

use std::future::Future;

use labdesk_proto::{Origin, RecordKind, Revision, Timestamp};
use uuid::Uuid;

pub use postgres::{Cluster, TestPostgres, SUPERUSER};
pub use server::{provision, provision_blocking, Provisioned, TestServer};

/// Runs a future to its end on a runtime of its own, on a thread of its own: callable from
/// plain tests and from inside async ones alike.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let thread = std::thread::spawn(move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => panic!("cannot start a tokio runtime: {e}"),
    });
    match thread.join() {
        Ok(output) => output,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A revision as a workstation would push it: `fields` (a JSON object) on `parent` (`None` for
/// the creating revision), made now.
pub fn revision(
    kind: RecordKind,
    record_id: Uuid,
    parent: Option<Uuid>,
    author: &str,
    workstation: &str,
    fields: serde_json::Value,
) -> Revision {
    let fields = match fields {
        serde_json::Value::Object(map) => map,
        other => panic!("revision fields must be a JSON object, not {other}"),
    };
    Revision {
        id: Uuid::now_v7(),
        record_kind: kind,
        record_id,
        version: if parent.is_some() { 2 } else { 1 },
        base_version: u32::from(parent.is_some()),
        parent,
        fields,
        author: author.to_owned(),
        workstation: workstation.to_owned(),
        made_at: Timestamp::now(),
        resolves: Vec::new(),
        parent_unconfirmed: false,
        superseded_by: None,
        origin: Origin::Local,
    }
}
