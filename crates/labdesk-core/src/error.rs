//! The errors of the client core. Every message says what is wrong in words a person at the
//! lab can act on; a refused write has changed nothing.

use std::fmt;
use std::path::PathBuf;

use crate::RecordKind;

/// One problem with one field of a record being written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldError {
    /// The field, as the UI and the CLI name it (`due_date`, `aligners[0].from`, ...).
    pub field: String,
    /// What is wrong and, where it helps, what would be right.
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Every problem found with a write, so a form can mark all its bad fields at once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invalid {
    pub kind: RecordKind,
    pub problems: Vec<FieldError>,
    /// What was refused, when "the file was not saved" would not say which: an upload of several
    /// files names the ones refused (see [`Invalid::headline`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Invalid {
    /// The sentence a refusal starts with, before its field problems.
    pub fn headline(&self) -> String {
        self.summary.clone().unwrap_or_else(|| format!("the {} was not saved", self.kind.label()))
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.headline())?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            // An upload's problems start with the file's name: its index says nothing to a person.
            if problem.field.starts_with("files[") {
                f.write_str(&problem.problem)?;
            } else {
                write!(f, "{problem}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(Invalid),

    #[error("no {} matches '{key}'", kind.label())]
    NotFound { kind: RecordKind, key: String },

    #[error("case {case} has no meta value '{key}'{}", if known.is_empty() { String::new() } else { format!(" (its keys: {})", known.join(", ")) })]
    NoMetaKey { case: String, key: String, known: Vec<String> },

    #[error(
        "the {} {id} was changed since you opened it (you edited version {base}, it is now at version {current}); \
         reload it and make your change again",
        kind.label()
    )]
    StaleBase { kind: RecordKind, id: uuid::Uuid, base: u32, current: u32 },

    #[error("the {} {id} is deleted; it can be viewed but not changed", kind.label())]
    Deleted { kind: RecordKind, id: uuid::Uuid },

    #[error("only the sender of a chat message ({sender}) may {action} it")]
    NotSender { sender: String, action: &'static str },

    #[error("cannot open the LabDesk store at {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },

    #[error("cannot create the folder {} for the LabDesk store: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },

    #[error(
        "the store was written by a newer LabDesk (it has schema migration {found}, this program knows up to {known}); \
         update LabDesk on this workstation — the store was left untouched"
    )]
    SchemaTooNew { found: i64, known: i64 },

    #[error("the store's schema could not be brought up to date, and was left as it was: {0}")]
    Migration(String),

    /// Input that is not understood: an empty search, a stage that does not exist, ...
    #[error("{0}")]
    Input(String),

    #[error("nothing in this store has the id {0}: it is not a case, chat message, meta value, stage, note or file")]
    NoRecord(uuid::Uuid),

    #[error(
        "this store belongs to workstation {existing} and already holds its changes; it cannot become {requested}: \
         use --workstation {existing} with it, or set up {requested} in another data folder (labdesk --data DIR init \
         --workstation {requested})"
    )]
    WorkstationMismatch { existing: String, requested: String },

    #[error("'{0}' is not a workstation code: use 2 to 8 capital letters or digits, e.g. FD1")]
    BadWorkstationCode(String),

    #[error("the store is damaged or in use in a way it should not be: {0}")]
    Corrupt(String),

    #[error("local database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// Completing a stage while earlier stages are not completed: refused unless the person
    /// confirms (the CLI's `--force`, the desktop app's dialog).
    #[error(
        "{stage} of case {case} cannot be completed yet: {} before it {} not completed; \
         complete {} first, or confirm that {stage} is done out of order",
        list_stages(earlier),
        if earlier.len() == 1 { "is" } else { "are" },
        if earlier.len() == 1 { "it" } else { "them" }
    )]
    OutOfOrder { case: String, stage: crate::Stage, earlier: Vec<crate::Stage> },
}

fn list_stages(stages: &[crate::Stage]) -> String {
    let names: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<refinery::Error> for Error {
    /// refinery's message quotes the whole migration script; the cause alone is what helps.
    fn from(e: refinery::Error) -> Self {
        match e.kind() {
            refinery::error::Kind::Connection(_, cause) => Self::Migration(cause.to_string()),
            other => Self::Migration(other.to_string()),
        }
    }
}

impl Error {
    pub(crate) fn invalid(kind: RecordKind, problems: Vec<FieldError>) -> Self {
        Self::Invalid(Invalid { kind, problems, summary: None })
    }

    /// An upload refused: `problems` at `files[i]`, `names` the names of the upload's files in
    /// order. The headline names the files refused, and says the others were not attached either.
    pub(crate) fn refused_upload(problems: Vec<FieldError>, names: &[String]) -> Self {
        let refused: Vec<&str> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| problems.iter().any(|p| p.field == format!("files[{i}]")))
            .map(|(_, name)| name.as_str())
            .collect();
        let summary = match (refused.as_slice(), names.len()) {
            ([], _) => None,
            ([one], 1) => Some(format!("the file {one} was not attached")),
            (all, total) if all.len() == total => Some(format!("the files {} were not attached", and_list(all))),
            ([one], total) => Some(format!("{one} could not be attached, so none of the {total} files was")),
            (some, total) => {
                Some(format!("{} could not be attached, so none of the {total} files was", and_list(some)))
            }
        };
        Self::Invalid(Invalid { kind: RecordKind::File, problems, summary })
    }

    pub(crate) fn one(kind: RecordKind, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::invalid(kind, vec![FieldError::new(field, problem)])
    }

    /// The field problems, when this is a validation error (for forms that mark fields).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid(invalid) => &invalid.problems,
            _ => &[],
        }
    }
}
