//! Cases: setting up the store, intake, editing, showing, listing, searching, deleting.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use labdesk_core::{CaseDetail, CaseQuery};
use serde::Serialize;
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::{CreateArgs, EditArgs, ListArgs, SearchArgs};
use crate::fields::case_input;
use crate::output::{self, date, names, opt_date, opt_time, plural, time, truncate};

pub fn init(ctx: &mut Ctx<'_>, user: Option<&str>, is_new: bool) -> Result<ExitCode> {
    if let Some(user) = user {
        ctx.store.set_default_user(user)?;
    }
    let path = ctx.store.path().map(|p| p.display().to_string()).unwrap_or_default();
    if ctx.json {
        let body = json!({
            "path": path,
            "workstation": ctx.store.workstation(),
            "user": ctx.store.user(),
            "created": is_new,
        });
        ctx.print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = &mut *ctx.out;
    writeln!(out, "{}", if is_new { "Set up a new LabDesk store." } else { "The LabDesk store is ready." })?;
    writeln!(out, "  store:       {path}")?;
    writeln!(out, "  workstation: {}", ctx.store.workstation())?;
    match user {
        Some(_) => writeln!(out, "  user:        {} (the default user of this store)", ctx.store.user())?,
        None => writeln!(
            out,
            "  user:        {} (set this store's default with `labdesk init --user NAME`)",
            ctx.store.user()
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn create(ctx: &mut Ctx<'_>, args: CreateArgs) -> Result<ExitCode> {
    let input = case_input(&ctx.store, args.fields, None)?;
    let meta: Vec<(String, String)> = input.meta.into_iter().collect();
    // The case and its meta values go in one transaction: a refused value refuses the case too.
    let case = ctx.store.create_case_with_meta(input.fields, &meta)?;
    if ctx.json {
        ctx.print_json(&case)?;
    } else {
        writeln!(ctx.out, "Created case {} for {}", case.record.case_number, case.record.patient_name)?;
        for (key, value) in &meta {
            writeln!(ctx.out, "  meta {key} = {value}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The empty value of a case field: the first of null, [], {} and "" that the case's own type
/// takes in that field (null for dates and the parent, an empty list for assignees, ...).
fn cleared(current: &serde_json::Map<String, Value>, field: &str) -> Value {
    let candidates = [Value::Null, json!([]), json!({}), json!("")];
    for empty in &candidates {
        let mut probe = current.clone();
        probe.insert(field.to_owned(), empty.clone());
        if serde_json::from_value::<labdesk_core::Case>(Value::Object(probe)).is_ok() {
            return empty.clone();
        }
    }
    // Not a case field: the core will say so, naming the fields there are.
    Value::Null
}

pub fn edit(ctx: &mut Ctx<'_>, args: EditArgs) -> Result<ExitCode> {
    let current = ctx.store.case(&args.case)?;
    let current_map = match serde_json::to_value(&current.record)? {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let input = case_input(&ctx.store, args.fields, current_map.get("author_info").cloned())?;
    let mut patch = input.fields;
    patch.extend(args.set);
    for field in args.clear {
        let empty = cleared(&current_map, &field);
        patch.insert(field, empty);
    }
    let meta: Vec<(String, String)> = input.meta.into_iter().collect();
    if patch.is_empty() && meta.is_empty() {
        bail!("nothing to change: give a field flag (e.g. --status qc), --set FIELD=VALUE, --clear FIELD or --meta KEY=VALUE");
    }
    let number = current.record.case_number.clone();
    // The edit and its meta values go in one transaction; with only meta values to set, the
    // edit still checks --base-version.
    let written = ctx.store.edit_case_with_meta(&number, args.base_version, patch, &meta)?;
    if !ctx.json {
        match &written.revision {
            Some(revision) => {
                writeln!(ctx.out, "Updated case {number} (now version {}):", written.record.version)?;
                let history = ctx.store.history(written.record.id)?;
                let entry = history.iter().find(|e| e.revision.id == revision.id);
                for change in entry.map(|e| e.changes.as_slice()).unwrap_or_default() {
                    for (field, before, after) in output::changed_parts(&change.field, &change.before, &change.after) {
                        let (before, after) = (output::value(&before), output::value(&after));
                        writeln!(ctx.out, "  {field}: {} → {}", truncate(&before, 60), truncate(&after, 60))?;
                    }
                }
            }
            None if !meta.is_empty() => {}
            None => writeln!(ctx.out, "Nothing changed: case {number} already had those values.")?,
        }
    }
    if ctx.json {
        ctx.print_json(&written)?;
    } else {
        for (key, value) in &meta {
            writeln!(ctx.out, "  meta {key} = {value}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The snake_case name serde gives an enum value (stage status, message status, ...).
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

pub fn size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // shown to one decimal
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    }
}

/// Attaches files from disk to a case, all of them or none (the core checks the lab's rules
/// for the whole upload before it copies a byte).
pub fn attach(ctx: &mut Ctx<'_>, key: &str, paths: &[std::path::PathBuf]) -> Result<ExitCode> {
    let files = ctx.store.attach_paths(key, paths, None, &mut |_| {})?;
    if ctx.json {
        ctx.print_json(&files)?;
        return Ok(ExitCode::SUCCESS);
    }
    for f in &files {
        writeln!(
            ctx.out,
            "Attached {} ({}, {})",
            f.record.original_name,
            f.record.mime_type,
            size(f.record.file_size)
        )?;
    }
    let whose = if files.len() == 1 { "Its" } else { "Their" };
    writeln!(ctx.out, "{whose} contents go to the sync server with the next `labdesk sync`.")?;
    Ok(ExitCode::SUCCESS)
}

pub fn show(ctx: &mut Ctx<'_>, key: &str) -> Result<ExitCode> {
    let detail = ctx.store.case_detail(key)?;
    if ctx.json {
        ctx.print_json(&detail)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_detail(ctx.out, &detail)?;
    Ok(ExitCode::SUCCESS)
}

fn print_detail(out: &mut dyn Write, d: &CaseDetail) -> Result<()> {
    let c = &d.case;
    let r = &c.record;
    writeln!(out, "Case {} — {}", r.case_number, r.patient_name)?;
    if let Some(at) = c.deleted_at {
        writeln!(out, "  DELETED on {} (`labdesk restore {}` brings it back)", time(at), r.case_number)?;
    }
    let overdue = if d.overdue() { "  OVERDUE" } else { "" };
    writeln!(out, "  Status:    {}", r.status)?;
    writeln!(out, "  Priority:  {}", r.priority)?;
    writeln!(out, "  Start:     {}", opt_date(r.start_date))?;
    writeln!(out, "  Due:       {}{overdue}", opt_date(r.due_date))?;
    let a = &r.author_info;
    let mut author = r.author_id.clone();
    let details: Vec<&str> =
        [a.name.as_str(), a.phone.as_str(), a.address.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
    if !details.is_empty() {
        author.push_str(&format!(" — {}", details.join(", ")));
    }
    if !a.address_note.is_empty() {
        author.push_str(&format!(" ({})", a.address_note));
    }
    if let Some(geo) = a.geo_location {
        author.push_str(&format!(" [{:.5}, {:.5}]", geo.lat, geo.lng));
    }
    writeln!(out, "  Author:    {author}")?;
    writeln!(out, "  Assignees: {}", names(&r.assignees))?;
    writeln!(out, "  Invoices:  {}", names(&r.invoice_ids))?;
    let parent = match (&d.parent, r.parent_id) {
        (Some(p), _) => format!("{} — {}", p.case_number, p.patient_name),
        (None, Some(id)) => id.to_string(),
        (None, None) => "—".to_owned(),
    };
    writeln!(out, "  Parent:    {parent}")?;
    let children: Vec<String> =
        d.children.iter().map(|ch| format!("{} ({})", ch.case_number, ch.patient_name)).collect();
    writeln!(out, "  Children:  {}", names(&children))?;
    writeln!(
        out,
        "  Version:   {}, created {}, last changed {} by {}",
        c.version,
        time(c.created_at),
        time(c.updated_at),
        c.updated_by
    )?;
    let pending = match d.pending_changes {
        0 => "none: everything was sent".to_owned(),
        n => format!("{} to be sent", plural(n.unsigned_abs(), "change waits|changes wait")),
    };
    writeln!(out, "  Outbox:    {pending}")?;
    if d.needs_review() {
        let fields: usize = d.conflicts.iter().map(|c| c.disputes.len()).sum();
        let what = plural(fields as u64, "field was|fields were");
        writeln!(out, "  Review:    NEEDS REVIEW — {what} changed two ways (see Conflicts below)")?;
    }
    writeln!(out, "  Id:        {}", c.id)?;

    if !r.order_note.is_empty() {
        writeln!(out, "\nOrder note:")?;
        for line in r.order_note.lines() {
            writeln!(out, "  {line}")?;
        }
    }

    section(out, "Services", r.services.len())?;
    for s in &r.services {
        let mut line = format!("  - {}", s.service_type);
        if !s.sub_services.is_empty() {
            line.push_str(&format!(": {}", s.sub_services.join(", ")));
        }
        if !s.extras.is_empty() {
            line.push_str(&format!(" (extras: {})", s.extras.join(", ")));
        }
        writeln!(out, "{line}")?;
    }

    section(out, "Links", r.links.len())?;
    for l in &r.links {
        let title = if l.title.is_empty() { "(untitled)" } else { l.title.as_str() };
        let source = if l.source.is_empty() { String::new() } else { format!(" ({})", l.source) };
        writeln!(out, "  - {title}: {}{source}", l.url)?;
    }

    section(out, "Aligners", r.aligners.len())?;
    for al in &r.aligners {
        let when = al.date.map(|d| format!(", {}", date(d))).unwrap_or_default();
        writeln!(out, "  - series of {}, at stage {}, aligners {}–{}{when}", al.count, al.stage, al.from, al.to)?;
    }

    section(out, "Meta", d.meta.len())?;
    let width = d.meta.iter().map(|m| m.record.key.chars().count()).max().unwrap_or(0);
    for m in &d.meta {
        writeln!(out, "  {:<width$} = {}", m.record.key, truncate(&m.record.value, 100))?;
    }

    writeln!(out, "\nWorkflow:")?;
    let rows: Vec<Vec<String>> = d
        .stages
        .iter()
        .map(|s| {
            vec![
                format!("  {}", s.stage.stage),
                label(&s.stage.status),
                s.stage.assignee.clone().unwrap_or_else(|| "—".to_owned()),
                opt_time(s.stage.started_at),
                opt_time(s.stage.completed_at),
                truncate(&s.stage.notes, 40),
            ]
        })
        .collect();
    output::table(out, &["  STAGE", "STATUS", "ASSIGNEE", "STARTED", "COMPLETED", "NOTES"], &rows)?;

    section(out, "Files", d.attachments.len())?;
    for f in &d.attachments {
        let r = &f.record;
        writeln!(
            out,
            "  - {} ({}, {}) by {} on {}",
            r.original_name,
            r.mime_type,
            size(r.file_size),
            r.uploaded_by,
            time(r.upload_date)
        )?;
    }

    section(out, "Notes", d.notes.len())?;
    for n in &d.notes {
        writeln!(out, "  [{}] {}: {}", time(n.created_at), n.record.author_id, truncate(&n.record.body, 200))?;
    }

    section(out, "Chat", d.chat.len())?;
    for m in &d.chat {
        super::chat::print_message(out, m, "  ")?;
    }

    if d.needs_review() {
        writeln!(out, "\nConflicts ({}):", d.conflicts.len())?;
        super::sync::print_case_conflicts(out, &d.conflicts)?;
    }
    Ok(())
}

fn section(out: &mut dyn Write, title: &str, count: usize) -> Result<()> {
    if count == 0 {
        writeln!(out, "\n{title}: none")?;
    } else {
        writeln!(out, "\n{title} ({count}):")?;
    }
    Ok(())
}

pub fn list(ctx: &mut Ctx<'_>, args: ListArgs) -> Result<ExitCode> {
    let Some(offset) = (args.page - 1).checked_mul(args.limit) else {
        bail!("--page {} is too far: there cannot be that many cases", args.page);
    };
    let query = CaseQuery {
        status: args.statuses,
        priority: args.priorities,
        due_from: args.due_from,
        due_to: args.due_to,
        assignee: args.assignee,
        parent: args.parent,
        overdue_only: args.overdue,
        include_deleted: args.deleted,
        sort: args.sort.into(),
        descending: args.desc,
        offset,
        limit: args.limit,
    };
    let page = ctx.store.list_cases(&query)?;
    if ctx.json {
        ctx.print_json(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = &mut *ctx.out;
    if page.cases.is_empty() {
        if page.total == 0 {
            writeln!(out, "No cases match.")?;
        } else {
            let pages = page.total.div_ceil(u64::from(page.limit));
            let (cases, pages) = (plural(page.total, "case"), plural(pages, "page"));
            writeln!(out, "No cases on page {}: {cases} match, on {pages}.", args.page)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = page
        .cases
        .iter()
        .map(|c| {
            let flag = match (c.deleted, c.overdue) {
                (true, _) => "x",
                (false, true) => "!",
                (false, false) => "",
            };
            vec![
                flag.to_owned(),
                c.case_number.clone(),
                truncate(&c.patient_name, 32),
                truncate(&c.status, 16),
                truncate(&c.priority, 12),
                opt_date(c.due_date),
                truncate(&names(&c.assignees), 30),
            ]
        })
        .collect();
    output::table(out, &["", "CASE", "PATIENT", "STATUS", "PRIORITY", "DUE", "ASSIGNEES"], &rows)?;
    let first = u64::from(page.offset) + 1;
    let last = u64::from(page.offset) + page.cases.len() as u64;
    let mut footer = format!("showing {first}–{last} of {}", page.total);
    if last < page.total {
        footer.push_str(&format!(" (next: --page {})", args.page + 1));
    }
    writeln!(out, "{footer}")?;
    let mut legend = Vec::new();
    if page.cases.iter().any(|c| c.overdue && !c.deleted) {
        legend.push("! overdue");
    }
    if page.cases.iter().any(|c| c.deleted) {
        legend.push("x deleted");
    }
    if !legend.is_empty() {
        writeln!(out, "{}", legend.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn search(ctx: &mut Ctx<'_>, args: SearchArgs) -> Result<ExitCode> {
    let text = args.words.join(" ");
    let hits = ctx.store.search(&text, args.limit)?;
    if ctx.json {
        ctx.print_json(&hits)?;
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        writeln!(ctx.out, "Nothing found for '{text}'.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|h| {
            vec![
                h.case.case_number.clone(),
                truncate(&h.case.patient_name, 32),
                truncate(&h.case.status, 16),
                h.matched_in.clone(),
                truncate(&h.snippet, 70),
            ]
        })
        .collect();
    output::table(ctx.out, &["CASE", "PATIENT", "STATUS", "FOUND IN", "MATCH"], &rows)?;
    writeln!(ctx.out, "{} found", plural(hits.len() as u64, "case"))?;
    Ok(ExitCode::SUCCESS)
}

pub fn delete(ctx: &mut Ctx<'_>, key: &str, delete: bool) -> Result<ExitCode> {
    let written = if delete { ctx.store.delete_case(key, None)? } else { ctx.store.restore_case(key, None)? };
    if ctx.json {
        ctx.print_json(&written)?;
        return Ok(ExitCode::SUCCESS);
    }
    let number = &written.record.record.case_number;
    let patient = &written.record.record.patient_name;
    let changed = written.revision.is_some();
    match (delete, changed) {
        (true, true) => writeln!(
            ctx.out,
            "Deleted case {number} ({patient}). It stays in history; `labdesk restore {number}` brings it back."
        )?,
        (true, false) => writeln!(ctx.out, "Case {number} ({patient}) was already deleted.")?,
        (false, true) => writeln!(ctx.out, "Restored case {number} ({patient}).")?,
        (false, false) => writeln!(ctx.out, "Case {number} ({patient}) was not deleted; nothing to restore.")?,
    }
    Ok(ExitCode::SUCCESS)
}
