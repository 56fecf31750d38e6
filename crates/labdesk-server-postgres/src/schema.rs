//! The central schema: SQL migrations in `migrations/server`, embedded at build time and run by
//! refinery. A database migrated by a newer labdesk-sync is refused untouched.

use deadpool_postgres::Pool;
use labdesk_server_database::{Result, StoreError};

use crate::error;
use crate::MIGRATION_LOCK;

mod embedded {
    refinery::embed_migrations!("../../migrations/server");
}

/// The newest migration this build knows.
pub fn latest_version() -> i64 {
    embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// Brings the schema up to date. Several server instances may start at once: a session
/// advisory lock lets one migrate while the others wait, then find nothing left to do.
pub(crate) async fn migrate(pool: &Pool) -> Result<Vec<String>> {
    let mut client = pool.get().await.map_err(error::pool)?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(error::db)?;
    let outcome = migrate_locked(&mut client).await;
    // A failed unlock leaves the lock on a connection that goes back to the pool: drop it.
    if client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.is_err() {
        drop(deadpool_postgres::Object::take(client));
    }
    outcome
}

async fn migrate_locked(client: &mut deadpool_postgres::Object) -> Result<Vec<String>> {
    let known = latest_version();
    let has_history: bool = client
        .query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[])
        .await
        .map_err(error::db)?
        .get(0);
    let found: Option<i64> = if has_history {
        client
            .query_one("SELECT max(version)::bigint FROM refinery_schema_history", &[])
            .await
            .map_err(error::db)?
            .get(0)
    } else {
        None
    };
    if let Some(found) = found {
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
    }
    let client: &mut tokio_postgres::Client = client;
    // Grouped: every pending migration and its history row in one transaction, so a crash
    // half-way leaves the schema as it was rather than half-migrated.
    let report =
        embedded::migrations::runner().set_grouped(true).run_async(client).await.map_err(|e| match e.kind() {
            refinery::error::Kind::Connection(_, cause) => StoreError::Migration(cause.to_string()),
            other => StoreError::Migration(other.to_string()),
        })?;
    let applied: Vec<String> =
        report.applied_migrations().iter().map(|m| format!("V{}__{}", m.version(), m.name())).collect();
    for name in &applied {
        tracing::info!(migration = %name, "central schema migrated");
    }
    Ok(applied)
}

/// Runs the migrations up to and including `version` only: for tests that build old databases.
#[doc(hidden)]
pub async fn migrate_to(pool: &Pool, version: i32) -> Result<()> {
    let mut client = pool.get().await.map_err(error::pool)?;
    let client: &mut tokio_postgres::Client = &mut client;
    embedded::migrations::runner()
        .set_grouped(true)
        .set_target(refinery::Target::Version(version))
        .run_async(client)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(())
}
