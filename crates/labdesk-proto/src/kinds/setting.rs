//! A lab setting: one key and its value, shared by every workstation of the lab (seed 001,
//! `settings`). Declared here and nowhere else: no typed code handles it.

use super::{FieldDecl as F, FieldType as T, IdRule, KindDecl, Module, Scope};

pub static DECL: KindDecl = KindDecl {
    name: "setting",
    label: "lab setting",
    plural: "lab settings",
    table: "lab_settings",
    scope: Scope::Lab,
    id: IdRule::Fresh,
    fields: &[
        F::new("key", "Setting", T::Text { max: 100 })
            .required()
            .fixed()
            .help("a short name, such as opening_hours or invoice_footer"),
        F::new("value", "Value", T::LongText { max: 10_000 }),
        F::new("description", "What it is for", T::Text { max: 500 }),
    ],
    unique: &["key"],
    submitted: None,
    search: None,
    title: &["key"],
    module: Module::Settings,
    hand_made: false,
};
