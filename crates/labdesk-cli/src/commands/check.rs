//! The store's consistency check.

use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;

pub fn check(ctx: &mut Ctx<'_>, quick: bool) -> Result<ExitCode> {
    let report = ctx.store.check(!quick)?;
    let ok = report.is_ok();
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        let out = &mut *ctx.out;
        writeln!(out, "store:      {}", ctx.store.path().map(|p| p.display().to_string()).unwrap_or_default())?;
        match &report.integrity {
            Some(verdict) => writeln!(out, "integrity:  {verdict}")?,
            None => writeln!(out, "integrity:  skipped (--quick)")?,
        }
        writeln!(out, "records:    {}", report.records)?;
        writeln!(out, "revisions:  {}", report.revisions)?;
        writeln!(out, "outbox:     {}", report.outbox)?;
        if report.problems.is_empty() {
            writeln!(out, "problems:   none")?;
        } else {
            writeln!(out, "problems:   {}", report.problems.len())?;
            for problem in &report.problems {
                writeln!(out, "  - {problem}")?;
            }
        }
        writeln!(out, "{}", if ok { "The store is sound." } else { "The store has problems (see above)." })?;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
