//! Chat on a case (seed 000, the "Dental Chat" table).
//!
//! Messages are append-only: a message is never rewritten by anyone but its sender, who may edit
//! its text (`edited_at`) or delete it (`deleted_at`). Anyone may react or mark it read.
//! Reactions are sets (emoji → users) and read receipts only move forward, which is what lets
//! sync merge them without conflicts.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::files::FileRecord;
use crate::record::{self, col, query_opt, Actor, Column, ColumnType as T, Record, Stored, Written};
use crate::validate::{live_case, max_len, LONG_TEXT};
use crate::{RecordKind, Store, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    Text,
    File,
    Image,
    Voice,
    Mixed,
    System,
}

/// Delivery state. `sending` until the central store has the message (the sync issue moves it
/// on), `failed` if it was rejected, `read` once a reader marked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Sending,
    Failed,
    Sent,
    Read,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ChatMessage {
    pub case_id: Uuid,
    pub message_type: MessageType,
    #[serde(default)]
    pub message_content: String,
    /// File records sent with the message.
    #[serde(default)]
    pub attachments: Vec<Uuid>,
    #[serde(default)]
    pub reply_to: Option<Uuid>,
    /// Emoji → the users who reacted with it.
    #[serde(default)]
    pub reactions: BTreeMap<String, BTreeSet<String>>,
    pub sender_id: String,
    #[serde(default)]
    pub parent_message_id: Option<Uuid>,
    #[serde(default)]
    pub message_purpose: Option<String>,
    pub message_status: MessageStatus,
    #[serde(default)]
    pub sent_at: Option<Timestamp>,
    #[serde(default)]
    pub edited_at: Option<Timestamp>,
    #[serde(default)]
    pub read_at: Option<Timestamp>,
}

impl Record for ChatMessage {
    const KIND: RecordKind = RecordKind::ChatMessage;
    const TABLE: &'static str = "chat_messages";
    const COLUMNS: &'static [Column] = &[
        col("case_id", T::Text),
        col("message_type", T::Text),
        col("message_content", T::Text),
        col("attachments", T::Json),
        col("reply_to", T::Text),
        col("reactions", T::Json),
        col("sender_id", T::Text),
        col("parent_message_id", T::Text),
        col("message_purpose", T::Text),
        col("message_status", T::Text),
        col("sent_at", T::Text),
        col("edited_at", T::Text),
        col("read_at", T::Text),
    ];
    const IMMUTABLE: &'static [&'static str] = &["case_id", "sender_id", "reply_to", "parent_message_id"];

    fn normalize(&mut self) {
        self.reactions.retain(|_, users| !users.is_empty());
        let mut seen = BTreeSet::new();
        self.attachments.retain(|id| seen.insert(*id));
    }

    fn validate_alone(&self, _id: Uuid, p: &mut Vec<FieldError>) {
        max_len(p, "message_content", &self.message_content, LONG_TEXT);
        if self.message_type == MessageType::Text && self.message_content.trim().is_empty() {
            p.push(FieldError::new("message_content", "a text message needs some text"));
        }
        if self.sender_id.trim().is_empty() {
            p.push(FieldError::new("sender_id", "is required"));
        }
        if let Some(purpose) = &self.message_purpose {
            max_len(p, "message_purpose", purpose, 64);
        }
        for (emoji, users) in &self.reactions {
            if emoji.is_empty() || emoji.chars().count() > 16 {
                p.push(FieldError::new("reactions", format!("'{emoji}' is not a reaction (1 to 16 characters)")));
            }
            if users.iter().any(|u| u.trim().is_empty()) {
                p.push(FieldError::new("reactions", "a reaction needs the user who made it"));
            }
        }
        if let (Some(edited), Some(sent)) = (self.edited_at, self.sent_at) {
            if edited < sent {
                p.push(FieldError::new("edited_at", "is before the message was sent"));
            }
        }
    }

    fn validate(&self, _id: Uuid, conn: &Connection, p: &mut Vec<FieldError>) -> Result<()> {
        live_case(p, conn, "case_id", self.case_id)?;
        for (field, target) in [("reply_to", self.reply_to), ("parent_message_id", self.parent_message_id)] {
            if let Some(target) = target {
                let case: Option<String> =
                    query_opt(conn, "SELECT case_id FROM chat_messages WHERE id = ?1", params![target.to_string()])?;
                if case.as_deref() != Some(self.case_id.to_string().as_str()) {
                    p.push(FieldError::new(field, format!("there is no message {target} on this case")));
                }
            }
        }
        for (i, file) in self.attachments.iter().enumerate() {
            let case: Option<String> =
                query_opt(conn, "SELECT case_id FROM files WHERE id = ?1", params![file.to_string()])?;
            if case.as_deref() != Some(self.case_id.to_string().as_str()) {
                p.push(FieldError::new(format!("attachments[{i}]"), format!("there is no file {file} on this case")));
            }
        }
        Ok(())
    }
}

/// A message to post. The sender is who is signed in; times and status are set by LabDesk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NewMessage {
    #[serde(default = "text_type")]
    pub message_type: MessageType,
    #[serde(default)]
    pub message_content: String,
    #[serde(default)]
    pub attachments: Vec<Uuid>,
    #[serde(default)]
    pub reply_to: Option<Uuid>,
    #[serde(default)]
    pub parent_message_id: Option<Uuid>,
    #[serde(default)]
    pub message_purpose: Option<String>,
}

fn text_type() -> MessageType {
    MessageType::Text
}

impl NewMessage {
    pub fn text(content: &str) -> Self {
        Self {
            message_type: MessageType::Text,
            message_content: content.to_owned(),
            attachments: Vec::new(),
            reply_to: None,
            parent_message_id: None,
            message_purpose: None,
        }
    }
}

/// Posts a message from `actor` on a case.
pub(crate) fn post(
    conn: &Connection,
    actor: &Actor,
    case_id: Uuid,
    message: NewMessage,
) -> Result<Stored<ChatMessage>> {
    let record = ChatMessage {
        case_id,
        message_type: message.message_type,
        message_content: message.message_content,
        attachments: message.attachments,
        reply_to: message.reply_to,
        reactions: BTreeMap::new(),
        sender_id: actor.user.clone(),
        parent_message_id: message.parent_message_id,
        message_purpose: message.message_purpose,
        message_status: MessageStatus::Sending,
        sent_at: Some(Timestamp::now()),
        edited_at: None,
        read_at: None,
    };
    let stored = record::create(conn, actor, uuid::Uuid::now_v7(), record)?.record;
    // A file sent with the message now says so (`message_id`), unless it was sent with another
    // one first or is deleted: the case's Files list can then tell where it came from.
    for file in &stored.record.attachments {
        let current = record::current::<FileRecord>(conn, *file, None)?;
        if current.record.message_id.is_none() && !current.is_deleted() {
            record::change::<FileRecord>(conn, actor, *file, Some(current.version), |_, next| {
                next.message_id = Some(stored.id);
                Ok(())
            })?;
        }
    }
    Ok(stored)
}

fn only_sender(prev: &Stored<ChatMessage>, user: &str, action: &'static str) -> Result<()> {
    if prev.record.sender_id == user {
        Ok(())
    } else {
        Err(Error::NotSender { sender: prev.record.sender_id.clone(), action })
    }
}

impl Store {
    /// Posts a message on a case. It is stored at once, as `sending`, whatever the network.
    pub fn post_message(&mut self, case_key: &str, message: NewMessage) -> Result<Stored<ChatMessage>> {
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            post(tx, actor, case_id, message)
        })
    }

    /// Changes a message's text. Only its sender may.
    pub fn edit_message(&mut self, id: Uuid, base_version: Option<u32>, content: &str) -> Result<Written<ChatMessage>> {
        self.write(|tx, actor| {
            record::change::<ChatMessage>(tx, actor, id, base_version, |prev, next| {
                only_sender(prev, &actor.user, "edit")?;
                if next.message_content != content {
                    content.clone_into(&mut next.message_content);
                    next.edited_at = Some(Timestamp::now());
                }
                Ok(())
            })
        })
    }

    /// Adds (or with `on = false` takes back) the signed-in user's reaction.
    pub fn react(&mut self, id: Uuid, emoji: &str, on: bool) -> Result<Written<ChatMessage>> {
        self.write(|tx, actor| {
            record::change::<ChatMessage>(tx, actor, id, None, |_, next| {
                let users = next.reactions.entry(emoji.trim().to_owned()).or_default();
                if on {
                    users.insert(actor.user.clone());
                } else {
                    users.remove(&actor.user);
                }
                Ok(())
            })
        })
    }

    /// Marks a message read. Read receipts only move forward: marking again changes nothing.
    pub fn mark_read(&mut self, id: Uuid) -> Result<Written<ChatMessage>> {
        self.write(|tx, actor| {
            record::change::<ChatMessage>(tx, actor, id, None, |_, next| {
                if next.read_at.is_none() {
                    next.read_at = Some(Timestamp::now());
                }
                next.message_status = next.message_status.max(MessageStatus::Read);
                Ok(())
            })
        })
    }

    /// Deletes a message (soft: it stays in history). Only its sender may.
    pub fn delete_message(&mut self, id: Uuid, base_version: Option<u32>) -> Result<Written<ChatMessage>> {
        self.write(|tx, actor| {
            let prev = record::current::<ChatMessage>(tx, id, base_version)?;
            only_sender(&prev, &actor.user, "delete")?;
            record::set_deleted::<ChatMessage>(tx, actor, id, base_version, true)
        })
    }

    pub fn message(&self, id: Uuid) -> Result<Stored<ChatMessage>> {
        record::current::<ChatMessage>(&self.conn, id, None)
    }

    /// A case's chat, oldest first. Deleted messages are included (shown as deleted).
    pub fn messages(&self, case_key: &str) -> Result<Vec<Stored<ChatMessage>>> {
        let case_id = crate::cases::resolve(&self.conn, case_key)?;
        record::load_where::<ChatMessage>(&self.conn, "case_id = ?1 ORDER BY created_at, seq", [case_id.to_string()])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{fields, store};

    #[test]
    fn a_posted_message_is_stored_at_once_as_sending() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let m = s.post_message("FD1-000001", NewMessage::text("Shade A2 please")).unwrap();
        assert_eq!(m.record.message_status, MessageStatus::Sending);
        assert_eq!(m.record.sender_id, "ann");
        assert_eq!(s.messages("FD1-000001").unwrap().len(), 1);
    }

    #[test]
    fn a_file_sent_with_a_message_knows_the_message_unless_it_was_sent_before() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let file = crate::files::NewFile {
            original_name: "shade.jpg".into(),
            file_size: 10,
            mime_type: "image/jpeg".into(),
            hash: "ab".repeat(32),
            message_id: None,
        };
        let id = s.attach_files("FD1-000001", vec![file]).unwrap()[0].id;
        let with = |ids: Vec<Uuid>| NewMessage { attachments: ids, ..NewMessage::text("See the photo") };

        let first = s.post_message("FD1-000001", with(vec![id])).unwrap();
        let linked = record::current::<FileRecord>(&s.conn, id, None).unwrap();
        assert_eq!(linked.record.message_id, Some(first.id), "the file names the message it was sent with");
        assert_eq!(linked.version, 2, "as a change of its own, which syncs like any other");

        s.post_message("FD1-000001", with(vec![id])).unwrap();
        let again = record::current::<FileRecord>(&s.conn, id, None).unwrap();
        assert_eq!(again.record.message_id, Some(first.id), "sent again, it keeps the message it came with");
        assert_eq!(again.version, 2);
        assert!(s.check(false).unwrap().problems.is_empty(), "the store stays sound");
    }

    #[test]
    fn only_the_sender_may_edit_or_delete_but_anyone_may_react() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let m = s.post_message("FD1-000001", NewMessage::text("hello")).unwrap();
        s.set_user("bob");
        let err = s.edit_message(m.id, None, "hijacked").unwrap_err();
        assert_eq!(err.to_string(), "only the sender of a chat message (ann) may edit it");
        assert!(s.delete_message(m.id, None).is_err());
        s.react(m.id, "👍", true).unwrap();
        s.set_user("ann");
        s.react(m.id, "👍", true).unwrap();
        let edited = s.edit_message(m.id, None, "hello there").unwrap();
        assert!(edited.record.record.edited_at.is_some());
        let users: Vec<_> = edited.record.record.reactions["👍"].iter().cloned().collect();
        assert_eq!(users, vec!["ann", "bob"]);
        s.react(m.id, "👍", false).unwrap();
        s.set_user("bob");
        let last = s.react(m.id, "👍", false).unwrap();
        assert!(last.record.record.reactions.is_empty(), "an emoji nobody uses any more disappears");
    }

    #[test]
    fn read_receipts_only_move_forward() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let m = s.post_message("FD1-000001", NewMessage::text("hi")).unwrap();
        let first = s.mark_read(m.id).unwrap();
        let again = s.mark_read(m.id).unwrap();
        assert!(again.revision.is_none(), "marking read twice changes nothing");
        assert_eq!(first.record.record.read_at, again.record.record.read_at);
    }

    #[test]
    fn a_reply_must_point_at_a_message_of_the_same_case() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.create_case(fields(json!({"patient_name": "Q"}))).unwrap();
        let other = s.post_message("FD1-000002", NewMessage::text("elsewhere")).unwrap();
        let mut reply = NewMessage::text("re");
        reply.reply_to = Some(other.id);
        let err = s.post_message("FD1-000001", reply).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "reply_to");
    }

    #[test]
    fn an_empty_text_message_is_refused() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let err = s.post_message("FD1-000001", NewMessage::text("  ")).unwrap_err();
        assert!(err.to_string().contains("a text message needs some text"), "{err}");
    }
}
