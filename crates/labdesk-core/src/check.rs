//! The store's consistency check: what must always hold, checked from the data itself.
//!
//! - SQLite's own `integrity_check` passes.
//! - Every record's chain is well-formed: versions 1..n, the first on base 0, each revision
//!   made on the one before (`parent`) and superseded by the next, only the last a head, the row
//!   at the head's version.
//! - Every record's current row equals its chain folded in order.
//! - The outbox holds exactly the local revisions that are neither accepted by the central store
//!   (`accepted_version`) nor pulled back from it (`central_seq`).
//! - Every unresolved conflict names a revision that exists, and every resolved one the revision
//!   that resolved it.
//! - The search index holds exactly the live searchable records, and the assignee index exactly
//!   each case's assignees with the case's due date and liveness.
//! - No change from the lab is held (set aside because this store could not take it): while one
//!   is, the store is not the lab's state.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::record::{fold, load_raw_where, read_revisions};
use crate::sync::canonical;
use crate::{RecordKind, Revision, Store};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckReport {
    /// What `PRAGMA integrity_check` said ("ok"), or `None` when it was skipped.
    pub integrity: Option<String>,
    pub records: u64,
    pub revisions: u64,
    pub outbox: u64,
    /// Every broken rule, one sentence each. Empty means the store is sound.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.integrity.as_deref().is_none_or(|i| i == "ok")
    }
}

fn check_kind(store: &Store, kind: RecordKind, report: &mut CheckReport) -> Result<()> {
    let rows = load_raw_where(&store.conn, kind, "1 ORDER BY seq", [])?;
    let revisions = read_revisions(&store.conn, "record_kind = ?1 ORDER BY record_id, version", [kind.as_str()])?;
    report.revisions += revisions.len() as u64;
    let mut chains: HashMap<Uuid, Vec<Revision>> = HashMap::new();
    for revision in revisions {
        chains.entry(revision.record_id).or_default().push(revision);
    }
    let label = kind.label();
    for (row, state) in rows {
        report.records += 1;
        let Some(chain) = chains.remove(&row.id) else {
            report.problems.push(format!("{label} {} has no revisions", row.id));
            continue;
        };
        for (i, revision) in chain.iter().enumerate() {
            let expected = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if revision.version != expected {
                report.problems.push(format!(
                    "{label} {}: revision {} has version {} where {expected} belongs",
                    row.id, revision.id, revision.version
                ));
            }
            let previous = i.checked_sub(1).map(|p| chain[p].id);
            if revision.parent != previous {
                report.problems.push(format!(
                    "{label} {}: revision v{} names {:?} as the change it was made on, expected {:?}",
                    row.id, revision.version, revision.parent, previous
                ));
            }
            let next = chain.get(i + 1).map(|n| n.id);
            if revision.superseded_by != next {
                report.problems.push(format!(
                    "{label} {}: revision v{} is superseded by {:?}, expected {:?}",
                    row.id, revision.version, revision.superseded_by, next
                ));
            }
        }
        if chain.first().is_some_and(|first| first.base_version != 0) {
            report.problems.push(format!("{label} {}: the first revision is not based on version 0", row.id));
        }
        let head = &chain[chain.len() - 1];
        if head.version != row.version {
            report.problems.push(format!(
                "{label} {} is at version {} but its chain ends at {}",
                row.id, row.version, head.version
            ));
        }
        if head.made_at != row.updated_at || head.author != row.updated_by {
            report.problems.push(format!("{label} {}: updated_at/updated_by differ from the head revision", row.id));
        }
        let folded = fold(&chain);
        // The row as its kind reads it, in stored form (as the typed record read back would be).
        let current = canonical(kind, &state);
        if folded != current {
            let differing: std::collections::BTreeSet<&String> = current
                .keys()
                .chain(folded.keys())
                .filter(|k| folded.get(*k).unwrap_or(&Value::Null) != current.get(*k).unwrap_or(&Value::Null))
                .collect();
            report
                .problems
                .push(format!("{label} {}: the row differs from its chain folded in order in {differing:?}", row.id));
        }
    }
    for record_id in chains.keys() {
        report.problems.push(format!("{label} {record_id} has revisions but no row"));
    }
    Ok(())
}

fn count(store: &Store, sql: &str) -> Result<i64> {
    Ok(store.conn.query_row(sql, [], |r| r.get(0))?)
}

impl Store {
    /// Checks every rule above. `integrity` also runs SQLite's full `integrity_check`, which
    /// reads every page of the file.
    #[tracing::instrument(skip(self))]
    pub fn check(&self, integrity: bool) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        if integrity {
            let verdicts: Vec<String> =
                self.conn.prepare("PRAGMA integrity_check")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            report.integrity = Some(verdicts.join("; "));
        }
        for kind in RecordKind::ALL {
            check_kind(self, *kind, &mut report)?;
        }
        let all_revisions = count(self, "SELECT count(*) FROM revisions")?;
        if u64::try_from(all_revisions).unwrap_or(0) != report.revisions {
            report.problems.push(format!(
                "{} revisions belong to no known kind of record",
                all_revisions - report.revisions as i64
            ));
        }
        report.outbox = u64::try_from(count(self, "SELECT count(*) FROM outbox")?).unwrap_or(0);
        let missing = count(
            self,
            "SELECT count(*) FROM revisions r WHERE r.origin = 'local' AND r.central_seq IS NULL \
             AND r.accepted_version IS NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.revision_id = r.id)",
        )?;
        if missing > 0 {
            report.problems.push(format!("{missing} local changes not yet accepted are missing from the outbox"));
        }
        let extra = count(
            self,
            "SELECT count(*) FROM outbox o JOIN revisions r ON r.id = o.revision_id \
             WHERE r.origin <> 'local' OR r.central_seq IS NOT NULL OR r.accepted_version IS NOT NULL",
        )?;
        if extra > 0 {
            report.problems.push(format!("{extra} outbox entries are for changes already accepted or not made here"));
        }
        // Once a change is pulled back, the central copy is the truth: its acceptance note is spent.
        // What the assignee index must hold, stated once, compared both ways (EXCEPT treats two
        // null due dates as equal, as the index does).
        let (stale, unlisted): (i64, i64) = self.conn.query_row(
            "WITH expected AS (SELECT a.value, c.id, c.seq, c.due_date, c.deleted_at IS NULL \
                               FROM cases c, json_each(c.assignees) a), \
                  actual AS (SELECT assignee, case_id, case_seq, due_date, live FROM case_assignees) \
             SELECT (SELECT count(*) FROM (SELECT * FROM actual EXCEPT SELECT * FROM expected)), \
                    (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM actual))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if stale != 0 || unlisted != 0 {
            report.problems.push(format!(
                "the assignee index has {stale} entries too many and misses {unlisted} (case, assignee) pairs"
            ));
        }
        let indexed = count(self, "SELECT count(*) FROM search_index")?;
        let views: Vec<String> = RecordKind::ALL
            .iter()
            .filter_map(|k| k.decl().search_view())
            .map(|view| format!("(SELECT count(*) FROM {view})"))
            .collect();
        let searchable = count(self, &format!("SELECT {}", views.join(" + ")))?;
        if indexed != searchable {
            report.problems.push(format!("the search index has {indexed} entries for {searchable} searchable records"));
        }
        for held in self.held_changes()? {
            let what = match (held.record_kind, &held.case_number) {
                (crate::RecordKind::Case, Some(number)) => format!("case {number}"),
                (kind, Some(number)) => format!("a {} of case {number}", kind.label()),
                (kind, None) => format!("{} {}", kind.label(), held.record_id),
            };
            report.problems.push(format!(
                "a change from the lab to {what} (version {}, by {}@{}) is not stored here, so this store is not the \
                 lab's state: {}",
                held.version, held.author, held.workstation, held.reason
            ));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{fields, store};

    #[test]
    fn a_healthy_store_passes() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.edit_case("FD1-000001", Some(1), fields(json!({"status": "qc"}))).unwrap();
        let report = s.check(true).unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!((report.records, report.revisions, report.outbox), (1, 2, 2));
        assert_eq!(report.integrity.as_deref(), Some("ok"));
    }

    #[test]
    fn a_row_changed_behind_the_stores_back_is_reported() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.conn.execute("UPDATE cases SET status = 'tampered'", []).unwrap();
        let report = s.check(false).unwrap();
        assert!(!report.is_ok());
        assert!(
            report.problems[0].contains("differs from its chain folded in order in {\"status\"}"),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn an_assignee_entry_out_of_step_with_its_case_is_reported() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P", "assignees": ["bob"], "due_date": "2026-05-01"}))).unwrap();
        assert!(s.check(false).unwrap().is_ok());
        s.conn.execute("UPDATE case_assignees SET due_date = '2026-06-01'", []).unwrap();
        let report = s.check(false).unwrap();
        assert!(report.problems.iter().any(|p| p.contains("assignee index")), "{:?}", report.problems);
    }

    #[test]
    fn a_lost_outbox_entry_and_a_broken_chain_are_reported() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.edit_case("FD1-000001", Some(1), fields(json!({"status": "qc"}))).unwrap();
        s.conn.execute("DELETE FROM outbox WHERE seq = 2", []).unwrap();
        let two_heads = s.conn.execute("UPDATE revisions SET superseded_by = NULL WHERE version = 1", []);
        assert!(two_heads.is_err(), "the schema itself refuses a chain with two heads");
        let report = s.check(false).unwrap();
        assert!(report.problems.iter().any(|p| p.contains("missing from the outbox")), "{:?}", report.problems);
    }
}
