//! A case meta value: one key and its value on a case (seed 000, "Custom Meta Data").

use super::{FieldDecl as F, FieldType as T, IdRule, KindDecl, Module, Scope, Search};

pub static DECL: KindDecl = KindDecl {
    name: "case_meta",
    label: "case meta value",
    plural: "case meta values",
    table: "case_meta",
    scope: Scope::Case,
    id: IdRule::Derived { owner: "case_id", name: "key" },
    fields: &[
        F::new("case_id", "Case", T::Id).required().fixed(),
        F::new("key", "Key", T::Text { max: 100 }).required().fixed().search(),
        F::new("value", "Value", T::LongText { max: 10_000 }).search(),
    ],
    unique: &["case_id", "key"],
    submitted: None,
    search: Some(Search { tag: 2, found_as: "meta" }),
    title: &["key"],
    module: Module::Cases,
    hand_made: true,
};
