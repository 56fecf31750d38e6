//! History (who changed what, when) and the outbox (what waits to be sent).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use labdesk_core::{FieldChange, HistoryEntry, RecordKind};
use serde_json::Value;

use super::Ctx;
use crate::cli::HistoryArgs;
use crate::output::{self, plural, time, truncate};

/// Values longer than this are cut in the history.
const VALUE_WIDTH: usize = 60;

pub fn history(ctx: &mut Ctx<'_>, args: HistoryArgs) -> Result<ExitCode> {
    let target = args.target.trim();
    let (title, entries) = match ctx.store.case_id(target) {
        Ok(id) => {
            let number = ctx.store.case(&id.to_string())?.record.case_number;
            if args.all {
                (format!("History of case {number} and everything attached to it"), ctx.store.case_history(target)?)
            } else {
                (format!("History of case {number}"), ctx.store.history(id)?)
            }
        }
        Err(labdesk_core::Error::NotFound { .. }) => {
            // Not a case: any record, by its short id or UUID.
            let id = ctx.store.find_record_id(target, None)?;
            let entries = ctx.store.history(id)?;
            let title = entries.last().map_or_else(|| format!("record {id}"), |e| record_name(e, None));
            (format!("History of {title}"), entries)
        }
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        ctx.print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    let change_count = plural(entries.len() as u64, "change");
    writeln!(ctx.out, "{title} ({change_count}), times in UTC:")?;
    for entry in &entries {
        print_entry(ctx.out, entry, args.all)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A record as a person knows it: `case FD1-000001`, `chat message "hello bench" [3f9a1c2b]`,
/// `file scan.stl [...]`; the short id is what commands take.
fn record_name(entry: &HistoryEntry, label: Option<&str>) -> String {
    let kind = entry.revision.record_kind;
    let label = label.unwrap_or(&entry.label);
    match (kind, label.is_empty()) {
        (RecordKind::Case, false) => format!("case {label}"),
        (_, false) => format!("{} {label} [{}]", kind.label(), entry.short_id),
        (_, true) => format!("{} [{}]", kind.label(), entry.short_id),
    }
}

fn print_entry(out: &mut dyn Write, entry: &HistoryEntry, with_kind: bool) -> Result<()> {
    let r = &entry.revision;
    let mut head = format!("v{:<3} {}  {}@{}", r.version, time(r.made_at), r.author, r.workstation);
    if with_kind {
        head.push_str(&format!("  {}", record_name(entry, None)));
    }
    let created = r.base_version == 0;
    if created {
        head.push_str("  created");
    }
    if let Some(deleted) = entry.changes.iter().find(|c| c.field == "deleted_at") {
        head.push_str(if deleted.after.is_null() { "  restored" } else { "  deleted" });
    }
    if !entry.conflicts.is_empty() {
        let open = entry.conflicts.iter().any(|c| !c.resolved);
        head.push_str(if open { "  conflicted (needs review)" } else { "  conflicted (resolved)" });
    }
    writeln!(out, "{head}")?;
    for c in &entry.conflicts {
        // What this change proposed that did not take: the other side's value stayed.
        let change = FieldChange { field: c.field.clone(), before: Value::Null, after: Value::Null };
        writeln!(out, "      {}: kept {}, proposed {}", c.field, shown(&change, &c.kept), shown(&change, &c.proposed))?;
    }
    for change in &entry.changes {
        // deleted_at is in the head line; with --all every record belongs to the one case.
        if change.field == "deleted_at" || (with_kind && change.field == "case_id") {
            continue;
        }
        if created {
            // A creating revision carries every field; the empty ones say nothing.
            if is_empty(&change.after) {
                continue;
            }
            writeln!(out, "      {}: {}", change.field, shown(change, &change.after))?;
        } else {
            for (field, before, after) in output::changed_parts(&change.field, &change.before, &change.after) {
                writeln!(out, "      {field}: {} → {}", shown(change, &before), shown(change, &after))?;
            }
        }
    }
    Ok(())
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        _ => false,
    }
}

/// A value as shown in history; the share key of a case is never printed.
fn shown(change: &FieldChange, v: &Value) -> String {
    if change.field == "secret_key" && !v.is_null() {
        return "(hidden)".to_owned();
    }
    truncate(&output::value(v), VALUE_WIDTH)
}

pub fn outbox(ctx: &mut Ctx<'_>, limit: u32) -> Result<ExitCode> {
    let entries = ctx.store.outbox(limit)?;
    if ctx.json {
        // The changes only, as scripts have read them: each now names its record too.
        ctx.print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    let files = ctx.store.waiting_files()?;
    let pending = ctx.store.pending_count()?;
    if entries.is_empty() {
        writeln!(ctx.out, "The outbox is empty: every change made here has been sent.")?;
    } else {
        print_changes(ctx, &entries, pending, limit)?;
    }
    if !files.is_empty() {
        writeln!(ctx.out, "Files whose contents wait to go up ({}):", files.len())?;
        for f in &files {
            let case = f.case_number.as_deref().map(|n| format!(" on case {n}")).unwrap_or_default();
            writeln!(ctx.out, "  {}{case}  ({} bytes, attached {})", f.original_name, f.file_size, time(f.added_at))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_changes(ctx: &mut Ctx<'_>, entries: &[labdesk_core::OutboxEntry], pending: u64, limit: u32) -> Result<()> {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|o| {
            let r = &o.revision;
            let fields: Vec<&str> = r.fields.keys().map(String::as_str).collect();
            let state = match &o.last_error {
                Some(error) => format!("{} ({})", plural(o.attempts.unsigned_abs(), "try|tries"), truncate(error, 40)),
                None if o.attempts > 0 => plural(o.attempts.unsigned_abs(), "try|tries"),
                None => "waiting".to_owned(),
            };
            let record = match (r.record_kind, o.label.is_empty()) {
                (RecordKind::Case, false) => o.label.clone(),
                (_, false) => truncate(&o.label, 40),
                (_, true) => String::new(),
            };
            vec![
                o.seq.to_string(),
                state,
                time(r.made_at),
                format!("{}@{}", r.author, r.workstation),
                r.record_kind.label().to_owned(),
                record,
                o.case_number.clone().unwrap_or_else(|| "—".to_owned()),
                o.short_id.clone(),
                r.version.to_string(),
                truncate(&fields.join(", "), 50),
            ]
        })
        .collect();
    output::table(
        ctx.out,
        &["SEQ", "STATE", "MADE (UTC)", "BY", "KIND", "RECORD", "CASE", "ID", "V", "FIELDS"],
        &rows,
    )?;
    let waiting = plural(pending, "change waits|changes wait");
    if entries.len() as u64 >= u64::from(limit) {
        writeln!(ctx.out, "{waiting} to be sent (showing the first {}; see more with --limit)", entries.len())?;
    } else {
        writeln!(ctx.out, "{waiting} to be sent.")?;
    }
    Ok(())
}
