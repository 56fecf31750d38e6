//! A record's chain and row, rewritten from its revisions: its pulled revisions in central version
//! order (the central state), then its tail (local revisions not pulled yet), each re-applied with
//! the three-way merge against the state it was made on.
//!
//! After a rebuild the chain is well-formed (versions 1..n, each revision's `parent` the one
//! before, each superseded by the next, one head), every revision's `fields` are what took effect,
//! and the row equals the chain folded: the invariants of [`crate::Store::check`].

use std::collections::HashMap;

use labdesk_proto::merge::{self, Merged};
use rusqlite::{params, Connection};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{
    self, from_map, full_map, parse_time, parse_uuid, row_to_revision, Bookkeeping, REVISION_COLUMNS,
    REVISION_COLUMN_COUNT,
};
use crate::{RecordKind, Revision, Timestamp};

use crate::kinds::with_record_type;

/// Versions of tail revisions are parked this far up while a chain is rewritten, so that no two
/// revisions of a record ever share a version (a unique index) half-way through.
const PARKED: i64 = 1_000_000;

/// A revision with what sync keeps about it.
#[derive(Debug, Clone)]
pub(crate) struct SyncRevision {
    pub revision: Revision,
    pub central_seq: Option<i64>,
    pub proposed: Option<Map<String, Value>>,
    pub made_on: Option<Uuid>,
    pub accepted_version: Option<u32>,
}

impl SyncRevision {
    pub fn is_pulled(&self) -> bool {
        self.central_seq.is_some()
    }

    /// What the change asked for: what push sends and what a re-apply merges.
    pub fn proposed(&self) -> &Map<String, Value> {
        self.proposed.as_ref().unwrap_or(&self.revision.fields)
    }

    /// The revision the change was made on, as it was made: `None` for a record's creation.
    pub fn sent_parent(&self) -> Option<Uuid> {
        if self.revision.base_version == 0 {
            None
        } else {
            self.made_on.or(self.revision.parent)
        }
    }

    /// The revision as it was made, to send: what it proposed, on what it was made.
    pub fn as_sent(&self) -> Revision {
        Revision {
            fields: self.proposed().clone(),
            parent: self.sent_parent(),
            superseded_by: None,
            ..self.revision.clone()
        }
    }
}

const SYNC_COLUMNS: &str = "central_seq, proposed, made_on, accepted_version";

fn json_object(text: Option<String>, what: &str) -> Result<Option<Map<String, Value>>> {
    text.map(|t| match serde_json::from_str(&t) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::Corrupt(format!("{what} is not a JSON object: {t}"))),
    })
    .transpose()
}

pub(crate) fn read_sync_revisions(
    conn: &Connection,
    clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<SyncRevision>> {
    let sql = format!("SELECT {REVISION_COLUMNS}, {SYNC_COLUMNS} FROM revisions WHERE {clause}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    let n = REVISION_COLUMN_COUNT;
    while let Some(row) = rows.next()? {
        out.push(SyncRevision {
            revision: row_to_revision(row)?,
            central_seq: row.get(n)?,
            proposed: json_object(row.get(n + 1)?, "proposed fields")?,
            made_on: row.get::<_, Option<String>>(n + 2)?.map(|p| parse_uuid(&p, "made_on")).transpose()?,
            accepted_version: row.get(n + 3)?,
        })
    }
    Ok(out)
}

/// The record as its kind stores it: a typed round trip puts merged values in their one stored
/// form (a set merged by the three-way merge comes back in the order sets are kept in), so the
/// chain folded and the row read back agree. A state the kind cannot read is kept as it is.
pub(crate) fn canonical(kind: RecordKind, state: &Map<String, Value>) -> Map<String, Value> {
    with_record_type!(kind, R => {
        let mut content = state.clone();
        let deleted_at = match content.remove("deleted_at") {
            Some(Value::String(t)) => match Timestamp::parse(&t) {
                Ok(t) => Some(t),
                Err(_) => return state.clone(),
            },
            _ => None,
        };
        match from_map::<R>(content).and_then(|r| full_map(&r, deleted_at)) {
            Ok(map) => map,
            Err(_) => state.clone(),
        }
    }, _ => {
        let mut state = state.clone();
        crate::declared::normalize(kind.decl(), &mut state);
        state
    })
}

/// [`canonical`], in place and without copying the state first: the typed value is read from the
/// state as it is (the record kinds ignore the `deleted_at` key they do not have). Whenever that
/// read fails, [`canonical`] itself decides, so the outcome is always exactly its.
fn canonicalize(kind: RecordKind, state: &mut Map<String, Value>) {
    with_record_type!(kind, R => {
        let deleted_at = match state.get("deleted_at") {
            Some(Value::String(t)) => Timestamp::parse(t).ok(),
            _ => None,
        };
        let parseable = !matches!(state.get("deleted_at"), Some(Value::String(_))) || deleted_at.is_some();
        let value = Value::Object(std::mem::take(state));
        let typed = if parseable { <R as serde::Deserialize>::deserialize(&value).ok() } else { None };
        if let Value::Object(original) = value {
            *state = original;
        }
        match typed.map(|r| full_map(&r, deleted_at)) {
            Some(Ok(map)) => *state = map,
            _ => *state = canonical(kind, state),
        }
    }, _ => crate::declared::normalize(kind.decl(), state))
}

/// Applies `fields` to `state` and returns the fields in their stored form.
pub(crate) fn apply_canonical(
    kind: RecordKind,
    state: &mut Map<String, Value>,
    fields: &Map<String, Value>,
) -> Map<String, Value> {
    merge::apply(state, fields);
    canonicalize(kind, state);
    fields.iter().map(|(k, v)| (k.clone(), state.get(k).cloned().unwrap_or_else(|| v.clone()))).collect()
}

/// [`apply_canonical`], returning the fields in their stored form as the JSON text a revision
/// keeps (what `Value::Object(apply_canonical(..)).to_string()` gives, without the map between).
pub(crate) fn apply_canonical_json(
    kind: RecordKind,
    state: &mut Map<String, Value>,
    fields: &Map<String, Value>,
) -> String {
    merge::apply(state, fields);
    canonicalize(kind, state);
    stored_fields_json(fields, state)
}

/// `fields` with the values `state` has for them, as JSON text.
fn stored_fields_json(fields: &Map<String, Value>, state: &Map<String, Value>) -> String {
    struct Stored<'a>(&'a Map<String, Value>, &'a Map<String, Value>);
    impl serde::Serialize for Stored<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().map(|(k, v)| (k, self.1.get(k).unwrap_or(v))))
        }
    }
    serde_json::to_string(&Stored(fields, state)).unwrap_or_else(|_| "{}".to_owned())
}

/// [`apply_canonical_json`] for a record's first revision (applied to nothing, the state is its
/// fields): the typed value is read from the fields themselves, with no copy of them first.
/// Returns the fields' JSON text and the record's state.
pub(crate) fn create_canonical_json(kind: RecordKind, fields: &mut Map<String, Value>) -> (String, Map<String, Value>) {
    let state = with_record_type!(kind, R => {
        let deleted_at = match fields.get("deleted_at") {
            Some(Value::String(t)) => Timestamp::parse(t).map(Some).map_err(|_| ()),
            _ => Ok(None),
        };
        let value = Value::Object(std::mem::take(fields));
        let typed = match deleted_at {
            Ok(deleted_at) => <R as serde::Deserialize>::deserialize(&value).ok().map(|r| (r, deleted_at)),
            Err(()) => None,
        };
        if let Value::Object(original) = value {
            *fields = original;
        }
        typed.and_then(|(r, deleted_at)| full_map(&r, deleted_at).ok())
    }, _ => None);
    match state {
        Some(state) => (stored_fields_json(fields, &state), state),
        None => {
            let mut state = Map::new();
            let json = apply_canonical_json(kind, &mut state, fields);
            (json, state)
        }
    }
}

/// [`create_canonical_json`] for fields that came as JSON text (a bootstrap's pages): the typed
/// record is read from the text itself, with no map of values in between. `entries` are the
/// fields' names in their order, each with its value's text (see [`super::bulk::Entries`]). The
/// result is [`create_canonical_json`]'s for the same fields, byte for byte; whatever this does
/// not take the short way (a name twice, a value the record type does not read, a `deleted_at`
/// that is no time) goes the long way, through that very function.
pub(crate) fn create_canonical_text(
    kind: RecordKind,
    text: &str,
    entries: &[(std::borrow::Cow<'_, str>, &serde_json::value::RawValue)],
) -> serde_json::Result<(String, Map<String, Value>)> {
    let twice = entries.iter().enumerate().any(|(i, (name, _))| entries[..i].iter().any(|(n, _)| n == name));
    let deleted_at = match entries.iter().find(|(name, _)| name == "deleted_at") {
        Some((_, raw)) if raw.get().starts_with('"') => serde_json::from_str::<std::borrow::Cow<'_, str>>(raw.get())
            .ok()
            .and_then(|t| Timestamp::parse(&t).ok())
            .map(Some),
        _ => Some(None),
    };
    let state = match (twice, deleted_at) {
        (false, Some(deleted_at)) => with_record_type!(kind, R => {
            serde_json::from_str::<R>(text).ok().and_then(|r| full_map(&r, deleted_at).ok())
        }, _ => None),
        _ => None,
    };
    let Some(state) = state else {
        let mut fields: Map<String, Value> = serde_json::from_str(text)?;
        return Ok(create_canonical_json(kind, &mut fields));
    };
    /// The fields by name, each with the value `state` has for it, else its own (as a value,
    /// so that it is written as the long way writes it).
    struct Stored<'a>(&'a [(std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue)], &'a Map<String, Value>);
    impl serde::Serialize for Stored<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::{Error as _, SerializeMap};
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for (name, raw) in self.0 {
                match self.1.get(name.as_ref()) {
                    Some(value) => map.serialize_entry(name, value)?,
                    None => {
                        let value: Value = serde_json::from_str(raw.get()).map_err(S::Error::custom)?;
                        map.serialize_entry(name, &value)?;
                    }
                }
            }
            map.end()
        }
    }
    Ok((serde_json::to_string(&Stored(entries, &state))?, state))
}

/// Makes a record's chain headless and parks its tail's versions, so that revisions can be
/// inserted, renumbered and relinked in any order; [`rebuild`] then writes every link.
pub(crate) fn unlock_chain(tx: &Connection, record_id: Uuid) -> Result<()> {
    let id = record_id.to_string();
    // superseded_by is a deferred foreign key: pointing a revision at itself is allowed until the
    // rebuild, and leaves no head that the one-head index could find twice.
    tx.prepare_cached("UPDATE revisions SET superseded_by = id WHERE record_id = ?1 AND superseded_by IS NULL")?
        .execute(params![id])?;
    tx.prepare_cached(
        "UPDATE revisions SET version = version + ?2 WHERE record_id = ?1 AND central_seq IS NULL AND version < ?2",
    )?
    .execute(params![id, PARKED])?;
    Ok(())
}

/// The revision that settles a conflict row: the first of its record's revisions, in central
/// order, that names the conflicted revision in `resolves` (one not pulled yet comes after every
/// pulled one, in the order it was made). Every workstation then names the same one once all have
/// synced, however many people resolved it, and in whatever order their changes arrived.
pub(crate) const FIRST_RESOLVER: &str = "(SELECT r.id FROM revisions r, json_each(r.resolves) j \
     WHERE r.record_id = conflicts.record_id AND j.value = conflicts.revision_id \
     ORDER BY r.central_seq IS NULL, r.central_seq, r.seq LIMIT 1)";

/// Makes the conflicts of `revision_id` exactly `found` (field, kept, proposed): a field no
/// longer found goes, resolved or not, so that once the central store's verdict is here (a push
/// answer, a pulled revision) this revision disputes what it disputes centrally and nothing else;
/// each is resolved by the revision [`FIRST_RESOLVER`] finds, if there is one.
pub(crate) fn set_conflicts(
    tx: &Connection,
    kind: RecordKind,
    record_id: Uuid,
    revision_id: Uuid,
    found: &[labdesk_proto::sync::FieldConflict],
) -> Result<()> {
    let rev = revision_id.to_string();
    let fields: Vec<&str> = found.iter().map(|c| c.field.as_str()).collect();
    let stale: Vec<String> = tx
        .prepare_cached("SELECT field FROM conflicts WHERE revision_id = ?1")?
        .query_map(params![rev], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    for field in stale.iter().filter(|f| !fields.contains(&f.as_str())) {
        tx.prepare_cached("DELETE FROM conflicts WHERE revision_id = ?1 AND field = ?2")?
            .execute(params![rev, field])?;
    }
    if found.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now().to_string();
    for conflict in found {
        tx.prepare_cached(
            "INSERT INTO conflicts (revision_id, record_kind, record_id, field, kept, proposed, found_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (revision_id, field) DO UPDATE SET kept = excluded.kept, proposed = excluded.proposed",
        )?
        .execute(params![
            rev,
            kind.as_str(),
            record_id.to_string(),
            conflict.field,
            conflict.kept.to_string(),
            conflict.proposed.to_string(),
            now
        ])?;
    }
    // A conflict may arrive after the revision that settles it is here already (ours, made on a
    // conflict found locally before the server reported it).
    tx.prepare_cached(&format!("UPDATE conflicts SET resolved_by = {FIRST_RESOLVER} WHERE revision_id = ?1"))?
        .execute(params![rev])?;
    Ok(())
}

/// Marks the conflicts that `revision` settles as resolved, by it or by one that settled them
/// before it in central order ([`FIRST_RESOLVER`]).
pub(crate) fn settle_conflicts(tx: &Connection, revision: &Revision) -> Result<()> {
    for settled in &revision.resolves {
        tx.prepare_cached(&format!("UPDATE conflicts SET resolved_by = {FIRST_RESOLVER} WHERE revision_id = ?1"))?
            .execute(params![settled.to_string()])?;
    }
    Ok(())
}

/// What a rebuild did, for the caller's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rebuilt {
    /// The record has revisions; its row was rewritten.
    Row,
    /// The record has no revisions left (its creation was refused): its row is gone.
    Removed,
}

/// Rewrites the chain and the row of one record from its revisions (see the module docs).
pub(crate) fn rebuild(tx: &Connection, kind: RecordKind, record_id: Uuid) -> Result<Rebuilt> {
    unlock_chain(tx, record_id)?;
    let all = read_sync_revisions(tx, "record_id = ?1 ORDER BY seq", params![record_id.to_string()])?;
    let (mut pulled, tail): (Vec<SyncRevision>, Vec<SyncRevision>) = all.into_iter().partition(|r| r.is_pulled());
    pulled.sort_by_key(|r| r.revision.version);
    if pulled.is_empty() && tail.is_empty() {
        record::delete_raw(tx, kind, record_id)?;
        return Ok(Rebuilt::Removed);
    }

    // The state after each revision, by id: a tail revision is merged against the state after the
    // revision it was made on.
    let mut state = Map::new();
    let mut after: HashMap<Uuid, Map<String, Value>> = HashMap::new();
    let mut order: Vec<(SyncRevision, Map<String, Value>)> = Vec::with_capacity(pulled.len() + tail.len());
    for r in pulled {
        let fields = apply_canonical(kind, &mut state, &r.revision.fields);
        after.insert(r.revision.id, state.clone());
        order.push((r, fields));
    }
    let pending_ids: Vec<Uuid> = tail.iter().filter(|r| r.accepted_version.is_none()).map(|r| r.revision.id).collect();
    for r in tail {
        let base = match r.sent_parent() {
            None if r.revision.base_version == 0 => Map::new(),
            // Made on a change that is gone (refused): taken as made on what there is now.
            None => state.clone(),
            Some(parent) => after.get(&parent).cloned().unwrap_or_else(|| state.clone()),
        };
        let Merged { effective, conflicts } = merge::merge(kind, &base, &state, r.proposed());
        let fields = apply_canonical(kind, &mut state, &effective);
        after.insert(r.revision.id, state.clone());
        // Conflicts of a change not yet sent are shown at once; an accepted change keeps what the
        // server answered.
        if pending_ids.contains(&r.revision.id) {
            set_conflicts(tx, kind, record_id, r.revision.id, &conflicts)?;
        }
        order.push((r, fields));
    }

    // Write every revision at its place: version, links, effective fields.
    let mut version = 0u32;
    let mut previous: Option<Uuid> = None;
    for i in 0..order.len() {
        let next = order.get(i + 1).map(|(n, _)| n.revision.id.to_string());
        let (r, fields) = &order[i];
        version = if r.is_pulled() { r.revision.version } else { version + 1 };
        let proposed = if r.is_pulled() {
            r.proposed.clone()
        } else {
            // Remember what was asked whenever it is not what took effect.
            Some(r.proposed().clone()).filter(|p| p != fields)
        };
        let made_on = if r.is_pulled() { r.made_on } else { r.sent_parent() };
        let made_on = made_on.filter(|m| Some(*m) != previous && r.revision.base_version != 0);
        tx.prepare_cached(
            "UPDATE revisions SET version = ?2, parent = ?3, superseded_by = ?4, fields = ?5, proposed = ?6, \
             made_on = ?7 WHERE id = ?1",
        )?
        .execute(params![
            r.revision.id.to_string(),
            version,
            previous.map(|p| p.to_string()),
            next,
            Value::Object(fields.clone()).to_string(),
            proposed.map(|p| Value::Object(p).to_string()),
            made_on.map(|m| m.to_string()),
        ])?;
        previous = Some(r.revision.id);
    }

    let (first, _) = &order[0];
    let (last, _) = &order[order.len() - 1];
    let deleted_at = match state.get("deleted_at") {
        Some(Value::String(t)) => Some(parse_time(t, "deleted_at")?),
        _ => None,
    };
    let row = Bookkeeping {
        id: record_id,
        version,
        created_at: first.revision.made_at,
        updated_at: last.revision.made_at,
        updated_by: last.revision.author.clone(),
        deleted_at,
    };
    record::upsert_raw(tx, kind, &row, &state)?;
    Ok(Rebuilt::Row)
}
