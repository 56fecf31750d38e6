//! `labdesk records`: records of any kind through its declaration alone (list, show, create,
//! edit, delete, restore, history), so every kind is scriptable the day it is declared. The kinds
//! with commands of their own (cases, chat, files, ...) are only read here: the core refuses to
//! write them through this path, and says why.

use std::process::ExitCode;

use anyhow::{bail, Result};
use labdesk_core::{
    record_label, short_id, FieldInfo, Fields, KindInfo, RecordFilter, RecordKind, Stored, Timestamp, Written,
};
use serde_json::Value;

use super::cases::label;
use super::Ctx;
use crate::cli::{HistoryArgs, RecordAction, RecordListArgs, RecordsArgs};
use crate::fields::{filter_fields, record_fields};
use crate::output::{self, plural, time, truncate};

/// A list's cells are cut to this many characters; to fewer when there are many columns.
const CELL_WIDTH: usize = 48;
const NARROW_CELL_WIDTH: usize = 24;
/// A list shows at most this many fields (a case has sixteen); `show` and `--json` have them all.
const MAX_COLUMNS: usize = 6;

pub fn run(ctx: &mut Ctx<'_>, args: RecordsArgs) -> Result<ExitCode> {
    let Some(kind) = args.kind else {
        if args.action.is_some() {
            let names: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
            bail!(
                "say which kind of record first: labdesk records KIND list|show|create|edit|delete|restore|history \
                 (the kinds are: {})",
                names.join(", ")
            );
        }
        return kinds(ctx);
    };
    match args.action {
        None => list(ctx, kind, RecordListArgs { search: None, filters: Vec::new(), deleted: false, limit: 50 }),
        Some(RecordAction::List(list_args)) => list(ctx, kind, list_args),
        Some(RecordAction::Show(arg)) => show(ctx, kind, &arg.id),
        Some(RecordAction::Create { fields }) => create(ctx, kind, &fields),
        Some(RecordAction::Edit { id, fields, base_version }) => edit(ctx, kind, &id, &fields, base_version),
        Some(RecordAction::Delete(arg)) => delete(ctx, kind, &arg.id, arg.base_version, true),
        Some(RecordAction::Restore(arg)) => delete(ctx, kind, &arg.id, arg.base_version, false),
        Some(RecordAction::History(arg)) => {
            // Checks the record is of this kind; then the history command's own output.
            let id = ctx.store.record(kind, &arg.id)?.id;
            super::history::history(ctx, HistoryArgs { target: id.to_string(), all: false })
        }
    }
}

/// The kinds there are: name, what they are, their scope, and how they are changed.
fn kinds(ctx: &mut Ctx<'_>) -> Result<ExitCode> {
    let all = KindInfo::all();
    if ctx.json {
        ctx.print_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|k| {
            let changed = if k.hand_made {
                "its own commands (labdesk --help)".to_owned()
            } else {
                format!("labdesk records {} create|edit|delete|restore", k.name)
            };
            vec![k.name.clone(), k.plural.clone(), label(&k.scope), changed]
        })
        .collect();
    output::table(ctx.out, &["KIND", "WHAT", "SCOPE", "CHANGED WITH"], &rows)?;
    writeln!(
        ctx.out,
        "Every kind can be read here: labdesk records KIND list|show ID|history ID (add --json for scripts)."
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The fields a person sees: every declared field but the hidden ones (a case's share key).
fn shown_fields(info: &KindInfo) -> impl Iterator<Item = &FieldInfo> {
    info.fields.iter().filter(|f| !f.hidden)
}

/// Takes the hidden fields out of a record, for printing it (as text or JSON).
fn without_hidden(info: &KindInfo, record: &mut Stored<Fields>) {
    for field in info.fields.iter().filter(|f| f.hidden) {
        record.record.remove(&field.name);
    }
}

fn written_without_hidden(info: &KindInfo, written: &mut Written<Fields>) {
    without_hidden(info, &mut written.record);
    if let Some(revision) = &mut written.revision {
        for field in info.fields.iter().filter(|f| f.hidden) {
            revision.fields.remove(&field.name);
        }
    }
}

/// A record as sentences name it: `lab setting opening_hours (1a2b3c4d)`, or `lab setting
/// 1a2b3c4d` while it has no title; the short id is what the commands take.
fn name_of(kind: RecordKind, record: &Stored<Fields>) -> String {
    let title = record_label(kind, &record.record);
    let short = short_id(record.id);
    if title.is_empty() {
        format!("{} {short}", kind.label())
    } else {
        format!("{} {title} ({short})", kind.label())
    }
}

/// A field's value as a person reads it: money as an amount, a time in UTC, a list by commas.
fn display(field: &FieldInfo, value: &Value) -> String {
    match (field.kind.as_str(), value) {
        ("money", Value::Number(n)) => n.as_i64().map_or_else(|| n.to_string(), amount),
        ("time", Value::String(text)) => {
            Timestamp::parse(text).map_or_else(|_| text.clone(), |t| format!("{} UTC", time(t)))
        }
        ("bool", Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        ("text_list", Value::Array(items)) if !items.is_empty() => {
            let texts: Vec<String> = items.iter().map(output::value).collect();
            texts.join(", ")
        }
        _ => output::value(value),
    }
}

/// Nothing to show: null, an empty text or list, an object of empty values.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_empty),
        _ => false,
    }
}

/// Cents as an amount: 1250 is `12.50`.
fn amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The sentence's first letter a capital.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// How to make a record of a kind: `labdesk records setting create key=VALUE [value=VALUE] ...`.
fn create_hint(info: &KindInfo) -> String {
    let fields: Vec<String> = shown_fields(info)
        .map(|f| if f.required { format!("{}=VALUE", f.name) } else { format!("[{}=VALUE]", f.name) })
        .collect();
    format!("labdesk records {} create {}", info.name, fields.join(" "))
}

fn list(ctx: &mut Ctx<'_>, kind: RecordKind, args: RecordListArgs) -> Result<ExitCode> {
    let info = KindInfo::of(kind);
    let filtered = args.search.as_deref().is_some_and(|s| !s.trim().is_empty()) || !args.filters.is_empty();
    let filter = RecordFilter {
        text: args.search,
        fields: filter_fields(&ctx.store, kind, &args.filters)?,
        include_deleted: args.deleted,
        limit: args.limit,
    };
    let mut records = ctx.store.records(kind, &filter)?;
    for record in &mut records {
        without_hidden(&info, record);
    }
    if ctx.json {
        ctx.print_json(&records)?;
        return Ok(ExitCode::SUCCESS);
    }
    if records.is_empty() {
        if filtered {
            let deleted = if args.deleted { "" } else { " (add --deleted to look among deleted ones too)" };
            writeln!(ctx.out, "No {} match{deleted}.", info.plural)?;
        } else if !args.deleted
            && !ctx
                .store
                .records(kind, &RecordFilter { include_deleted: true, limit: 1, ..Default::default() })?
                .is_empty()
        {
            writeln!(ctx.out, "No {}: the ones there were are deleted (see them with --deleted).", info.plural)?;
        } else if info.hand_made {
            writeln!(ctx.out, "No {} yet; they are made with their own commands (see `labdesk --help`).", info.plural)?;
        } else {
            writeln!(ctx.out, "No {} yet. Make one with: {}", info.plural, create_hint(&info))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let all_shown = shown_fields(&info).count();
    let shown: Vec<&FieldInfo> = shown_fields(&info).take(MAX_COLUMNS).collect();
    let width = if shown.len() > 4 { NARROW_CELL_WIDTH } else { CELL_WIDTH };
    let mut header: Vec<String> = shown.iter().map(|f| f.name.to_uppercase()).collect();
    header.extend(["ID", "UPDATED (UTC)", "BY"].map(str::to_owned));
    if args.deleted {
        header.push("DELETED (UTC)".to_owned());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let mut row: Vec<String> = shown
                .iter()
                .map(|f| match r.record.get(&f.name) {
                    Some(value) if !is_empty(value) => truncate(&display(f, value), width),
                    _ => "—".to_owned(),
                })
                .collect();
            row.extend([short_id(r.id), time(r.updated_at), r.updated_by.clone()]);
            if args.deleted {
                row.push(output::opt_time(r.deleted_at));
            }
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    output::table(ctx.out, &header, &rows)?;
    if all_shown > shown.len() {
        let more = plural((all_shown - shown.len()) as u64, "more field");
        writeln!(ctx.out, "({more} in `labdesk records {kind} show ID` and --json.)")?;
    }
    let count = plural(records.len() as u64, &format!("{}|{}", info.label, info.plural));
    if records.len() as u64 >= u64::from(args.limit) {
        writeln!(ctx.out, "{count}, the most recently changed first; there may be more: see them with --limit.")?;
    } else {
        writeln!(ctx.out, "{count}, the most recently changed first.")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &mut Ctx<'_>, kind: RecordKind, key: &str) -> Result<ExitCode> {
    let info = KindInfo::of(kind);
    let mut record = ctx.store.record(kind, key)?;
    without_hidden(&info, &mut record);
    if ctx.json {
        ctx.print_json(&record)?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = &mut *ctx.out;
    writeln!(out, "{}", capitalized(&name_of(kind, &record)))?;
    let short = short_id(record.id);
    if let Some(at) = record.deleted_at {
        let back = if info.hand_made {
            String::new()
        } else {
            format!(" (`labdesk records {kind} restore {short}` brings it back)")
        };
        writeln!(out, "  DELETED on {} UTC{back}", time(at))?;
    }
    if let Some(review) = ctx.store.record_conflicts(record.id)? {
        // As `labdesk show` marks a case: the fields two people changed, and how to settle them.
        let mut fields: Vec<&str> = Vec::new();
        for d in &review.disputes {
            if !fields.contains(&d.field.as_str()) {
                fields.push(&d.field);
            }
        }
        writeln!(
            out,
            "  NEEDS REVIEW: {} changed on two workstations (see `labdesk conflicts`; settle with `labdesk resolve {short}`)",
            fields.join(", ")
        )?;
    }
    let shown: Vec<&FieldInfo> = shown_fields(&info).collect();
    let heads: Vec<String> = shown.iter().map(|f| format!("{} ({}):", f.label, f.name)).collect();
    let width = heads.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    for (field, head) in shown.iter().zip(&heads) {
        let text = display(field, record.record.get(&field.name).unwrap_or(&Value::Null));
        let mut lines = text.lines();
        writeln!(out, "  {head:<width$}  {}", lines.next().unwrap_or_default())?;
        // A long text's further lines under its first.
        for line in lines {
            writeln!(out, "  {:<width$}  {line}", "")?;
        }
    }
    writeln!(out, "  Id:       {} (short: {short})", record.id)?;
    writeln!(out, "  Version:  {}", record.version)?;
    writeln!(out, "  Created:  {} UTC", time(record.created_at))?;
    writeln!(out, "  Updated:  {} UTC by {}", time(record.updated_at), record.updated_by)?;
    match record.deleted_at {
        Some(at) => writeln!(out, "  Deleted:  yes, {} UTC", time(at))?,
        None => writeln!(out, "  Deleted:  no")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The fields of a write from `FIELD=VALUE` pairs. A kind with commands of its own is handed to
/// the core as typed, which refuses it with the reason, whatever its fields say.
fn fields_of(ctx: &Ctx<'_>, kind: RecordKind, pairs: &[(String, String)], editing: bool) -> Result<Fields> {
    if kind.decl().hand_made {
        return Ok(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
    }
    record_fields(&ctx.store, kind, pairs, editing)
}

fn create(ctx: &mut Ctx<'_>, kind: RecordKind, pairs: &[(String, String)]) -> Result<ExitCode> {
    let info = KindInfo::of(kind);
    let fields = fields_of(ctx, kind, pairs, false)?;
    let mut written = ctx.store.create_record(kind, fields)?;
    written_without_hidden(&info, &mut written);
    if ctx.json {
        ctx.print_json(&written)?;
    } else {
        writeln!(ctx.out, "Made {}.", name_of(kind, &written.record))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn edit(
    ctx: &mut Ctx<'_>,
    kind: RecordKind,
    key: &str,
    pairs: &[(String, String)],
    base_version: Option<u32>,
) -> Result<ExitCode> {
    let info = KindInfo::of(kind);
    let patch = fields_of(ctx, kind, pairs, true)?;
    // The values before, to say what changed; the write itself checks the version.
    let before = if info.hand_made { None } else { Some(ctx.store.record(kind, key)?) };
    let key = before.as_ref().map_or_else(|| key.to_owned(), |b| b.id.to_string());
    let mut written = ctx.store.edit_record(kind, &key, base_version, patch)?;
    written_without_hidden(&info, &mut written);
    if ctx.json {
        ctx.print_json(&written)?;
        return Ok(ExitCode::SUCCESS);
    }
    let name = name_of(kind, &written.record);
    let Some(revision) = &written.revision else {
        writeln!(ctx.out, "Nothing changed: {name} already had those values.")?;
        return Ok(ExitCode::SUCCESS);
    };
    writeln!(ctx.out, "Changed {name}, now version {}:", written.record.version)?;
    for (field, after) in &revision.fields {
        let Some(decl) = info.fields.iter().find(|f| &f.name == field) else { continue };
        let before = before.as_ref().and_then(|b| b.record.get(field)).unwrap_or(&Value::Null);
        writeln!(
            ctx.out,
            "  {field}: {} → {}",
            truncate(&display(decl, before), 60),
            truncate(&display(decl, after), 60)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(
    ctx: &mut Ctx<'_>,
    kind: RecordKind,
    key: &str,
    base_version: Option<u32>,
    deleted: bool,
) -> Result<ExitCode> {
    let info = KindInfo::of(kind);
    let mut written = ctx.store.delete_record(kind, key, base_version, deleted)?;
    written_without_hidden(&info, &mut written);
    if ctx.json {
        ctx.print_json(&written)?;
        return Ok(ExitCode::SUCCESS);
    }
    let name = name_of(kind, &written.record);
    let short = short_id(written.record.id);
    let out = &mut *ctx.out;
    match (deleted, written.revision.is_some()) {
        (true, true) => writeln!(
            out,
            "Deleted {name}: it stays in history, and `labdesk records {kind} restore {short}` brings it back."
        )?,
        (true, false) => writeln!(out, "Nothing changed: {name} was already deleted.")?,
        (false, true) => writeln!(out, "Restored {name}, now version {}.", written.record.version)?,
        (false, false) => writeln!(out, "Nothing changed: {name} is not deleted.")?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_show_as_an_amount_with_two_decimals() {
        assert_eq!(amount(1250), "12.50");
        assert_eq!(amount(7), "0.07");
        assert_eq!(amount(-307), "-3.07");
    }

    #[test]
    fn a_kind_with_no_title_yet_is_named_by_its_short_id() {
        let id = uuid::Uuid::now_v7();
        let mut record = Stored {
            id,
            version: 1,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            updated_by: "ann".into(),
            deleted_at: None,
            record: Fields::new(),
        };
        assert_eq!(name_of(RecordKind::Setting, &record), format!("lab setting {}", short_id(id)));
        record.record.insert("key".into(), "opening_hours".into());
        assert_eq!(name_of(RecordKind::Setting, &record), format!("lab setting opening_hours ({})", short_id(id)));
    }
}
