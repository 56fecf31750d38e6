//! Turns the case flags of `create` and `edit`, and the `FIELD=VALUE` pairs of `labdesk records`,
//! into the field map the core takes. No rule is checked here: the core names every bad field
//! itself; here only text that cannot be the field's type at all is refused (`amount=lots`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use labdesk_core::{FieldError, FieldInfo, Invalid, KindInfo, RecordKind, Store};
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

/// The fields of a record of `kind` from `FIELD=VALUE` pairs as typed, each value read as its
/// field's declared type says (see [`typed_value`]). A pair that cannot be read, names no field
/// of the kind, repeats a field, or (`editing`) changes a field fixed at creation is a problem;
/// all of them are refused together, in the core's words, so a person sees every one at once.
pub fn record_fields(
    store: &Store,
    kind: RecordKind,
    pairs: &[(String, String)],
    editing: bool,
) -> Result<Map<String, Value>> {
    let info = KindInfo::of(kind);
    let mut fields = Map::new();
    let mut problems = Vec::new();
    for (name, text) in pairs {
        let Some(field) = info.fields.iter().find(|f| &f.name == name) else {
            let names: Vec<&str> =
                info.fields.iter().filter(|f| !(f.hidden || (editing && f.fixed))).map(|f| f.name.as_str()).collect();
            problems.push(FieldError::new(name, format!("is not a field; the fields are: {}", names.join(", "))));
            continue;
        };
        if fields.contains_key(name) || problems.iter().any(|p| &p.field == name) {
            problems.push(FieldError::new(name, "is given twice: give each field once"));
            continue;
        }
        if editing && field.fixed {
            problems.push(FieldError::new(name, "is set when the record is created and cannot be changed"));
            continue;
        }
        match typed_value(store, kind, field, text) {
            Ok(value) => {
                fields.insert(name.clone(), value);
            }
            Err(problem) => problems.push(FieldError::new(name, problem)),
        }
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(labdesk_core::Error::Invalid(Invalid { kind, problems, summary: None }).into())
    }
}

/// The `--where FIELD=VALUE` filters of a list, as the store compares them: the text of the
/// value as it is stored (a bool as 1 or 0, money in cents, a case by its id). A field the kind
/// does not have is passed on as typed, for the core to name the fields there are.
pub fn filter_fields(store: &Store, kind: RecordKind, pairs: &[(String, String)]) -> Result<BTreeMap<String, String>> {
    let info = KindInfo::of(kind);
    let mut out = BTreeMap::new();
    for (name, text) in pairs {
        let Some(field) = info.fields.iter().find(|f| &f.name == name) else {
            out.insert(name.clone(), text.clone());
            continue;
        };
        let value =
            typed_value(store, kind, field, text).map_err(|problem| anyhow::anyhow!("--where {name}: {problem}"))?;
        let stored = match value {
            Value::String(s) => s,
            Value::Bool(b) => u8::from(b).to_string(),
            Value::Null => bail!("--where {name}= matches nothing: give the value to look for"),
            other => other.to_string(),
        };
        if out.insert(name.clone(), stored).is_some() {
            bail!("--where {name} is given twice: a field has one value");
        }
    }
    Ok(out)
}

/// `text` as a value of `field`: an empty text empties the field (null); an integer is a whole
/// number; money an amount with at most two decimals (`12.50`, `12`), kept in cents; a bool
/// true/false, yes/no or 1/0; a text list `a,b,c` or a JSON list; json JSON; the case a record
/// belongs to (`case_id`) its number or UUID; every other type the text itself, which the core
/// checks (dates, times, choices, lengths).
pub fn typed_value(store: &Store, kind: RecordKind, field: &FieldInfo, text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Value::Null);
    }
    // The type's name as `KindInfo` gives it (the declaration's `FieldType`, as plain data).
    Ok(match field.kind.as_str() {
        "integer" => {
            Value::from(trimmed.parse::<i64>().map_err(|_| format!("must be a whole number, not '{trimmed}'"))?)
        }
        "money" => Value::from(cents(trimmed)?),
        "bool" => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => return Err(format!("must be true or false (or yes/no, 1/0), not '{trimmed}'")),
        },
        "text_list" if trimmed.starts_with('[') => match serde_json::from_str::<Value>(trimmed) {
            Ok(list @ Value::Array(_)) => list,
            _ => return Err(format!("must be a,b,c or a JSON list of texts such as [\"a\",\"b\"], not '{trimmed}'")),
        },
        "text_list" => Value::Array(
            trimmed.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        ),
        "json" => serde_json::from_str(trimmed).map_err(|e| format!("must be JSON ({e})"))?,
        "id" if field.name == "case_id" && kind.decl().owner_field() == Some("case_id") => {
            let id = store.case_id(trimmed).map_err(|_| format!("names no case on this workstation: '{trimmed}'"))?;
            Value::String(id.to_string())
        }
        // text, long_text, date, time, id, choice: the core checks and trims them.
        _ => Value::String(text.to_owned()),
    })
}

/// An amount as people write it (`12.50`, `12`, `-3.5`) in cents (`1250`, `1200`, `-350`).
fn cents(text: &str) -> Result<i64, String> {
    let wrong = || format!("must be an amount such as 12.50 (at most two decimals, a dot before them), not '{text}'");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
        return Err(wrong());
    }
    let fraction = format!("{fraction:0<2}");
    let amount = whole
        .parse::<i64>()
        .ok()
        .and_then(|w| w.checked_mul(100))
        .and_then(|w| w.checked_add(fraction.parse::<i64>().unwrap_or(0)))
        .ok_or_else(|| format!("is too large an amount: '{text}'"))?;
    Ok(if negative { -amount } else { amount })
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

    /// A field of a type no declared kind has yet (a lab setting's are all text).
    fn field(name: &str, kind: &str) -> FieldInfo {
        FieldInfo {
            name: name.to_owned(),
            label: name.to_owned(),
            kind: kind.to_owned(),
            max_length: None,
            choices: Vec::new(),
            required: false,
            fixed: false,
            hidden: false,
            help: String::new(),
        }
    }

    #[test]
    fn a_value_is_read_as_its_fields_declared_type_and_a_bad_one_says_what_it_must_be() {
        let dir = tempfile::tempdir().unwrap();
        let options = labdesk_core::OpenOptions { workstation: Some("FD1".into()), user: Some("ann".into()) };
        let store = Store::open(dir.path(), options).unwrap();
        let read = |kind: &str, text: &str| typed_value(&store, RecordKind::Setting, &field("f", kind), text);
        assert_eq!(read("integer", " 42 "), Ok(Value::from(42)));
        assert!(read("integer", "4.2").unwrap_err().contains("must be a whole number"));
        assert_eq!(read("money", "12.50"), Ok(Value::from(1250)), "money is typed as an amount, kept in cents");
        assert_eq!(read("bool", "Yes"), Ok(Value::Bool(true)));
        assert_eq!(read("bool", "0"), Ok(Value::Bool(false)));
        assert!(read("bool", "maybe").unwrap_err().contains("true or false"));
        assert_eq!(read("text_list", "a, b,,c"), Ok(serde_json::json!(["a", "b", "c"])));
        assert_eq!(read("text_list", r#"["a,b"]"#), Ok(serde_json::json!(["a,b"])), "a JSON list keeps commas");
        assert!(read("text_list", "[1").is_err());
        assert_eq!(read("json", r#"{"a": 1}"#), Ok(serde_json::json!({"a": 1})));
        assert!(read("json", "{a").unwrap_err().starts_with("must be JSON"));
        assert_eq!(read("text", " kept as typed "), Ok(Value::from(" kept as typed ")), "the core trims");
        for kind in ["text", "integer", "money", "bool", "text_list", "json"] {
            assert_eq!(read(kind, ""), Ok(Value::Null), "an empty value empties a {kind} field");
        }
    }

    #[test]
    fn every_problem_of_a_set_of_pairs_is_refused_at_once_in_the_cores_words() {
        let dir = tempfile::tempdir().unwrap();
        let options = labdesk_core::OpenOptions { workstation: Some("FD1".into()), user: Some("ann".into()) };
        let store = Store::open(dir.path(), options).unwrap();
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let made = record_fields(&store, RecordKind::Setting, &pairs(&[("key", "k"), ("value", "v")]), false).unwrap();
        assert_eq!(Value::Object(made), serde_json::json!({"key": "k", "value": "v"}));
        let err =
            record_fields(&store, RecordKind::Setting, &pairs(&[("key", "k"), ("value", "1"), ("value", "2")]), true)
                .unwrap_err();
        let Some(labdesk_core::Error::Invalid(invalid)) = err.downcast_ref::<labdesk_core::Error>() else {
            panic!("a field error, as the core's: {err}")
        };
        let named: Vec<(&str, &str)> =
            invalid.problems.iter().map(|p| (p.field.as_str(), p.problem.as_str())).collect();
        assert_eq!(
            named,
            [
                ("key", "is set when the record is created and cannot be changed"),
                ("value", "is given twice: give each field once")
            ]
        );
    }

    #[test]
    fn an_amount_is_read_with_at_most_two_decimals_into_cents() {
        assert_eq!(cents("12.50"), Ok(1250));
        assert_eq!(cents("12.5"), Ok(1250), "one decimal is tenths");
        assert_eq!(cents("12"), Ok(1200), "a whole amount is not taken as cents");
        assert_eq!(cents("-3.07"), Ok(-307));
        assert_eq!(cents("0.99"), Ok(99));
        for bad in ["12,50", "12.505", ".5", "twelve", "1.2.3", "--1"] {
            assert!(cents(bad).is_err(), "{bad} is not an amount");
        }
        assert!(cents("99999999999999999999").unwrap_err().contains("too large"));
    }
}
