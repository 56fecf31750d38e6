//! Meta values, workflow stages and notes of a case.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use labdesk_core::{short_id, Error, RecordKind, StageAction, StageView};

use super::cases::label;
use super::Ctx;
use crate::cli::{MetaCommand, NoteCommand, StageArgs, StageVerb};
use crate::output::{self, opt_time, time, truncate};

pub fn meta(ctx: &mut Ctx<'_>, command: MetaCommand) -> Result<ExitCode> {
    match command {
        MetaCommand::Set { case, key, value } => {
            let written = ctx.store.set_meta(&case, &key, &value)?;
            if ctx.json {
                ctx.print_json(&written)?;
            } else if written.revision.is_some() {
                writeln!(ctx.out, "Set {key} = {} on case {case}.", written.record.record.value)?;
            } else {
                writeln!(ctx.out, "Nothing changed: {key} was already {}.", written.record.record.value)?;
            }
        }
        MetaCommand::Unset { case, key } => {
            let written = ctx.store.unset_meta(&case, &key)?;
            if ctx.json {
                ctx.print_json(&written)?;
            } else if written.revision.is_some() {
                writeln!(ctx.out, "Unset {key} on case {case} (its values stay in history).")?;
            } else {
                writeln!(ctx.out, "Nothing changed: {key} was not set on case {case}.")?;
            }
        }
        MetaCommand::List { case } => {
            let meta = ctx.store.meta(&case)?;
            if ctx.json {
                ctx.print_json(&meta)?;
            } else if meta.is_empty() {
                writeln!(ctx.out, "No meta values on case {case}.")?;
            } else {
                let rows: Vec<Vec<String>> = meta
                    .iter()
                    .map(|m| {
                        vec![
                            m.record.key.clone(),
                            truncate(&m.record.value, 80),
                            format!("{} by {}", time(m.updated_at), m.updated_by),
                        ]
                    })
                    .collect();
                output::table(ctx.out, &["KEY", "VALUE", "SET"], &rows)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn stage(ctx: &mut Ctx<'_>, args: StageArgs) -> Result<ExitCode> {
    let verb = args.action;
    let action = match (verb, args.arg) {
        (StageVerb::Assign, who) => StageAction::Assign(who),
        (StageVerb::Notes, Some(text)) => StageAction::Notes(text),
        (StageVerb::Notes, None) => bail!("`notes` needs the text, e.g. labdesk stage CASE design notes \"shade A2\""),
        (_, Some(extra)) => {
            bail!("`{}` takes nothing after it (got '{extra}')", label_verb(verb))
        }
        (StageVerb::Start, None) => StageAction::Start,
        (StageVerb::Complete, None) => StageAction::Complete,
        (StageVerb::Block, None) => StageAction::Block,
        (StageVerb::Hold, None) => StageAction::Hold,
        (StageVerb::Reset, None) => StageAction::Reset,
    };
    let case = ctx.store.case(&args.case)?.record;
    let number = case.case_number;
    let moved = if args.force {
        ctx.store.move_stage_out_of_order(&number, args.stage, action, args.base_version)
    } else {
        ctx.store.move_stage(&number, args.stage, action, args.base_version)
    };
    let written = match moved {
        Err(e @ Error::OutOfOrder { .. }) => {
            bail!("{e}: labdesk stage {number} {} complete --force", args.stage)
        }
        other => other?,
    };
    if ctx.json {
        ctx.print_json(&written)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = &written.record.record;
    if written.revision.is_none() {
        writeln!(ctx.out, "Nothing changed: {} is already {}.", s.stage, label(&s.status))?;
    } else {
        let who = s.assignee.as_deref().map(|a| format!(", assigned to {a}")).unwrap_or_default();
        writeln!(
            ctx.out,
            "Stage {} of case {number} is now {}{who} (version {}).",
            s.stage,
            label(&s.status),
            written.record.version
        )?;
        let status = ctx.store.case(&number)?.record.status;
        if status != case.status {
            writeln!(ctx.out, "Case {number} is now {status} (was {}).", case.status)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn label_verb(verb: StageVerb) -> String {
    clap::ValueEnum::to_possible_value(&verb).map(|v| v.get_name().to_owned()).unwrap_or_default()
}

pub fn stages(ctx: &mut Ctx<'_>, case: &str) -> Result<ExitCode> {
    let stages = ctx.store.stages(case)?;
    if ctx.json {
        ctx.print_json(&stages)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_stages(ctx.out, &stages)?;
    Ok(ExitCode::SUCCESS)
}

fn print_stages(out: &mut dyn Write, stages: &[StageView]) -> Result<()> {
    let rows: Vec<Vec<String>> = stages
        .iter()
        .map(|s| {
            vec![
                s.stage.stage.to_string(),
                label(&s.stage.status),
                s.stage.assignee.clone().unwrap_or_else(|| "—".to_owned()),
                opt_time(s.stage.started_at),
                opt_time(s.stage.completed_at),
                s.version.to_string(),
                truncate(&s.stage.notes, 40),
            ]
        })
        .collect();
    output::table(out, &["STAGE", "STATUS", "ASSIGNEE", "STARTED", "COMPLETED", "VERSION", "NOTES"], &rows)?;
    Ok(())
}

pub fn note(ctx: &mut Ctx<'_>, command: NoteCommand) -> Result<ExitCode> {
    match command {
        NoteCommand::Add { case, text } => {
            let note = ctx.store.add_note(&case, &text)?;
            if ctx.json {
                ctx.print_json(&note)?;
            } else {
                writeln!(ctx.out, "Added note {} to case {case}.", labdesk_core::short_id(note.id))?;
            }
        }
        NoteCommand::List { case } => {
            let notes = ctx.store.notes(&case)?;
            if ctx.json {
                ctx.print_json(&notes)?;
            } else if notes.is_empty() {
                writeln!(ctx.out, "No notes on case {case}.")?;
            } else {
                for n in &notes {
                    writeln!(ctx.out, "[{}] {}: {}", time(n.created_at), n.record.author_id, n.record.body)?;
                    // The id to edit or delete it by, as a chat message shows its own.
                    writeln!(ctx.out, "    id {}", short_id(n.id))?;
                }
            }
        }
        NoteCommand::Edit { id, text, base_version } => {
            let id = ctx.store.find_record_id(&id, Some(RecordKind::CaseNote))?;
            let written = ctx.store.edit_note(id, base_version, &text)?;
            if ctx.json {
                ctx.print_json(&written)?;
            } else if written.revision.is_some() {
                writeln!(ctx.out, "Edited note {} (now version {}).", short_id(id), written.record.version)?;
            } else {
                writeln!(ctx.out, "Nothing changed: the note already says that.")?;
            }
        }
        NoteCommand::Delete { id } => {
            let id = ctx.store.find_record_id(&id, Some(RecordKind::CaseNote))?;
            let written = ctx.store.delete_note(id, None)?;
            if ctx.json {
                ctx.print_json(&written)?;
            } else if written.revision.is_some() {
                writeln!(ctx.out, "Deleted note {} (it stays in history).", short_id(id))?;
            } else {
                writeln!(ctx.out, "The note was already deleted.")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
