//! A store made by an older LabDesk, opened by this one, must end up with exactly the schema of a
//! fresh store, keep its data, and pass the consistency check.
#![allow(clippy::unwrap_used)]

use labdesk_core::{schema, OpenOptions, Store, STORE_FILE};
use rusqlite::Connection;

fn opts() -> OpenOptions {
    OpenOptions { workstation: Some("FD1".into()), user: Some("ann".into()) }
}

/// Every table, index, view and trigger, as SQLite records them.
fn schema_of(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// A version-1 store with one case, one chat message and one meta value, written the way
/// version 1 wrote them (row + revision + outbox entry each).
fn version_one_store(dir: &std::path::Path) {
    let mut conn = Connection::open(dir.join(STORE_FILE)).unwrap();
    schema::migrate_to(&mut conn, 1).unwrap();
    conn.execute_batch(
        r#"
        INSERT INTO workstation (only_row, code, next_case_seq, created_at) VALUES (1, 'FD1', 2, '2026-01-01T00:00:00.000Z');
        INSERT INTO cases (id, case_number, secret_key, status, patient_name, author_id, author_info, links, services,
                           order_note, invoice_ids, assignees, priority, aligners, version, created_at, updated_at, updated_by)
        VALUES ('018f0000-0000-7000-8000-000000000001', 'FD1-000001', '00112233445566778899aabbccddeeff', 'received',
                'Ada Lovelace', 'ann', '{"name":"Dr Babbage","phone":"","address":"","address_note":"","geo_location":null}',
                '[]', '[{"service_type":"crown","sub_services":["zirconia"],"extras":[]}]', 'match shade', '[]', '["bob"]',
                'high', '[]', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'ann');
        INSERT INTO revisions (id, record_kind, record_id, version, base_version, fields, author, workstation, made_at)
        VALUES ('018f0000-0000-7000-8000-0000000000a1', 'case', '018f0000-0000-7000-8000-000000000001', 1, 0,
                '{"case_number":"FD1-000001","secret_key":"00112233445566778899aabbccddeeff","status":"received","patient_name":"Ada Lovelace","author_id":"ann","author_info":{"name":"Dr Babbage","phone":"","address":"","address_note":"","geo_location":null},"links":[],"services":[{"service_type":"crown","sub_services":["zirconia"],"extras":[]}],"order_note":"match shade","invoice_ids":[],"assignees":["bob"],"priority":"high","start_date":null,"due_date":null,"parent_id":null,"aligners":[]}',
                'ann', 'FD1', '2026-01-01T00:00:00.000Z');
        INSERT INTO outbox (revision_id, enqueued_at) VALUES ('018f0000-0000-7000-8000-0000000000a1', '2026-01-01T00:00:00.000Z');
        INSERT INTO chat_messages (id, case_id, message_type, message_content, attachments, reactions, sender_id,
                                   message_status, sent_at, version, created_at, updated_at, updated_by)
        VALUES ('018f0000-0000-7000-8000-000000000002', '018f0000-0000-7000-8000-000000000001', 'text',
                'the margin on 36 looks short', '[]', '{}', 'ann', 'sending', '2026-01-01T00:00:01.000Z', 1,
                '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:01.000Z', 'ann');
        INSERT INTO revisions (id, record_kind, record_id, version, base_version, fields, author, workstation, made_at)
        VALUES ('018f0000-0000-7000-8000-0000000000a2', 'chat_message', '018f0000-0000-7000-8000-000000000002', 1, 0,
                '{"case_id":"018f0000-0000-7000-8000-000000000001","message_type":"text","message_content":"the margin on 36 looks short","attachments":[],"reply_to":null,"reactions":{},"sender_id":"ann","parent_message_id":null,"message_purpose":null,"message_status":"sending","sent_at":"2026-01-01T00:00:01.000Z","edited_at":null,"read_at":null}',
                'ann', 'FD1', '2026-01-01T00:00:01.000Z');
        INSERT INTO outbox (revision_id, enqueued_at) VALUES ('018f0000-0000-7000-8000-0000000000a2', '2026-01-01T00:00:01.000Z');
        "#,
    )
    .unwrap();
}

#[test]
fn an_upgraded_version_one_store_has_the_same_schema_as_a_fresh_store() {
    let old = tempfile::tempdir().unwrap();
    version_one_store(old.path());
    let upgraded = Store::open(old.path(), opts()).unwrap();

    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(fresh_dir.path(), opts()).unwrap();

    let (a, b) = (schema_of(upgraded.connection()), schema_of(fresh.connection()));
    assert!(a.len() > 20, "the schema listing should include every table, index, view and trigger");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "upgraded and fresh schemas differ");
    }
    assert_eq!(a.len(), b.len(), "upgraded and fresh schemas have different numbers of objects");
}

#[test]
fn an_upgraded_store_keeps_its_data_and_indexes_it_for_search() {
    let old = tempfile::tempdir().unwrap();
    version_one_store(old.path());
    let mut store = Store::open(old.path(), opts()).unwrap();

    let case = store.case("FD1-000001").unwrap();
    assert_eq!(case.record.patient_name, "Ada Lovelace");
    let hits = store.search("margin", 10).unwrap();
    assert_eq!(hits.len(), 1, "chat written before search existed must be found after the upgrade");
    assert_eq!(hits[0].matched_in, "chat");
    assert_eq!(store.search("zirconia", 10).unwrap().len(), 1, "services are indexed by the upgrade");
    let bob =
        store.list_cases(&labdesk_core::CaseQuery { assignee: Some("bob".into()), ..Default::default() }).unwrap();
    assert_eq!(bob.total, 1, "the assignee index is filled from existing cases");
    let report = store.check(true).unwrap();
    assert!(report.is_ok(), "an upgraded store must be consistent: {report:?}");

    let next = store.create_case(serde_json::from_str(r#"{"patient_name": "Alan Turing"}"#).unwrap()).unwrap();
    assert_eq!(next.record.case_number, "FD1-000002", "numbering continues where version 1 left off");
}

#[test]
fn a_store_from_a_newer_labdesk_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), opts()).unwrap());
    let future = schema::latest_version() + 1;
    let count = |conn: &Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM refinery_schema_history", [], |r| r.get(0)).unwrap()
    };
    let before = {
        let conn = Connection::open(dir.path().join(STORE_FILE)).unwrap();
        conn.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (?1, 'future', '', '0')",
            [future],
        )
        .unwrap();
        count(&conn)
    };
    let err = Store::open(dir.path(), opts()).unwrap_err();
    assert!(err.to_string().contains("update LabDesk"), "the message should say what to do: {err}");
    let conn = Connection::open(dir.path().join(STORE_FILE)).unwrap();
    // Counted, not computed from the latest version: migration numbers need not be contiguous.
    assert_eq!(count(&conn), before, "nothing was migrated or removed");
}

#[test]
fn files_attached_here_before_version_7_have_their_contents_queued_and_pulled_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    version_one_store(dir.path());
    let conn = Connection::open(dir.path().join(STORE_FILE)).unwrap();
    let file = |id: &str, hash: char, workstation: &str| {
        format!(
            "INSERT INTO files (id, case_id, original_name, stored_name, file_path, file_size, mime_type, upload_date, \
                                uploaded_by, hash, version, created_at, updated_at, updated_by) \
             VALUES ('{id}', '018f0000-0000-7000-8000-000000000001', 'jaw.stl', 'x.stl', '2026/01/ann/FD1-000001', 1, \
                     'application/sla', '2026-01-01T00:00:00.000Z', 'ann', '{h}', 1, '2026-01-01T00:00:00.000Z', \
                     '2026-01-01T00:00:00.000Z', 'ann'); \
             INSERT INTO revisions (id, record_kind, record_id, version, base_version, fields, author, workstation, made_at) \
             VALUES ('{id}-r', 'file', '{id}', 1, 0, '{{}}', 'ann', '{workstation}', '2026-01-01T00:00:00.000Z');",
            h = hash.to_string().repeat(64)
        )
    };
    conn.execute_batch(
        &(file("018f0000-0000-7000-8000-0000000000f1", 'a', "FD1")
            + &file("018f0000-0000-7000-8000-0000000000f2", 'b', "TB2")),
    )
    .unwrap();
    drop(conn);

    drop(Store::open(dir.path(), opts()).unwrap());
    let conn = Connection::open(dir.path().join(STORE_FILE)).unwrap();
    let queued: Vec<String> = conn
        .prepare("SELECT hash FROM blob_outbox")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(queued, vec!["a".repeat(64)], "the file attached here waits to go up; the one pulled from TB2 does not");
}
