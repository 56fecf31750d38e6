//! Checks shared by several record kinds. Limits are generous for real use and small enough that
//! a runaway script or a pasted file cannot bloat every workstation's store.

use rusqlite::{params, Connection};
use uuid::Uuid;

use crate::error::{FieldError, Result};
use crate::record::query_opt;

/// Short names: people, statuses, keys.
pub const SHORT_TEXT: usize = 200;
/// Notes, chat messages, meta values.
pub const LONG_TEXT: usize = 20_000;

/// `value` is at most `max` characters.
pub fn max_len(problems: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    let len = value.chars().count();
    if len > max {
        problems.push(FieldError::new(field, format!("is {len} characters long; at most {max} are allowed")));
    }
}

/// `value` is not blank and at most `max` characters.
pub fn required(problems: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        problems.push(FieldError::new(field, "is required"));
    } else {
        max_len(problems, field, value, max);
    }
}

/// Trims in place.
pub fn trim(value: &mut String) {
    let trimmed = value.trim();
    if trimmed.len() != value.len() {
        *value = trimmed.to_owned();
    }
}

/// Trims every item, drops blanks and repeats, keeps first-seen order.
pub fn normalize_set(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain_mut(|item| {
        trim(item);
        !item.is_empty() && seen.insert(item.clone())
    });
}

/// The case `case_id` exists and is not deleted: what every record attached to a case needs.
pub fn live_case(problems: &mut Vec<FieldError>, conn: &Connection, field: &str, case_id: Uuid) -> Result<()> {
    let deleted: Option<Option<String>> =
        query_opt(conn, "SELECT deleted_at FROM cases WHERE id = ?1", params![case_id.to_string()])?;
    match deleted {
        None => problems.push(FieldError::new(field, format!("there is no case {case_id}"))),
        Some(Some(_)) => problems.push(FieldError::new(field, "the case is deleted; restore it first")),
        Some(None) => {}
    }
    Ok(())
}
