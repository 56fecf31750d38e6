//! Cases: the lab's orders (seed 000, the "dentals" table), field for field.
//!
//! Seed name → field here: `dental_id` → `case_number`, `dental_status` → `status`,
//! `dental_parent` → `parent_id`, `invoice_id` → `invoice_ids`, `assignee` → `assignees`.
//! `attachments` are file records of their own (see [`crate::files`]), listed with the case in
//! [`crate::CaseDetail`], so that two workstations attaching files offline never collide.
//! `status` and `priority` are free text, as the lab asked; [`SUGGESTED_STATUSES`] and
//! [`SUGGESTED_PRIORITIES`] are what the UI offers first.

use std::fmt;

use rand::RngCore;
use rusqlite::{params, Connection};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::record::{self, query_opt, Actor, Record, Stored, Written};
use crate::validate::{max_len, normalize_set, required, trim, LONG_TEXT, SHORT_TEXT};
use crate::{RecordKind, Store, Timestamp};

pub const SUGGESTED_STATUSES: &[&str] =
    &["received", "processing", "designing", "milling", "qc", "ready", "delivered", "cancelled", "on_hold"];
pub const SUGGESTED_PRIORITIES: &[&str] = &["low", "medium", "high", "rush", "emergency"];
pub const DEFAULT_STATUS: &str = "received";
pub const DEFAULT_PRIORITY: &str = "medium";

/// The share key of a case (the `/d` share path). Never shown in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(transparent)]
pub struct SecretKey(String);

impl SecretKey {
    /// 160 random bits as 40 hex digits, from rand's thread generator: a CSPRNG (ChaCha12)
    /// seeded from the operating system.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// The case author's contact details (seed: `author_info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct AuthorInfo {
    /// First name and last name.
    pub name: String,
    pub phone: String,
    pub address: String,
    pub address_note: String,
    pub geo_location: Option<GeoLocation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GeoLocation {
    pub lat: f64,
    pub lng: f64,
}

/// A link on a case: a scan portal, a shared folder, a video (seed: `links`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct Link {
    pub title: String,
    pub url: String,
    pub source: String,
}

/// One service ordered (seed: `services`): a type, its sub-services, and extras.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct Service {
    pub service_type: String,
    #[serde(alias = "sub-services")]
    pub sub_services: Vec<String>,
    /// The seed keeps extras comma-separated; they are read from either form and stored as a list.
    #[serde(deserialize_with = "list_or_commas")]
    pub extras: Vec<String>,
}

fn list_or_commas<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::List(items) => items,
        Form::Text(text) => text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
    })
}

/// An aligner series on a case (seed: `aligners`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct Aligner {
    /// How many aligners the series has.
    #[serde(alias = "Count")]
    pub count: u32,
    /// The stage the patient is at, 1..=count.
    #[serde(alias = "Stage")]
    pub stage: u32,
    /// The first and last aligner of this batch, within 1..=count.
    #[serde(alias = "From")]
    pub from: u32,
    #[serde(alias = "To")]
    pub to: u32,
    pub date: Option<Timestamp>,
}

/// A case's content fields. Bookkeeping (id, version, times, soft delete) is in [`Stored`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Case {
    /// Human-readable, printed at intake: the workstation code and a sequence (`FD1-000042`).
    pub case_number: String,
    pub secret_key: SecretKey,
    pub status: String,
    pub patient_name: String,
    pub author_id: String,
    #[serde(default)]
    pub author_info: AuthorInfo,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub order_note: String,
    #[serde(default)]
    pub invoice_ids: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
    pub priority: String,
    #[serde(default)]
    pub start_date: Option<Timestamp>,
    #[serde(default)]
    pub due_date: Option<Timestamp>,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
    #[serde(default)]
    pub aligners: Vec<Aligner>,
}

impl Record for Case {
    const KIND: RecordKind = RecordKind::Case;

    fn normalize(&mut self) {
        for text in [&mut self.status, &mut self.priority, &mut self.patient_name, &mut self.author_id] {
            trim(text);
        }
        normalize_set(&mut self.assignees);
        normalize_set(&mut self.invoice_ids);
        for service in &mut self.services {
            trim(&mut service.service_type);
            normalize_set(&mut service.sub_services);
            normalize_set(&mut service.extras);
        }
        for link in &mut self.links {
            trim(&mut link.url);
        }
    }

    fn validate_alone(&self, _id: Uuid, p: &mut Vec<FieldError>) {
        required(p, "case_number", &self.case_number, 32);
        if self.secret_key.0.len() < 32 || !self.secret_key.0.bytes().all(|b| b.is_ascii_hexdigit()) {
            p.push(FieldError::new("secret_key", "must be at least 32 hex digits (128 random bits)"));
        }
        required(p, "status", &self.status, 64);
        required(p, "priority", &self.priority, 64);
        required(p, "patient_name", &self.patient_name, SHORT_TEXT);
        required(p, "author_id", &self.author_id, SHORT_TEXT);
        let a = &self.author_info;
        max_len(p, "author_info.name", &a.name, SHORT_TEXT);
        max_len(p, "author_info.phone", &a.phone, 64);
        max_len(p, "author_info.address", &a.address, 1000);
        max_len(p, "author_info.address_note", &a.address_note, 1000);
        if let Some(geo) = a.geo_location {
            if !(-90.0..=90.0).contains(&geo.lat) || !(-180.0..=180.0).contains(&geo.lng) {
                p.push(FieldError::new(
                    "author_info.geo_location",
                    "latitude must be within -90..90 and longitude within -180..180",
                ));
            }
        }
        for (i, link) in self.links.iter().enumerate() {
            max_len(p, &format!("links[{i}].title"), &link.title, SHORT_TEXT);
            max_len(p, &format!("links[{i}].source"), &link.source, SHORT_TEXT);
            if link.url.chars().count() > 2048 {
                p.push(FieldError::new(format!("links[{i}].url"), "is longer than 2048 characters"));
            } else if let Err(e) = url::Url::parse(&link.url) {
                p.push(FieldError::new(
                    format!("links[{i}].url"),
                    format!(
                        "'{}' is not a full web address ({e}); it should look like https://example.com/scan",
                        link.url
                    ),
                ));
            }
        }
        for (i, service) in self.services.iter().enumerate() {
            required(p, &format!("services[{i}].service_type"), &service.service_type, SHORT_TEXT);
            for (j, sub) in service.sub_services.iter().enumerate() {
                max_len(p, &format!("services[{i}].sub_services[{j}]"), sub, SHORT_TEXT);
            }
            for (j, extra) in service.extras.iter().enumerate() {
                max_len(p, &format!("services[{i}].extras[{j}]"), extra, SHORT_TEXT);
            }
        }
        if self.services.len() > 100 {
            p.push(FieldError::new("services", "a case may list at most 100 services"));
        }
        max_len(p, "order_note", &self.order_note, LONG_TEXT);
        for (i, invoice) in self.invoice_ids.iter().enumerate() {
            max_len(p, &format!("invoice_ids[{i}]"), invoice, 64);
        }
        for (i, assignee) in self.assignees.iter().enumerate() {
            max_len(p, &format!("assignees[{i}]"), assignee, SHORT_TEXT);
        }
        if let (Some(start), Some(due)) = (self.start_date, self.due_date) {
            if due < start {
                p.push(FieldError::new("due_date", format!("{due} is before the start date {start}")));
            }
        }
        for (i, al) in self.aligners.iter().enumerate() {
            let field = |name: &str| format!("aligners[{i}].{name}");
            if al.count == 0 {
                p.push(FieldError::new(field("count"), "must be at least 1"));
            }
            if al.stage < 1 || al.stage > al.count {
                p.push(FieldError::new(field("stage"), format!("is {}; it must be within 1..{}", al.stage, al.count)));
            }
            if al.from > al.to {
                p.push(FieldError::new(field("from"), format!("{} is after 'to' ({})", al.from, al.to)));
            }
            if al.from < 1 || al.to > al.count {
                p.push(FieldError::new(
                    field("to"),
                    format!("the range {}..{} must lie within 1..{}", al.from, al.to, al.count),
                ));
            }
        }
    }

    fn validate(&self, id: Uuid, conn: &Connection, p: &mut Vec<FieldError>) -> Result<()> {
        let taken: Option<String> = query_opt(
            conn,
            "SELECT id FROM cases WHERE case_number = ?1 AND id <> ?2",
            params![self.case_number, id.to_string()],
        )?;
        if taken.is_some() {
            p.push(FieldError::new("case_number", format!("{} is already used by another case", self.case_number)));
        }
        if let Some(parent) = self.parent_id {
            check_parent(conn, id, parent, p)?;
        }
        Ok(())
    }
}

/// The parent exists, is live, and making it the parent does not close a loop.
fn check_parent(conn: &Connection, id: Uuid, parent: Uuid, p: &mut Vec<FieldError>) -> Result<()> {
    if parent == id {
        p.push(FieldError::new("parent_id", "a case cannot be its own parent"));
        return Ok(());
    }
    let mut at = parent;
    for _ in 0..10_000 {
        let row: Option<(Option<String>, Option<String>, String)> = conn
            .prepare_cached("SELECT parent_id, deleted_at, case_number FROM cases WHERE id = ?1")?
            .query_row(params![at.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
        let Some((grandparent, deleted, number)) = row else {
            if at == parent {
                p.push(FieldError::new("parent_id", format!("there is no case {parent}")));
            }
            return Ok(());
        };
        if at == parent && deleted.is_some() {
            p.push(FieldError::new("parent_id", format!("the parent case {number} is deleted")));
        }
        match grandparent.and_then(|g| Uuid::parse_str(&g).ok()) {
            Some(next) if next == id => {
                p.push(FieldError::new(
                    "parent_id",
                    format!("case {number} is already below this case; parents cannot form a loop"),
                ));
                return Ok(());
            }
            Some(next) => at = next,
            None => return Ok(()),
        }
    }
    p.push(FieldError::new("parent_id", "the chain of parent cases is too deep"));
    Ok(())
}

/// Mints the next case number of this workstation, skipping any taken by an imported case.
fn mint_case_number(tx: &Connection) -> Result<String> {
    loop {
        let (code, seq): (String, i64) = tx.query_row(
            "UPDATE workstation SET next_case_seq = next_case_seq + 1 RETURNING code, next_case_seq - 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let number = format!("{code}-{seq:06}");
        let taken: Option<i64> = query_opt(tx, "SELECT 1 FROM cases WHERE case_number = ?1", params![number])?;
        if taken.is_none() {
            return Ok(number);
        }
    }
}

/// Resolves a case by UUID or case number (case numbers are matched without regard to case).
pub(crate) fn resolve(conn: &Connection, key: &str) -> Result<Uuid> {
    let key = key.trim();
    if let Ok(id) = Uuid::parse_str(key) {
        let found: Option<String> = query_opt(conn, "SELECT id FROM cases WHERE id = ?1", params![id.to_string()])?;
        if found.is_some() {
            return Ok(id);
        }
    }
    let found: Option<String> = query_opt(
        conn,
        "SELECT id FROM cases WHERE case_number = ?1 OR case_number = upper(?1) LIMIT 1",
        params![key],
    )?;
    found
        .and_then(|id| Uuid::parse_str(&id).ok())
        .ok_or_else(|| Error::NotFound { kind: RecordKind::Case, key: key.to_owned() })
}

/// Builds a new case from the fields given, filling what intake need not type: the case number
/// (unless an import brings its own), the secret key, the author, status and priority defaults.
pub(crate) fn new_case(tx: &Connection, actor: &Actor, mut fields: Map<String, Value>) -> Result<Case> {
    let mut problems = Vec::new();
    if fields.contains_key("secret_key") {
        problems.push(FieldError::new("secret_key", "is minted by LabDesk and cannot be given"));
    }
    for key in ["id", "version", "created_at", "updated_at", "updated_by", "deleted_at", "attachments"] {
        if fields.contains_key(key) {
            let why = if key == "attachments" {
                "files are attached with their own records, not as a case field"
            } else {
                "is kept by LabDesk and cannot be given"
            };
            problems.push(FieldError::new(key, why));
        }
    }
    // A misspelt field must not vanish without a word: what a person typed is refused, not lost.
    for key in fields.keys() {
        let known = Case::KIND.decl().has_field(key) || key == "sub-services";
        if !known
            && !["secret_key", "id", "version", "created_at", "updated_at", "updated_by", "deleted_at", "attachments"]
                .contains(&key.as_str())
        {
            let names: Vec<&str> = Case::KIND.decl().fields.iter().filter(|f| !f.hidden).map(|f| f.name).collect();
            problems.push(FieldError::new(key, format!("is not a case field; the fields are: {}", names.join(", "))));
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid(RecordKind::Case, problems));
    }
    let number = match fields.get("case_number") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => mint_case_number(tx)?,
    };
    fields.insert("case_number".into(), Value::String(number));
    fields.insert("secret_key".into(), Value::String(SecretKey::generate().0));
    fields.entry("status").or_insert_with(|| DEFAULT_STATUS.into());
    fields.entry("priority").or_insert_with(|| DEFAULT_PRIORITY.into());
    fields.entry("author_id").or_insert_with(|| actor.user.clone().into());
    if !fields.contains_key("patient_name") {
        return Err(Error::one(RecordKind::Case, "patient_name", "is required"));
    }
    record::from_map::<Case>(fields)
}

impl Store {
    /// Takes in a new case. `fields` are the case's fields by name (see [`Case`]); what is left
    /// out gets its default. Returns the case with its new number.
    #[tracing::instrument(skip_all)]
    pub fn create_case(&mut self, fields: Map<String, Value>) -> Result<Stored<Case>> {
        self.create_case_with_meta(fields, &[])
    }

    /// Takes in a new case together with meta values, in one transaction: if any value is
    /// refused, the case is not stored either (and uses up no case number).
    #[tracing::instrument(skip_all)]
    pub fn create_case_with_meta(
        &mut self,
        fields: Map<String, Value>,
        meta: &[(String, String)],
    ) -> Result<Stored<Case>> {
        self.write(|tx, actor| {
            let case = new_case(tx, actor, fields)?;
            let stored = record::create(tx, actor, Uuid::now_v7(), case)?.record;
            for (key, value) in meta {
                crate::meta::set(tx, actor, stored.id, key, value)?;
            }
            Ok(stored)
        })
    }

    /// Changes the fields named in `patch`. With `base_version`, refuses if the case has moved
    /// on since that version (the UI passes the version it showed).
    #[tracing::instrument(skip_all, fields(case = key))]
    pub fn edit_case(
        &mut self,
        key: &str,
        base_version: Option<u32>,
        patch: Map<String, Value>,
    ) -> Result<Written<Case>> {
        self.edit_case_with_meta(key, base_version, patch, &[])
    }

    /// [`Store::edit_case`] and meta values in one transaction: all are stored, or none.
    pub fn edit_case_with_meta(
        &mut self,
        key: &str,
        base_version: Option<u32>,
        patch: Map<String, Value>,
        meta: &[(String, String)],
    ) -> Result<Written<Case>> {
        self.write(|tx, actor| {
            let id = resolve(tx, key)?;
            let written = record::patch::<Case>(tx, actor, id, base_version, patch)?;
            for (key, value) in meta {
                crate::meta::set(tx, actor, id, key, value)?;
            }
            Ok(written)
        })
    }

    /// Soft-deletes a case: it leaves the list and search, and stays in history.
    pub fn delete_case(&mut self, key: &str, base_version: Option<u32>) -> Result<Written<Case>> {
        self.write(|tx, actor| {
            let id = resolve(tx, key)?;
            record::set_deleted::<Case>(tx, actor, id, base_version, true)
        })
    }

    pub fn restore_case(&mut self, key: &str, base_version: Option<u32>) -> Result<Written<Case>> {
        self.write(|tx, actor| {
            let id = resolve(tx, key)?;
            record::set_deleted::<Case>(tx, actor, id, base_version, false)
        })
    }

    /// A case by UUID or case number.
    pub fn case(&self, key: &str) -> Result<Stored<Case>> {
        let id = resolve(&self.conn, key)?;
        record::current::<Case>(&self.conn, id, None)
    }

    /// The UUID of a case given by UUID or case number.
    pub fn case_id(&self, key: &str) -> Result<Uuid> {
        resolve(&self.conn, key)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{fields, store};

    #[test]
    fn intake_mints_a_case_number_from_the_workstation_code() {
        let mut s = store();
        let a = s.create_case(fields(json!({"patient_name": "Ada Lovelace"}))).unwrap();
        let b = s.create_case(fields(json!({"patient_name": "Alan Turing"}))).unwrap();
        assert_eq!(a.record.case_number, "FD1-000001");
        assert_eq!(b.record.case_number, "FD1-000002");
        assert_eq!(a.record.status, DEFAULT_STATUS, "intake need not type a status");
        assert_eq!(a.record.author_id, "ann", "the author defaults to who is signed in");
        assert_eq!(a.version, 1);
    }

    #[test]
    fn the_secret_key_has_at_least_128_bits_and_never_shows_in_debug() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        assert!(case.record.secret_key.expose().len() * 4 >= 128);
        let debug = format!("{case:?}");
        assert!(!debug.contains(case.record.secret_key.expose()), "secret key leaked into Debug: {debug}");
    }

    #[test]
    fn every_seed_field_round_trips() {
        let mut s = store();
        let parent = s.create_case(fields(json!({"patient_name": "Parent"}))).unwrap();
        let input = json!({
            "patient_name": "John Doe",
            "status": "designing",
            "priority": "rush",
            "author_info": {"name": "Dr. Who", "phone": "+1 555", "address": "1 Main St", "address_note": "back door",
                            "geo_location": {"lat": 51.5, "lng": -0.12}},
            "links": [{"title": "Scan", "url": "https://scans.example/1", "source": "3shape"}],
            "services": [{"service_type": "crown", "sub-services": ["zirconia", "layered"], "extras": "shade A2, rush"}],
            "order_note": "Please match the shade",
            "invoice_ids": ["INV-1", "INV-2"],
            "assignees": ["bob", "carol"],
            "start_date": "2026-11-01",
            "due_date": "2026-11-10 17:00",
            "parent_id": parent.id,
            "aligners": [{"Count": 20, "Stage": 3, "From": 1, "To": 6, "date": "2026-11-02"}]
        });
        let case = s.create_case(fields(input)).unwrap();
        let back = s.case(&case.record.case_number).unwrap();
        assert_eq!(back, case, "what is read back must be what was written");
        assert_eq!(back.record.services[0].extras, vec!["shade A2", "rush"], "comma-separated extras become a list");
        assert_eq!(back.record.services[0].sub_services, vec!["zirconia", "layered"]);
        assert_eq!(back.record.aligners[0].count, 20);
        assert_eq!(back.record.parent_id, Some(parent.id));
    }

    #[test]
    fn due_before_start_is_refused_naming_the_field_and_nothing_is_stored() {
        let mut s = store();
        let err = s
            .create_case(fields(json!({"patient_name": "P", "start_date": "2026-05-02", "due_date": "2026-05-01"})))
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "due_date", "{err}");
        assert_eq!(crate::test_support::count(&s, "cases"), 0, "a refused write stores nothing");
        assert_eq!(crate::test_support::count(&s, "outbox"), 0);
        let next = s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        assert_eq!(next.record.case_number, "FD1-000001", "a refused intake does not burn a case number");
    }

    #[test]
    fn a_case_whose_meta_value_is_refused_is_not_stored_either() {
        let mut s = store();
        let meta = [("shade".to_owned(), "A2".to_owned()), ("patient_age".to_owned(), "old".to_owned())];
        let err = s.create_case_with_meta(fields(json!({"patient_name": "P"})), &meta).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "patient_age", "{err}");
        assert_eq!(crate::test_support::count(&s, "cases"), 0, "the case goes with its refused meta value");
        assert_eq!(crate::test_support::count(&s, "outbox"), 0);
        let meta = [("patient_age".to_owned(), "40".to_owned())];
        let case = s.create_case_with_meta(fields(json!({"patient_name": "P"})), &meta).unwrap();
        assert_eq!(case.record.case_number, "FD1-000001", "the refused intake used up no case number");
        assert_eq!(s.meta("FD1-000001").unwrap()[0].record.value, "40");
    }

    #[test]
    fn a_misspelt_field_at_intake_is_refused_not_dropped() {
        let mut s = store();
        let err = s.create_case(fields(json!({"patient_name": "P", "due": "2026-12-01"}))).unwrap_err();
        assert!(err.to_string().contains("due: is not a case field; the fields are: case_number, status"), "{err}");
        assert_eq!(crate::test_support::count(&s, "cases"), 0);
    }

    #[test]
    fn aligner_ranges_are_checked() {
        let mut s = store();
        let err = s
            .create_case(fields(
                json!({"patient_name": "P", "aligners": [{"count": 10, "stage": 11, "from": 5, "to": 3}]}),
            ))
            .unwrap_err();
        let named: Vec<_> = err.field_errors().iter().map(|e| e.field.as_str()).collect();
        assert!(named.contains(&"aligners[0].stage"), "{err}");
        assert!(named.contains(&"aligners[0].from"), "{err}");
    }

    #[test]
    fn malformed_json_parts_name_the_path_that_is_wrong() {
        let mut s = store();
        let err = s.create_case(fields(json!({"patient_name": "P", "aligners": [{"count": "twenty"}]}))).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "aligners[0].count", "{err}");
        assert!(!err.to_string().contains("line"), "no parser positions in a person's message: {err}");
    }

    #[test]
    fn over_long_text_is_refused() {
        let mut s = store();
        let err = s.create_case(fields(json!({"patient_name": "x".repeat(201)}))).unwrap_err();
        assert!(err.to_string().contains("patient_name: is 201 characters long; at most 200"), "{err}");
    }

    #[test]
    fn an_unknown_parent_or_a_parent_loop_is_refused() {
        let mut s = store();
        let err = s.create_case(fields(json!({"patient_name": "P", "parent_id": Uuid::now_v7()}))).unwrap_err();
        assert!(err.to_string().contains("there is no case"), "{err}");

        let a = s.create_case(fields(json!({"patient_name": "A"}))).unwrap();
        let b = s.create_case(fields(json!({"patient_name": "B", "parent_id": a.id}))).unwrap();
        let c = s.create_case(fields(json!({"patient_name": "C", "parent_id": b.id}))).unwrap();
        let err = s.edit_case(&a.record.case_number, None, fields(json!({"parent_id": c.id}))).unwrap_err();
        assert!(err.to_string().contains("loop"), "{err}");
        assert_eq!(s.case(&a.record.case_number).unwrap().version, 1, "the refused edit changed nothing");
    }

    #[test]
    fn an_edit_on_an_old_version_is_refused_and_says_to_reload() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.edit_case(&case.record.case_number, Some(1), fields(json!({"status": "milling"}))).unwrap();
        let err = s.edit_case(&case.record.case_number, Some(1), fields(json!({"status": "qc"}))).unwrap_err();
        assert!(matches!(err, Error::StaleBase { base: 1, current: 2, .. }), "{err}");
        assert!(err.to_string().contains("reload"), "{err}");
        assert_eq!(s.case(&case.record.case_number).unwrap().record.status, "milling");
    }

    #[test]
    fn the_case_number_and_secret_key_cannot_be_edited_and_unknown_fields_are_named() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let err = s
            .edit_case(&case.record.case_number, None, fields(json!({"case_number": "X-1", "colour": "red"})))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("case_number: is set when the record is created"), "{text}");
        assert!(text.contains("colour: is not a field; the fields are:"), "{text}");
    }

    #[test]
    fn an_edit_that_changes_nothing_makes_no_revision() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P", "status": "qc"}))).unwrap();
        let out = s.edit_case(&case.record.case_number, Some(1), fields(json!({"status": "qc"}))).unwrap();
        assert!(out.revision.is_none());
        assert_eq!(out.record.version, 1);
    }

    #[test]
    fn cases_are_found_by_number_in_any_letter_case() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        assert_eq!(s.case("fd1-000001").unwrap().id, case.id);
        let err = s.case("FD1-999999").unwrap_err();
        assert_eq!(err.to_string(), "no case matches 'FD1-999999'");
    }

    #[test]
    fn an_imported_case_keeps_its_number_and_minting_skips_past_it() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "Legacy", "case_number": "FD1-000001"}))).unwrap();
        let next = s.create_case(fields(json!({"patient_name": "New"}))).unwrap();
        assert_eq!(next.record.case_number, "FD1-000002");
        let err = s.create_case(fields(json!({"patient_name": "Dup", "case_number": "FD1-000002"}))).unwrap_err();
        assert!(err.to_string().contains("already used"), "{err}");
    }

    #[test]
    fn a_deleted_case_is_kept_and_can_be_restored() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let deleted = s.delete_case(&case.record.case_number, Some(1)).unwrap();
        assert!(deleted.record.is_deleted());
        let err = s.edit_case(&case.record.case_number, None, fields(json!({"status": "qc"}))).unwrap_err();
        assert!(matches!(err, Error::Deleted { .. }), "{err}");
        let restored = s.restore_case(&case.record.case_number, None).unwrap();
        assert!(!restored.record.is_deleted());
        assert_eq!(restored.record.version, 3);
    }
}
