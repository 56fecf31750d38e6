//! Sync: signing in, rounds (once or watching), conflicts to review and resolve, refused changes.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use labdesk_core::sync::credentials::{load_token, save_token};
use labdesk_core::sync::{
    fetch_blob, parse_server_url, sync_round, watch, HeldChange, HttpTransport, Progress, RecordConflicts,
    RejectedChange, SyncError, SyncReport, SyncStage, Token, Transport, WatchEvent, WatchOptions,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Ctx;
use crate::cli::{LoginArgs, Pick, ResolveArgs};
use crate::output::{self, plural, time, truncate};

/// "3 changes wait in the outbox", for after a round.
fn waiting(pending: u64) -> String {
    match pending {
        0 => "The outbox is empty.".to_owned(),
        n => format!("{} in the outbox.", plural(n, "change waits|changes wait")),
    }
}

pub fn login(ctx: &mut Ctx<'_>, args: LoginArgs) -> Result<ExitCode> {
    let url = parse_server_url(&args.server)?;
    let text = if args.token.trim() == "-" {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the token from standard input")?;
        line
    } else {
        args.token
    };
    let token = Token::new(&text)?;
    if args.check {
        let transport = HttpTransport::new(&url, &token)?;
        // A pull of nothing: proves the address, the protocol and the token, and changes nothing.
        transport.pull(ctx.store.sync_cursor()?, 0).map_err(|e| anyhow!("{e} (the sign-in was not kept)"))?;
    }
    ctx.store.set_server_url(&url)?;
    let path = save_token(&ctx.dir, &token)?;
    let loopback = url.host_str().is_some_and(|h| h == "localhost" || h.starts_with("127.") || h == "[::1]");
    let plain = url.scheme() == "http" && !loopback;
    if ctx.json {
        let body = serde_json::json!({
            "server": url.as_str(),
            "workstation": ctx.store.workstation(),
            "credentials": path.display().to_string(),
            "checked": args.check,
        });
        ctx.print_json(&body)?;
    } else {
        let checked = if args.check { " (the server accepted the token)" } else { "" };
        writeln!(ctx.out, "Signed in workstation {} to {url}{checked}.", ctx.store.workstation())?;
        writeln!(ctx.out, "The token is kept in {} (readable by you only).", path.display())?;
        writeln!(ctx.out, "Run `labdesk sync` to send and receive changes.")?;
    }
    if plain {
        eprintln!("warning: {url} is plain http: the token and every change travel unencrypted; use https:// outside a trusted network");
    }
    Ok(ExitCode::SUCCESS)
}

/// Downloads the contents of a case's files that are not here (attached elsewhere), with a bar
/// of bytes per file on a terminal.
pub fn fetch(ctx: &mut Ctx<'_>, key: &str) -> Result<ExitCode> {
    let detail = ctx.store.case_detail(key)?;
    let mut missing = Vec::new();
    for f in &detail.attachments {
        if ctx.store.blob_of(f.id)?.is_none() {
            missing.push((f.id, f.record.original_name.clone(), f.record.file_size));
        }
    }
    if missing.is_empty() {
        writeln!(ctx.out, "Every file of {} is on this workstation.", detail.case.record.case_number)?;
        return Ok(ExitCode::SUCCESS);
    }
    let transport = connect(ctx)?;
    let show = !ctx.json && std::io::stderr().is_terminal();
    for (id, name, size) in &missing {
        let bar = if show {
            let bar = ProgressBar::with_draw_target(Some(*size), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(name.clone());
            bar
        } else {
            ProgressBar::hidden()
        };
        let path = fetch_blob(&ctx.store, &transport, *id, &mut |done, _| bar.set_position(done));
        bar.finish_and_clear();
        writeln!(ctx.out, "Fetched {name} ({}) → {}", bytes(*size), path?.display())?;
    }
    writeln!(ctx.out, "{} fetched.", plural(missing.len() as u64, "file"))?;
    Ok(ExitCode::SUCCESS)
}

/// The transport to the server this workstation signed in to.
pub fn connect(ctx: &Ctx<'_>) -> Result<HttpTransport> {
    let server = ctx.store.sync_state()?.server_url.ok_or(SyncError::NotSignedIn)?;
    let token = load_token(&ctx.dir)?.ok_or(SyncError::NotSignedIn)?;
    Ok(HttpTransport::new(&parse_server_url(&server)?, &token)?)
}

fn bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // shown to one decimal
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.1} KB", f / 1024.0)
    } else {
        format!("{:.1} MB", f / (1024.0 * 1024.0))
    }
}

/// A progress bar on stderr: records done/total, and bytes done/total.
fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} changes, {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

fn show_progress(bar: &ProgressBar, p: &Progress) {
    let prefix = match p.stage {
        SyncStage::Push => "sending",
        SyncStage::Pull => "receiving",
        SyncStage::Finish => "done",
    };
    bar.set_prefix(prefix);
    bar.set_length(p.records_total);
    bar.set_position(p.records_done);
    let total = p.bytes_total.map_or_else(|| "?".to_owned(), bytes);
    bar.set_message(format!("{} of {total}", bytes(p.bytes_done)));
}

pub fn sync(ctx: &mut Ctx<'_>, keep_watching: bool) -> Result<ExitCode> {
    let transport = match connect(ctx) {
        Ok(transport) => transport,
        Err(e) => {
            let pending = ctx.store.pending_count()?;
            bail!("{e}\n{}", waiting(pending));
        }
    };
    if keep_watching {
        return watch_loop(ctx, transport);
    }
    let bar = progress_bar(!ctx.json && std::io::stderr().is_terminal());
    let result = sync_round(&mut ctx.store, &transport, &mut |p| show_progress(&bar, p));
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            if ctx.json {
                ctx.print_json(&report)?;
            } else {
                print_report(ctx, &report)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let pending = ctx.store.pending_count()?;
            bail!("{e}\n{}", waiting(pending))
        }
    }
}

fn record_label(kind: labdesk_core::RecordKind, id: Uuid, case_number: Option<&str>) -> String {
    let short = labdesk_core::short_id(id);
    match (kind, case_number) {
        (labdesk_core::RecordKind::Case, Some(number)) => format!("case {number}"),
        (_, Some(number)) => format!("{} {short} of case {number}", kind.label()),
        (_, None) => format!("{} {short}", kind.label()),
    }
}

/// A refused change's fields, short: `status: invoiced, priority: rush`.
/// A change's fields on one line. A case's secret key (its share link's) is no one's business in
/// a list of refused or set-aside changes, and says nothing about why.
fn fields_line(fields: &Map<String, Value>) -> String {
    let parts: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "secret_key")
        .map(|(k, v)| format!("{k}: {}", truncate(&output::value(v), 40)))
        .collect();
    truncate(&parts.join(", "), 100)
}

fn print_rejection(out: &mut dyn Write, r: &RejectedChange) -> Result<()> {
    let number = r.fields.get("case_number").and_then(Value::as_str);
    let label = record_label(r.record_kind, r.record_id, number);
    writeln!(out, "  - {label}, by {}@{} at {}: {}", r.author, r.workstation, time(r.made_at), fields_line(&r.fields))?;
    writeln!(out, "    refused: {}", r.reason)?;
    Ok(())
}

fn print_report(ctx: &mut Ctx<'_>, report: &SyncReport) -> Result<()> {
    let out = &mut *ctx.out;
    writeln!(
        out,
        "Sent {} ({} applied, {} merged, {} conflicted, {} rejected); received {}.",
        plural(report.pushed, "change"),
        report.applied,
        report.merged,
        report.conflicted,
        report.rejected,
        plural(report.pulled, "change")
    )?;
    if report.from_snapshot > 0 {
        let after = report.pulled.saturating_sub(report.from_snapshot);
        writeln!(
            out,
            "This workstation started from the lab's snapshot ({}){}.",
            plural(report.from_snapshot, "change"),
            if after > 0 {
                format!(", then received the {} made since", plural(after, "change"))
            } else {
                String::new()
            }
        )?;
    }
    if report.unanswered > 0 {
        let again = if report.unanswered == 1 { "it will" } else { "they will" };
        writeln!(out, "The server left {} unanswered; {again} be sent again.", plural(report.unanswered, "change"))?;
    }
    if !report.rejections.is_empty() {
        writeln!(out, "Refused by the server (kept, see `labdesk rejected`):")?;
        for r in &report.rejections {
            print_rejection(out, r)?;
        }
    }
    if report.needs_review > 0 {
        writeln!(out, "{} review: see `labdesk conflicts`.", plural(report.needs_review, "record needs|records need"))?;
    }
    if report.held_applied > 0 {
        writeln!(out, "{} from the lab set aside earlier could be stored now.", plural(report.held_applied, "change"))?;
    }
    if report.held > 0 {
        writeln!(
            out,
            "{} from the lab could not be stored here and {} set aside ({} in this round); they are tried again \
             at every sync: see `labdesk rejected`.",
            plural(report.held, "change"),
            if report.held == 1 { "is" } else { "are" },
            report.set_aside
        )?;
    }
    if report.files_up > 0 {
        writeln!(out, "Uploaded the contents of {}.", plural(report.files_up, "file"))?;
    }
    writeln!(
        out,
        "Traffic: {} up, {} down. {}",
        bytes(report.bytes_up),
        bytes(report.bytes_down),
        waiting(report.pending)
    )?;
    Ok(())
}

fn watch_loop(ctx: &mut Ctx<'_>, transport: HttpTransport) -> Result<ExitCode> {
    let server = transport.server().to_string();
    if !ctx.json {
        writeln!(ctx.out, "Watching {server} (Ctrl-C stops; nothing is lost by stopping).")?;
        ctx.out.flush()?;
    }
    // Nothing sets it here: Ctrl-C ends the process, and every change is its own transaction.
    let stop = Arc::new(AtomicBool::new(false));
    let transport: Arc<dyn Transport> = Arc::new(transport);
    let json = ctx.json;
    let out = &mut *ctx.out;
    let mut write_failed: Option<std::io::Error> = None;
    watch(&mut ctx.store, transport, &WatchOptions::default(), &stop, &mut |event| {
        let written = match event {
            WatchEvent::Progress(_) => Ok(()),
            WatchEvent::Synced(report) if json => {
                serde_json::to_writer(&mut *out, report).map_err(std::io::Error::other).and_then(|()| writeln!(out))
            }
            WatchEvent::Synced(report) => {
                if report.pushed + report.pulled == 0 && report.rejected == 0 && report.held_applied == 0 {
                    Ok(())
                } else {
                    let mut line = format!(
                        "[{}] sent {}, received {}",
                        time(labdesk_core::Timestamp::now()),
                        report.pushed,
                        report.pulled
                    );
                    if report.rejected > 0 {
                        line.push_str(&format!(", {} refused (see `labdesk rejected`)", report.rejected));
                    }
                    if report.needs_review > 0 {
                        line.push_str(&format!(", {} to review", plural(report.needs_review, "record")));
                    }
                    if report.held > 0 {
                        line.push_str(&format!(", {} from the lab set aside (see `labdesk rejected`)", report.held));
                    }
                    writeln!(out, "{line}")
                }
            }
            WatchEvent::Failed { error, retry_in } => {
                eprintln!("warning: {error}; trying again in {} s", retry_in.as_secs().max(1));
                Ok(())
            }
            WatchEvent::Unreachable(error) => {
                eprintln!("warning: {error}; changes made here wait in the outbox until it is back");
                Ok(())
            }
            WatchEvent::Reachable => {
                eprintln!("note: the sync server answers again");
                Ok(())
            }
        };
        if let Err(e) = written.and_then(|()| out.flush()) {
            write_failed.get_or_insert(e);
        }
    })?;
    if let Some(e) = write_failed {
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_conflicts(out: &mut dyn Write, all: &[RecordConflicts], indent: &str) -> Result<()> {
    for record in all {
        let label = record_label(record.record_kind, record.record_id, record.case_number.as_deref());
        // The label names the record (a case by its number, others by their short id).
        writeln!(out, "{indent}{label}:")?;
        for d in &record.disputes {
            let by = |who: Option<&str>, ws: Option<&str>, at: Option<labdesk_core::Timestamp>| match (who, ws, at) {
                (Some(who), Some(ws), Some(at)) => format!("{who}@{ws}, {}", time(at)),
                _ => "accepted first".to_owned(),
            };
            writeln!(
                out,
                "{indent}  {}: kept {} ({}) — proposed {} ({})",
                d.field,
                truncate(&d.kept.to_string(), 40),
                by(d.kept_by.as_deref(), d.kept_workstation.as_deref(), d.kept_at),
                truncate(&d.proposed.to_string(), 40),
                by(Some(&d.proposed_by), Some(&d.proposed_workstation), Some(d.proposed_at)),
            )?;
            if d.current != d.kept {
                writeln!(out, "{indent}    (now {})", truncate(&d.current.to_string(), 60))?;
            }
        }
        let key = match (record.record_kind, &record.case_number) {
            (labdesk_core::RecordKind::Case, Some(number)) => number.clone(),
            _ => labdesk_core::short_id(record.record_id),
        };
        let fields: Vec<String> = {
            let mut seen: Vec<&str> = Vec::new();
            for d in &record.disputes {
                if !seen.contains(&d.field.as_str()) {
                    seen.push(&d.field);
                }
            }
            seen.into_iter().map(|f| format!("--pick {f}=kept|proposed|VALUE")).collect()
        };
        writeln!(out, "{indent}  resolve: labdesk resolve {key} {}", fields.join(" "))?;
    }
    Ok(())
}

pub fn print_case_conflicts(out: &mut dyn Write, all: &[RecordConflicts]) -> Result<()> {
    print_conflicts(out, all, "  ")
}

pub fn conflicts(ctx: &mut Ctx<'_>) -> Result<ExitCode> {
    let all = ctx.store.conflicts()?;
    if ctx.json {
        ctx.print_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        writeln!(ctx.out, "No conflicts: nothing needs review.")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(ctx.out, "{} review (times in UTC):", plural(all.len() as u64, "record needs|records need"))?;
    print_conflicts(ctx.out, &all, "")?;
    Ok(ExitCode::SUCCESS)
}

pub fn resolve(ctx: &mut Ctx<'_>, args: ResolveArgs) -> Result<ExitCode> {
    let key = args.record.trim();
    let record_id = match Uuid::parse_str(key) {
        Ok(id) => id,
        Err(_) => match ctx.store.case_id(key) {
            Ok(id) => id,
            // Not a case number: an attached record's short id, as `labdesk conflicts` shows.
            Err(labdesk_core::Error::NotFound { .. }) => ctx.store.find_record_id(key, None)?,
            Err(e) => return Err(e.into()),
        },
    };
    let Some(record) = ctx.store.record_conflicts(record_id)? else {
        let mut message = format!("{key} has no conflicts to resolve");
        if let Ok(case) = ctx.store.case_detail(&record_id.to_string()) {
            if case.needs_review() {
                let ids: Vec<String> = case.conflicts.iter().map(|c| labdesk_core::short_id(c.record_id)).collect();
                message.push_str(&format!("; records attached to it do: labdesk resolve {}", ids.join(" / ")));
            }
        }
        bail!(message);
    };
    let mut picks = Map::new();
    for (field, pick) in args.picks {
        // The latest dispute of a field is the one a person sees last.
        let dispute = record.disputes.iter().rfind(|d| d.field == field);
        let value = match (pick, dispute) {
            (Pick::Value(v), _) => v,
            (Pick::Kept, Some(d)) => d.kept.clone(),
            (Pick::Proposed, Some(d)) => d.proposed.clone(),
            (_, None) => {
                let disputed: Vec<&str> = record.disputes.iter().map(|d| d.field.as_str()).collect();
                bail!("{field} is not disputed on this record; the disputed fields are: {}", disputed.join(", "));
            }
        };
        picks.insert(field, value);
    }
    let revision = ctx.store.resolve(record_id, picks)?;
    if ctx.json {
        ctx.print_json(&revision)?;
        return Ok(ExitCode::SUCCESS);
    }
    let label = record_label(record.record_kind, record.record_id, record.case_number.as_deref());
    writeln!(ctx.out, "Resolved {label} (now version {}):", revision.version)?;
    for (field, value) in &revision.fields {
        writeln!(ctx.out, "  {field} = {}", truncate(&output::value(value), 60))?;
    }
    writeln!(ctx.out, "The resolution is sent at the next `labdesk sync`.")?;
    Ok(ExitCode::SUCCESS)
}

pub fn rejected(ctx: &mut Ctx<'_>) -> Result<ExitCode> {
    let all = ctx.store.rejected_changes()?;
    let held = ctx.store.held_changes()?;
    if ctx.json {
        ctx.print_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        writeln!(ctx.out, "The server has refused no change made here.")?;
    } else {
        writeln!(
            ctx.out,
            "{} refused by the server, newest first (times in UTC):",
            plural(all.len() as u64, "change")
        )?;
        for r in &all {
            print_rejection(ctx.out, r)?;
        }
    }
    if !held.is_empty() {
        print_held(ctx.out, &held)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The changes from the lab this workstation could not store: what they are, why, what to do.
fn print_held(out: &mut dyn Write, held: &[HeldChange]) -> Result<()> {
    writeln!(
        out,
        "\nChanges from the lab this workstation could not store ({}, oldest first; set aside, tried again at \
         every sync):",
        held.len()
    )?;
    for h in held {
        let label = record_label(h.record_kind, h.record_id, h.case_number.as_deref());
        let patient = h.patient_name.as_deref().map(|p| format!(" (patient {p})")).unwrap_or_default();
        writeln!(
            out,
            "  - {label}{patient}, version {}, by {}@{} at {}: {}",
            h.version,
            h.author,
            h.workstation,
            time(h.made_at),
            fields_line(&h.fields)
        )?;
        writeln!(out, "    not stored: {}", h.reason)?;
        writeln!(out, "    set aside since {}, tried {}", time(h.held_at), plural(u64::from(h.attempts), "time"))?;
    }
    writeln!(
        out,
        "Until they are stored, this workstation does not show the lab's state for these records. What clears \
         the way (the other case refused or renumbered in the lab) comes with a sync; run `labdesk sync` after it."
    )?;
    Ok(())
}
