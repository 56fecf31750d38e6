//! Case notes: timestamped remarks on a case (seed 001, `case_notes`).

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::{FieldError, Result};
use crate::record::{self, Actor, Record, Stored, Written};
use crate::validate::{live_case, required, LONG_TEXT};
use crate::{RecordKind, Store};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CaseNote {
    pub case_id: Uuid,
    pub author_id: String,
    pub body: String,
}

impl Record for CaseNote {
    const KIND: RecordKind = RecordKind::CaseNote;

    fn validate_alone(&self, _id: Uuid, p: &mut Vec<FieldError>) {
        required(p, "body", &self.body, LONG_TEXT);
    }

    fn validate(&self, _id: Uuid, conn: &Connection, p: &mut Vec<FieldError>) -> Result<()> {
        live_case(p, conn, "case_id", self.case_id)
    }
}

pub(crate) fn add(conn: &Connection, actor: &Actor, case_id: Uuid, body: &str) -> Result<Stored<CaseNote>> {
    let note = CaseNote { case_id, author_id: actor.user.clone(), body: body.to_owned() };
    Ok(record::create(conn, actor, Uuid::now_v7(), note)?.record)
}

impl Store {
    /// Adds a note to a case; its time is the note's `created_at`.
    pub fn add_note(&mut self, case_key: &str, body: &str) -> Result<Stored<CaseNote>> {
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            add(tx, actor, case_id, body)
        })
    }

    pub fn edit_note(&mut self, id: Uuid, base_version: Option<u32>, body: &str) -> Result<Written<CaseNote>> {
        self.write(|tx, actor| {
            record::patch::<CaseNote>(tx, actor, id, base_version, record::object(json!({ "body": body })))
        })
    }

    pub fn delete_note(&mut self, id: Uuid, base_version: Option<u32>) -> Result<Written<CaseNote>> {
        self.write(|tx, actor| record::set_deleted::<CaseNote>(tx, actor, id, base_version, true))
    }

    /// A case's live notes, oldest first.
    pub fn notes(&self, case_key: &str) -> Result<Vec<Stored<CaseNote>>> {
        let case_id = crate::cases::resolve(&self.conn, case_key)?;
        record::load_where::<CaseNote>(
            &self.conn,
            "case_id = ?1 AND deleted_at IS NULL ORDER BY created_at, seq",
            [case_id.to_string()],
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{fields, store};

    #[test]
    fn notes_are_timestamped_and_a_blank_note_is_refused() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let note = s.add_note("FD1-000001", "Patient prefers a lighter shade").unwrap();
        assert_eq!(note.record.author_id, "ann");
        assert!(note.created_at <= crate::Timestamp::now());
        assert!(s.add_note("FD1-000001", "   ").is_err());
        let edited = s.edit_note(note.id, Some(1), "Patient prefers shade A1").unwrap();
        assert_eq!(edited.record.version, 2);
        s.delete_note(note.id, Some(2)).unwrap();
        assert!(s.notes("FD1-000001").unwrap().is_empty());
    }
}
