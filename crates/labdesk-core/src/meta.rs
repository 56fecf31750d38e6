//! Case meta: the lab's own key/value facts about a case (seed 000, "Custom Meta Data").
//!
//! One record per (case, key). Its id is derived from the two, so the same key set on two
//! workstations offline is one record with two revisions, not two rows. Known keys get checked
//! values; any other key is allowed.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::{FieldError, Result};
use crate::record::{self, derived_id, Actor, Record, Stored, Written};
use crate::validate::{live_case, max_len, trim, LONG_TEXT};
use crate::{RecordKind, Store, Timestamp};

/// Keys the seed names; the UI offers them first.
pub const KNOWN_META_KEYS: &[&str] = &["patient_age", "shipping_estimate_date", "customer_feedback"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CaseMeta {
    pub case_id: Uuid,
    pub key: String,
    pub value: String,
}

impl Record for CaseMeta {
    const KIND: RecordKind = RecordKind::CaseMeta;

    fn normalize(&mut self) {
        trim(&mut self.value);
    }

    fn validate_alone(&self, id: Uuid, p: &mut Vec<FieldError>) {
        // One record per (case, key): a store keeps UNIQUE (case_id, key), which only the derived
        // id makes safe to pull (two workstations setting one key write to one record).
        let derived = derived_id(RecordKind::CaseMeta, self.case_id, &self.key);
        if id != derived {
            p.push(FieldError::new(
                "id",
                format!(
                    "{id} is not the id of meta key '{}' on case {}: a meta value's id is derived from its case \
                     and key ({derived}), so that one key is one record on every workstation",
                    self.key, self.case_id
                ),
            ));
        }
        check_key(&self.key, p);
        max_len(p, &self.key, &self.value, LONG_TEXT);
        match self.key.as_str() {
            "patient_age" if !self.value.parse::<u8>().is_ok_and(|age| age <= 130) => {
                p.push(FieldError::new("patient_age", format!("'{}' is not an age in years (0 to 130)", self.value)));
            }
            "shipping_estimate_date" => {
                if let Err(e) = Timestamp::parse(&self.value) {
                    p.push(FieldError::new("shipping_estimate_date", e.to_string()));
                }
            }
            _ => {}
        }
    }

    fn validate(&self, _id: Uuid, conn: &Connection, p: &mut Vec<FieldError>) -> Result<()> {
        live_case(p, conn, "case_id", self.case_id)
    }
}

fn check_key(key: &str, p: &mut Vec<FieldError>) {
    let ok = (1..=64).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        p.push(FieldError::new(
            "key",
            format!("'{key}' is not a meta key: use 1 to 64 letters, digits, '_', '-' or '.' (e.g. patient_age)"),
        ));
    }
}

/// Sets `key` on a case, creating the record or bringing back an unset one.
pub(crate) fn set(
    conn: &Connection,
    actor: &Actor,
    case_id: Uuid,
    key: &str,
    value: &str,
) -> Result<Written<CaseMeta>> {
    let id = derived_id(RecordKind::CaseMeta, case_id, key);
    match record::load::<CaseMeta>(conn, id)? {
        None => record::create(conn, actor, id, CaseMeta { case_id, key: key.to_owned(), value: value.to_owned() }),
        Some(existing) => {
            if existing.is_deleted() {
                record::set_deleted::<CaseMeta>(conn, actor, id, None, false)?;
            }
            record::patch::<CaseMeta>(conn, actor, id, None, record::object(json!({ "value": value })))
        }
    }
}

impl Store {
    /// Sets a meta value on a case, creating the key or bringing back an unset one.
    pub fn set_meta(&mut self, case_key: &str, key: &str, value: &str) -> Result<Written<CaseMeta>> {
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            set(tx, actor, case_id, key, value)
        })
    }

    /// Unsets a meta key (a soft delete: the history keeps every value it had).
    pub fn unset_meta(&mut self, case_key: &str, key: &str) -> Result<Written<CaseMeta>> {
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            let id = derived_id(RecordKind::CaseMeta, case_id, key);
            if record::load::<CaseMeta>(tx, id)?.is_none() {
                // Say it in the words typed, not by the record's derived id.
                let case: String =
                    tx.query_row("SELECT case_number FROM cases WHERE id = ?1", [case_id.to_string()], |r| r.get(0))?;
                let known = record::load_where::<CaseMeta>(
                    tx,
                    "case_id = ?1 AND deleted_at IS NULL ORDER BY key",
                    [case_id.to_string()],
                )?
                .into_iter()
                .map(|m| m.record.key)
                .collect();
                return Err(crate::Error::NoMetaKey { case, key: key.trim().to_owned(), known });
            }
            record::set_deleted::<CaseMeta>(tx, actor, id, None, true)
        })
    }

    /// A case's live meta values, by key.
    pub fn meta(&self, case_key: &str) -> Result<Vec<Stored<CaseMeta>>> {
        let case_id = crate::cases::resolve(&self.conn, case_key)?;
        record::load_where::<CaseMeta>(
            &self.conn,
            "case_id = ?1 AND deleted_at IS NULL ORDER BY key",
            [case_id.to_string()],
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{fields, store};

    #[test]
    fn any_key_can_be_set_changed_and_unset_on_one_record() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let first = s.set_meta("FD1-000001", "shade", "A2").unwrap();
        let second = s.set_meta("FD1-000001", "shade", "A3").unwrap();
        assert_eq!(first.record.id, second.record.id, "one key is one record");
        assert_eq!(second.record.version, 2);
        s.unset_meta("FD1-000001", "shade").unwrap();
        assert!(s.meta("FD1-000001").unwrap().is_empty());
        let back = s.set_meta("FD1-000001", "shade", "B1").unwrap();
        assert_eq!(back.record.version, 5, "restore and set are two revisions");
        assert_eq!(s.meta("FD1-000001").unwrap()[0].record.value, "B1");
    }

    #[test]
    fn unsetting_a_key_the_case_never_had_names_the_key_and_the_case() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.set_meta("FD1-000001", "shade", "A2").unwrap();
        let err = s.unset_meta("FD1-000001", "nokey").unwrap_err().to_string();
        assert_eq!(err, "case FD1-000001 has no meta value 'nokey' (its keys: shade)", "in the words typed, no id");
    }

    #[test]
    fn known_keys_get_checked_values() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let err = s.set_meta("FD1-000001", "patient_age", "forty").unwrap_err();
        assert!(err.to_string().contains("'forty' is not an age"), "{err}");
        let err = s.set_meta("FD1-000001", "shipping_estimate_date", "soon").unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        s.set_meta("FD1-000001", "patient_age", "42").unwrap();
        let err = s.set_meta("FD1-000001", "bad key!", "x").unwrap_err();
        assert!(err.to_string().contains("is not a meta key"), "{err}");
    }
}
