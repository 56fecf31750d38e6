//! Bulk import from JSON Lines: one case per line (its fields, and optionally `meta`, `notes` and
//! `chat`), fed to the core in batches of one transaction each.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use labdesk_core::{ImportCase, ImportReport};
use serde_json::Value;

use super::Ctx;
use crate::cli::ImportArgs;
use crate::output::plural;

type Item = (usize, Result<ImportCase, String>);

/// One line of input, or the reason it cannot be imported.
fn parse_line(text: &str) -> Result<ImportCase, String> {
    match serde_json::from_str::<Value>(text) {
        Err(e) => {
            // serde's "at line 1 column 7" would be read as a line of the file.
            let message = e.to_string();
            let message = message.find(" at line ").map_or(message.as_str(), |i| &message[..i]);
            Err(format!("is not valid JSON ({message}, at character {})", e.column()))
        }
        Ok(value @ Value::Object(_)) => serde_path_to_error::deserialize::<_, ImportCase>(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                format!("does not have the shape of a case to import: {inner}")
            } else {
                format!("{path}: {inner}")
            }
        }),
        Ok(_) => Err("is not a JSON object of case fields ({\"patient_name\": ...})".to_owned()),
    }
}

pub fn import(ctx: &mut Ctx<'_>, args: ImportArgs) -> Result<ExitCode> {
    let from_stdin = args.file.as_os_str() == "-";
    let name = if from_stdin { "standard input".to_owned() } else { args.file.display().to_string() };
    let mut reader: Box<dyn BufRead> = if from_stdin {
        Box::new(io::stdin().lock())
    } else {
        Box::new(BufReader::new(File::open(&args.file).with_context(|| format!("cannot open {name}"))?))
    };
    let batch_size = usize::try_from(args.batch).unwrap_or(500);
    let mut report = ImportReport::default();
    let mut batch: Vec<Item> = Vec::with_capacity(batch_size);
    let mut line = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read =
            reader.read_until(b'\n', &mut buf).with_context(|| format!("cannot read line {} of {name}", line + 1))?;
        if read == 0 {
            break;
        }
        line += 1;
        let item = match std::str::from_utf8(&buf) {
            Err(_) => Err("is not UTF-8 text".to_owned()),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_line(text.trim()),
        };
        batch.push((line, item));
        if batch.len() >= batch_size {
            send(ctx, &mut batch, &mut report)?;
        }
    }
    if !batch.is_empty() {
        send(ctx, &mut batch, &mut report)?;
    }

    let ok = report.skipped.is_empty();
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        let out = &mut *ctx.out;
        let (cases, records) = (plural(report.imported, "case"), plural(report.records, "record"));
        write!(out, "Imported {cases} ({records}) from {name}")?;
        match (report.case_numbers.first(), report.case_numbers.last()) {
            (Some(first), Some(last)) if first != last => writeln!(out, ": {first} … {last}.")?,
            (Some(only), _) => writeln!(out, ": {only}.")?,
            _ => writeln!(out, ".")?,
        }
        if !ok {
            let lines = plural(report.skipped.len() as u64, "line");
            if report.imported > 0 {
                writeln!(out, "Skipped {lines} (the other lines were imported):")?;
            } else {
                writeln!(out, "Skipped {lines}:")?;
            }
            for skipped in &report.skipped {
                writeln!(out, "  line {}: {}", skipped.line, skipped.reason)?;
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Imports one batch in one transaction and reports progress on stderr.
fn send(ctx: &mut Ctx<'_>, batch: &mut Vec<Item>, report: &mut ImportReport) -> Result<()> {
    let first_line = batch.first().map_or(0, |(line, _)| *line);
    let before = report.imported;
    ctx.store.import_batch(std::mem::take(batch), report).with_context(|| {
        format!(
            "the import stopped in the batch starting at line {first_line}, which was not stored; \
             the {} imported before it are stored",
            plural(before, "case")
        )
    })?;
    let mut stderr = io::stderr().lock();
    let (cases, records) = (plural(report.imported, "case"), plural(report.records, "record"));
    writeln!(stderr, "imported {cases} ({records})")?;
    stderr.flush()?;
    Ok(())
}
