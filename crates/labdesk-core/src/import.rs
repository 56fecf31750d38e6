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

impl ImportCase {
    /// The case number the item brings from the old system, as it will be stored (trimmed);
    /// `None` when one is to be minted.
    pub fn case_number(&self) -> Option<&str> {
        self.fields.get("case_number").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty())
    }
}

/// A case number of an import that a case of this store has already, or that several lines of
/// the import bring: a store keeps one case per number, so the import is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberClash {
    pub case_number: String,
    /// The lines (1-based) of the import that bring it, in order.
    pub lines: Vec<usize>,
    /// The patient of the case of this store that has it, if one has.
    pub in_store: Option<String>,
}

impl std::fmt::Display for NumberClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.lines.iter().map(ToString::to_string).collect();
        let lines = match lines.split_last() {
            Some((last, [])) => format!("line {last}"),
            Some((last, rest)) => format!("lines {} and {last}", rest.join(", ")),
            None => "no line".to_owned(),
        };
        match &self.in_store {
            Some(patient) => write!(
                f,
                "case number {} ({lines}) is already used by a case in this store (patient {patient})",
                self.case_number
            ),
            None => write!(f, "case number {} is on {lines} of the import", self.case_number),
        }
    }
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
    /// The case numbers of an import (`numbers`: each line that brings one, with it) that a case
    /// of this store has, deleted or not, or that several lines bring, in the order of their
    /// first line. Check before storing anything: an import with clashes is refused whole, so a
    /// person fixes the file once and imports it again. (A number only another workstation has
    /// is found by the central store at the next sync, which rejects the later case.)
    pub fn import_number_clashes(&self, numbers: &[(usize, String)]) -> Result<Vec<NumberClash>> {
        let mut by_number: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (line, number) in numbers {
            by_number.entry(number.trim()).or_default().push(*line);
        }
        let mut clashes = Vec::new();
        let mut stmt = self.conn.prepare_cached("SELECT patient_name FROM cases WHERE case_number = ?1")?;
        for (number, lines) in by_number {
            let in_store: Option<String> = stmt.query_row([number], |r| r.get(0)).map(Some).or_else(|e| {
                if e == rusqlite::Error::QueryReturnedNoRows {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?;
            if lines.len() > 1 || in_store.is_some() {
                clashes.push(NumberClash { case_number: number.to_owned(), lines, in_store });
            }
        }
        clashes.sort_by_key(|c| c.lines[0]);
        Ok(clashes)
    }

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
    fn numbers_that_several_lines_bring_or_a_case_of_the_store_has_are_all_named_with_their_lines() {
        let mut s = crate::test_support::store();
        s.create_case(crate::test_support::fields(json!({"patient_name": "Ada Lovelace", "case_number": "OLD-9"})))
            .unwrap();
        let numbers: Vec<(usize, String)> =
            [(1, "OLD-17"), (2, "OLD-18"), (4, " OLD-17 "), (5, "OLD-9"), (7, "OLD-17"), (8, "NEW-1")]
                .into_iter()
                .map(|(line, n)| (line, n.to_owned()))
                .collect();
        let clashes = s.import_number_clashes(&numbers).unwrap();
        let said: Vec<String> = clashes.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "case number OLD-17 is on lines 1, 4 and 7 of the import",
                "case number OLD-9 (line 5) is already used by a case in this store (patient Ada Lovelace)",
            ],
            "every clash is named, with every line that brings it"
        );
        assert!(s.import_number_clashes(&numbers[1..2]).unwrap().is_empty(), "a free number is no clash");
    }

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
