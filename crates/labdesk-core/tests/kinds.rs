//! The registry of record kinds against the store's schema: the client migrations stay explicit
//! SQL, and this test keeps every declared kind and its table, indexes, search view and triggers
//! from drifting apart. It lists the registry, so a kind added without its migration fails here.
#![allow(clippy::unwrap_used)]

use labdesk_core::{schema, KindInfo, RecordKind};
use labdesk_proto::{Scope, Storage, SEARCH_TAGS};
use rusqlite::Connection;

fn fresh() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate_to(&mut conn, i32::try_from(schema::latest_version()).unwrap()).unwrap();
    conn
}

/// (name, declared type, NOT NULL) of a table's columns, in order.
fn columns(conn: &Connection, table: &str) -> Vec<(String, String, bool)> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})")).unwrap();
    stmt.query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0))).unwrap().map(Result::unwrap).collect()
}

fn sql_of(conn: &Connection, kind: &str, name: &str) -> Option<String> {
    conn.query_row("SELECT sql FROM sqlite_schema WHERE type = ?1 AND name = ?2", [kind, name], |r| r.get(0)).ok()
}

const BOOKKEEPING: [(&str, &str); 7] = [
    ("seq", "INTEGER"),
    ("id", "TEXT"),
    ("version", "INTEGER"),
    ("created_at", "TEXT"),
    ("updated_at", "TEXT"),
    ("updated_by", "TEXT"),
    ("deleted_at", "TEXT"),
];

#[test]
fn every_declared_kind_has_a_table_with_exactly_its_declared_columns() {
    let conn = fresh();
    for kind in RecordKind::ALL {
        let decl = kind.decl();
        let columns = columns(&conn, decl.table);
        assert!(!columns.is_empty(), "{}: the migrations make no table {}", decl.name, decl.table);
        let mut names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
        names.sort_unstable();
        let mut expected: Vec<&str> = BOOKKEEPING.iter().map(|b| b.0).chain(decl.field_names()).collect();
        expected.sort_unstable();
        assert_eq!(names, expected, "{}: the table's columns are the bookkeeping and the declared fields", decl.name);
        for (name, ty, not_null) in &columns {
            if let Some((_, bookkeeping_ty)) = BOOKKEEPING.iter().find(|b| b.0 == name) {
                assert_eq!(ty, bookkeeping_ty, "{}.{name}", decl.table);
                continue;
            }
            let field = decl.field(name).unwrap();
            let storage = match field.ty.storage() {
                Storage::Integer | Storage::Bool => "INTEGER",
                Storage::Real => "REAL",
                Storage::Text | Storage::Json => "TEXT",
            };
            assert_eq!(ty, storage, "{}.{name}: the column keeps the declared type", decl.table);
            if field.required {
                assert!(not_null, "{}.{name} is required, so its column is NOT NULL", decl.table);
            }
        }
        let id = columns.iter().find(|c| c.0 == "id").unwrap();
        assert!(id.2, "{}.id is NOT NULL", decl.table);
        let unique_id = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM pragma_index_list('{}') l, pragma_index_info(l.name) i \
                     WHERE l.\"unique\" = 1 AND i.name = 'id'",
                    decl.table
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
        assert!(unique_id >= 1, "{}: ids are unique", decl.table);
    }
}

#[test]
fn every_kind_on_a_case_has_an_index_that_leads_with_its_case() {
    let conn = fresh();
    for kind in RecordKind::ALL.iter().filter(|k| k.decl().scope == Scope::Case) {
        let decl = kind.decl();
        let leading: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM pragma_index_list('{}') l, pragma_index_info(l.name) i \
                     WHERE i.seqno = 0 AND i.name = 'case_id'",
                    decl.table
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(leading >= 1, "{}: a case's records are found by an index on case_id", decl.name);
    }
}

#[test]
fn every_searchable_kind_has_its_view_and_three_triggers_and_no_other_kind_does() {
    let conn = fresh();
    for kind in RecordKind::ALL {
        let decl = kind.decl();
        let view_name = format!("{}_search", decl.table);
        let Some(search) = decl.search else {
            assert!(sql_of(&conn, "view", &view_name).is_none(), "{}: a search view with no search tag", decl.name);
            assert!(!decl.fields.iter().any(|f| f.search), "{}: searchable fields but no search tag", decl.name);
            continue;
        };
        let view = sql_of(&conn, "view", &view_name).unwrap_or_else(|| panic!("{}: no view {view_name}", decl.name));
        let doc_id = format!("seq * {SEARCH_TAGS} + {}", search.tag);
        assert!(view.contains(&doc_id), "{view_name}: its documents' ids are {doc_id}");
        for field in decl.fields.iter().filter(|f| f.search) {
            assert!(view.contains(field.name), "{view_name}: the searchable field {} is in the text", field.name);
        }
        assert!(view.contains("deleted_at IS NULL"), "{view_name}: deleted records are not found");
        for op in ["insert", "update", "delete"] {
            let name = format!("{}_search_{op}", decl.table);
            let sql = sql_of(&conn, "trigger", &name).unwrap_or_else(|| panic!("{}: no trigger {name}", decl.name));
            if op != "insert" {
                assert!(sql.contains(&format!("OLD.{doc_id}")), "{name} removes the record's own document");
            }
            if op != "delete" {
                assert!(sql.contains(&view_name), "{name} writes what {view_name} says");
            }
        }
    }
}

#[test]
fn every_table_that_keeps_records_is_a_declared_kind() {
    let conn = fresh();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT m.name FROM sqlite_schema m WHERE m.type = 'table' \
             AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'version') \
             AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'deleted_at')",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for table in tables {
        assert!(
            RecordKind::ALL.iter().any(|k| k.decl().table == table),
            "the table {table} keeps records but no kind declares it: declare its kind in labdesk_proto::kinds"
        );
    }
}

#[test]
fn every_kind_is_guarded_by_a_permission_module_and_exported_to_the_desktop_app() {
    let exported: Vec<KindInfo> = KindInfo::all();
    let bindings = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/src/bindings/kinds.json"))
        .expect("ui/src/bindings/kinds.json: run `cargo test --features ts` to write it");
    let written: serde_json::Value = serde_json::from_str(&bindings).unwrap();
    assert_eq!(
        written,
        serde_json::to_value(&exported).unwrap(),
        "ui/src/bindings/kinds.json is the registry as it is: run `cargo test -p labdesk-core --features ts` and commit it"
    );
    let kinds_ts =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/src/bindings/RecordKind.ts")).unwrap();
    for kind in RecordKind::ALL {
        let decl = kind.decl();
        let module = serde_json::to_value(decl.module).unwrap();
        assert!(module.as_str().is_some_and(|m| !m.is_empty()), "{}: a permission module", decl.name);
        assert!(kinds_ts.contains(&format!("\"{}\"", decl.name)), "{}: in the RecordKind binding", decl.name);
    }
}
