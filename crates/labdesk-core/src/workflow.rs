//! The 7-stage lab workflow of seed 001: receiving → impression_scan → design → milling →
//! sintering → quality_control → delivery.
//!
//! Every case has all seven stages. A stage's record is written the first time someone touches
//! it (a fresh case has seven pending stages and no rows), and its id is derived from the case
//! and the stage, so two benches starting the same stage offline meet in one record.

use std::fmt;
use std::str::FromStr;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::record::{self, derived_id, Record, Written};
use crate::validate::{live_case, max_len, LONG_TEXT, SHORT_TEXT};
use crate::{Case, RecordKind, Store, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Receiving,
    ImpressionScan,
    Design,
    Milling,
    Sintering,
    QualityControl,
    Delivery,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Receiving,
        Stage::ImpressionScan,
        Stage::Design,
        Stage::Milling,
        Stage::Sintering,
        Stage::QualityControl,
        Stage::Delivery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Receiving => "receiving",
            Stage::ImpressionScan => "impression_scan",
            Stage::Design => "design",
            Stage::Milling => "milling",
            Stage::Sintering => "sintering",
            Stage::QualityControl => "quality_control",
            Stage::Delivery => "delivery",
        }
    }
}

/// The case statuses the stages set (seed 000's `dental_status` vocabulary, seed 001's
/// `case_status`). A case whose status is one of these follows its stages; any other status
/// (`cancelled`, `on_hold`, whatever a person typed) was set by a person and is left alone.
pub const STAGE_STATUSES: &[&str] = &["received", "processing", "designing", "milling", "qc", "ready", "delivered"];

impl Stage {
    /// The case status while this stage is the furthest one worked on. The seed's statuses have
    /// none for sintering, the milling room's second step, so it keeps `milling`.
    fn working_status(self) -> &'static str {
        match self {
            Stage::Receiving => "received",
            Stage::ImpressionScan => "processing",
            Stage::Design => "designing",
            Stage::Milling | Stage::Sintering => "milling",
            Stage::QualityControl => "qc",
            Stage::Delivery => "ready",
        }
    }
}

/// The case status the stages say, from each stage's status in workflow order: the furthest
/// stage touched decides (completed quality control: `ready`, completed delivery: `delivered`);
/// with every stage pending, `received`.
pub fn status_from_stages(stages: &[(Stage, StageStatus)]) -> &'static str {
    let furthest = stages.iter().filter(|(_, status)| *status != StageStatus::Pending).max_by_key(|(stage, _)| *stage);
    match furthest {
        None => "received",
        Some((Stage::Delivery, StageStatus::Completed)) => "delivered",
        Some((Stage::QualityControl, StageStatus::Completed)) => "ready",
        Some((stage, _)) => stage.working_status(),
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted || (wanted == "qc" && *st == Stage::QualityControl))
            .ok_or_else(|| {
                let names: Vec<_> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                Error::Input(format!("'{s}' is not a stage; the stages are {}", names.join(", ")))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Pending,
    InProgress,
    Completed,
    Blocked,
    OnHold,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WorkflowStage {
    pub case_id: Uuid,
    pub stage: Stage,
    pub status: StageStatus,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub notes: String,
}

impl WorkflowStage {
    fn pending(case_id: Uuid, stage: Stage) -> Self {
        Self {
            case_id,
            stage,
            status: StageStatus::Pending,
            assignee: None,
            started_at: None,
            completed_at: None,
            notes: String::new(),
        }
    }
}

impl Record for WorkflowStage {
    const KIND: RecordKind = RecordKind::WorkflowStage;

    fn normalize(&mut self) {
        if let Some(a) = &self.assignee {
            let trimmed = a.trim();
            self.assignee = (!trimmed.is_empty()).then(|| trimmed.to_owned());
        }
    }

    fn validate_alone(&self, id: Uuid, p: &mut Vec<FieldError>) {
        // One record per (case, stage): a store keeps UNIQUE (case_id, stage), which only the
        // derived id makes safe to pull (two benches starting one stage write to one record).
        let derived = derived_id(RecordKind::WorkflowStage, self.case_id, self.stage.as_str());
        if id != derived {
            p.push(FieldError::new(
                "id",
                format!(
                    "{id} is not the id of stage {} of case {}: a stage's id is derived from its case and \
                     stage ({derived}), so that one stage is one record on every workstation",
                    self.stage, self.case_id
                ),
            ));
        }
        if let Some(a) = &self.assignee {
            max_len(p, "assignee", a, SHORT_TEXT);
        }
        max_len(p, "notes", &self.notes, LONG_TEXT);
        if let (Some(start), Some(done)) = (self.started_at, self.completed_at) {
            if done < start {
                p.push(FieldError::new("completed_at", format!("{done} is before the stage started ({start})")));
            }
        }
        if self.status == StageStatus::Completed && self.completed_at.is_none() {
            p.push(FieldError::new("completed_at", "a completed stage needs its completion time"));
        }
    }

    fn validate(&self, _id: Uuid, conn: &Connection, p: &mut Vec<FieldError>) -> Result<()> {
        live_case(p, conn, "case_id", self.case_id)
    }
}

/// What a person does to a stage at the bench.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case", tag = "action", content = "value")]
pub enum StageAction {
    /// Begin work: in progress, started now (kept if it was started before).
    Start,
    /// Finish: completed now (started now too, if it never was).
    Complete,
    Block,
    Hold,
    /// Back to pending, times cleared: a stage redone from scratch.
    Reset,
    /// Give the stage to someone, or to nobody.
    Assign(Option<String>),
    /// Replace the stage's notes.
    Notes(String),
}

fn apply(action: &StageAction, stage: &mut WorkflowStage) {
    let now = Timestamp::now();
    match action {
        StageAction::Start => {
            stage.status = StageStatus::InProgress;
            stage.started_at.get_or_insert(now);
            stage.completed_at = None;
        }
        StageAction::Complete => {
            stage.status = StageStatus::Completed;
            stage.started_at.get_or_insert(now);
            stage.completed_at = Some(now);
        }
        StageAction::Block => stage.status = StageStatus::Blocked,
        StageAction::Hold => stage.status = StageStatus::OnHold,
        StageAction::Reset => {
            stage.status = StageStatus::Pending;
            stage.started_at = None;
            stage.completed_at = None;
        }
        StageAction::Assign(who) => stage.assignee.clone_from(who),
        StageAction::Notes(text) => stage.notes.clone_from(text),
    }
}

/// A stage as shown: its record if it has one, else pending with version 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StageView {
    pub id: Uuid,
    pub version: u32,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<String>,
    #[serde(flatten)]
    pub stage: WorkflowStage,
}

impl Store {
    /// Moves a stage of a case: start, complete, block, hold, reset, assign, or note. Completing
    /// a stage while an earlier one is not completed is refused ([`Error::OutOfOrder`]);
    /// [`Store::move_stage_out_of_order`] is for when a person confirmed it. A move that changes
    /// the stage's status also sets the case's status to what the stages now say, in the same
    /// transaction, unless a person gave the case a status of their own (see [`STAGE_STATUSES`]).
    pub fn move_stage(
        &mut self,
        case_key: &str,
        stage: Stage,
        action: StageAction,
        base_version: Option<u32>,
    ) -> Result<Written<WorkflowStage>> {
        self.move_stage_checked(case_key, stage, action, base_version, false)
    }

    /// [`Store::move_stage`], completing the stage even though earlier stages are not completed:
    /// a person confirmed that the work was done out of order.
    pub fn move_stage_out_of_order(
        &mut self,
        case_key: &str,
        stage: Stage,
        action: StageAction,
        base_version: Option<u32>,
    ) -> Result<Written<WorkflowStage>> {
        self.move_stage_checked(case_key, stage, action, base_version, true)
    }

    fn move_stage_checked(
        &mut self,
        case_key: &str,
        stage: Stage,
        action: StageAction,
        base_version: Option<u32>,
        force: bool,
    ) -> Result<Written<WorkflowStage>> {
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            if action == StageAction::Complete && !force {
                let earlier: Vec<Stage> = stage_statuses(tx, case_id)?
                    .into_iter()
                    .filter(|(s, status)| *s < stage && *status != StageStatus::Completed)
                    .map(|(s, _)| s)
                    .collect();
                if !earlier.is_empty() {
                    let case = record::current::<Case>(tx, case_id, None)?.record.case_number;
                    return Err(Error::OutOfOrder { case, stage, earlier });
                }
            }
            let id = derived_id(RecordKind::WorkflowStage, case_id, stage.as_str());
            let loaded = record::load::<WorkflowStage>(tx, id)?;
            let before = loaded.as_ref().map_or(StageStatus::Pending, |s| s.record.status);
            let written = match loaded {
                Some(_) => record::change::<WorkflowStage>(tx, actor, id, base_version, |_, next| {
                    apply(&action, next);
                    Ok(())
                })?,
                None => {
                    if let Some(base) = base_version.filter(|b| *b != 0) {
                        return Err(Error::StaleBase { kind: RecordKind::WorkflowStage, id, base, current: 0 });
                    }
                    let mut fresh = WorkflowStage::pending(case_id, stage);
                    apply(&action, &mut fresh);
                    record::create(tx, actor, id, fresh)?
                }
            };
            // Only a move of the stage's status moves the case: assigning or noting a stage of a
            // case imported mid-production leaves the status it came with.
            if written.record.record.status != before {
                follow_stages(tx, actor, case_id)?;
            }
            Ok(written)
        })
    }

    /// All seven stages of a case, in workflow order.
    pub fn stages(&self, case_key: &str) -> Result<Vec<StageView>> {
        let case_id = crate::cases::resolve(&self.conn, case_key)?;
        let stored = record::load_where::<WorkflowStage>(&self.conn, "case_id = ?1", [case_id.to_string()])?;
        Ok(Stage::ALL
            .into_iter()
            .map(|stage| match stored.iter().find(|s| s.record.stage == stage) {
                Some(s) => StageView {
                    id: s.id,
                    version: s.version,
                    updated_at: Some(s.updated_at),
                    updated_by: Some(s.updated_by.clone()),
                    stage: s.record.clone(),
                },
                None => StageView {
                    id: derived_id(RecordKind::WorkflowStage, case_id, stage.as_str()),
                    version: 0,
                    updated_at: None,
                    updated_by: None,
                    stage: WorkflowStage::pending(case_id, stage),
                },
            })
            .collect())
    }
}

/// Each stage of a case with its status, in workflow order (pending where never touched). Read
/// by the stages' derived ids, so it costs seven look-ups by primary key.
fn stage_statuses(conn: &Connection, case_id: Uuid) -> Result<Vec<(Stage, StageStatus)>> {
    Stage::ALL
        .into_iter()
        .map(|stage| {
            let id = derived_id(RecordKind::WorkflowStage, case_id, stage.as_str());
            let status = record::load::<WorkflowStage>(conn, id)?.map_or(StageStatus::Pending, |s| s.record.status);
            Ok((stage, status))
        })
        .collect()
}

/// Sets the case's status to what its stages say, as an ordinary case revision (so two
/// workstations moving stages offline merge like any two edits of a field), unless a person gave
/// the case a status the stages never set.
fn follow_stages(tx: &Connection, actor: &record::Actor, case_id: Uuid) -> Result<()> {
    let case = record::current::<Case>(tx, case_id, None)?;
    if !STAGE_STATUSES.contains(&case.record.status.as_str()) {
        return Ok(());
    }
    let wanted = status_from_stages(&stage_statuses(tx, case_id)?);
    if case.record.status != wanted {
        let mut patch = serde_json::Map::new();
        patch.insert("status".into(), wanted.into());
        record::patch::<Case>(tx, actor, case_id, None, patch)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{fields, store};

    #[test]
    fn a_new_case_shows_seven_pending_stages_in_order() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let stages = s.stages("FD1-000001").unwrap();
        let names: Vec<_> = stages.iter().map(|v| v.stage.stage.as_str()).collect();
        assert_eq!(
            names,
            ["receiving", "impression_scan", "design", "milling", "sintering", "quality_control", "delivery"]
        );
        assert!(stages.iter().all(|v| v.stage.status == StageStatus::Pending && v.version == 0));
    }

    #[test]
    fn starting_then_completing_a_stage_records_both_times() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        for earlier in [Stage::Receiving, Stage::ImpressionScan] {
            s.move_stage("FD1-000001", earlier, StageAction::Complete, None).unwrap();
        }
        s.move_stage("FD1-000001", Stage::Design, StageAction::Assign(Some("bob".into())), None).unwrap();
        let started = s.move_stage("FD1-000001", Stage::Design, StageAction::Start, Some(2 - 1)).unwrap();
        let done = s.move_stage("FD1-000001", Stage::Design, StageAction::Complete, Some(2)).unwrap();
        let d = &done.record.record;
        assert_eq!(d.status, StageStatus::Completed);
        assert_eq!(d.started_at, started.record.record.started_at, "completing keeps the start time");
        assert!(d.completed_at >= d.started_at);
        assert_eq!(d.assignee.as_deref(), Some("bob"));
        assert_eq!(done.record.version, 3);
    }

    fn status(s: &Store) -> String {
        s.case("FD1-000001").unwrap().record.status
    }

    fn overdue(s: &Store) -> (bool, u64) {
        let all = s.list_cases(&crate::CaseQuery::default()).unwrap();
        let only = s.list_cases(&crate::CaseQuery { overdue_only: true, ..Default::default() }).unwrap();
        (all.cases[0].overdue, only.total)
    }

    #[test]
    fn completing_all_seven_stages_in_order_delivers_the_case_and_it_is_no_longer_overdue() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P", "due_date": "2020-01-01"}))).unwrap();
        assert_eq!(overdue(&s), (true, 1), "a case past its due date is overdue to begin with");
        let mut seen = Vec::new();
        for stage in Stage::ALL {
            s.move_stage("FD1-000001", stage, StageAction::Start, None).unwrap();
            seen.push(status(&s));
            s.move_stage("FD1-000001", stage, StageAction::Complete, None).unwrap();
            seen.push(status(&s));
        }
        assert_eq!(
            seen,
            [
                "received",
                "received",
                "processing",
                "processing",
                "designing",
                "designing",
                "milling",
                "milling",
                "milling",
                "milling",
                "qc",
                "ready",
                "ready",
                "delivered"
            ],
            "the case's status follows its stages, move by move"
        );
        assert_eq!(overdue(&s), (false, 0), "a delivered case is not late: neither marked nor listed as overdue");
        assert_eq!(
            s.case("FD1-000001").unwrap().version,
            7,
            "each of the six status changes is one ordinary revision of the case; moves that keep it make none"
        );
        s.move_stage("FD1-000001", Stage::Delivery, StageAction::Reset, None).unwrap();
        assert_eq!(status(&s), "ready", "a stage reset moves the status back");
        assert_eq!(overdue(&s), (true, 1), "and the case is late again");
    }

    #[test]
    fn completing_a_stage_before_earlier_ones_is_refused_naming_them_unless_confirmed() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P", "due_date": "2020-01-01"}))).unwrap();
        s.move_stage("FD1-000001", Stage::Receiving, StageAction::Complete, None).unwrap();
        s.move_stage("FD1-000001", Stage::ImpressionScan, StageAction::Complete, None).unwrap();
        let outbox = crate::test_support::count(&s, "outbox");
        let err = s.move_stage("FD1-000001", Stage::Delivery, StageAction::Complete, None).unwrap_err();
        let Error::OutOfOrder { earlier, .. } = &err else { panic!("expected an out-of-order refusal, got {err}") };
        assert_eq!(
            earlier,
            &[Stage::Design, Stage::Milling, Stage::Sintering, Stage::QualityControl],
            "the refusal names the earlier stages not completed, and only those"
        );
        assert_eq!(
            err.to_string(),
            "delivery of case FD1-000001 cannot be completed yet: design, milling, sintering and quality_control \
             before it are not completed; complete them first, or confirm that delivery is done out of order"
        );
        assert_eq!(crate::test_support::count(&s, "outbox"), outbox, "the refused move wrote nothing");
        assert_eq!(s.stages("FD1-000001").unwrap()[6].stage.status, StageStatus::Pending);

        s.move_stage("FD1-000001", Stage::Design, StageAction::Start, None)
            .expect("starting a stage early is allowed: work overlaps at the bench");
        let done = s.move_stage_out_of_order("FD1-000001", Stage::Delivery, StageAction::Complete, None).unwrap();
        assert_eq!(done.record.record.status, StageStatus::Completed, "a confirmed completion is stored");
        assert_eq!(status(&s), "delivered");
        assert_eq!(overdue(&s), (false, 0));
    }

    #[test]
    fn a_status_a_person_set_is_kept_when_stages_move_and_a_delivered_case_is_still_not_late() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P", "due_date": "2020-01-01"}))).unwrap();
        s.edit_case("FD1-000001", None, fields(json!({"status": "waiting for the dentist"}))).unwrap();
        s.move_stage("FD1-000001", Stage::Receiving, StageAction::Complete, None).unwrap();
        s.move_stage("FD1-000001", Stage::Design, StageAction::Start, None).unwrap();
        assert_eq!(status(&s), "waiting for the dentist", "a status the stages never set is a person's: kept");
        s.move_stage_out_of_order("FD1-000001", Stage::Delivery, StageAction::Complete, None).unwrap();
        assert_eq!(status(&s), "waiting for the dentist");
        assert_eq!(overdue(&s), (false, 0), "a case whose delivery is completed is not late, whatever its status");

        s.edit_case("FD1-000001", None, fields(json!({"status": "milling"}))).unwrap();
        s.move_stage("FD1-000001", Stage::Delivery, StageAction::Reset, None).unwrap();
        assert_eq!(status(&s), "designing", "a status from the stages' own words follows the stages again");
    }

    #[test]
    fn assigning_or_noting_a_stage_leaves_the_status_a_case_came_with() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P", "status": "milling"}))).unwrap();
        s.move_stage("FD1-000001", Stage::Receiving, StageAction::Assign(Some("bob".into())), None).unwrap();
        s.move_stage("FD1-000001", Stage::Milling, StageAction::Notes("slow feed".into()), None).unwrap();
        assert_eq!(status(&s), "milling", "only moving a stage's status moves the case's");
    }

    #[test]
    fn stage_names_are_forgiving_and_a_wrong_one_lists_the_right_ones() {
        assert_eq!("Quality Control".parse::<Stage>().unwrap(), Stage::QualityControl);
        assert_eq!("impression-scan".parse::<Stage>().unwrap(), Stage::ImpressionScan);
        let err = "glazing".parse::<Stage>().unwrap_err();
        assert!(err.to_string().contains("the stages are receiving, impression_scan"), "{err}");
    }
}
