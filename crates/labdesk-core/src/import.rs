//! Bulk import of cases, for lab IT moving from another system and for loading test data.
//!
//! Each input item is a case's fields plus, optionally, its meta, notes and chat. Items go in
//! batches, one transaction a batch; each item inside its own savepoint, so a bad item is
//! reported with its line number and skipped without sinking the good ones around it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{self, Actor};
use crate::{NewMessage, Store};

/// One case to import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportCase {
    /// The case's fields, as for intake; a `case_number` from the old system is kept.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub chat: Vec<NewMessage>,
}

/// An item that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// The item's line (1-based) in the input.
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub imported: u64,
    /// Records written in all: cases, meta values, notes and messages.
    pub records: u64,
    pub skipped: Vec<Skipped>,
    /// The case numbers given to the imported cases, in input order.
    pub case_numbers: Vec<String>,
}

fn import_one(conn: &rusqlite::Connection, actor: &Actor, item: ImportCase) -> Result<(String, u64)> {
    let case = crate::cases::new_case(conn, actor, item.fields)?;
    let id = Uuid::now_v7();
    let number = record::create(conn, actor, id, case)?.record.record.case_number;
    let mut records = 1;
    for (key, value) in &item.meta {
        crate::meta::set(conn, actor, id, key, value)?;
        records += 1;
    }
    for body in &item.notes {
        crate::notes::add(conn, actor, id, body)?;
        records += 1;
    }
    for message in item.chat {
        crate::chat::post(conn, actor, id, message)?;
        records += 1;
    }
    Ok((number, records))
}

impl Store {
    /// Imports one batch in one transaction. Items are (line number, parsed item or the reason
    /// it could not be read). Bad items are skipped and reported; good ones are all stored.
    pub fn import_batch(
        &mut self,
        items: Vec<(usize, std::result::Result<ImportCase, String>)>,
        report: &mut ImportReport,
    ) -> Result<()> {
        let actor = self.actor.clone();
        let mut tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (line, item) in items {
            let item = match item {
                Ok(item) => item,
                Err(reason) => {
                    report.skipped.push(Skipped { line, reason });
                    continue;
                }
            };
            let savepoint = tx.savepoint()?;
            match import_one(&savepoint, &actor, item) {
                Ok((number, records)) => {
                    savepoint.commit()?;
                    report.imported += 1;
                    report.records += records;
                    report.case_numbers.push(number);
                }
                Err(e @ (Error::Invalid(_) | Error::NotFound { .. })) => {
                    // Dropping the savepoint rolls back this item only.
                    report.skipped.push(Skipped { line, reason: e.to_string() });
                }
                Err(other) => return Err(other),
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_bad_item_is_skipped_with_its_line_and_the_good_ones_are_stored() {
        let mut s = crate::test_support::store();
        let good: ImportCase = serde_json::from_value(json!({
            "patient_name": "A", "meta": {"patient_age": "40"}, "notes": ["n"], "chat": [{"message_content": "hi"}]
        }))
        .unwrap();
        let bad: ImportCase =
            serde_json::from_value(json!({"patient_name": "B", "meta": {"patient_age": "old"}})).unwrap();
        let mut report = ImportReport::default();
        s.import_batch(
            vec![(1, Ok(good.clone())), (2, Ok(bad)), (3, Err("not JSON".into())), (4, Ok(good))],
            &mut report,
        )
        .unwrap();
        assert_eq!(report.imported, 2);
        assert_eq!(report.records, 8);
        assert_eq!(report.skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 3]);
        assert!(report.skipped[0].reason.contains("patient_age"), "{:?}", report.skipped);
        assert_eq!(crate::test_support::count(&s, "cases"), 2, "the bad item's case was rolled back with it");
        assert!(s.check(true).unwrap().is_ok());
    }
}
