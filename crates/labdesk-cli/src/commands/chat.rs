//! Chat on a case: post, edit, react, delete, mark read, list, send a refused one again.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use labdesk_core::{short_id, ChatMessage, MessageView, NewMessage, RecordKind, Store, Written};
use uuid::Uuid;

use super::cases::label;
use super::Ctx;
use crate::cli::ChatCommand;
use crate::output::time;

/// One message on one line: time, sender, status, text, marks, reactions, and its id to act on;
/// a refused one also says why, and how to send it again.
pub fn print_message(out: &mut dyn Write, m: &MessageView, indent: &str) -> Result<()> {
    let r = &m.record;
    let at = r.sent_at.unwrap_or(m.created_at);
    let mut line = format!("{indent}[{}] {} ({})", time(at), r.sender_id, label(&r.message_status));
    if r.message_type != labdesk_core::MessageType::Text {
        line.push_str(&format!(" <{}>", label(&r.message_type)));
    }
    if let Some(purpose) = &r.message_purpose {
        line.push_str(&format!(" [{purpose}]"));
    }
    if m.is_deleted() {
        line.push_str(": (message deleted)");
    } else {
        line.push_str(&format!(": {}", r.message_content.replace('\n', &format!("\n{indent}    "))));
        if r.edited_at.is_some() {
            line.push_str(" (edited)");
        }
    }
    if !r.attachments.is_empty() {
        line.push_str(&format!(" +{}", crate::output::plural(r.attachments.len() as u64, "file")));
    }
    writeln!(out, "{line}")?;
    let mut marks = Vec::new();
    if let Some(to) = r.reply_to {
        marks.push(format!("reply to {}", short_id(to)));
    }
    if let Some(parent) = r.parent_message_id {
        marks.push(format!("in thread {}", short_id(parent)));
    }
    for (emoji, users) in &r.reactions {
        marks.push(format!("{emoji} {}", users.iter().cloned().collect::<Vec<_>>().join(", ")));
    }
    if let Some(read) = r.read_at {
        marks.push(format!("read {}", time(read)));
    }
    marks.push(format!("id {}", short_id(m.id)));
    writeln!(out, "{indent}    {}", marks.join(" · "))?;
    if let Some(reason) = &m.failure {
        writeln!(out, "{indent}    refused: {reason} · send it again: labdesk chat retry {}", short_id(m.id))?;
    }
    Ok(())
}

/// The message a person named by its short id or UUID.
fn message_id(store: &Store, text: &str) -> Result<Uuid> {
    Ok(store.find_record_id(text, Some(RecordKind::ChatMessage))?)
}

fn report(ctx: &mut Ctx<'_>, written: &Written<ChatMessage>, done: &str, unchanged: &str) -> Result<ExitCode> {
    if ctx.json {
        ctx.print_json(written)?;
    } else if written.revision.is_some() {
        writeln!(ctx.out, "{done}")?;
    } else {
        writeln!(ctx.out, "{unchanged}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(ctx: &mut Ctx<'_>, command: ChatCommand) -> Result<ExitCode> {
    match command {
        ChatCommand::Post { case, text, message_type, reply_to, parent, purpose, attach } => {
            let reply_to = reply_to.map(|id| message_id(&ctx.store, &id)).transpose()?;
            let parent = parent.map(|id| message_id(&ctx.store, &id)).transpose()?;
            let message = NewMessage {
                message_type: message_type.into(),
                message_content: text,
                attachments: Vec::new(),
                reply_to,
                parent_message_id: parent,
                message_purpose: purpose,
            };
            let posted = if attach.is_empty() {
                ctx.store.post_message(&case, message)?
            } else {
                ctx.store.post_message_with_paths(&case, message, &attach, &mut |_| {})?
            };
            if ctx.json {
                ctx.print_json(&posted)?;
            } else {
                let number = ctx.store.case(&posted.record.case_id.to_string())?.record.case_number;
                writeln!(ctx.out, "Posted message {} on case {number}", short_id(posted.id))?;
                if !posted.record.attachments.is_empty() {
                    let n = posted.record.attachments.len() as u64;
                    let files = crate::output::plural(n, "file; its contents go|files; their contents go");
                    writeln!(ctx.out, "  with {files} to the sync server with the next `labdesk sync`.")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChatCommand::Edit { id, text, base_version } => {
            let id = message_id(&ctx.store, &id)?;
            let written = ctx.store.edit_message(id, base_version, &text)?;
            report(
                ctx,
                &written,
                &format!("Edited message {}.", short_id(id)),
                "Nothing changed: the message already says that.",
            )
        }
        ChatCommand::React { id, emoji, remove } => {
            let id = message_id(&ctx.store, &id)?;
            let written = ctx.store.react(id, &emoji, !remove)?;
            let emoji = emoji.trim();
            if remove {
                report(
                    ctx,
                    &written,
                    &format!("Took back {emoji} on message {}.", short_id(id)),
                    &format!("You had not reacted {emoji}."),
                )
            } else {
                report(
                    ctx,
                    &written,
                    &format!("Reacted {emoji} on message {}.", short_id(id)),
                    &format!("You had already reacted {emoji}."),
                )
            }
        }
        ChatCommand::Delete { id } => {
            let id = message_id(&ctx.store, &id)?;
            let written = ctx.store.delete_message(id, None)?;
            report(ctx, &written, &format!("Deleted message {}.", short_id(id)), "The message was already deleted.")
        }
        ChatCommand::Read { id } => {
            let id = message_id(&ctx.store, &id)?;
            let written = ctx.store.mark_read(id)?;
            let unchanged = if written.record.record.sender_id == ctx.store.user() {
                "That is your own message: a read receipt tells you when someone else has read it."
            } else {
                "The message was already marked read."
            };
            report(ctx, &written, &format!("Marked message {} read.", short_id(id)), unchanged)
        }
        ChatCommand::Retry { id } => {
            let id = message_id(&ctx.store, &id)?;
            let posted = ctx.store.retry_message(id)?;
            if ctx.json {
                ctx.print_json(&posted)?;
            } else {
                writeln!(
                    ctx.out,
                    "Sent message {} again, as message {} (sending).",
                    short_id(id),
                    short_id(posted.id)
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ChatCommand::List { case } => {
            let messages = ctx.store.messages(&case)?;
            if ctx.json {
                ctx.print_json(&messages)?;
            } else if messages.is_empty() {
                writeln!(ctx.out, "No messages on case {case} yet.")?;
            } else {
                for m in &messages {
                    print_message(ctx.out, m, "")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
