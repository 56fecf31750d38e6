//! The batch path against one revision at a time, on a real PostgreSQL (the testkit's).
//!
//! `tests/store.rs` pins the answers push gives; these check what only a batch can get wrong:
//! its own view of the records it holds (a record created, edited and merged within one batch,
//! chains of unconfirmed parents, resolutions, duplicates, resends), the savepoint that undoes a
//! revision the database refuses, and races between batches creating the same records.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{ensure, Result};
use labdesk_proto::sync::{Outcome, PushResult};
use labdesk_proto::{RecordKind, Revision, Timestamp};
use labdesk_server_database::{Identity, Role, SyncStore};
use labdesk_testkit::{provision, revision, TestPostgres};
use serde_json::{json, Value};
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::{PgOptions, PgStore};

/// xorshift64*: reproducible scenarios without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A central store and the identities of the scenario's workstations in it.
struct Central {
    store: Arc<PgStore>,
    who: HashMap<&'static str, Identity>,
    db: TestPostgres,
}

const STATIONS: [(&str, &str, &str); 4] =
    [("North", "ann", "FD1"), ("North", "bob", "FD2"), ("North", "cat", "FD3"), ("South", "sam", "SO1")];

async fn central() -> Result<Central> {
    let db = TestPostgres::start()?;
    let store = PgStore::new(&db.url, PgOptions::default())?;
    store.migrate().await?;
    let mut who = HashMap::new();
    for (lab, user, code) in STATIONS {
        who.insert(user, provision(&store, lab, user, Role::Technician, code).await?.identity);
    }
    Ok(Central { store: Arc::new(store), who, db })
}

impl Central {
    async fn raw(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(&self.db.url, NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Everything push wrote, as JSON, without what differs between two databases by nature
    /// (ids of labs and users, arrival and seq numbers, receipt times).
    async fn contents(&self) -> Result<Value> {
        let raw = self.raw().await?;
        let mut all = serde_json::Map::new();
        for (table, order) in [("records", "id"), ("revisions", "id"), ("rejections", "revision_id")] {
            let sql = format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t) - 'lab_id' - 'pushed_by' - 'arrival' - 'seq' - 'received_at' \
                 ORDER BY {order}), '[]') FROM {table} t"
            );
            all.insert(table.to_owned(), raw.query_one(&sql, &[]).await?.get(0));
        }
        Ok(Value::Object(all))
    }

    /// The chain rules the pull order depends on: per record, arrival and seq follow version;
    /// every revision is numbered once its push has answered.
    async fn check_order(&self) -> Result<()> {
        let raw = self.raw().await?;
        let row = raw
            .query_one(
                "SELECT count(*) FILTER (WHERE seq IS NULL),
                        count(*) FILTER (WHERE arrival < prev_arrival OR seq < prev_seq)
                   FROM (SELECT p.seq, r.arrival,
                                lag(r.arrival) OVER (PARTITION BY r.record_id ORDER BY r.version) AS prev_arrival,
                                lag(p.seq) OVER (PARTITION BY r.record_id ORDER BY r.version) AS prev_seq
                           FROM revisions r LEFT JOIN pull_positions p ON p.revision_id = r.id) r",
                &[],
            )
            .await?;
        let (unnumbered, disordered): (i64, i64) = (row.get(0), row.get(1));
        ensure!(unnumbered == 0, "{unnumbered} revisions were not numbered after their push");
        ensure!(disordered == 0, "{disordered} revisions arrived or were numbered before an earlier version");
        Ok(())
    }
}

/// A workstation offline: what it last saw of each record, and its outbox.
struct Station {
    user: &'static str,
    code: &'static str,
    /// record → (the revision it would make a change on, that revision is its own unconfirmed)
    seen: HashMap<Uuid, (Uuid, bool)>,
    /// Its changes of cases, by record.
    own: Vec<(Uuid, Uuid)>,
    /// Records it created.
    created: std::collections::HashSet<Uuid>,
    /// Of another lab than the shared records: its changes of them are refused.
    foreign: bool,
    outbox: Vec<Revision>,
    made: usize,
}

impl Station {
    /// A change of `record` made on what this workstation saw of it (a creation if nothing).
    fn change(&mut self, kind: RecordKind, record: Uuid, fields: Value) -> Revision {
        if self.foreign && !self.created.contains(&record) && self.seen.contains_key(&record) {
            return self.refused(kind, record, fields, |_| {});
        }
        let seen = self.seen.get(&record).copied();
        if seen.is_none() {
            self.created.insert(record);
        }
        let mut r = revision(kind, record, seen.map(|s| s.0), self.user, self.code, fields);
        r.parent_unconfirmed = seen.is_some_and(|s| s.1);
        self.seen.insert(record, (r.id, true));
        self.made += 1;
        r
    }

    /// A change that will be refused, made as [`change`](Self::change) but forgotten at once: the
    /// workstation's next changes are not made on it (they would all be refused with it).
    fn refused(
        &mut self,
        kind: RecordKind,
        record: Uuid,
        fields: Value,
        spoil: impl FnOnce(&mut Revision),
    ) -> Revision {
        let before = self.seen.get(&record).copied();
        let mut r = revision(kind, record, before.map(|s| s.0), self.user, self.code, fields);
        r.parent_unconfirmed = before.is_some_and(|s| s.1);
        self.made += 1;
        spoil(&mut r);
        match before {
            Some(seen) => self.seen.insert(record, seen),
            None => self.seen.remove(&record),
        };
        r
    }
}

/// Offline histories for the four workstations over the shared records `cases` and `message`,
/// in the order they would be pushed: several kinds of conflict, and changes that are refused.
fn scenario(rng: &mut Rng, cases: &[Revision], message: &Revision) -> Vec<Station> {
    let mut stations: Vec<Station> = STATIONS
        .iter()
        .map(|(lab, user, code)| Station {
            user,
            code,
            seen: cases.iter().chain([message]).map(|r| (r.record_id, (r.id, false))).collect(),
            own: Vec::new(),
            created: std::collections::HashSet::new(),
            foreign: *lab != "North",
            outbox: Vec::new(),
            made: 0,
        })
        .collect();
    let names = ["ann", "bob", "cat", "sam"];
    for station in &mut stations {
        let mut my_cases: Vec<Uuid> = cases.iter().map(|c| c.record_id).collect();
        for _ in 0..20 {
            let case = *rng.pick(&my_cases);
            let r = match rng.below(12) {
                0..=2 => {
                    let fields = match rng.below(6) {
                        0 | 1 => json!({"status": rng.pick(&["received", "milling", "qc"])}),
                        2 => json!({"priority": rng.pick(&["low", "high"])}),
                        3 => json!({"assignees": [rng.pick(&names), rng.pick(&names)]}),
                        _ => json!({"order_note": format!("{} {}", station.user, rng.below(3)), "status": "qc"}),
                    };
                    station.change(RecordKind::Case, case, fields)
                }
                3 => {
                    let mut reaction = serde_json::Map::new();
                    reaction.insert((*rng.pick(&["👍", "❤"])).to_owned(), json!([station.user]));
                    station.change(RecordKind::ChatMessage, message.record_id, json!({"reactions": reaction}))
                }
                // Only ann sent it: anyone else's edit is refused.
                4 => {
                    let fields = json!({"message_content": format!("{} says hi", station.user)});
                    if station.user == "ann" {
                        station.change(RecordKind::ChatMessage, message.record_id, fields)
                    } else {
                        station.refused(RecordKind::ChatMessage, message.record_id, fields, |_| {})
                    }
                }
                5 => {
                    let id = Uuid::now_v7();
                    my_cases.push(id);
                    let number = format!("{}-{:06}", station.code, station.made);
                    station.change(RecordKind::Case, id, json!({"case_number": number, "status": "received"}))
                }
                6 => station.change(
                    RecordKind::ChatMessage,
                    Uuid::now_v7(),
                    json!({"case_id": case.to_string(), "sender_id": station.user, "message_content": "on it"}),
                ),
                // A derived id: every workstation setting this key of this case writes one record.
                7 => {
                    let key = *rng.pick(&["shade", "tooth"]);
                    let id = Uuid::new_v5(&case, key.as_bytes());
                    let value = *rng.pick(&["A1", "A2"]);
                    station.change(
                        RecordKind::CaseMeta,
                        id,
                        json!({"case_id": case.to_string(), "key": key, "value": value}),
                    )
                }
                8 => match rng.below(4) {
                    0 => station.refused(RecordKind::Case, case, json!({"status": "lost"}), |r| {
                        r.parent = Some(Uuid::now_v7());
                    }),
                    1 => station.refused(RecordKind::Case, case, json!({"case_number": "XX-000001"}), |_| {}),
                    2 => station.refused(RecordKind::Case, case, json!({"priority": "low"}), |r| {
                        r.resolves = vec![Uuid::now_v7()];
                    }),
                    _ => station.refused(
                        RecordKind::CaseNote,
                        Uuid::now_v7(),
                        json!({"case_id": Uuid::now_v7().to_string(), "body": "on a case never sent"}),
                        |_| {},
                    ),
                },
                // Settles this workstation's earlier changes of the case (conflicted or not).
                9 if station.own.iter().any(|(record, _)| *record == case) => {
                    let settles: Vec<Uuid> =
                        station.own.iter().filter(|(record, _)| *record == case).map(|(_, id)| *id).collect();
                    let mut r = station.change(RecordKind::Case, case, json!({"status": "shipped"}));
                    r.resolves = settles;
                    r
                }
                10 => station.change(RecordKind::Case, case, json!({"deleted_at": Timestamp::now().to_string()})),
                _ => station.change(
                    RecordKind::Case,
                    case,
                    json!({"due_date": format!("2026-12-0{}T00:00:00.000Z", 1 + rng.below(3))}),
                ),
            };
            if r.record_kind == RecordKind::Case && station.seen.get(&r.record_id).is_some_and(|s| s.0 == r.id) {
                station.own.push((r.record_id, r.id));
            }
            station.outbox.push(r);
            // Sometimes the workstation pulls its own change back: what it makes next is then
            // made on a confirmed parent.
            if rng.chance(20) {
                if let Some((_, unconfirmed)) = station.seen.get_mut(&case) {
                    *unconfirmed = false;
                }
            }
        }
    }
    stations
}

/// The same pushes into two central stores: into `batched` in the chunks given, into `single`
/// one revision per push (what one transaction per revision did). Both must answer alike and
/// end up alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_decides_and_stores_exactly_as_one_revision_at_a_time() -> Result<()> {
    for seed in 1..=6u64 {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        let (batched, single) = (central().await?, central().await?);
        // What everyone pulled before going offline: three cases and a message of ann's.
        let ann = "ann";
        let cases: Vec<Revision> = (1..=3)
            .map(|n| {
                let fields = json!({"case_number": format!("FD1-{n:06}"), "status": "received", "assignees": ["ann"]});
                revision(RecordKind::Case, Uuid::now_v7(), None, ann, "FD1", fields)
            })
            .collect();
        let message = revision(
            RecordKind::ChatMessage,
            Uuid::now_v7(),
            None,
            ann,
            "FD1",
            json!({"case_id": cases[0].record_id.to_string(), "sender_id": "ann", "message_content": "ready?", "reactions": {}}),
        );
        let mut first = cases.clone();
        first.push(message.clone());
        for central in [&batched, &single] {
            let answers = central.store.push(&central.who[ann], first.clone()).await?;
            ensure!(answers.iter().all(|a| a.outcome == Outcome::Applied), "seed {seed}: {answers:?}");
        }

        let mut stations = scenario(&mut rng, &cases, &message);
        let mut sent: Vec<(usize, Vec<Revision>)> = Vec::new();
        while stations.iter().any(|s| !s.outbox.is_empty()) {
            let at = rng.below(stations.len());
            let station = &mut stations[at];
            if station.outbox.is_empty() {
                continue;
            }
            let take = (1 + rng.below(8)).min(station.outbox.len());
            let mut chunk: Vec<Revision> = station.outbox.drain(..take).collect();
            if rng.chance(15) {
                let again = chunk[rng.below(chunk.len())].clone();
                chunk.push(again); // the same revision twice in one batch
            }
            sent.push((at, chunk));
            if rng.chance(15) {
                let again = sent[rng.below(sent.len())].clone();
                sent.push(again); // a resend: an answer lost on the way
            }
        }
        let sent: Vec<(&str, Vec<Revision>)> = sent.into_iter().map(|(at, chunk)| (stations[at].user, chunk)).collect();
        let tally = push_both(&batched, &single, &sent).await.map_err(|e| e.context(format!("seed {seed}")))?;
        eprintln!("seed {seed}: {} pushes, answers {tally:?}; both stores alike", sent.len());
    }
    Ok(())
}

/// Pushes `sent` (who, batch) into `batched` batch by batch and into `single` one revision per
/// push; fails unless both answer alike and end up alike. Returns how many of each outcome.
async fn push_both(
    batched: &Central,
    single: &Central,
    sent: &[(&str, Vec<Revision>)],
) -> Result<Vec<(String, usize)>> {
    let mut tally: HashMap<String, usize> = HashMap::new();
    for (n, (user, chunk)) in sent.iter().enumerate() {
        let in_batch = batched.store.push(&batched.who[user], chunk.clone()).await?;
        for answer in &in_batch {
            *tally.entry(format!("{:?}", answer.outcome)).or_default() += 1;
        }
        let mut one_by_one: Vec<PushResult> = Vec::new();
        for revision in chunk {
            one_by_one.extend(single.store.push(&single.who[user], vec![revision.clone()]).await?);
        }
        ensure!(in_batch == one_by_one, "push {n} from {user}: batch {in_batch:#?}\nsingle {one_by_one:#?}");
    }
    let (b, s) = (batched.contents().await?, single.contents().await?);
    ensure!(b == s, "the stores differ:\nbatched {b:#}\nsingle {s:#}");
    batched.check_order().await?;
    single.check_order().await?;
    let mut tally: Vec<(String, usize)> = tally.into_iter().collect();
    tally.sort();
    Ok(tally)
}

/// One batch of bob's: a change that conflicts with ann's, one made on it, the resolution of
/// the conflict, and one more — the batch's own view of the record follows its conflicts and
/// resolutions as the stored record would.
#[tokio::test]
async fn a_conflict_and_its_resolution_in_one_batch_end_as_pushed_one_by_one() -> Result<()> {
    let (batched, single) = (central().await?, central().await?);
    let id = Uuid::now_v7();
    let create =
        revision(RecordKind::Case, id, None, "ann", "FD1", json!({"case_number": "FD1-000001", "status": "received"}));
    let anns = revision(RecordKind::Case, id, Some(create.id), "ann", "FD1", json!({"status": "milling"}));
    let bob = |parent: &Revision, fields: Value| {
        let mut r = revision(RecordKind::Case, id, Some(parent.id), "bob", "FD2", fields);
        r.parent_unconfirmed = parent.author == "bob";
        r
    };
    let disputes = bob(&create, json!({"status": "qc"}));
    let on_it = bob(&disputes, json!({"priority": "high"}));
    let settles = Revision { resolves: vec![disputes.id], ..bob(&on_it, json!({"status": "qc"})) };
    let after = bob(&settles, json!({"order_note": "done"}));
    let sent = [("ann", vec![create, anns]), ("bob", vec![disputes, on_it, settles, after])];
    let tally = push_both(&batched, &single, &sent).await?;
    ensure!(tally.iter().any(|(outcome, _)| outcome == "Conflicted"), "the first of bob's conflicts: {tally:?}");
    let raw = batched.raw().await?;
    let needs_review: bool = raw.query_one("SELECT needs_review FROM records WHERE id = $1", &[&id]).await?.get(0);
    ensure!(!needs_review, "the resolution in the same batch settled it");
    Ok(())
}

/// A revision the database refuses (text PostgreSQL cannot store) is undone alone: the ones
/// before it are stored and the push fails at it, as one transaction per revision did; a resend
/// gets the first ones' answers and the ones after it are decided then.
#[tokio::test]
async fn a_revision_the_database_refuses_is_rolled_back_alone() -> Result<()> {
    let c = central().await?;
    let ann = &c.who["ann"];
    let case = revision(RecordKind::Case, Uuid::now_v7(), None, "ann", "FD1", json!({"case_number": "FD1-000001"}));
    let edit = revision(RecordKind::Case, case.record_id, Some(case.id), "ann", "FD1", json!({"status": "qc"}));
    let bad = revision(
        RecordKind::CaseNote,
        Uuid::now_v7(),
        None,
        "ann",
        "FD1",
        json!({"case_id": case.record_id.to_string(), "body": "nul \u{0} here"}),
    );
    let after = revision(RecordKind::Case, Uuid::now_v7(), None, "ann", "FD1", json!({"case_number": "FD1-000002"}));
    let failed = c.store.push(ann, vec![case.clone(), edit.clone(), bad.clone(), after.clone()]).await;
    ensure!(failed.is_err(), "the push fails at the refused revision: {failed:?}");
    let raw = c.raw().await?;
    let stored: Vec<Uuid> =
        raw.query("SELECT id FROM revisions ORDER BY arrival", &[]).await?.iter().map(|r| r.get(0)).collect();
    ensure!(stored == [case.id, edit.id], "those before it are stored, nothing of it or after: {stored:?}");
    let notes: i64 = raw.query_one("SELECT count(*) FROM records WHERE kind = 'case_note'", &[]).await?.get(0);
    ensure!(notes == 0, "the refused revision left its record row behind");
    c.check_order().await?;

    let answers = c.store.push(ann, vec![case.clone(), edit.clone(), after.clone()]).await?;
    let got: Vec<(Outcome, Option<u32>)> = answers.iter().map(|a| (a.outcome, a.version)).collect();
    ensure!(
        got == [(Outcome::Applied, Some(1)), (Outcome::Applied, Some(2)), (Outcome::Applied, Some(1))],
        "{answers:?}"
    );
    c.check_order().await?;
    Ok(())
}

/// Batches that create the same derived-id records at the same moment, in opposite orders,
/// through two server instances: each record is created once and every revision is answered,
/// the later ones merged into it (a batch that finds a record created under it runs again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_creating_the_same_records_at_once_meet_as_one_record_each() -> Result<()> {
    let c = central().await?;
    let other = Arc::new(PgStore::new(&c.db.url, PgOptions::default())?);
    let case = revision(RecordKind::Case, Uuid::now_v7(), None, "ann", "FD1", json!({"case_number": "FD1-000001"}));
    c.store.push(&c.who["ann"], vec![case.clone()]).await?;
    for round in 0..12 {
        let keys: Vec<String> = (0..6).map(|k| format!("key {round}.{k}")).collect();
        let meta = |user: &str, code: &str, key: &String| {
            let id = Uuid::new_v5(&case.record_id, key.as_bytes());
            let fields = json!({"case_id": case.record_id.to_string(), "key": key, "value": user});
            revision(RecordKind::CaseMeta, id, None, user, code, fields)
        };
        let anns: Vec<Revision> = keys.iter().map(|k| meta("ann", "FD1", k)).collect();
        let bobs: Vec<Revision> = keys.iter().rev().map(|k| meta("bob", "FD2", k)).collect();
        let (a, b) = tokio::join!(c.store.push(&c.who["ann"], anns.clone()), other.push(&c.who["bob"], bobs.clone()));
        let (a, b) = (a?, b?);
        for key in &keys {
            let id = Uuid::new_v5(&case.record_id, key.as_bytes());
            let answers: Vec<&PushResult> = a
                .iter()
                .zip(&anns)
                .chain(b.iter().zip(&bobs))
                .filter(|(_, r)| r.record_id == id)
                .map(|(answer, _)| answer)
                .collect();
            let mut versions: Vec<Option<u32>> = answers.iter().map(|a| a.version).collect();
            versions.sort();
            ensure!(versions == [Some(1), Some(2)], "round {round}, {key}: {answers:?}");
            ensure!(answers.iter().any(|a| a.outcome == Outcome::Conflicted), "different values conflict: {answers:?}");
        }
    }
    let raw = c.raw().await?;
    let metas: i64 = raw.query_one("SELECT count(*) FROM records WHERE kind = 'case_meta'", &[]).await?.get(0);
    ensure!(metas == 72, "one record per key: {metas}");
    c.check_order().await?;
    Ok(())
}
