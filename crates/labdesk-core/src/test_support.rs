//! Shared by the unit tests.

use serde_json::{Map, Value};

use crate::{OpenOptions, Store};

/// A fresh in-memory store of workstation FD1, signed in as ann.
pub fn store() -> Store {
    Store::open_in_memory(OpenOptions { workstation: Some("FD1".into()), user: Some("ann".into()) })
        .expect("open store")
}

pub fn fields(value: Value) -> Map<String, Value> {
    crate::record::object(value)
}

pub fn count(store: &Store, table: &str) -> i64 {
    store.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("count")
}
