//! A workflow stage of a case: design, milling, ..., one record per (case, stage).

use super::{FieldDecl as F, FieldType as T, IdRule, KindDecl, Module, Scope, Search};

pub static DECL: KindDecl = KindDecl {
    name: "workflow_stage",
    label: "workflow stage",
    plural: "workflow stages",
    table: "workflow_stages",
    scope: Scope::Case,
    id: IdRule::Derived { owner: "case_id", name: "stage" },
    fields: &[
        F::new("case_id", "Case", T::Id).required().fixed(),
        F::new("stage", "Stage", T::Text { max: 40 }).required().fixed(),
        F::new("status", "Status", T::Text { max: 40 }).required(),
        F::new("assignee", "Technician", T::Text { max: 200 }),
        F::new("started_at", "Started", T::Time),
        F::new("completed_at", "Completed", T::Time),
        F::new("notes", "Notes", T::LongText { max: 10_000 }).search(),
    ],
    unique: &["case_id", "stage"],
    submitted: None,
    search: Some(Search { tag: 5, found_as: "stage note" }),
    title: &["stage"],
    module: Module::Workflow,
    hand_made: true,
};
