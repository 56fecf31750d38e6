//! A chat message on a case (seed 000, `chat_messages`).

use super::{FieldDecl as F, FieldType as T, IdRule, KindDecl, Merge, Module, Scope, Search};

pub static DECL: KindDecl = KindDecl {
    name: "chat_message",
    label: "chat message",
    plural: "chat messages",
    table: "chat_messages",
    scope: Scope::Case,
    id: IdRule::Fresh,
    fields: &[
        F::new("case_id", "Case", T::Id).required().fixed(),
        F::new("message_type", "Type", T::Text { max: 40 }).required(),
        F::new("message_content", "Message", T::LongText { max: 20_000 }).search(),
        F::new("attachments", "Attachments", T::Json).merge(Merge::Set),
        F::new("reply_to", "Reply to", T::Id).fixed(),
        F::new("reactions", "Reactions", T::Json).merge(Merge::Set),
        F::new("sender_id", "Sender", T::Text { max: 200 }).required().fixed(),
        F::new("parent_message_id", "Thread", T::Id).fixed(),
        F::new("message_purpose", "Purpose", T::Text { max: 100 }),
        // Workstations work delivery out for themselves; the stored value only ever moves on.
        F::new("message_status", "Status", T::Text { max: 40 })
            .required()
            .merge(Merge::Forward { order: &["sending", "failed", "sent", "read"] }),
        F::new("sent_at", "Sent", T::Time),
        F::new("edited_at", "Edited", T::Time),
        F::new("read_at", "Read", T::Time).merge(Merge::Later),
    ],
    unique: &[],
    submitted: None,
    search: Some(Search { tag: 3, found_as: "chat" }),
    title: &["message_content"],
    module: Module::Chat,
    hand_made: true,
};
