//! The local schema: SQL migrations in `migrations/client`, embedded at build time and run by
//! refinery whenever a store is opened.

use rusqlite::Connection;

use crate::error::{Error, Result};

mod embedded {
    refinery::embed_migrations!("../../migrations/client");
}

/// The newest migration this build knows.
pub fn latest_version() -> i64 {
    embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// Brings the schema up to date. A store from a newer LabDesk is refused untouched: running an
/// old program over a newer schema is how data gets corrupted.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let known = latest_version();
    let found: Option<i64> = conn
        .query_row(
            "SELECT max(version) FROM refinery_schema_history WHERE EXISTS \
             (SELECT 1 FROM sqlite_master WHERE name = 'refinery_schema_history')",
            [],
            |r| r.get(0),
        )
        .unwrap_or(None);
    if let Some(found) = found {
        if found > known {
            return Err(Error::SchemaTooNew { found, known });
        }
    }
    // Grouped: every pending migration and its history row in one transaction. Ungrouped,
    // refinery commits a migration's SQL and its history row separately, and a crash between the
    // two leaves a store that no later open can migrate ("table ... already exists").
    let report = embedded::migrations::runner().set_grouped(true).run(conn)?;
    for migration in report.applied_migrations() {
        tracing::info!(version = migration.version(), name = migration.name(), "store schema migrated");
    }
    Ok(())
}

/// Runs the migrations up to and including `version` only: for tests that build old stores.
#[doc(hidden)]
pub fn migrate_to(conn: &mut Connection, version: i32) -> Result<()> {
    embedded::migrations::runner().set_grouped(true).set_target(refinery::Target::Version(version)).run(conn)?;
    Ok(())
}
