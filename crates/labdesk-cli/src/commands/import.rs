//! Bulk import from JSON Lines: one case per line (its fields, and optionally `meta`, `notes` and
//! `chat`), fed to the core in batches of one transaction each.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
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

/// Where the lines come from. The input is read twice (its case numbers are checked before
/// anything is stored), so standard input is kept in memory.
enum Input {
    File(std::path::PathBuf),
    Memory(Vec<u8>),
}

impl Input {
    fn open(&self, name: &str) -> Result<Box<dyn BufRead + '_>> {
        Ok(match self {
            Input::File(path) => {
                Box::new(BufReader::new(File::open(path).with_context(|| format!("cannot open {name}"))?))
            }
            Input::Memory(bytes) => Box::new(bytes.as_slice()),
        })
    }

    /// Calls `each` with every non-blank line's number and item.
    fn for_each(&self, name: &str, mut each: impl FnMut(Item) -> Result<()>) -> Result<()> {
        let mut reader = self.open(name)?;
        let mut line = 0usize;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("cannot read line {} of {name}", line + 1))?;
            if read == 0 {
                return Ok(());
            }
            line += 1;
            let item = match std::str::from_utf8(&buf) {
                Err(_) => Err("is not UTF-8 text".to_owned()),
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => parse_line(text.trim()),
            };
            each((line, item))?;
        }
    }
}

pub fn import(ctx: &mut Ctx<'_>, args: ImportArgs) -> Result<ExitCode> {
    let from_stdin = args.file.as_os_str() == "-";
    let name = if from_stdin { "standard input".to_owned() } else { args.file.display().to_string() };
    let input = if from_stdin {
        let mut bytes = Vec::new();
        io::stdin().lock().read_to_end(&mut bytes).context("cannot read standard input")?;
        Input::Memory(bytes)
    } else {
        Input::File(args.file.clone())
    };

    // Case numbers first: a number that two lines bring, or that a case here has, would make
    // a case that this store (and every other) cannot keep beside the other one.
    let mut numbers: Vec<(usize, String)> = Vec::new();
    input.for_each(&name, |(line, item)| {
        if let Some(number) = item.as_ref().ok().and_then(ImportCase::case_number) {
            numbers.push((line, number.to_owned()));
        }
        Ok(())
    })?;
    let clashes = ctx.store.import_number_clashes(&numbers)?;
    if !clashes.is_empty() {
        if ctx.json {
            ctx.print_json(&serde_json::json!({ "imported": 0, "number_clashes": clashes }))?;
        } else {
            let out = &mut *ctx.out;
            writeln!(out, "Nothing was imported from {name}: a case number names one case, and these are taken:")?;
            for clash in &clashes {
                writeln!(out, "  {clash}")?;
            }
            writeln!(
                out,
                "Give each of these cases a number of its own (or leave case_number out to have one minted), \
                 then import again."
            )?;
        }
        return Ok(ExitCode::FAILURE);
    }

    let batch_size = usize::try_from(args.batch).unwrap_or(500);
    let mut report = ImportReport::default();
    let mut batch: Vec<Item> = Vec::with_capacity(batch_size);
    input.for_each(&name, |item| {
        batch.push(item);
        if batch.len() >= batch_size {
            send(ctx, &mut batch, &mut report)?;
        }
        Ok(())
    })?;
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
        if !numbers.is_empty() && report.imported > 0 {
            writeln!(
                out,
                "Imported case numbers are checked against the rest of the lab at the next sync: a case whose \
                 number another workstation already used is refused then, and listed by `labdesk rejected` with \
                 the reason."
            )?;
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
