//! The command line: every option and subcommand, as clap types. Values that have a fixed shape
//! (`--service`, `--link`, `--aligner`, `KEY=VALUE`, dates for filters, ids) are parsed here, so a
//! mistyped one is a usage error that names the option.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use labdesk_core::{CaseSort, MessageType, RecordKind, Stage, Timestamp};
use serde_json::{json, Map, Value};
use uuid::Uuid;

const DATE_HELP: &str =
    "Dates: YYYY-MM-DD, \"YYYY-MM-DD HH:MM\" (both taken as UTC) or RFC 3339 (2026-11-21T09:30:00+01:00).";

/// labdesk — the LabDesk case desk from the command line.
///
/// Works on this workstation's local store, with or without a network: every change is kept with
/// who made it and waits in the outbox until it is sent.
#[derive(Debug, Parser)]
#[command(name = "labdesk", version, after_help = DATE_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The data folder holding the store [default: $XDG_DATA_HOME/labdesk, else ~/.local/share/labdesk]
    #[arg(long, global = true, help_heading = "Global options", env = "LABDESK_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Who changes are recorded as made by [default: the store's default user, else $USER]
    #[arg(long, global = true, help_heading = "Global options", env = "LABDESK_USER", value_name = "NAME")]
    pub user: Option<String>,

    /// The workstation code a new store is set up with: 2 to 8 capitals or digits, e.g. FD1
    #[arg(long, global = true, help_heading = "Global options", env = "LABDESK_WORKSTATION", value_name = "CODE")]
    pub workstation: Option<String>,

    /// Print machine-readable JSON instead of text (errors too, on stderr)
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up (or open) the store in the data folder and record the default user
    Init,
    /// Take in a new case
    #[command(after_help = DATE_HELP)]
    Create(CreateArgs),
    /// Change fields of a case
    #[command(after_help = DATE_HELP)]
    Edit(EditArgs),
    /// Show a case with everything attached to it
    Show(CaseArg),
    /// List cases, with filters, sorting and pages
    #[command(after_help = DATE_HELP)]
    List(ListArgs),
    /// Search cases by number, patient, services, meta, notes, chat, stage notes and file names
    Search(SearchArgs),
    /// Delete a case (it is kept in history and can be restored)
    Delete(CaseArg),
    /// Bring back a deleted case
    Restore(CaseArg),
    /// The lab's own key/value facts about a case
    #[command(subcommand)]
    Meta(MetaCommand),
    /// Chat on a case
    #[command(subcommand)]
    Chat(ChatCommand),
    /// Move one workflow stage of a case: start, complete, block, hold, reset, assign or notes
    Stage(StageArgs),
    /// Show the seven workflow stages of a case
    Stages(CaseArg),
    /// Notes on a case
    #[command(subcommand)]
    Note(NoteCommand),
    /// Who changed what and when, for a case or any record
    History(HistoryArgs),
    /// Changes made here that wait to be sent
    Outbox(OutboxArgs),
    /// Check the store's consistency (exit status 1 if anything is wrong)
    Check(CheckArgs),
    /// Import cases from JSON Lines: one case per line, with optional meta, notes and chat
    Import(ImportArgs),
    /// Sign this workstation in to the lab's sync server (keeps the address and the token)
    Login(LoginArgs),
    /// Send the outbox to the sync server and receive everyone else's changes (exit status 1 if
    /// the server could not be reached: nothing is lost, the changes wait in the outbox)
    Sync(SyncArgs),
    /// Records that need review: fields two people changed to different values
    Conflicts,
    /// Settle a record's conflicts by picking each disputed field's value
    Resolve(ResolveArgs),
    /// Changes the sync server refused, with its reasons
    Rejected,
    /// Attach files from disk to a case (scans, photos, documents: the lab's formats, at most 15
    /// files of 200 MB each); their contents go to the sync server with the next sync
    Attach(AttachArgs),
    /// Download the contents of a case's files attached on other workstations (from the sync
    /// server; they are fetched when needed, not with every sync)
    Fetch(CaseArg),
    /// List a case's files: name, size, id, and whether their contents are on this workstation
    Files(CaseArg),
    /// One file of a case, by its id (as `labdesk files CASE` shows): remove it, or save its contents
    #[command(subcommand)]
    File(FileCommand),
    /// Records of any kind by name (`labdesk records` lists the kinds): list, show and history of
    /// every kind; create, edit, delete and restore of the kinds with no commands of their own
    /// (lab settings)
    Records(RecordsArgs),
}

const RECORD_VALUES_HELP: &str = "Values are text, read as the field's type says (`labdesk records --json` lists \
the fields and their types): integer: a whole number; money: an amount with at most two decimals, 12.50 or 12 \
(stored in cents: 1250, 1200); bool: true/false, yes/no or 1/0; text_list: a,b,c or a JSON list [\"a\",\"b\"]; \
json: JSON; time: a date and time (2026-11-21 09:30, UTC); a case_id: the case's number or UUID. An empty value \
(field=) empties the field.";

#[derive(Debug, Args)]
#[command(
    override_usage = "labdesk records                 (the kinds)\n       labdesk records KIND [COMMAND]  (without COMMAND: list)",
    after_help = RECORD_VALUES_HELP
)]
pub struct RecordsArgs {
    /// The kind of record, by its name as `labdesk records` lists them (setting, case, case_note, ...)
    #[arg(value_name = "KIND", value_parser = parse_kind)]
    pub kind: Option<RecordKind>,
    /// What to do; without it, `list`
    #[command(subcommand)]
    pub action: Option<RecordAction>,
}

#[derive(Debug, Subcommand)]
pub enum RecordAction {
    /// List the records of the kind, most recently changed first
    #[command(override_usage = "labdesk records KIND list [OPTIONS]")]
    List(RecordListArgs),
    /// Show one record: every field and its bookkeeping
    #[command(override_usage = "labdesk records KIND show ID")]
    Show(RecordIdArg),
    /// Make a record from FIELD=VALUE pairs (for the kinds with no commands of their own)
    #[command(override_usage = "labdesk records KIND create FIELD=VALUE...", after_help = RECORD_VALUES_HELP)]
    Create {
        /// A field's value, e.g. key=opening_hours "value=8-17" (repeat for each field)
        #[arg(value_name = "FIELD=VALUE", value_parser = parse_field_value)]
        fields: Vec<(String, String)>,
    },
    /// Change fields of a record
    #[command(
        override_usage = "labdesk records KIND edit ID FIELD=VALUE... [--base-version N]",
        after_help = RECORD_VALUES_HELP
    )]
    Edit {
        /// The record: its short id (as lists show) or its UUID
        #[arg(value_name = "ID", value_parser = parse_any_record_id)]
        id: String,
        /// A field's new value, e.g. "value=7-18" (repeat for each field; field= empties it)
        #[arg(value_name = "FIELD=VALUE", value_parser = parse_field_value, required = true)]
        fields: Vec<(String, String)>,
        /// Refuse the change if the record is no longer at this version
        #[arg(long, value_name = "N")]
        base_version: Option<u32>,
    },
    /// Delete a record (it stays in history and can be restored)
    #[command(override_usage = "labdesk records KIND delete ID [--base-version N]")]
    Delete(RecordWriteArg),
    /// Bring back a deleted record as it was
    #[command(override_usage = "labdesk records KIND restore ID [--base-version N]")]
    Restore(RecordWriteArg),
    /// Who changed what and when, for one record
    #[command(override_usage = "labdesk records KIND history ID")]
    History(RecordIdArg),
}

#[derive(Debug, Args)]
pub struct RecordListArgs {
    /// Only records with all these words in their shown text fields (any case)
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only records whose FIELD has exactly this value (repeat: all must hold)
    #[arg(long = "where", value_name = "FIELD=VALUE", value_parser = parse_field_value)]
    pub filters: Vec<(String, String)>,
    /// Include deleted records
    #[arg(long)]
    pub deleted: bool,
    /// At most this many (1 to 5000)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct RecordIdArg {
    /// The record: its short id (as lists show) or its UUID
    #[arg(value_name = "ID", value_parser = parse_any_record_id)]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RecordWriteArg {
    /// The record: its short id (as lists show) or its UUID
    #[arg(value_name = "ID", value_parser = parse_any_record_id)]
    pub id: String,
    /// Refuse the change if the record is no longer at this version
    #[arg(long, value_name = "N")]
    pub base_version: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Take a file off its case (it stays in history; its contents stay while any record names them)
    #[command(visible_alias = "detach")]
    Remove {
        #[arg(value_name = "FILE_ID", value_parser = parse_file_id)]
        id: String,
    },
    /// Save a file's contents under its original name (downloaded from the sync server first if
    /// the file was attached on another workstation); an existing file there is never overwritten
    Save {
        #[arg(value_name = "FILE_ID", value_parser = parse_file_id)]
        id: String,
        /// The folder to save it in
        #[arg(long, value_name = "DIR", default_value = ".")]
        to: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The case: its number (FD1-000042) or UUID
    #[arg(value_name = "CASE")]
    pub case: String,
    /// The files to attach
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The sync server's address, e.g. https://sync.lab.example
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// This workstation's sign-in token, as the lab's IT gave it ("-" reads it from standard input)
    #[arg(long, value_name = "TOKEN", env = "LABDESK_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Try the server with the token first, and keep nothing if that fails
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Keep syncing: as soon as the server has news or a change is made here, until interrupted
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The record: a case number or UUID for the case itself, or the short id or UUID of an attached record
    /// (as `labdesk conflicts` shows)
    #[arg(value_name = "RECORD")]
    pub record: String,
    /// A disputed field's value: FIELD=kept, FIELD=proposed, or FIELD=VALUE (JSON if it parses
    /// as JSON, else text); one for each disputed field
    #[arg(long = "pick", value_name = "FIELD=kept|proposed|VALUE", value_parser = parse_pick, required = true)]
    pub picks: Vec<(String, Pick)>,
}

/// A picked value for a disputed field.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    /// The value that was kept (accepted first).
    Kept,
    /// The value the conflicted change proposed.
    Proposed,
    /// A value of one's own.
    Value(Value),
}

#[derive(Debug, Args)]
pub struct CaseArg {
    /// The case: its number (FD1-000042) or UUID
    #[arg(value_name = "CASE")]
    pub case: String,
}

/// The case fields that intake and editing share. In `edit`, a list flag (--assignee, --service,
/// ...) replaces the whole list.
#[derive(Debug, Args, Default)]
pub struct CaseFieldArgs {
    /// The patient's name
    #[arg(long, value_name = "NAME")]
    pub patient: Option<String>,
    /// Status, free text (suggested: received, processing, designing, milling, qc, ready, delivered, cancelled, on_hold)
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Priority, free text (suggested: low, medium, high, rush, emergency)
    #[arg(long, value_name = "P")]
    pub priority: Option<String>,
    /// Due date
    #[arg(long, value_name = "DATE")]
    pub due: Option<String>,
    /// Start date
    #[arg(long, value_name = "DATE")]
    pub start: Option<String>,
    /// The parent case (number or UUID)
    #[arg(long, value_name = "CASE")]
    pub parent: Option<String>,
    /// The order note
    #[arg(long, value_name = "TEXT")]
    pub order_note: Option<String>,
    /// Someone working on the case (repeat for several)
    #[arg(long = "assignee", value_name = "USER")]
    pub assignees: Vec<String>,
    /// An invoice id (repeat for several)
    #[arg(long = "invoice", value_name = "ID")]
    pub invoices: Vec<String>,
    /// A service ordered: TYPE[:SUB1,SUB2[:EXTRA1,EXTRA2]], e.g. crown:zirconia,layered:shade A2 (repeatable)
    #[arg(long = "service", value_name = "SERVICE", value_parser = parse_service)]
    pub services: Vec<Value>,
    /// A link: "TITLE|URL[|SOURCE]" (repeatable)
    #[arg(long = "link", value_name = "LINK", value_parser = parse_link)]
    pub links: Vec<Value>,
    /// The ordering author's name
    #[arg(long, value_name = "NAME")]
    pub author_name: Option<String>,
    /// The ordering author's phone
    #[arg(long, value_name = "PHONE")]
    pub author_phone: Option<String>,
    /// The ordering author's address
    #[arg(long, value_name = "ADDRESS")]
    pub author_address: Option<String>,
    /// A note on the author's address (e.g. "back door")
    #[arg(long, value_name = "TEXT")]
    pub author_address_note: Option<String>,
    /// An aligner series: count=20,stage=3,from=1,to=6[,date=2026-11-02] (repeatable)
    #[arg(long = "aligner", value_name = "ALIGNER", value_parser = parse_aligner)]
    pub aligners: Vec<Value>,
    /// A meta value to set on the case: KEY=VALUE (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub meta: Vec<(String, String)>,
    /// Read case fields from a JSON object in FILE ("-" for standard input); flags override it
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub fields: CaseFieldArgs,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The case: its number (FD1-000042) or UUID
    #[arg(value_name = "CASE")]
    pub case: String,
    /// Refuse the change if the case is no longer at this version
    #[arg(long, value_name = "N")]
    pub base_version: Option<u32>,
    #[command(flatten)]
    pub fields: CaseFieldArgs,
    /// Set any case field: FIELD=VALUE, VALUE read as JSON if it is JSON, else as text (repeatable)
    #[arg(long = "set", value_name = "FIELD=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, Value)>,
    /// Empty a field, e.g. --clear due_date (repeatable)
    #[arg(long = "clear", value_name = "FIELD")]
    pub clear: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    Due,
    Number,
    Created,
    Updated,
    Priority,
    Status,
    Patient,
}

impl From<SortKey> for CaseSort {
    fn from(key: SortKey) -> Self {
        match key {
            SortKey::Due => CaseSort::DueDate,
            SortKey::Number => CaseSort::CaseNumber,
            SortKey::Created => CaseSort::CreatedAt,
            SortKey::Updated => CaseSort::UpdatedAt,
            SortKey::Priority => CaseSort::Priority,
            SortKey::Status => CaseSort::Status,
            SortKey::Patient => CaseSort::PatientName,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only cases with this status (repeat for any of several)
    #[arg(long = "status", value_name = "S")]
    pub statuses: Vec<String>,
    /// Only cases with this priority (repeat for any of several)
    #[arg(long = "priority", value_name = "P")]
    pub priorities: Vec<String>,
    /// Only cases due on or after this date
    #[arg(long, value_name = "DATE", value_parser = parse_timestamp)]
    pub due_from: Option<Timestamp>,
    /// Only cases due on or before this date
    #[arg(long, value_name = "DATE", value_parser = parse_timestamp)]
    pub due_to: Option<Timestamp>,
    /// Only cases assigned to this user
    #[arg(long, value_name = "USER")]
    pub assignee: Option<String>,
    /// Only the children of this case (number or UUID)
    #[arg(long, value_name = "CASE")]
    pub parent: Option<String>,
    /// Only cases past their due date and not delivered or cancelled
    #[arg(long)]
    pub overdue: bool,
    /// Include deleted cases
    #[arg(long)]
    pub deleted: bool,
    /// Sort by
    #[arg(long, value_enum, default_value = "due")]
    pub sort: SortKey,
    /// Sort in descending order
    #[arg(long)]
    pub desc: bool,
    /// Cases per page (1 to 500)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Which page, from 1
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for: every word must match (a word's start is enough)
    #[arg(value_name = "WORDS", required = true, num_args = 1..)]
    pub words: Vec<String>,
    /// At most this many cases (1 to 200)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum MetaCommand {
    /// Set KEY to VALUE on a case
    Set {
        #[arg(value_name = "CASE")]
        case: String,
        #[arg(value_name = "KEY")]
        key: String,
        #[arg(value_name = "VALUE")]
        value: String,
    },
    /// Unset KEY on a case (its past values stay in history)
    Unset {
        #[arg(value_name = "CASE")]
        case: String,
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// List a case's meta values
    List {
        #[arg(value_name = "CASE")]
        case: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageKind {
    Text,
    File,
    Image,
    Voice,
    Mixed,
    System,
}

impl From<MessageKind> for MessageType {
    fn from(kind: MessageKind) -> Self {
        match kind {
            MessageKind::Text => MessageType::Text,
            MessageKind::File => MessageType::File,
            MessageKind::Image => MessageType::Image,
            MessageKind::Voice => MessageType::Voice,
            MessageKind::Mixed => MessageType::Mixed,
            MessageKind::System => MessageType::System,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ChatCommand {
    /// Post a message on a case (prints the message id)
    Post {
        #[arg(value_name = "CASE")]
        case: String,
        #[arg(value_name = "TEXT")]
        text: String,
        /// The kind of message
        #[arg(long = "type", value_enum, default_value = "text")]
        message_type: MessageKind,
        /// The message this one replies to
        #[arg(long, value_name = "MSG_ID", value_parser = parse_message_id)]
        reply_to: Option<String>,
        /// The message this one belongs under (a thread)
        #[arg(long, value_name = "MSG_ID", value_parser = parse_message_id)]
        parent: Option<String>,
        /// What the message is for (free text, e.g. "approval")
        #[arg(long, value_name = "P")]
        purpose: Option<String>,
        /// Files from disk to send with the message: they become the case's files too, all of
        /// them with the message or none
        #[arg(long = "attach", value_name = "FILE", num_args = 1..)]
        attach: Vec<PathBuf>,
    },
    /// Change the text of a message you sent
    Edit {
        #[arg(value_name = "MSG_ID", value_parser = parse_message_id)]
        id: String,
        #[arg(value_name = "TEXT")]
        text: String,
        /// Refuse the change if the message is no longer at this version
        #[arg(long, value_name = "N")]
        base_version: Option<u32>,
    },
    /// React to a message with an emoji (or take the reaction back with --remove)
    React {
        #[arg(value_name = "MSG_ID", value_parser = parse_message_id)]
        id: String,
        #[arg(value_name = "EMOJI")]
        emoji: String,
        /// Take your reaction back
        #[arg(long)]
        remove: bool,
    },
    /// Delete a message you sent (it stays in history)
    Delete {
        #[arg(value_name = "MSG_ID", value_parser = parse_message_id)]
        id: String,
    },
    /// Mark a message read
    Read {
        #[arg(value_name = "MSG_ID", value_parser = parse_message_id)]
        id: String,
    },
    /// Show a case's chat, oldest first
    List {
        #[arg(value_name = "CASE")]
        case: String,
    },
    /// Send again a message of yours that the lab's server refused (listed as failed)
    Retry {
        #[arg(value_name = "MSG_ID", value_parser = parse_message_id)]
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StageVerb {
    /// Begin work on the stage
    Start,
    /// Finish the stage
    Complete,
    /// Mark the stage blocked
    Block,
    /// Put the stage on hold
    Hold,
    /// Back to pending, times cleared
    Reset,
    /// Give the stage to USER (or to nobody, without USER)
    Assign,
    /// Replace the stage's notes with TEXT
    Notes,
}

#[derive(Debug, Args)]
pub struct StageArgs {
    /// The case: its number (FD1-000042) or UUID
    #[arg(value_name = "CASE")]
    pub case: String,
    /// The stage: receiving, impression_scan, design, milling, sintering, quality_control (qc), delivery
    #[arg(value_name = "STAGE", value_parser = parse_stage)]
    pub stage: Stage,
    /// What to do
    #[arg(value_name = "ACTION", value_enum)]
    pub action: StageVerb,
    /// The user for `assign`, the text for `notes`
    #[arg(value_name = "ARG")]
    pub arg: Option<String>,
    /// Refuse the change if the stage is no longer at this version (0: never touched)
    #[arg(long, value_name = "N")]
    pub base_version: Option<u32>,
    /// Complete the stage although earlier stages are not completed (the work was done out of order)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum NoteCommand {
    /// Add a note to a case
    Add {
        #[arg(value_name = "CASE")]
        case: String,
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// List a case's notes, oldest first
    List {
        #[arg(value_name = "CASE")]
        case: String,
    },
    /// Replace the text of a note (its id as `labdesk note list CASE` shows)
    Edit {
        #[arg(value_name = "NOTE_ID", value_parser = parse_note_id)]
        id: String,
        #[arg(value_name = "TEXT")]
        text: String,
        /// Refuse the change if the note is no longer at this version
        #[arg(long, value_name = "N")]
        base_version: Option<u32>,
    },
    /// Delete a note (it stays in history)
    Delete {
        #[arg(value_name = "NOTE_ID", value_parser = parse_note_id)]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A case (number or UUID), or any record by its short id or UUID (a message, a meta value, a stage, ...)
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// For a case: also the history of everything attached to it
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// Show at most this many changes
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip SQLite's full integrity check (which reads the whole file)
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The JSON Lines file ("-" for standard input)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Cases per transaction
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
}

// ----- value parsers -----

fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).map_err(|e| e.to_string())
}

fn parse_stage(text: &str) -> Result<Stage, String> {
    text.parse::<Stage>().map_err(|e| e.to_string())
}

/// A record's id as a person gives it: its short id (the end of its UUID, as lists show) or the
/// whole UUID; the store finds the record. `what` and `listed_by` make the error say where to look.
fn parse_record_id(text: &str, what: &str, listed_by: &str) -> Result<String, String> {
    let text = text.trim();
    let short = (4..32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
    if short || Uuid::parse_str(text).is_ok() {
        Ok(text.to_owned())
    } else {
        Err(format!("'{text}' is not a {what} id (its short id or UUID, as `{listed_by}` shows)"))
    }
}

fn parse_message_id(text: &str) -> Result<String, String> {
    parse_record_id(text, "message", "labdesk chat list CASE")
}

fn parse_note_id(text: &str) -> Result<String, String> {
    parse_record_id(text, "note", "labdesk note list CASE")
}

fn parse_file_id(text: &str) -> Result<String, String> {
    parse_record_id(text, "file", "labdesk files CASE")
}

fn parse_any_record_id(text: &str) -> Result<String, String> {
    parse_record_id(text, "record", "labdesk records KIND list")
}

/// A kind's name as `labdesk records` lists it; `-` for `_` and the plural's `s` are taken too
/// (`case-notes`).
fn parse_kind(text: &str) -> Result<RecordKind, String> {
    let name = text.trim().to_ascii_lowercase().replace('-', "_");
    let singular = name.strip_suffix('s').unwrap_or(&name);
    name.parse::<RecordKind>().or_else(|_| singular.parse()).map_err(|_| {
        // The proto's own sentence names every kind.
        text.trim().parse::<RecordKind>().err().map_or_else(String::new, |e| e.to_string())
    })
}

/// `FIELD=VALUE`, the value as typed (the kind's declaration says what it becomes).
fn parse_field_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((field, value)) if !field.trim().is_empty() => Ok((field.trim().to_owned(), value.to_owned())),
        _ => Err(format!("'{text}' is not FIELD=VALUE, e.g. key=opening_hours or \"value=8-17\"")),
    }
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("'{text}' is not KEY=VALUE, e.g. patient_age=42")),
    }
}

/// `FIELD=VALUE`; the value is JSON when it parses as JSON, else text.
fn parse_set(text: &str) -> Result<(String, Value), String> {
    match text.split_once('=') {
        Some((field, value)) if !field.trim().is_empty() => {
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
            Ok((field.trim().to_owned(), value))
        }
        _ => Err(format!("'{text}' is not FIELD=VALUE, e.g. status=milling or assignees='[\"bob\"]'")),
    }
}

/// `FIELD=kept`, `FIELD=proposed` or `FIELD=VALUE` (JSON if it parses, else text; the text
/// "kept" itself is written as JSON: `status='"kept"'`).
fn parse_pick(text: &str) -> Result<(String, Pick), String> {
    let (field, value) = parse_set(text)
        .map_err(|_| format!("'{text}' is not FIELD=kept, FIELD=proposed or FIELD=VALUE, e.g. status=kept"))?;
    let raw = text.split_once('=').map(|(_, v)| v.trim()).unwrap_or_default();
    Ok(match raw {
        "kept" => (field, Pick::Kept),
        "proposed" => (field, Pick::Proposed),
        _ => (field, Pick::Value(value)),
    })
}

fn comma_list(text: &str) -> Vec<Value> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect()
}

/// `TYPE[:SUB1,SUB2[:EXTRA1,EXTRA2]]`.
fn parse_service(text: &str) -> Result<Value, String> {
    let mut parts = text.splitn(3, ':');
    let service_type = parts.next().unwrap_or_default().trim();
    if service_type.is_empty() {
        return Err(format!("'{text}' has no service type; use TYPE[:SUB1,SUB2[:EXTRA1,EXTRA2]], e.g. crown:zirconia"));
    }
    let subs = parts.next().map(comma_list).unwrap_or_default();
    let extras = parts.next().map(comma_list).unwrap_or_default();
    Ok(json!({"service_type": service_type, "sub_services": subs, "extras": extras}))
}

/// `TITLE|URL[|SOURCE]`.
fn parse_link(text: &str) -> Result<Value, String> {
    let parts: Vec<&str> = text.split('|').map(str::trim).collect();
    match parts.as_slice() {
        [title, url] => Ok(json!({"title": title, "url": url, "source": ""})),
        [title, url, source] => Ok(json!({"title": title, "url": url, "source": source})),
        _ => Err(format!("'{text}' is not TITLE|URL[|SOURCE], e.g. \"Scan|https://scans.example/1|3shape\"")),
    }
}

/// `count=20,stage=3,from=1,to=6[,date=2026-11-02]`.
fn parse_aligner(text: &str) -> Result<Value, String> {
    let mut out = Map::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("'{part}' is not KEY=VALUE; use count=20,stage=3,from=1,to=6[,date=2026-11-02]"));
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        match key.as_str() {
            "count" | "stage" | "from" | "to" => {
                let n: u32 = value.parse().map_err(|_| format!("{key}={value}: {key} must be a whole number"))?;
                out.insert(key, Value::from(n));
            }
            "date" => {
                out.insert(key, Value::String(value.to_owned()));
            }
            _ => return Err(format!("'{key}' is not an aligner field; the fields are count, stage, from, to, date")),
        }
    }
    if out.is_empty() {
        return Err("an aligner needs count=N,stage=N,from=N,to=N".to_owned());
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_service_reads_type_subs_and_extras() {
        let v = parse_service("crown:zirconia, layered:shade A2,rush").unwrap();
        assert_eq!(
            v,
            json!({"service_type": "crown", "sub_services": ["zirconia", "layered"], "extras": ["shade A2", "rush"]})
        );
        assert_eq!(parse_service("bridge").unwrap()["sub_services"], json!([]));
        assert!(parse_service(":x").is_err());
    }

    #[test]
    fn a_link_needs_a_title_and_a_url() {
        assert_eq!(parse_link("Scan|https://x.example").unwrap()["source"], "");
        assert_eq!(parse_link("Scan|https://x.example|3shape").unwrap()["source"], "3shape");
        assert!(parse_link("just text").is_err());
    }

    #[test]
    fn an_aligner_reads_numbers_and_a_date_and_names_unknown_fields() {
        let v = parse_aligner("count=20,stage=3,from=1,to=6,date=2026-11-02").unwrap();
        assert_eq!(v, json!({"count": 20, "stage": 3, "from": 1, "to": 6, "date": "2026-11-02"}));
        assert!(parse_aligner("count=twenty").unwrap_err().contains("whole number"));
        assert!(parse_aligner("colour=3").unwrap_err().contains("not an aligner field"));
    }

    #[test]
    fn a_pick_is_kept_proposed_or_a_value_of_ones_own() {
        assert_eq!(parse_pick("status=kept").unwrap(), ("status".to_owned(), Pick::Kept));
        assert_eq!(parse_pick("status=proposed").unwrap(), ("status".to_owned(), Pick::Proposed));
        assert_eq!(parse_pick("status=\"kept\"").unwrap().1, Pick::Value(json!("kept")), "quoted: the word itself");
        assert_eq!(parse_pick("assignees=[\"bob\"]").unwrap().1, Pick::Value(json!(["bob"])));
        assert!(parse_pick("status").is_err());
    }

    #[test]
    fn set_values_are_json_when_they_parse_and_text_otherwise() {
        assert_eq!(parse_set("assignees=[\"bob\"]").unwrap().1, json!(["bob"]));
        assert_eq!(parse_set("status=milling").unwrap().1, json!("milling"));
        assert_eq!(parse_set("order_note=a=b").unwrap(), ("order_note".to_owned(), json!("a=b")));
        assert!(parse_set("=x").is_err());
    }
}
