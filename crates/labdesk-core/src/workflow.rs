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
use crate::record::{self, col, derived_id, Column, ColumnType as T, Record, Written};
use crate::validate::{live_case, max_len, LONG_TEXT, SHORT_TEXT};
use crate::{RecordKind, Store, Timestamp};

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
    const TABLE: &'static str = "workflow_stages";
    const COLUMNS: &'static [Column] = &[
        col("case_id", T::Text),
        col("stage", T::Text),
        col("status", T::Text),
        col("assignee", T::Text),
        col("started_at", T::Text),
        col("completed_at", T::Text),
        col("notes", T::Text),
    ];
    const IMMUTABLE: &'static [&'static str] = &["case_id", "stage"];

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
    /// Moves a stage of a case: start, complete, block, hold, reset, assign, or note.
    pub fn move_stage(
        &mut self,
        case_key: &str,
        stage: Stage,
        action: StageAction,
        base_version: Option<u32>,
    ) -> Result<Written<WorkflowStage>> {
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            let id = derived_id(RecordKind::WorkflowStage, case_id, stage.as_str());
            match record::load::<WorkflowStage>(tx, id)? {
                Some(_) => record::change::<WorkflowStage>(tx, actor, id, base_version, |_, next| {
                    apply(&action, next);
                    Ok(())
                }),
                None => {
                    if let Some(base) = base_version.filter(|b| *b != 0) {
                        return Err(Error::StaleBase { kind: RecordKind::WorkflowStage, id, base, current: 0 });
                    }
                    let mut fresh = WorkflowStage::pending(case_id, stage);
                    apply(&action, &mut fresh);
                    record::create(tx, actor, id, fresh)
                }
            }
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

    #[test]
    fn stage_names_are_forgiving_and_a_wrong_one_lists_the_right_ones() {
        assert_eq!("Quality Control".parse::<Stage>().unwrap(), Stage::QualityControl);
        assert_eq!("impression-scan".parse::<Stage>().unwrap(), Stage::ImpressionScan);
        let err = "glazing".parse::<Stage>().unwrap_err();
        assert!(err.to_string().contains("the stages are receiving, impression_scan"), "{err}");
    }
}
