//! A case note: a timestamped remark on a case (seed 001, `case_notes`).

use super::{FieldDecl as F, FieldType as T, IdRule, KindDecl, Module, Scope, Search};

pub static DECL: KindDecl = KindDecl {
    name: "case_note",
    label: "case note",
    plural: "case notes",
    table: "case_notes",
    scope: Scope::Case,
    id: IdRule::Fresh,
    fields: &[
        F::new("case_id", "Case", T::Id).required().fixed(),
        F::new("author_id", "Author", T::Text { max: 200 }).required().fixed(),
        F::new("body", "Note", T::LongText { max: 10_000 }).required().search(),
    ],
    unique: &[],
    submitted: None,
    search: Some(Search { tag: 4, found_as: "note" }),
    title: &["body"],
    module: Module::Cases,
    hand_made: true,
};
