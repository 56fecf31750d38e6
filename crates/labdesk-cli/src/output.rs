//! Printing: times, values, tables, and errors. Everything a person reads goes through here, so
//! the commands only decide what to show.

use std::io::{self, Write};

use labdesk_core::Timestamp;
use serde_json::Value;

/// A date as people read it, in UTC (the zone the store keeps and dates are typed in): the day
/// alone when the time is midnight, else the day and the minute.
pub fn date(at: Timestamp) -> String {
    let t = at.as_datetime();
    if t.format("%H:%M:%S%.3f").to_string() == "00:00:00.000" {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// A moment something happened, to the second, in UTC.
pub fn time(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn opt_date(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "—".to_owned(), date)
}

pub fn opt_time(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "—".to_owned(), time)
}

/// At most `max` characters, with an ellipsis when cut; line breaks shown as ⏎ so one value stays
/// on one line.
pub fn truncate(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c == '\n' {
                '⏎'
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// A JSON value as a person reads it: text without quotes, nothing as "(none)", the rest compact.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_owned(),
        Value::String(s) if s.is_empty() => "\"\"".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        other => other.to_string(),
    }
}

/// One changed field as lines a person can compare: when both sides are objects (author info),
/// only the parts that differ, as `author_info.phone`.
pub fn changed_parts(field: &str, before: &Value, after: &Value) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    collect_parts(field, before, after, &mut out);
    out
}

fn collect_parts(field: &str, before: &Value, after: &Value, out: &mut Vec<(String, Value, Value)>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for key in keys {
                let (bv, av) = (b.get(key).unwrap_or(&Value::Null), a.get(key).unwrap_or(&Value::Null));
                if bv != av {
                    collect_parts(&format!("{field}.{key}"), bv, av, out);
                }
            }
        }
        _ => out.push((field.to_owned(), before.clone(), after.clone())),
    }
}

/// A list of names, or a dash.
pub fn names(items: &[String]) -> String {
    if items.is_empty() {
        "—".to_owned()
    } else {
        items.join(", ")
    }
}

/// Writes rows as aligned columns, the header first. The last column is not padded.
pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            text.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count()) + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Prints an error for a person (`error: ...`, each field problem on its own line) or, with
/// `--json`, as `{"error": ..., "fields": [...]}`; both on stderr. `case_form`: the command was
/// `create` or `edit`, whose field problems name the flag that sets the field (`--patient`).
pub fn error(err: &anyhow::Error, json: bool, case_form: bool) {
    let (message, fields, kind) = match err.downcast_ref::<labdesk_core::Error>() {
        Some(labdesk_core::Error::Invalid(invalid)) => {
            let refused = invalid.headline();
            // With context ("case FD1-000001 was updated, but ..."), the context comes first.
            let message = if err.chain().count() > 1 { format!("{err}: {refused}") } else { refused };
            (message, invalid.problems.clone(), Some(invalid.kind))
        }
        _ => (format!("{err:#}"), Vec::new(), None),
    };
    let flag = |field: &str| kind.filter(|_| case_form).and_then(|kind| crate::fields::flag_for(kind, field));
    let mut stderr = io::stderr().lock();
    // If stderr itself is gone there is nowhere left to say so.
    let _ = if json {
        let fields: Vec<Value> = fields
            .iter()
            .map(|p| match flag(&p.field) {
                Some(flag) => serde_json::json!({"field": p.field, "flag": flag, "problem": p.problem}),
                None => serde_json::json!({"field": p.field, "problem": p.problem}),
            })
            .collect();
        let body = serde_json::json!({
            "error": format!("{err:#}"),
            "fields": fields,
        });
        writeln!(stderr, "{}", serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string()))
    } else if fields.is_empty() {
        writeln!(stderr, "error: {}", cut_long(&message))
    } else {
        let mut text = format!("error: {message}:");
        for problem in &fields {
            // An upload's problems start with the file's name; its index in the upload says
            // nothing to a person.
            if problem.field.starts_with("files[") {
                text.push_str(&format!("\n  {}", problem.problem));
            } else {
                let field = flag(&problem.field).unwrap_or_else(|| problem.field.clone());
                text.push_str(&format!("\n  {field}: {}", problem.problem));
            }
        }
        writeln!(stderr, "{text}")
    };
}

/// A count and its noun, in the singular or the plural as the count wants: `plural(1, "case")`
/// is "1 case", `plural(2, "case")` "2 cases". A noun whose plural is not the noun and an s, or
/// a noun with its verb, is given both ways as `singular|plural`: `plural(n, "record needs|records
/// need")`, `plural(n, "try|tries")`. Every count the CLI prints goes through here.
pub fn plural(n: u64, noun: &str) -> String {
    match noun.split_once('|') {
        Some((one, _)) if n == 1 => format!("1 {one}"),
        Some((_, many)) => format!("{n} {many}"),
        None if n == 1 => format!("1 {noun}"),
        None => format!("{n} {noun}s"),
    }
}

/// Some messages carry a whole SQL script (a failed schema migration); a person needs the start.
fn cut_long(message: &str) -> String {
    const MAX: usize = 1500;
    if message.chars().count() <= MAX {
        return message.to_owned();
    }
    let head: String = message.chars().take(MAX).collect();
    format!("{head}… (cut; run with --json for the whole message)")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn midnight_shows_as_a_day_and_other_times_to_the_minute() {
        assert_eq!(date(Timestamp::parse("2026-11-10").unwrap()), "2026-11-10");
        assert_eq!(date(Timestamp::parse("2026-11-10 17:05").unwrap()), "2026-11-10 17:05");
    }

    #[test]
    fn a_changed_object_shows_only_the_parts_that_differ() {
        let parts = changed_parts(
            "author_info",
            &serde_json::json!({"name": "Dr. Who", "phone": "1"}),
            &serde_json::json!({"name": "Dr. Who", "phone": "2"}),
        );
        assert_eq!(parts, vec![("author_info.phone".to_owned(), "1".into(), "2".into())]);
    }

    #[test]
    fn long_values_are_cut_with_an_ellipsis_and_kept_on_one_line() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("a\nb", 10), "a⏎b");
        assert_eq!(truncate("ok", 4), "ok");
    }

    #[test]
    fn a_count_of_one_takes_the_singular_and_others_the_plural() {
        assert_eq!(plural(1, "case"), "1 case");
        assert_eq!(plural(0, "case"), "0 cases");
        assert_eq!(plural(1, "record needs|records need"), "1 record needs");
        assert_eq!(plural(3, "try|tries"), "3 tries");
    }

    #[test]
    fn tables_align_columns_by_characters() {
        let mut out = Vec::new();
        table(&mut out, &["A", "B"], &[vec!["é".into(), "x".into()], vec!["long".into(), "y".into()]]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A     B\né     x\nlong  y\n");
    }
}
