//! A file's metadata: a scan, a photo or a document on a case (seed 000, `files`). Its bytes
//! are a blob named by `hash`.

use super::{FieldDecl as F, FieldType as T, IdRule, KindDecl, Module, Scope, Search};

pub static DECL: KindDecl = KindDecl {
    name: "file",
    label: "file",
    plural: "files",
    table: "files",
    scope: Scope::Case,
    id: IdRule::Fresh,
    fields: &[
        F::new("case_id", "Case", T::Id).required().fixed(),
        F::new("message_id", "Message", T::Id),
        F::new("original_name", "Name", T::Text { max: 255 }).required().search(),
        F::new("stored_name", "Stored name", T::Text { max: 255 }).required().fixed(),
        F::new("file_path", "Path", T::Text { max: 1000 }).required().fixed(),
        F::new("file_size", "Size", T::Integer).required().fixed(),
        F::new("mime_type", "Type", T::Text { max: 200 }).required(),
        F::new("upload_date", "Uploaded", T::Time).required().fixed(),
        F::new("uploaded_by", "Uploaded by", T::Text { max: 200 }).required().fixed(),
        F::new("is_temp", "Temporary", T::Bool),
        F::new("hash", "SHA-256", T::Text { max: 64 }).required().fixed(),
    ],
    unique: &[],
    submitted: None,
    search: Some(Search { tag: 6, found_as: "file" }),
    title: &["original_name"],
    module: Module::Files,
    hand_made: true,
};
