//! Chat on a case (seed 000, the "Dental Chat" table).
//!
//! Messages are append-only: a message is never rewritten by anyone but its sender, who may edit
//! its text (`edited_at`) or delete it (`deleted_at`). Anyone may react or mark it read.
//! Reactions are sets (emoji → users) and read receipts only move forward, which is what lets
//! sync merge them without conflicts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Deref;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::files::FileRecord;
use crate::record::{self, parse_time, query_opt, Actor, Record, Stored, Written};
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

/// Delivery state, as the sender sees it: `sending` while the message's creation waits in the
/// outbox, `sent` once the central store accepted it (or it was pulled from there), `read` once
/// someone other than its sender read it, `failed` when the central store refused it.
///
/// Worked out when messages are read ([`MessageView`]), not kept up to date in the record: the
/// answer of the central store is this workstation's to know, and writing it into the message
/// would be a second revision per message for every workstation to pull. The stored
/// `message_status` says what the message was created as, and `read` once a read receipt set it.
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

/// A message as its chat shows it: the record with its delivery state worked out in
/// `message_status` (see [`MessageStatus`]), and, for a message the central store refused, why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MessageView {
    #[serde(flatten)]
    pub message: Stored<ChatMessage>,
    /// The central store's reason for refusing the message, whose status is then `failed`; its
    /// sender can send it again (`Store::retry_message`).
    pub failure: Option<String>,
}

impl Deref for MessageView {
    type Target = Stored<ChatMessage>;

    fn deref(&self) -> &Stored<ChatMessage> {
        &self.message
    }
}

/// Which messages have their creation waiting in the outbox: the message `id`, or those of the
/// case `id`. Read from the messages' own chains, so a long outbox (an import waiting to go)
/// costs nothing here.
fn pending_creations(conn: &Connection, of_case: bool, id: Uuid) -> Result<HashSet<String>> {
    let sql = if of_case {
        "SELECT m.id FROM chat_messages m JOIN revisions r ON r.record_id = m.id AND r.base_version = 0 \
         JOIN outbox o ON o.revision_id = r.id WHERE m.case_id = ?1"
    } else {
        "SELECT r.record_id FROM revisions r JOIN outbox o ON o.revision_id = r.id \
         WHERE r.record_id = ?1 AND r.base_version = 0"
    };
    let ids = conn
        .prepare_cached(sql)?
        .query_map(params![id.to_string()], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    Ok(ids)
}

/// The delivery state a stored message shows. A read receipt is news even when the message is
/// still on its way out: someone at this workstation read it.
fn shown_status(m: &ChatMessage, creation_pending: bool) -> MessageStatus {
    if m.read_at.is_some() || m.message_status == MessageStatus::Read {
        MessageStatus::Read
    } else if creation_pending {
        MessageStatus::Sending
    } else {
        MessageStatus::Sent
    }
}

/// One stored message with its delivery state.
pub(crate) fn delivered(conn: &Connection, mut m: Stored<ChatMessage>) -> Result<Stored<ChatMessage>> {
    let pending = pending_creations(conn, false, m.id)?.contains(&m.id.to_string());
    m.record.message_status = shown_status(&m.record, pending);
    Ok(m)
}

/// A message the central store refused, as its refused changes say it was: its creation, and
/// any later changes that went with it, folded in the order they were made.
struct Refused {
    message: Stored<ChatMessage>,
    reason: String,
    retried_as: Option<String>,
}

fn refused(conn: &Connection, record_id: &str) -> Result<Option<Refused>> {
    let rows: Vec<(String, String, String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT fields, author, made_at, reason, retried_as FROM rejected_changes \
             WHERE record_kind = 'chat_message' AND record_id = ?1 ORDER BY made_at, revision_id",
        )?
        .query_map(params![record_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let mut state = Map::new();
    let mut creation: Option<(String, String, String)> = None;
    let mut updated: Option<(String, String)> = None;
    let mut retried_as = None;
    for (fields, author, made_at, reason, retried) in rows {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&fields) else {
            return Err(Error::Corrupt(format!("a refused change of message {record_id} is not a JSON object")));
        };
        if creation.is_none() && fields.contains_key("sender_id") && fields.contains_key("case_id") {
            creation = Some((author.clone(), made_at.clone(), reason));
        }
        retried_as = retried_as.or(retried);
        updated = Some((author, made_at));
        state.extend(fields);
    }
    let (Some((_, created_at, reason)), Some((updated_by, updated_at))) = (creation, updated) else {
        return Ok(None); // only later changes were refused: the message itself is in the store
    };
    let deleted_at = match state.remove("deleted_at") {
        Some(Value::String(at)) => Some(parse_time(&at, "deleted_at")?),
        _ => None,
    };
    let mut record: ChatMessage = serde_json::from_value(Value::Object(state))
        .map_err(|e| Error::Corrupt(format!("the refused message {record_id} cannot be read: {e}")))?;
    record.message_status = MessageStatus::Failed;
    let message = Stored {
        id: crate::record::parse_uuid(record_id, "message id")?,
        version: 1,
        created_at: parse_time(&created_at, "made_at")?,
        updated_at: parse_time(&updated_at, "made_at")?,
        updated_by,
        deleted_at,
        record,
    };
    Ok(Some(Refused { message, reason, retried_as }))
}

/// A case's chat as it is shown, oldest first: its messages with their delivery state, and the
/// messages the central store refused that were not sent again, as failed, with the reason.
pub(crate) fn chat_of_case(conn: &Connection, case_id: Uuid) -> Result<Vec<MessageView>> {
    let stored =
        record::load_where::<ChatMessage>(conn, "case_id = ?1 ORDER BY created_at, seq", [case_id.to_string()])?;
    let pending = pending_creations(conn, true, case_id)?;
    let mut out: Vec<MessageView> = stored
        .into_iter()
        .map(|mut m| {
            m.record.message_status = shown_status(&m.record, pending.contains(&m.id.to_string()));
            MessageView { message: m, failure: None }
        })
        .collect();
    // A refused creation took the message's row with it: what it said is in its refused changes.
    let failed: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT rc.record_id FROM rejected_changes rc \
             WHERE rc.record_kind = 'chat_message' AND json_extract(rc.fields, '$.case_id') = ?1 \
             AND rc.retried_as IS NULL AND NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = rc.record_id)",
        )?
        .query_map(params![case_id.to_string()], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    for id in failed {
        if let Some(r) = refused(conn, &id)? {
            if r.retried_as.is_none() {
                let at = out.partition_point(|m| m.created_at <= r.message.created_at);
                out.insert(at, MessageView { message: r.message, failure: Some(r.reason) });
            }
        }
    }
    Ok(out)
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
    only_sender_of(&prev.record, user, action)
}

fn only_sender_of(m: &ChatMessage, user: &str, action: &'static str) -> Result<()> {
    if m.sender_id == user {
        Ok(())
    } else {
        Err(Error::NotSender { sender: m.sender_id.clone(), action })
    }
}

impl Store {
    /// Posts a message on a case. It is stored at once, as `sending`, whatever the network.
    pub fn post_message(&mut self, case_key: &str, message: NewMessage) -> Result<Stored<ChatMessage>> {
        self.write(|tx, actor| {
            let case_id = crate::cases::resolve(tx, case_key)?;
            delivered(tx, post(tx, actor, case_id, message)?)
        })
    }

    /// Sends a message the central store refused again, as a new message with the same text,
    /// type, purpose and the attachments, reply and thread that are still on the case; the
    /// refused one then leaves the chat (it stays among the refused changes). Only its sender
    /// may, and only once.
    pub fn retry_message(&mut self, id: Uuid) -> Result<Stored<ChatMessage>> {
        self.write(|tx, actor| {
            let key = id.to_string();
            let in_store: Option<i64> =
                tx.query_row("SELECT 1 FROM chat_messages WHERE id = ?1", params![key], |r| r.get(0)).optional()?;
            let Some(failed) = refused(tx, &key)? else {
                return Err(match in_store {
                    Some(_) => Error::Input(format!(
                        "message {id} was not refused by the lab's server, so there is nothing to send again"
                    )),
                    None => Error::NotFound { kind: RecordKind::ChatMessage, key },
                });
            };
            if in_store.is_some() {
                return Err(Error::Input(format!(
                    "message {id} was not refused by the lab's server, so there is nothing to send again"
                )));
            }
            if let Some(again) = failed.retried_as {
                return Err(Error::Input(format!("message {id} was sent again already, as message {again}")));
            }
            let m = failed.message.record;
            only_sender_of(&m, &actor.user, "resend")?;
            let case = m.case_id.to_string();
            let on_case = |table: &str, target: Uuid| -> Result<bool> {
                let sql = format!("SELECT 1 FROM {table} WHERE id = ?1 AND case_id = ?2 AND deleted_at IS NULL");
                Ok(query_opt::<i64>(tx, &sql, params![target.to_string(), case])?.is_some())
            };
            let mut attachments = Vec::with_capacity(m.attachments.len());
            for file in m.attachments {
                if on_case("files", file)? {
                    attachments.push(file);
                }
            }
            let keep = |target: Option<Uuid>| -> Result<Option<Uuid>> {
                Ok(match target {
                    Some(t) if on_case("chat_messages", t)? => Some(t),
                    _ => None,
                })
            };
            let again = NewMessage {
                message_type: m.message_type,
                message_content: m.message_content,
                attachments,
                reply_to: keep(m.reply_to)?,
                parent_message_id: keep(m.parent_message_id)?,
                message_purpose: m.message_purpose,
            };
            let posted = post(tx, actor, m.case_id, again)?;
            tx.prepare_cached("UPDATE rejected_changes SET retried_as = ?2 WHERE record_id = ?1")?
                .execute(params![key, posted.id.to_string()])?;
            delivered(tx, posted)
        })
    }

    fn delivered_written(&self, mut written: Written<ChatMessage>) -> Result<Written<ChatMessage>> {
        written.record = delivered(&self.conn, written.record)?;
        Ok(written)
    }

    /// Changes a message's text. Only its sender may.
    pub fn edit_message(&mut self, id: Uuid, base_version: Option<u32>, content: &str) -> Result<Written<ChatMessage>> {
        let written = self.write(|tx, actor| {
            record::change::<ChatMessage>(tx, actor, id, base_version, |prev, next| {
                only_sender(prev, &actor.user, "edit")?;
                if next.message_content != content {
                    content.clone_into(&mut next.message_content);
                    next.edited_at = Some(Timestamp::now());
                }
                Ok(())
            })
        })?;
        self.delivered_written(written)
    }

    /// Adds (or with `on = false` takes back) the signed-in user's reaction.
    pub fn react(&mut self, id: Uuid, emoji: &str, on: bool) -> Result<Written<ChatMessage>> {
        let written = self.write(|tx, actor| {
            record::change::<ChatMessage>(tx, actor, id, None, |_, next| {
                let users = next.reactions.entry(emoji.trim().to_owned()).or_default();
                if on {
                    users.insert(actor.user.clone());
                } else {
                    users.remove(&actor.user);
                }
                Ok(())
            })
        })?;
        self.delivered_written(written)
    }

    /// Marks a message read. Read receipts only move forward: marking again changes nothing, and
    /// neither does its sender reading it (a receipt tells the sender that someone else has).
    pub fn mark_read(&mut self, id: Uuid) -> Result<Written<ChatMessage>> {
        let written = self.write(|tx, actor| {
            record::change::<ChatMessage>(tx, actor, id, None, |prev, next| {
                if prev.record.sender_id == actor.user {
                    return Ok(());
                }
                if next.read_at.is_none() {
                    next.read_at = Some(Timestamp::now());
                }
                next.message_status = next.message_status.max(MessageStatus::Read);
                Ok(())
            })
        })?;
        self.delivered_written(written)
    }

    /// Deletes a message (soft: it stays in history). Only its sender may.
    pub fn delete_message(&mut self, id: Uuid, base_version: Option<u32>) -> Result<Written<ChatMessage>> {
        let written = self.write(|tx, actor| {
            let prev = record::current::<ChatMessage>(tx, id, base_version)?;
            only_sender(&prev, &actor.user, "delete")?;
            record::set_deleted::<ChatMessage>(tx, actor, id, base_version, true)
        })?;
        self.delivered_written(written)
    }

    /// A message as stored, with its delivery state.
    pub fn message(&self, id: Uuid) -> Result<Stored<ChatMessage>> {
        delivered(&self.conn, record::current::<ChatMessage>(&self.conn, id, None)?)
    }

    /// A case's chat, oldest first, each message with its delivery state. Deleted messages are
    /// included (shown as deleted), and so are messages the central store refused (as failed,
    /// with the reason) until they are sent again.
    pub fn messages(&self, case_key: &str) -> Result<Vec<MessageView>> {
        let case_id = crate::cases::resolve(&self.conn, case_key)?;
        chat_of_case(&self.conn, case_id)
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

    /// Pushes the whole outbox to a central store that refuses the revisions `refuse` names
    /// (with their reasons) and applies every other one.
    fn push(s: &mut Store, refuse: &[(Uuid, &str)]) -> crate::sync::PushTally {
        use labdesk_proto::sync::{Outcome, PushResult};
        let sent: Vec<_> =
            s.outbox_batch(0, s.outbox_end().unwrap(), 500).unwrap().into_iter().map(|(_, r)| r).collect();
        let results: Vec<PushResult> = sent
            .iter()
            .map(|r| {
                let reason = refuse.iter().find(|(id, _)| *id == r.record_id).map(|(_, why)| (*why).to_owned());
                PushResult {
                    revision_id: r.id,
                    outcome: if reason.is_some() { Outcome::Rejected } else { Outcome::Applied },
                    version: reason.is_none().then_some(r.version),
                    reason,
                    conflicts: vec![],
                }
            })
            .collect();
        s.record_push_results(&sent, &results).unwrap()
    }

    fn statuses(s: &Store) -> Vec<(MessageStatus, Option<String>)> {
        s.messages("FD1-000001").unwrap().into_iter().map(|m| (m.record.message_status, m.failure.clone())).collect()
    }

    #[test]
    fn a_message_is_sending_until_the_central_store_accepts_it_and_sent_after() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let m = s.post_message("FD1-000001", NewMessage::text("hello bench")).unwrap();
        assert_eq!(statuses(&s), [(MessageStatus::Sending, None)], "its creation waits in the outbox");
        let tally = push(&mut s, &[]);
        assert_eq!(tally.applied, 2, "the case and the message were accepted");
        assert_eq!(statuses(&s), [(MessageStatus::Sent, None)], "accepted by the central store: sent");
        assert_eq!(s.message(m.id).unwrap().record.message_status, MessageStatus::Sent, "one message reads the same");
        let d = s.case_detail("FD1-000001").unwrap();
        assert_eq!(d.chat[0].record.message_status, MessageStatus::Sent, "and so does the case's detail");
        let reacted = s.react(m.id, "👍", true).unwrap();
        assert_eq!(
            reacted.record.record.message_status,
            MessageStatus::Sent,
            "a later change does not make it sending"
        );
        assert_eq!(statuses(&s), [(MessageStatus::Sent, None)], "while that change waits in the outbox");
        assert!(s.check(false).unwrap().problems.is_empty(), "the store stays sound");
    }

    #[test]
    fn a_message_is_read_once_someone_other_than_its_sender_has_read_it() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let m = s.post_message("FD1-000001", NewMessage::text("hello bench")).unwrap();
        push(&mut s, &[]);
        let own = s.mark_read(m.id).unwrap();
        assert!(own.revision.is_none(), "its sender reading it is no read receipt");
        assert_eq!(statuses(&s), [(MessageStatus::Sent, None)]);
        s.set_user("bob");
        let read = s.mark_read(m.id).unwrap();
        assert!(read.revision.is_some() && read.record.record.read_at.is_some(), "bob's receipt is a change");
        s.set_user("ann");
        assert_eq!(statuses(&s), [(MessageStatus::Read, None)], "ann sees that bob read it");
        push(&mut s, &[]);
        assert_eq!(statuses(&s), [(MessageStatus::Read, None)], "and still does once the receipt went out");
    }

    #[test]
    fn a_refused_message_shows_as_failed_with_the_reason_in_its_chat() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        push(&mut s, &[]);
        let m = s.post_message("FD1-000001", NewMessage::text("hello bench")).unwrap();
        s.react(m.id, "👍", true).unwrap();
        let tally = push(&mut s, &[(m.id, "this lab does not take chat from FD1")]);
        assert_eq!(tally.rejected, 1, "the message was refused");
        assert_eq!(s.rejected_changes().unwrap().len(), 2, "and the reaction made on it went with it");
        let chat = s.messages("FD1-000001").unwrap();
        assert_eq!(chat.len(), 1, "the refused message stays in its chat: {chat:?}");
        assert_eq!(chat[0].id, m.id);
        assert_eq!(chat[0].record.message_status, MessageStatus::Failed);
        assert_eq!(chat[0].failure.as_deref(), Some("this lab does not take chat from FD1"), "with the server's words");
        assert_eq!(chat[0].record.message_content, "hello bench", "and what it said");
        assert_eq!(chat[0].record.reactions["👍"].len(), 1, "and what was done to it since");
        let d = s.case_detail("FD1-000001").unwrap();
        assert_eq!(d.chat, chat, "the case's detail shows the same chat");
        assert!(s.check(false).unwrap().problems.is_empty(), "the store stays sound");
    }

    #[test]
    fn a_failed_message_is_sent_again_once_by_its_sender_as_a_new_message() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let file = crate::files::NewFile {
            original_name: "shade.jpg".into(),
            file_size: 10,
            mime_type: "image/jpeg".into(),
            hash: "ab".repeat(32),
            message_id: None,
        };
        let photo = s.attach_files("FD1-000001", vec![file]).unwrap()[0].id;
        push(&mut s, &[]);
        let mut message = NewMessage::text("see the shade");
        message.attachments = vec![photo];
        message.message_purpose = Some("shade".into());
        let m = s.post_message("FD1-000001", message).unwrap();
        push(&mut s, &[(m.id, "the server was busy")]);
        s.set_user("bob");
        let err = s.retry_message(m.id).unwrap_err();
        assert_eq!(err.to_string(), "only the sender of a chat message (ann) may resend it");
        s.set_user("ann");

        let again = s.retry_message(m.id).unwrap();
        assert_ne!(again.id, m.id, "a new message, which the central store has not answered yet");
        assert_eq!(again.record.message_status, MessageStatus::Sending);
        assert_eq!(
            (
                again.record.message_content.as_str(),
                again.record.attachments.as_slice(),
                again.record.message_purpose.as_deref()
            ),
            ("see the shade", [photo].as_slice(), Some("shade")),
            "with what the refused one said and carried"
        );
        let chat = s.messages("FD1-000001").unwrap();
        assert_eq!(chat.iter().map(|m| m.id).collect::<Vec<_>>(), [again.id], "the failed one left the chat");
        let err = s.retry_message(m.id).unwrap_err();
        assert!(err.to_string().contains(&format!("was sent again already, as message {}", again.id)), "{err}");
        let err = s.retry_message(again.id).unwrap_err();
        assert!(err.to_string().contains("was not refused"), "{err}");
        assert_eq!(s.rejected_changes().unwrap().len(), 1, "the refusal is still listed");
        push(&mut s, &[]);
        assert_eq!(statuses(&s), [(MessageStatus::Sent, None)], "the new one goes out like any other");
        assert!(s.check(false).unwrap().problems.is_empty(), "the store stays sound");
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
