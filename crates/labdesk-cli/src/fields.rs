//! Turns the case flags of `create` and `edit` into the field map the core takes. No rule is
//! checked here: the core names every bad field itself.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use labdesk_core::{RecordKind, Store};
use serde_json::{Map, Value};

use crate::cli::CaseFieldArgs;

/// Case fields by name, and meta values to set once the case is written.
#[derive(Debug, Default)]
pub struct CaseInput {
    pub fields: Map<String, Value>,
    pub meta: BTreeMap<String, String>,
}

/// Reads a JSON object from a file, or from standard input for `-`.
pub fn read_json_object(path: &Path) -> Result<Map<String, Value>> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read JSON from standard input")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => bail!("{} does not hold a JSON object of case fields ({{\"patient_name\": ...}})", path.display()),
        Err(e) => bail!("{} is not valid JSON: {e}", path.display()),
    }
}

/// Builds the fields from `--from-json` (if given) and the flags over it. `current_author` is the
/// case's author info when editing, so that `--author-phone` alone keeps the name and address.
pub fn case_input(store: &Store, args: CaseFieldArgs, current_author: Option<Value>) -> Result<CaseInput> {
    let mut input = CaseInput::default();
    if let Some(path) = &args.from_json {
        input.fields = read_json_object(path)?;
        // The same shape as an import line: meta may come along with the case fields.
        match input.fields.remove("meta") {
            None | Some(Value::Null) => {}
            Some(Value::Object(meta)) => {
                for (key, value) in meta {
                    let text = match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    input.meta.insert(key, text);
                }
            }
            Some(_) => bail!("\"meta\" in {} must be an object of KEY: VALUE", path.display()),
        }
    }
    let fields = &mut input.fields;
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            fields.insert(name.to_owned(), Value::String(value));
        }
    };
    put("patient_name", args.patient);
    put("status", args.status);
    put("priority", args.priority);
    put("due_date", args.due);
    put("start_date", args.start);
    put("order_note", args.order_note);
    let strings = |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
    if !args.assignees.is_empty() {
        fields.insert("assignees".into(), strings(args.assignees));
    }
    if !args.invoices.is_empty() {
        fields.insert("invoice_ids".into(), strings(args.invoices));
    }
    if !args.services.is_empty() {
        fields.insert("services".into(), Value::Array(args.services));
    }
    if !args.links.is_empty() {
        fields.insert("links".into(), Value::Array(args.links));
    }
    if !args.aligners.is_empty() {
        fields.insert("aligners".into(), Value::Array(args.aligners));
    }
    let author_flags = [
        ("name", args.author_name),
        ("phone", args.author_phone),
        ("address", args.author_address),
        ("address_note", args.author_address_note),
    ];
    if author_flags.iter().any(|(_, v)| v.is_some()) {
        let mut author = match fields.remove("author_info").or(current_author) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (key, value) in author_flags {
            if let Some(value) = value {
                author.insert(key.to_owned(), Value::String(value));
            }
        }
        fields.insert("author_info".into(), Value::Object(author));
    }
    if let Some(parent) = args.parent {
        let id = store.case_id(&parent).with_context(|| format!("--parent {parent}"))?;
        fields.insert("parent_id".into(), Value::String(id.to_string()));
    }
    input.meta.extend(args.meta);
    Ok(input)
}

/// The flag of `create` and `edit` that sets a field the core names in an error, so a person is
/// told `--patient: is required`, not `patient_name`, which they never typed. A part of a list or
/// object keeps its path after the flag (`--aligner (aligners[0].from)`). `None` for a field no
/// flag sets (only `--set` does): its own name is the right one.
pub fn flag_for(kind: RecordKind, field: &str) -> Option<String> {
    if kind == RecordKind::CaseMeta {
        // A meta value's problem is named by its key: `--meta patient_age`.
        return Some(if matches!(field, "key" | "value") { "--meta".to_owned() } else { format!("--meta {field}") });
    }
    if kind != RecordKind::Case {
        return None;
    }
    let flag = match field {
        "author_info.name" => "--author-name",
        "author_info.phone" => "--author-phone",
        "author_info.address" => "--author-address",
        "author_info.address_note" => "--author-address-note",
        _ => match field.split(['[', '.']).next().unwrap_or(field) {
            "patient_name" => "--patient",
            "status" => "--status",
            "priority" => "--priority",
            "due_date" => "--due",
            "start_date" => "--start",
            "parent_id" => "--parent",
            "order_note" => "--order-note",
            "assignees" => "--assignee",
            "invoice_ids" => "--invoice",
            "services" => "--service",
            "links" => "--link",
            "aligners" => "--aligner",
            _ => return None,
        },
    };
    let whole = !field.contains(['[', '.']) || field.starts_with("author_info.");
    Some(if whole { flag.to_owned() } else { format!("{flag} ({field})") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_the_flag_that_sets_the_field() {
        assert_eq!(flag_for(RecordKind::Case, "patient_name").as_deref(), Some("--patient"));
        assert_eq!(flag_for(RecordKind::Case, "due_date").as_deref(), Some("--due"));
        assert_eq!(flag_for(RecordKind::Case, "author_info.phone").as_deref(), Some("--author-phone"));
        assert_eq!(flag_for(RecordKind::Case, "aligners[0].from").as_deref(), Some("--aligner (aligners[0].from)"));
        assert_eq!(flag_for(RecordKind::CaseMeta, "key").as_deref(), Some("--meta"));
        assert_eq!(flag_for(RecordKind::CaseMeta, "patient_age").as_deref(), Some("--meta patient_age"));
        assert_eq!(flag_for(RecordKind::Case, "colour"), None, "a field no flag sets keeps its name");
        assert_eq!(flag_for(RecordKind::CaseNote, "body"), None, "only the case form's flags are named");
    }
}
