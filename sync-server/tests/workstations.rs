//! End to end: real workstations (`labdesk-core` stores with their HTTP transport) syncing
//! through the real server and PostgreSQL. What the sync model promises a lab: everyone
//! converges, a conflict is shown on every workstation until a person settles it, and every
//! store stays sound.

use anyhow::Result;
use labdesk_core::sync::{parse_server_url, sync_round, HttpTransport, SyncReport, Token};
use labdesk_core::{OpenOptions, Store};
use labdesk_server_database::Role;
use labdesk_testkit::{provision_blocking, Provisioned, TestPostgres, TestServer};
use serde_json::{json, Map, Value};

/// A workstation: its local store and its way to the server.
struct Workstation {
    store: Store,
    transport: HttpTransport,
}

impl Workstation {
    fn new(server: &TestServer, who: &Provisioned) -> Result<Self> {
        let store = Store::open_in_memory(OpenOptions {
            workstation: Some(who.identity.workstation_code.clone()),
            user: Some(who.identity.user_name.clone()),
        })?;
        let transport = HttpTransport::new(&parse_server_url(&server.url)?, &Token::new(&who.token)?)?;
        Ok(Self { store, transport })
    }

    fn sync(&mut self) -> Result<SyncReport> {
        Ok(sync_round(&mut self.store, &self.transport, &mut |_| {})?)
    }

    fn status(&self, case_number: &str) -> Result<String> {
        Ok(self.store.case(case_number)?.record.status)
    }

    fn assert_sound(&self) -> Result<()> {
        let report = self.store.check(true)?;
        assert!(report.is_ok(), "the workstation's store must stay sound: {:?}", report.problems);
        Ok(())
    }
}

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[test]
fn two_workstations_converge_through_the_server_and_both_see_a_conflict_until_it_is_resolved() -> Result<()> {
    let db = TestPostgres::start()?;
    let server = TestServer::start(&db.url)?;
    let ann = provision_blocking(&db.url, "North", "ann", Role::Technician, "FD1")?;
    let bob = provision_blocking(&db.url, "North", "bob", Role::Technician, "FD2")?;
    let mut fd1 = Workstation::new(&server, &ann)?;
    let mut fd2 = Workstation::new(&server, &bob)?;

    // FD1 takes in a case with a note; FD2 gets both.
    let case = fd1.store.create_case(fields(json!({"patient_name": "Jane Roe", "status": "received"})))?;
    let number = case.record.case_number.clone();
    fd1.store.add_note(&number, "shade A2")?;
    let pushed = fd1.sync()?;
    assert_eq!((pushed.applied, pushed.rejected), (2, 0), "the case and its note are taken as they are");
    fd2.sync()?;
    assert_eq!(fd2.status(&number)?, "received", "FD2 has the case FD1 took in");

    // Both change the status offline, to different values; FD1 syncs first.
    fd1.store.edit_case(&number, None, fields(json!({"status": "milling"})))?;
    fd2.store.edit_case(&number, None, fields(json!({"status": "qc"})))?;
    fd1.sync()?;
    let report = fd2.sync()?;
    assert_eq!(report.conflicted, 1, "FD2's change came second: conflicted");
    fd1.sync()?;
    assert_eq!(fd1.status(&number)?, "milling");
    assert_eq!(fd2.status(&number)?, "milling", "the value accepted first stays, on every workstation");
    assert_eq!(fd1.store.conflicts()?.len(), 1, "FD1 sees the conflict too");
    assert_eq!(fd2.store.conflicts()?.len(), 1);

    // A person on FD2 picks "qc"; after a sync everyone has it and no one needs to review.
    fd2.store.resolve(case.id, fields(json!({"status": "qc"})))?;
    fd2.sync()?;
    fd1.sync()?;
    for ws in [&fd1, &fd2] {
        assert_eq!(ws.status(&number)?, "qc");
        assert!(ws.store.conflicts()?.is_empty(), "the resolution settled the conflict everywhere");
        ws.assert_sound()?;
    }
    Ok(())
}

#[test]
fn the_same_meta_key_set_offline_on_two_workstations_and_reactions_from_both_meet_in_one_record() -> Result<()> {
    let db = TestPostgres::start()?;
    let server = TestServer::start(&db.url)?;
    let ann = provision_blocking(&db.url, "North", "ann", Role::Technician, "FD1")?;
    let bob = provision_blocking(&db.url, "North", "bob", Role::Technician, "FD2")?;
    let mut fd1 = Workstation::new(&server, &ann)?;
    let mut fd2 = Workstation::new(&server, &bob)?;
    let case = fd1.store.create_case(fields(json!({"patient_name": "Jane Roe"})))?;
    let number = case.record.case_number.clone();
    let message = fd1.store.post_message(&number, labdesk_core::NewMessage::text("ready for try-in?"))?;
    fd1.sync()?;
    fd2.sync()?;

    // Offline on both: the same meta key (a derived id: one record) and a reaction each.
    fd1.store.set_meta(&number, "shade", "A2")?;
    fd2.store.set_meta(&number, "shade", "A2")?;
    fd1.store.react(message.id, "👍", true)?;
    fd2.store.react(message.id, "👍", true)?;
    let first = fd1.sync()?;
    let second = fd2.sync()?;
    fd1.sync()?;
    assert_eq!((first.rejected, second.rejected, second.conflicted), (0, 0, 0), "nothing refused, nothing disputed");
    for ws in [&fd1, &fd2] {
        let meta = ws.store.meta(&number)?;
        assert_eq!(meta.len(), 1, "one shade, not two");
        assert_eq!(meta[0].record.value, "A2");
        let reactions = ws.store.message(message.id)?.record.reactions;
        let thumbs: Vec<&str> = reactions["👍"].iter().map(String::as_str).collect();
        assert_eq!(thumbs, ["ann", "bob"], "both reactions kept, as a set");
        ws.assert_sound()?;
    }
    Ok(())
}

#[test]
fn a_fresh_workstation_starts_from_the_snapshot_the_server_built_and_converges_with_the_lab() -> Result<()> {
    use labdesk_server_database::SyncStore;
    use labdesk_sync::snapshot::{build_and_save_until, Built, Start};

    let db = TestPostgres::start()?;
    let server = TestServer::start(&db.url)?;
    let ann = provision_blocking(&db.url, "North", "ann", Role::Technician, "FD1")?;
    let cara = provision_blocking(&db.url, "North", "cara", Role::Technician, "FD3")?;
    let mut fd1 = Workstation::new(&server, &ann)?;
    for i in 0..20 {
        let case =
            fd1.store.create_case(fields(json!({"patient_name": format!("Patient {i}"), "status": "received"})))?;
        fd1.store.add_note(&case.record.case_number, "shade A2")?;
    }
    fd1.sync()?;

    // The server builds the lab's snapshot, as its builder does; then the lab goes on.
    let store: std::sync::Arc<dyn SyncStore> = std::sync::Arc::new(labdesk_server_postgres::PgStore::new(
        &db.url,
        labdesk_server_postgres::PgOptions::default(),
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let build_from = |start: Start| -> Result<labdesk_proto::sync::SnapshotInfo> {
        let built = runtime.block_on(async {
            let lab = store.lab("North").await?;
            let stop = tokio_util::sync::CancellationToken::new();
            anyhow::Ok(build_and_save_until(&store, &lab, start, &stop).await?)
        })?;
        match built {
            Built::Snapshot(snapshot) => Ok(snapshot),
            other => panic!("the lab has revisions: a snapshot is built, not {other:?}"),
        }
    };
    let build = || build_from(Start::Newest);
    assert_eq!(build()?.revisions, 40, "every case and note so far");
    // The next one starts from it and pulls only what came after (the builder takes the lab's
    // snapshot as a workstation does); then the lab goes on.
    fd1.store.edit_case("FD1-000001", None, fields(json!({"status": "milling"})))?;
    fd1.sync()?;
    let newest = build()?;
    assert_eq!(newest.revisions, 41, "the first snapshot's and the edit after it");
    // Built again from the central store alone, at the same cursor: it replaces the one there, and
    // is what the new workstation below takes.
    let scratch = build_from(Start::Scratch)?;
    assert_eq!((scratch.revisions, scratch.seq), (newest.revisions, newest.seq));
    fd1.store.edit_case("FD1-000001", None, fields(json!({"status": "qc"})))?;
    fd1.sync()?;

    // A new workstation in a folder, as a lab's: it takes the newest snapshot, then pulls the edit
    // after it.
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), OpenOptions { workstation: Some("FD3".into()), user: Some("cara".into()) })?;
    let transport = HttpTransport::new(&parse_server_url(&server.url)?, &Token::new(&cara.token)?)?;
    let mut fd3 = Workstation { store, transport };
    let report = fd3.sync()?;
    assert_eq!(report.from_snapshot, 41, "the newest snapshot was taken");
    assert_eq!(report.pulled, 42, "and the edit made after it was pulled");
    assert_eq!(fd3.status("FD1-000001")?, "qc");
    assert_eq!(fd3.store.sync_state()?.cursor, fd1.store.sync_state()?.cursor, "caught up with the lab");
    fd3.assert_sound()?;

    // It is a workstation of its own: its cases are numbered FD3 and reach the others.
    let mine = fd3.store.create_case(fields(json!({"patient_name": "Taken In At FD3", "status": "received"})))?;
    assert_eq!(mine.record.case_number, "FD3-000001");
    assert_eq!(fd3.sync()?.applied, 1);
    fd1.sync()?;
    assert_eq!(fd1.status("FD3-000001")?, "received", "FD1 has the case FD3 took in");
    runtime.shutdown_background();
    Ok(())
}
