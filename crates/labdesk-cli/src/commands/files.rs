//! A case's files: list them with their ids, remove one, save one's contents under its name.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use labdesk_core::sync::fetch_blob;
use labdesk_core::{short_id, RecordKind};
use serde::Serialize;
use uuid::Uuid;

use super::cases::size;
use super::Ctx;
use crate::cli::FileCommand;
use crate::output::{self, plural, time, truncate};

/// A file as `labdesk files --json` gives it: the record, and whether its contents are here.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    file: &'a labdesk_core::Stored<labdesk_core::FileRecord>,
    contents_here: bool,
}

pub fn list(ctx: &mut Ctx<'_>, case: &str) -> Result<ExitCode> {
    let files = ctx.store.files(case)?;
    let mut here = Vec::with_capacity(files.len());
    for f in &files {
        here.push(ctx.store.blob_of(f.id)?.is_some());
    }
    if ctx.json {
        let listed: Vec<Listed<'_>> =
            files.iter().zip(&here).map(|(file, &contents_here)| Listed { file, contents_here }).collect();
        ctx.print_json(&listed)?;
        return Ok(ExitCode::SUCCESS);
    }
    if files.is_empty() {
        writeln!(ctx.out, "No files on case {case}.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = files
        .iter()
        .zip(&here)
        .map(|(f, &here)| {
            vec![
                truncate(&f.record.original_name, 40),
                size(f.record.file_size),
                if here { "here".to_owned() } else { "not here (`labdesk fetch`)".to_owned() },
                format!("{} by {}", time(f.record.upload_date), f.record.uploaded_by),
                short_id(f.id),
            ]
        })
        .collect();
    output::table(ctx.out, &["NAME", "SIZE", "CONTENTS", "ATTACHED", "ID"], &rows)?;
    writeln!(ctx.out, "{}", plural(files.len() as u64, "file"))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(ctx: &mut Ctx<'_>, command: FileCommand) -> Result<ExitCode> {
    match command {
        FileCommand::Remove { id } => {
            let id = ctx.store.find_record_id(&id, Some(RecordKind::File))?;
            let before = ctx.store.file(id)?;
            let removed = ctx.store.remove_file(id)?;
            if ctx.json {
                ctx.print_json(&removed)?;
            } else if before.is_deleted() {
                writeln!(ctx.out, "{} was already removed.", removed.record.original_name)?;
            } else {
                writeln!(ctx.out, "Removed {} from its case (it stays in history).", removed.record.original_name)?;
            }
        }
        FileCommand::Save { id, to } => {
            let id = ctx.store.find_record_id(&id, Some(RecordKind::File))?;
            let saved = save(ctx, id, &to)?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({ "id": id, "path": saved }))?;
            } else {
                writeln!(ctx.out, "Saved {}", saved.display())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies a file's contents to `dir` under its original name (never over an existing file),
/// downloading them first when they were attached on another workstation.
fn save(ctx: &mut Ctx<'_>, id: Uuid, dir: &Path) -> Result<PathBuf> {
    let file = ctx.store.file(id)?;
    let name = file.record.original_name.as_str();
    // A name from another workstation is a name, not a path: only its last part is used.
    let Some(safe) = Path::new(name).file_name().filter(|n| !n.is_empty()) else {
        bail!("the file's name '{name}' cannot be used as a file name here");
    };
    if !dir.is_dir() {
        bail!("{} is not a folder: give an existing one with --to DIR", dir.display());
    }
    let target = dir.join(safe);
    let blob = match ctx.store.blob_of(id)? {
        Some(blob) => blob,
        None => {
            let transport = super::sync::connect(ctx)
                .with_context(|| format!("the contents of {name} are not on this workstation"))?;
            fetch_blob(&ctx.store, &transport, id, &mut |_, _| {})?
        }
    };
    // create_new: a file already there is never overwritten.
    let mut out = fs::OpenOptions::new().write(true).create_new(true).open(&target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists: nothing was saved (give another folder with --to DIR)",
                target.display()
            )
        } else {
            anyhow::anyhow!("cannot write {}: {e}", target.display())
        }
    })?;
    let copied =
        fs::File::open(&blob).and_then(|mut input| std::io::copy(&mut input, &mut out)).and_then(|_| out.sync_all());
    if let Err(e) = copied {
        let _ = fs::remove_file(&target);
        bail!("cannot save {}: {e}", target.display());
    }
    Ok(target)
}
