//! From PostgreSQL's errors to [`StoreError`]: a database that cannot be reached, is shutting
//! down or has no connection to spare is *unavailable* (the server answers 503 and the
//! workstation tries again later); anything else is a fault of the store (*internal*).

use deadpool_postgres::PoolError;
use labdesk_server_database::StoreError;
use tokio_postgres::error::SqlState;

/// The error with its causes ("error connecting to server: Connection refused (os error 111)"):
/// tokio-postgres's own message often leaves out the part that helps.
fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(next) = cause {
        let more = next.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = next.source();
    }
    text
}

pub(crate) fn db(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Unavailable("the connection to the database was lost".into());
    }
    match e.code() {
        None => StoreError::Unavailable(describe(&e)),
        // Connection exceptions, and a server that refuses our login: either way not reachable.
        Some(code) if code.code().starts_with("08") || code.code().starts_with("28") => {
            StoreError::Unavailable(describe(&e))
        }
        Some(code)
            if [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::INVALID_CATALOG_NAME,
            ]
            .contains(code) =>
        {
            StoreError::Unavailable(describe(&e))
        }
        Some(_) => {
            let detail = e.as_db_error().map_or_else(|| e.to_string(), |d| d.to_string());
            StoreError::Internal(detail)
        }
    }
}

pub(crate) fn pool(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => db(e),
        PoolError::Timeout(_) => StoreError::Unavailable("no database connection could be had in time".into()),
        PoolError::Closed => StoreError::Unavailable("the connection pool is closed".into()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// A value read from the store that breaks the store's own rules.
pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Internal(what.into())
}
