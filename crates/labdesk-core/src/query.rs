//! What the UI reads: the case list (filters, sort, paging), full-text search, and a case with
//! everything attached to it in one call.

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{self, attached_record_ids, load_where, query_opt, Stored};
use crate::{Case, CaseMeta, CaseNote, FileRecord, RecordKind, StageView, Store, Timestamp};

/// Statuses after which a case can no longer be late.
pub const CLOSED_STATUSES: &[&str] = &["delivered", "cancelled"];

/// The overdue rule, once for a list row and a case's detail (the list's `--overdue` filter says
/// the same in SQL): past its due date, not delivered or cancelled, and its delivery stage not
/// completed, whatever status a person gave it.
fn late(past_due: bool, status: &str, delivery_completed: bool) -> bool {
    past_due && !CLOSED_STATUSES.contains(&status) && !delivery_completed
}

/// Whether the case of the row `cases` (as named in the query) has its delivery stage completed:
/// then it is not late, whatever status a person gave it. One look-up in the stages' unique
/// (case_id, stage) index per row asked about.
fn delivered(cases: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM workflow_stages w WHERE w.case_id = {cases}.id \
         AND w.stage = 'delivery' AND w.status = 'completed')"
    )
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum CaseSort {
    #[default]
    DueDate,
    CaseNumber,
    CreatedAt,
    UpdatedAt,
    Priority,
    Status,
    PatientName,
}

impl CaseSort {
    fn column(self) -> &'static str {
        match self {
            CaseSort::DueDate => "due_date",
            CaseSort::CaseNumber => "case_number",
            CaseSort::CreatedAt => "created_at",
            CaseSort::UpdatedAt => "updated_at",
            CaseSort::Priority => PRIORITY_RANK,
            CaseSort::Status => "status",
            CaseSort::PatientName => "patient_name COLLATE NOCASE",
        }
    }
}

/// The lab's order of priorities, most urgent first (`SUGGESTED_PRIORITIES` from the end): a
/// priority sort follows it, and any other free-text priority comes after them, by its text.
/// Computed per row: no index keeps it, and one is not needed — a sort by priority reads the
/// filtered cases once, as a sort by status does, and the default list keeps its index.
const PRIORITY_RANK: &str = "CASE lower(priority) WHEN 'emergency' THEN 0 WHEN 'rush' THEN 1 WHEN 'high' THEN 2 \
                             WHEN 'medium' THEN 3 WHEN 'low' THEN 4 ELSE 5 END";

/// Which cases to list, in what order, which page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct CaseQuery {
    /// Any of these statuses (none: all).
    pub status: Vec<String>,
    /// Any of these priorities (none: all).
    pub priority: Vec<String>,
    pub due_from: Option<Timestamp>,
    pub due_to: Option<Timestamp>,
    pub assignee: Option<String>,
    /// Only the children of this case (UUID or case number).
    pub parent: Option<String>,
    /// Only cases past their due date and not closed.
    pub overdue_only: bool,
    pub include_deleted: bool,
    pub sort: CaseSort,
    pub descending: bool,
    pub offset: u32,
    /// Page size, 1..=500.
    pub limit: u32,
}

impl Default for CaseQuery {
    fn default() -> Self {
        Self {
            status: Vec::new(),
            priority: Vec::new(),
            due_from: None,
            due_to: None,
            assignee: None,
            parent: None,
            overdue_only: false,
            include_deleted: false,
            sort: CaseSort::DueDate,
            descending: false,
            offset: 0,
            limit: 50,
        }
    }
}

/// A row of the case list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CaseSummary {
    pub id: Uuid,
    pub case_number: String,
    pub patient_name: String,
    pub status: String,
    pub priority: String,
    pub start_date: Option<Timestamp>,
    pub due_date: Option<Timestamp>,
    pub assignees: Vec<String>,
    pub parent_id: Option<Uuid>,
    pub version: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted: bool,
    /// Past its due date, not delivered or cancelled, and its delivery stage not completed.
    pub overdue: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CasePage {
    /// How many cases match, over all pages.
    pub total: u64,
    pub offset: u32,
    pub limit: u32,
    pub cases: Vec<CaseSummary>,
}

const SUMMARY_COLUMNS: &str = "id, case_number, patient_name, status, priority, start_date, due_date, assignees, \
                               parent_id, version, created_at, updated_at, deleted_at";

fn summary(row: &rusqlite::Row<'_>, now: &str) -> Result<CaseSummary> {
    let text = |i: usize| -> Result<String> { Ok(row.get::<_, String>(i)?) };
    let time = |i: usize| -> Result<Option<Timestamp>> {
        row.get::<_, Option<String>>(i)?
            .map(|t| Timestamp::parse(&t).map_err(|e| Error::Corrupt(e.to_string())))
            .transpose()
    };
    let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| Error::Corrupt(format!("'{s}' is not a UUID")));
    let status = text(3)?;
    let due: Option<String> = row.get(6)?;
    let assignees: String = row.get(7)?;
    Ok(CaseSummary {
        id: uuid(&text(0)?)?,
        case_number: text(1)?,
        patient_name: text(2)?,
        overdue: late(due.as_deref().is_some_and(|d| d < now), &status, row.get::<_, bool>(13)?),
        status,
        priority: text(4)?,
        start_date: time(5)?,
        due_date: time(6)?,
        assignees: serde_json::from_str(&assignees).map_err(|e| Error::Corrupt(e.to_string()))?,
        parent_id: row.get::<_, Option<String>>(8)?.map(|p| uuid(&p)).transpose()?,
        version: row.get(9)?,
        created_at: time(10)?.ok_or_else(|| Error::Corrupt("created_at is empty".into()))?,
        updated_at: time(11)?.ok_or_else(|| Error::Corrupt("updated_at is empty".into()))?,
        deleted: row.get::<_, Option<String>>(12)?.is_some(),
    })
}

fn in_list(column: &str, values: &[String], params: &mut Vec<SqlValue>) -> String {
    let marks: Vec<String> = values
        .iter()
        .map(|v| {
            params.push(SqlValue::Text(v.clone()));
            format!("?{}", params.len())
        })
        .collect();
    format!("{column} IN ({})", marks.join(", "))
}

impl Store {
    /// One page of the case list.
    #[tracing::instrument(skip_all)]
    pub fn list_cases(&self, query: &CaseQuery) -> Result<CasePage> {
        let limit = query.limit.clamp(1, 500);
        let now = Timestamp::now().to_string();
        if let Some(page) = self.assignee_page(query, limit, &now)? {
            return Ok(page);
        }
        let mut params: Vec<SqlValue> = Vec::new();
        let mut clauses: Vec<String> = Vec::new();
        if !query.include_deleted {
            clauses.push("deleted_at IS NULL".into());
        }
        if !query.status.is_empty() {
            clauses.push(in_list("status", &query.status, &mut params));
        }
        if !query.priority.is_empty() {
            clauses.push(in_list("priority", &query.priority, &mut params));
        }
        if let Some(from) = query.due_from {
            params.push(SqlValue::Text(from.to_string()));
            clauses.push(format!("due_date >= ?{}", params.len()));
        }
        if let Some(to) = query.due_to {
            params.push(SqlValue::Text(to.to_string()));
            clauses.push(format!("due_date <= ?{}", params.len()));
        }
        if let Some(assignee) = &query.assignee {
            params.push(SqlValue::Text(assignee.trim().to_owned()));
            clauses.push(format!("id IN (SELECT case_id FROM case_assignees WHERE assignee = ?{})", params.len()));
        }
        if let Some(parent) = &query.parent {
            params.push(SqlValue::Text(crate::cases::resolve(&self.conn, parent)?.to_string()));
            clauses.push(format!("parent_id = ?{}", params.len()));
        }
        if query.overdue_only {
            params.push(SqlValue::Text(now.clone()));
            clauses.push(format!("due_date < ?{}", params.len()));
            let closed: Vec<String> = CLOSED_STATUSES.iter().map(|s| (*s).to_owned()).collect();
            clauses.push(format!("NOT {}", in_list("status", &closed, &mut params)));
            clauses.push(format!("NOT {}", delivered("cases")));
        }
        let filter = if clauses.is_empty() { "1".to_owned() } else { clauses.join(" AND ") };
        let total: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM cases WHERE {filter}"))?
            .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
        let dir = if query.descending { "DESC" } else { "ASC" };
        // Cases with no due date go last either way; seq breaks ties so pages never overlap.
        let order = match query.sort {
            CaseSort::DueDate => format!("due_date IS NULL, due_date {dir}, seq {dir}"),
            // Within a priority the soonest due first, as the default list has them.
            CaseSort::Priority => format!(
                "{PRIORITY_RANK} {dir}, priority COLLATE NOCASE {dir}, due_date IS NULL, due_date {dir}, seq {dir}"
            ),
            other => format!("{} {dir}, seq {dir}", other.column()),
        };
        params.push(SqlValue::Integer(i64::from(limit)));
        params.push(SqlValue::Integer(i64::from(query.offset)));
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, {} FROM cases WHERE {filter} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            delivered("cases"),
            params.len() - 1,
            params.len()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut cases = Vec::with_capacity(limit as usize);
        while let Some(row) = rows.next()? {
            cases.push(summary(row, &now)?);
        }
        Ok(CasePage { total: u64::try_from(total).unwrap_or(0), offset: query.offset, limit, cases })
    }

    /// A technician's own list — one assignee's live cases by due date, the list benches open
    /// most — straight from the assignee index, which keeps that order (migration V5). Any other
    /// combination of filters goes through the general query.
    fn assignee_page(&self, query: &CaseQuery, limit: u32, now: &str) -> Result<Option<CasePage>> {
        let only_assignee = query.status.is_empty()
            && query.priority.is_empty()
            && query.due_from.is_none()
            && query.due_to.is_none()
            && query.parent.is_none()
            && !query.overdue_only
            && !query.include_deleted
            && query.sort == CaseSort::DueDate;
        let Some(assignee) = query.assignee.as_deref().filter(|_| only_assignee) else {
            return Ok(None);
        };
        let assignee = assignee.trim();
        let total: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM case_assignees WHERE assignee = ?1 AND live = 1")?
            .query_row([assignee], |r| r.get(0))?;
        let dir = if query.descending { "DESC" } else { "ASC" };
        let columns: Vec<String> = SUMMARY_COLUMNS.split(',').map(|c| format!("c.{}", c.trim())).collect();
        let sql = format!(
            "SELECT {}, {} FROM case_assignees a JOIN cases c ON c.id = a.case_id WHERE a.assignee = ?1 AND a.live = 1 \
             ORDER BY a.due_date IS NULL, a.due_date {dir}, a.case_seq {dir} LIMIT ?2 OFFSET ?3",
            columns.join(", "),
            delivered("c")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params![assignee, limit, query.offset])?;
        let mut cases = Vec::with_capacity(limit as usize);
        while let Some(row) = rows.next()? {
            cases.push(summary(row, now)?);
        }
        Ok(Some(CasePage { total: u64::try_from(total).unwrap_or(0), offset: query.offset, limit, cases }))
    }

    /// Full-text search over case numbers, patients, notes, services, meta, chat, stage notes and
    /// file names. Every word typed must match (as a word or the start of one); the best-matching
    /// cases come first.
    #[tracing::instrument(skip_all)]
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let Some(expr) = fts_query(text) else {
            return Err(Error::Input("type a word, a name or a case number to search for".into()));
        };
        let limit = limit.clamp(1, 200) as usize;
        // Ask for a few documents per case wanted: one case can match in many messages.
        let mut stmt = self.conn.prepare_cached(
            "SELECT case_id, rowid % ?3, snippet(search_index, 1, '[', ']', '…', 10) FROM search_index \
             WHERE search_index MATCH ?1 ORDER BY rank LIMIT ?2",
        )?;
        let mut rows = stmt.query(rusqlite::params![expr, limit * 8, labdesk_proto::SEARCH_TAGS])?;
        let mut hits: Vec<(String, i64, String)> = Vec::new();
        while let Some(row) = rows.next()? {
            let case_id: String = row.get(0)?;
            if !hits.iter().any(|(c, _, _)| *c == case_id) {
                hits.push((case_id, row.get(1)?, row.get(2)?));
                if hits.len() == limit {
                    break;
                }
            }
        }
        let now = Timestamp::now().to_string();
        let mut out = Vec::with_capacity(hits.len());
        let mut case_stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, {} FROM cases WHERE id = ?1 AND deleted_at IS NULL",
            delivered("cases")
        ))?;
        for (case_id, tag, snippet) in hits {
            let mut rows = case_stmt.query([&case_id])?;
            if let Some(row) = rows.next()? {
                let matched_in = RecordKind::ALL
                    .iter()
                    .filter_map(|k| k.decl().search)
                    .find(|s| i64::from(s.tag) == tag)
                    .map_or("record", |s| s.found_as);
                out.push(SearchHit { case: summary(row, &now)?, matched_in: matched_in.to_owned(), snippet });
            }
        }
        Ok(out)
    }

    /// A case with everything attached to it, read in one consistent snapshot.
    #[tracing::instrument(skip_all, fields(case = key))]
    pub fn case_detail(&self, key: &str) -> Result<CaseDetail> {
        let snapshot = self.conn.unchecked_transaction()?;
        let conn: &Connection = &snapshot;
        let id = crate::cases::resolve(conn, key)?;
        let case = record::current::<Case>(conn, id, None)?;
        let by_case = [id.to_string()];
        let live = "case_id = ?1 AND deleted_at IS NULL ORDER BY created_at, seq";
        let now = Timestamp::now().to_string();
        let summaries = |clause: &str, param: String| -> Result<Vec<CaseSummary>> {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}, {} FROM cases WHERE {clause}",
                delivered("cases")
            ))?;
            let mut rows = stmt.query([param])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(summary(row, &now)?);
            }
            Ok(out)
        };
        let detail = CaseDetail {
            parent: match case.record.parent_id {
                Some(p) => summaries("id = ?1", p.to_string())?.pop(),
                None => None,
            },
            children: summaries("parent_id = ?1 AND deleted_at IS NULL ORDER BY seq", id.to_string())?,
            meta: load_where::<CaseMeta>(conn, "case_id = ?1 AND deleted_at IS NULL ORDER BY key", by_case.clone())?,
            attachments: load_where::<FileRecord>(conn, live, by_case.clone())?,
            chat: crate::chat::chat_of_case(conn, id)?,
            stages: self.stages(&id.to_string())?,
            notes: load_where::<CaseNote>(conn, live, by_case)?,
            pending_changes: query_opt::<i64>(
                conn,
                &format!(
                    "SELECT count(*) FROM outbox o JOIN revisions r ON r.id = o.revision_id \
                     WHERE r.record_id = ?1 OR r.record_id IN ({})",
                    attached_record_ids()
                ),
                [id.to_string()],
            )?
            .unwrap_or(0),
            conflicts: crate::sync::conflicts_of_case(conn, id)?,
            case,
        };
        snapshot.finish()?;
        Ok(detail)
    }
}

/// Turns what a person typed into an FTS5 query: every word must match as a word or prefix.
/// Quoting each word means no input is ever an FTS5 syntax error.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| format!("\"{w}\"*")).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SearchHit {
    pub case: CaseSummary,
    /// Where the best match was: case, meta, chat, note, stage note or file.
    pub matched_in: String,
    /// The matching text, matched words in [brackets].
    pub snippet: String,
}

/// A case and everything attached to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CaseDetail {
    pub case: Stored<Case>,
    pub parent: Option<CaseSummary>,
    pub children: Vec<CaseSummary>,
    pub meta: Vec<Stored<CaseMeta>>,
    /// The seed's `attachments`: the case's file records.
    pub attachments: Vec<Stored<FileRecord>>,
    /// All messages, oldest first, with their delivery state; deleted ones are included, to show
    /// as deleted, and refused ones, as failed.
    pub chat: Vec<crate::MessageView>,
    pub stages: Vec<StageView>,
    pub notes: Vec<Stored<CaseNote>>,
    /// Changes to this case not yet accepted by the central store.
    pub pending_changes: i64,
    /// The case and its attached records that need review (conflicting changes to resolve).
    pub conflicts: Vec<crate::sync::RecordConflicts>,
}

impl CaseDetail {
    /// Live, past its due date, not delivered or cancelled, and its delivery stage not completed:
    /// the same verdict as [`CaseSummary::overdue`].
    pub fn overdue(&self) -> bool {
        let r = &self.case.record;
        let delivered = self
            .stages
            .iter()
            .any(|s| s.stage.stage == crate::Stage::Delivery && s.stage.status == crate::StageStatus::Completed);
        !self.case.is_deleted() && late(r.due_date.is_some_and(|due| due < Timestamp::now()), &r.status, delivered)
    }

    /// Some field of the case or of a record attached to it was changed two ways: a person must
    /// pick the value.
    pub fn needs_review(&self) -> bool {
        !self.conflicts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{fields, store};
    use crate::{NewMessage, Stage, StageAction};

    fn seeded() -> Store {
        let mut s = store();
        let cases = [
            json!({"patient_name": "Ada Lovelace", "status": "milling", "priority": "high", "due_date": "2020-01-01", "assignees": ["bob"]}),
            json!({"patient_name": "Alan Turing", "status": "qc", "priority": "low", "due_date": "2099-01-03",
                   "services": [{"service_type": "bridge", "sub_services": ["zirconia"], "extras": ["glaze"]}]}),
            json!({"patient_name": "Grace Hopper", "status": "delivered", "priority": "high", "due_date": "2020-01-02", "assignees": ["carol", "bob"]}),
            json!({"patient_name": "Edsger Dijkstra", "status": "milling", "priority": "medium"}),
        ];
        for c in cases {
            s.create_case(fields(c)).unwrap();
        }
        s
    }

    fn numbers(page: &CasePage) -> Vec<&str> {
        page.cases.iter().map(|c| c.case_number.as_str()).collect()
    }

    #[test]
    fn the_list_filters_by_status_priority_due_range_and_assignee() {
        let s = seeded();
        let q = |q: CaseQuery| s.list_cases(&q).unwrap();
        assert_eq!(q(CaseQuery { status: vec!["milling".into()], ..Default::default() }).total, 2);
        assert_eq!(q(CaseQuery { priority: vec!["high".into()], ..Default::default() }).total, 2);
        let due = q(CaseQuery {
            due_from: Some(Timestamp::parse("2020-01-01").unwrap()),
            due_to: Some(Timestamp::parse("2020-12-31").unwrap()),
            ..Default::default()
        });
        assert_eq!(numbers(&due), ["FD1-000001", "FD1-000003"]);
        let bob = q(CaseQuery { assignee: Some("bob".into()), ..Default::default() });
        assert_eq!(numbers(&bob), ["FD1-000001", "FD1-000003"]);
    }

    #[test]
    fn an_assignees_list_follows_due_dates_deletes_and_reassignment() {
        let mut s = seeded();
        let bob = |s: &Store, descending: bool| {
            let page = s.list_cases(&CaseQuery { assignee: Some("bob".into()), descending, ..Default::default() });
            let page = page.unwrap();
            (page.total, numbers(&page).into_iter().map(str::to_owned).collect::<Vec<_>>())
        };
        assert_eq!(bob(&s, false), (2, vec!["FD1-000001".to_owned(), "FD1-000003".to_owned()]));
        s.edit_case("FD1-000001", None, fields(json!({"due_date": "2020-01-05"}))).unwrap();
        assert_eq!(bob(&s, false).1, ["FD1-000003", "FD1-000001"], "a new due date moves the case in bob's list");
        assert_eq!(bob(&s, true).1, ["FD1-000001", "FD1-000003"]);
        s.edit_case("FD1-000004", None, fields(json!({"assignees": ["bob"]}))).unwrap();
        assert_eq!(bob(&s, false).1, ["FD1-000003", "FD1-000001", "FD1-000004"], "undated cases come last");
        s.delete_case("FD1-000003", None).unwrap();
        s.edit_case("FD1-000001", None, fields(json!({"assignees": ["carol"]}))).unwrap();
        assert_eq!(bob(&s, false), (1, vec!["FD1-000004".to_owned()]), "deleted and reassigned cases leave it");
        let general = s
            .list_cases(&CaseQuery {
                assignee: Some("bob".into()),
                status: vec!["milling".into()],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(numbers(&general), ["FD1-000004"], "with other filters the general query agrees");
    }

    #[test]
    fn overdue_means_past_due_and_not_delivered() {
        let s = seeded();
        let all = s.list_cases(&CaseQuery::default()).unwrap();
        let overdue: Vec<_> = all.cases.iter().filter(|c| c.overdue).map(|c| c.case_number.as_str()).collect();
        assert_eq!(overdue, ["FD1-000001"], "the delivered case is not late");
        let only = s.list_cases(&CaseQuery { overdue_only: true, ..Default::default() }).unwrap();
        assert_eq!(numbers(&only), ["FD1-000001"]);
    }

    #[test]
    fn pages_do_not_overlap_and_cases_without_due_dates_come_last() {
        let s = seeded();
        let first = s.list_cases(&CaseQuery { limit: 2, ..Default::default() }).unwrap();
        let second = s.list_cases(&CaseQuery { limit: 2, offset: 2, ..Default::default() }).unwrap();
        assert_eq!(first.total, 4);
        assert_eq!(numbers(&first), ["FD1-000001", "FD1-000003"]);
        assert_eq!(numbers(&second), ["FD1-000002", "FD1-000004"]);
        let by_name =
            s.list_cases(&CaseQuery { sort: CaseSort::PatientName, descending: true, ..Default::default() }).unwrap();
        assert_eq!(by_name.cases[0].patient_name, "Grace Hopper");
    }

    #[test]
    fn a_priority_sort_follows_the_labs_order_of_urgency_then_due_dates() {
        let mut s = seeded();
        for (name, priority, due) in [
            ("Rush Late", "rush", "2099-02-01"),
            ("Rush Soon", "Rush", "2099-01-01"),
            ("Emergency", "emergency", "2099-05-01"),
            ("Own Word", "asap-ish", "2099-01-01"),
        ] {
            s.create_case(fields(json!({"patient_name": name, "priority": priority, "due_date": due}))).unwrap();
        }
        let by_priority = |descending: bool| {
            let q = CaseQuery { sort: CaseSort::Priority, descending, ..Default::default() };
            s.list_cases(&q).unwrap().cases.into_iter().map(|c| c.patient_name).collect::<Vec<_>>()
        };
        assert_eq!(
            by_priority(false),
            [
                "Emergency",
                "Rush Soon",
                "Rush Late",
                "Ada Lovelace",
                "Grace Hopper",
                "Edsger Dijkstra",
                "Alan Turing",
                "Own Word"
            ],
            "most urgent first (not alphabetical), soonest due first within one, free-text priorities last"
        );
        assert_eq!(by_priority(true).first().map(String::as_str), Some("Own Word"), "descending turns it round");
    }

    #[test]
    fn search_finds_cases_by_number_patient_service_meta_chat_and_notes() {
        let mut s = seeded();
        s.set_meta("FD1-000004", "customer_feedback", "wonderful fit").unwrap();
        s.post_message("FD1-000003", NewMessage::text("the margin looks short on 36")).unwrap();
        s.add_note("FD1-000001", "remake requested by Dr Quimby").unwrap();
        let first = |text: &str| {
            let hits = s.search(text, 10).unwrap();
            assert!(!hits.is_empty(), "nothing found for {text}");
            (hits[0].case.case_number.clone(), hits[0].matched_in.clone())
        };
        assert_eq!(first("FD1-000002"), ("FD1-000002".into(), "case".into()));
        assert_eq!(first("lovel"), ("FD1-000001".into(), "case".into()), "a word's start is enough");
        assert_eq!(first("zirconia"), ("FD1-000002".into(), "case".into()));
        assert_eq!(first("wonderful"), ("FD1-000004".into(), "meta".into()));
        assert_eq!(first("margin"), ("FD1-000003".into(), "chat".into()));
        assert_eq!(first("quimby"), ("FD1-000001".into(), "note".into()));
        assert!(s.search("\"unbalanced AND (", 10).unwrap().is_empty(), "odd input is searched, not a syntax error");
        assert!(s.search("  ", 10).is_err());
    }

    #[test]
    fn search_finds_stage_notes_and_file_names_and_follows_their_changes() {
        let mut s = seeded();
        s.move_stage("FD1-000002", Stage::Design, StageAction::Notes("shade vita A3 requested".into()), None).unwrap();
        let scan = crate::NewFile {
            original_name: "upper_jaw-Trios.stl".into(),
            file_size: 10,
            mime_type: "application/sla".into(),
            hash: "ab".repeat(32),
            message_id: None,
        };
        let file = s.attach_files("FD1-000003", vec![scan]).unwrap().remove(0);
        let found = |s: &Store, text: &str| {
            s.search(text, 10).unwrap().into_iter().map(|h| (h.case.case_number, h.matched_in)).collect::<Vec<_>>()
        };
        assert_eq!(found(&s, "vita"), [("FD1-000002".to_owned(), "stage note".to_owned())], "a stage's notes");
        assert_eq!(found(&s, "trios"), [("FD1-000003".to_owned(), "file".to_owned())], "a file's name, by its words");
        s.move_stage("FD1-000002", Stage::Design, StageAction::Notes(String::new()), None).unwrap();
        assert!(found(&s, "vita").is_empty(), "notes emptied leave the index");
        s.remove_file(file.id).unwrap();
        assert!(found(&s, "trios").is_empty(), "a removed file leaves the index");
        assert!(s.check(false).unwrap().problems.is_empty(), "the index holds exactly the searchable records");
    }

    #[test]
    fn search_follows_edits_and_deletes() {
        let mut s = seeded();
        s.edit_case("FD1-000004", None, fields(json!({"patient_name": "Barbara Liskov"}))).unwrap();
        assert!(s.search("dijkstra", 10).unwrap().is_empty(), "the old name is gone from the index");
        assert_eq!(s.search("liskov", 10).unwrap().len(), 1);
        s.delete_case("FD1-000004", None).unwrap();
        assert!(s.search("liskov", 10).unwrap().is_empty(), "deleted cases are not found");
    }

    #[test]
    fn a_case_detail_has_everything_attached() {
        let mut s = seeded();
        s.edit_case("FD1-000002", None, fields(json!({"parent_id": s.case_id("FD1-000001").unwrap()}))).unwrap();
        s.set_meta("FD1-000002", "patient_age", "40").unwrap();
        s.post_message("FD1-000002", NewMessage::text("hello")).unwrap();
        s.add_note("FD1-000002", "note").unwrap();
        s.move_stage("FD1-000002", Stage::Milling, StageAction::Start, None).unwrap();
        let d = s.case_detail("FD1-000002").unwrap();
        assert_eq!(d.parent.as_ref().unwrap().case_number, "FD1-000001");
        assert_eq!((d.meta.len(), d.chat.len(), d.notes.len(), d.stages.len()), (1, 1, 1, 7));
        assert_eq!(
            d.pending_changes, 7,
            "create, parent edit, meta, chat, note, stage and the status the stage gave the case are all pending"
        );
        assert_eq!(d.case.record.status, "milling", "the case was at qc, a status the stages set: it follows them");
        let parent = s.case_detail("FD1-000001").unwrap();
        assert_eq!(parent.children.len(), 1);
    }
}
