//! A case: one order from a dentist (seed 000, `dentals`).

use super::{FieldDecl as F, FieldType as T, IdRule, KindDecl, Merge, Module, Scope, Search};

pub static DECL: KindDecl = KindDecl {
    name: "case",
    label: "case",
    plural: "cases",
    table: "cases",
    scope: Scope::Lab,
    id: IdRule::Fresh,
    fields: &[
        F::new("case_number", "Case number", T::Text { max: 40 }).required().fixed().search(),
        F::new("secret_key", "Share key", T::Text { max: 200 }).required().fixed().hidden(),
        F::new("status", "Status", T::Text { max: 40 }).required(),
        F::new("patient_name", "Patient", T::Text { max: 200 }).required().search(),
        F::new("author_id", "Taken in by", T::Text { max: 200 }).required(),
        F::new("author_info", "Dentist", T::Json).search(),
        F::new("links", "Links", T::Json).merge(Merge::Set),
        F::new("services", "Services", T::Json).search(),
        F::new("order_note", "Order note", T::LongText { max: 10_000 }).search(),
        F::new("invoice_ids", "Invoices", T::TextList).merge(Merge::Set),
        F::new("assignees", "Assignees", T::TextList).merge(Merge::Set),
        F::new("priority", "Priority", T::Text { max: 40 }).required(),
        F::new("start_date", "Start", T::Time),
        F::new("due_date", "Due", T::Time),
        F::new("parent_id", "Parent case", T::Id),
        F::new("aligners", "Aligners", T::Json),
    ],
    unique: &["case_number"],
    submitted: None,
    search: Some(Search { tag: 1, found_as: "case" }),
    title: &["case_number"],
    module: Module::Cases,
    hand_made: true,
};
