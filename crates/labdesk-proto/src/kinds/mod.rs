//! The record kinds, each declared once.
//!
//! Vocabulary:
//! - **kind**: one sort of synced record (a case, a chat message, a lab setting). Its
//!   **declaration** ([`KindDecl`]) is plain data in a module of its own here: its stable name,
//!   its table in a workstation's store, its **fields** ([`FieldDecl`]: type, fixed at creation,
//!   how a concurrent change merges, searchable), its **scope**, how its ids are made, and the
//!   permission **module** that guards it.
//! - **scope** ([`Scope`]): what a record belongs to, which decides who receives it and who may
//!   change it: a case (it travels with the case), a lab, the whole organisation, one user.
//! - **registry**: the list below ([`kinds!`]), which names every kind once and makes
//!   [`RecordKind`] from it. Everything that works on any kind (the merge, the central store's
//!   checks, a workstation's write path, its consistency check, its search index, the generic
//!   CLI and screens) reads the declaration instead of matching on the kind.
//!
//! Adding a kind is a module here, one line in the list, and its table in a workstation migration.
//! A kind that needs behaviour a declaration cannot say (minting case numbers, delivering chat)
//! has typed code in `labdesk-core` as well; the others need none.

mod case;
mod case_meta;
mod case_note;
mod chat_message;
mod file;
mod setting;
mod workflow_stage;

use serde::Serialize;

/// Lists every kind once: its variant of [`RecordKind`] and the declaration it is.
macro_rules! kinds {
    ($($variant:ident => $decl:path),+ $(,)?) => {
        /// The kinds of record that sync. The string forms are stable: they are stored and sent.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum RecordKind {
            $($variant),+
        }

        impl RecordKind {
            /// Every kind, in the order of the registry.
            pub const ALL: &'static [RecordKind] = &[$(RecordKind::$variant),+];

            /// The kinds of LabDesk's first release, which every workstation and server keeps: a
            /// peer that does not say which kinds it keeps ([`KINDS_HEADER`]) keeps these.
            pub const FIRST: &'static [RecordKind] = &[
                RecordKind::Case,
                RecordKind::CaseMeta,
                RecordKind::ChatMessage,
                RecordKind::File,
                RecordKind::WorkflowStage,
                RecordKind::CaseNote,
            ];

            /// The kind's declaration.
            pub fn decl(self) -> &'static KindDecl {
                match self {
                    $(RecordKind::$variant => &$decl),+
                }
            }
        }
    };
}

kinds! {
    Case => case::DECL,
    CaseMeta => case_meta::DECL,
    ChatMessage => chat_message::DECL,
    File => file::DECL,
    WorkflowStage => workflow_stage::DECL,
    CaseNote => case_note::DECL,
    Setting => setting::DECL,
}

/// The header that names the kinds of record a peer keeps, comma-separated: a workstation sends
/// it with every request (the server then sends it no revision of another kind), the server with
/// every answer (the workstation then sends it none of another: they wait in its outbox). A peer
/// of the first release sends none and keeps [`RecordKind::FIRST`].
pub const KINDS_HEADER: &str = "LabDesk-Kinds";

/// This build's [`KINDS_HEADER`]: every kind it declares.
pub fn kinds_header() -> String {
    RecordKind::ALL.iter().map(|k| k.decl().name).collect::<Vec<_>>().join(",")
}

/// The kinds a peer keeps, from its [`KINDS_HEADER`] (`None`: it sent none). Names this build
/// does not know (a newer peer's) are left out: nothing of them can come from here.
pub fn kinds_from_header(header: Option<&str>) -> Vec<RecordKind> {
    match header {
        None => RecordKind::FIRST.to_vec(),
        Some(text) => text.split(',').filter_map(|name| name.trim().parse().ok()).collect(),
    }
}

/// Everything LabDesk knows about a kind of record, as data.
#[derive(Debug, Serialize)]
pub struct KindDecl {
    /// The stable name, stored and sent (`case_meta`). Equal to the kind's serde name.
    pub name: &'static str,
    /// How a person names one in a sentence (`case meta value`).
    pub label: &'static str,
    /// ... and several (`case meta values`).
    pub plural: &'static str,
    /// Its table in a workstation's store.
    pub table: &'static str,
    pub scope: Scope,
    /// How a new record's id is made.
    pub id: IdRule,
    /// The content fields, in the order of the table's columns.
    pub fields: &'static [FieldDecl],
    /// Fields that together name at most one live record of the scope (a setting's key): a new
    /// record that repeats them is refused, and the person is sent to the one there is.
    pub unique: &'static [&'static str],
    /// The record cannot change once it is submitted: corrected only by a new record that
    /// supersedes it (an invoice once sent). `None`: it may change for as long as it lives.
    pub submitted: Option<Submitted>,
    /// Its place in the search index, for a kind whose records are found by case search.
    pub search: Option<Search>,
    /// The fields that name a record in a sentence (history, lists), first one that is set.
    pub title: &'static [&'static str],
    /// The permission module that guards it.
    pub module: Module,
    /// The kind has typed code in the core, and commands and screens made for it: the generic
    /// ones (`labdesk records`, the desktop app's record screens) only read it.
    pub hand_made: bool,
}

impl KindDecl {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&'static FieldDecl> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Is `name` a content field of this kind?
    pub fn has_field(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    /// The content fields' names, in column order.
    pub fn field_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|f| f.name)
    }

    /// The fields fixed at creation.
    pub fn is_fixed(&self, name: &str) -> bool {
        self.field(name).is_some_and(|f| f.fixed)
    }

    /// The field naming what the record belongs to (`case_id`, `user_name`), if its scope has one.
    pub fn owner_field(&self) -> Option<&'static str> {
        self.scope.owner_field()
    }

    /// The view of this kind's search documents (its searchable fields' text, one row per live
    /// record), which its migration makes: `{table}_search`. `None` for a kind not in the index.
    pub fn search_view(&self) -> Option<String> {
        self.search.map(|_| format!("{}_search", self.table))
    }
}

/// A kind's place in the search index, which finds cases: a document per live record, holding
/// its searchable fields' text and the case it leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Search {
    /// The kind's number in the index, stable once stored: a document's id is the record's
    /// `seq * SEARCH_TAGS + tag`, so a record's document is found by id alone.
    pub tag: u16,
    /// How a search hit names where it matched ("chat", "file").
    pub found_as: &'static str,
}

/// How many kinds the search index can tell apart (tags 1 to 1023). A record's `seq` stays far
/// below `i64::MAX / 1024`.
pub const SEARCH_TAGS: i64 = 1024;

/// What a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Attached to a case by its `case_id` (fixed at creation): it lives in the case's lab and
    /// goes wherever the case goes.
    Case,
    /// One lab's: every workstation of the lab receives it.
    Lab,
    /// The whole organisation's: every lab receives it, headquarters changes it.
    Organisation,
    /// One person's, by its `user_name` (fixed at creation): only they change it.
    User,
}

impl Scope {
    /// The field that names the owner, for the scopes that have one.
    pub fn owner_field(self) -> Option<&'static str> {
        match self {
            Scope::Case => Some("case_id"),
            Scope::User => Some("user_name"),
            Scope::Lab | Scope::Organisation => None,
        }
    }
}

/// How a new record's id is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum IdRule {
    /// Minted fresh where the record is made (UUIDv7).
    Fresh,
    /// Derived from an owner and a name (a case's meta key, a case's stage): the same on every
    /// workstation, so two offline creations meet as one record (`derived_id`).
    Derived { owner: &'static str, name: &'static str },
}

/// "Immutable once submitted": while `field` holds one of `open`, the record may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Submitted {
    pub field: &'static str,
    pub open: &'static [&'static str],
}

/// The permission modules of the lab (who may do what is granted per module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Module {
    Cases,
    Workflow,
    Files,
    Chat,
    Billing,
    Inventory,
    Staff,
    Departments,
    Dentists,
    Calendar,
    Reports,
    Logistics,
    Settings,
    Audit,
}

/// One content field of a kind.
#[derive(Debug, Serialize)]
pub struct FieldDecl {
    /// Its name: the column, the serde field and the revision's key.
    pub name: &'static str,
    /// How a form labels it.
    pub label: &'static str,
    pub ty: FieldType,
    /// Must be given (a text must not be empty).
    pub required: bool,
    /// Set by the creating revision; no later change may touch it.
    pub fixed: bool,
    /// How a change made concurrently with another merges.
    pub merge: Merge,
    /// Its text is found by search.
    pub search: bool,
    /// Never shown in a list or a generic form (a share key).
    pub hidden: bool,
    /// One line that helps fill it in.
    pub help: &'static str,
}

impl FieldDecl {
    /// A field of type `ty` that is optional, changeable, merged whole, not searched, shown.
    pub const fn new(name: &'static str, label: &'static str, ty: FieldType) -> Self {
        FieldDecl {
            name,
            label,
            ty,
            required: false,
            fixed: false,
            merge: Merge::Whole,
            search: false,
            hidden: false,
            help: "",
        }
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn fixed(mut self) -> Self {
        self.fixed = true;
        self
    }
    pub const fn merge(mut self, merge: Merge) -> Self {
        self.merge = merge;
        self
    }
    pub const fn search(mut self) -> Self {
        self.search = true;
        self
    }
    pub const fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }
    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
}

/// A field's type: what a value must be, and how a workstation's store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FieldType {
    /// One line of text, at most `max` characters.
    Text {
        max: usize,
    },
    /// Text of several lines, at most `max` characters.
    LongText {
        max: usize,
    },
    Integer,
    /// An amount of money in minor units (cents).
    Money,
    Bool,
    /// A calendar day, `YYYY-MM-DD`.
    Date,
    /// A moment, stored in UTC (`2026-11-21T09:30:00.000Z`).
    Time,
    /// The id of a record (a UUID).
    Id,
    /// One of a fixed list of values.
    Choice {
        values: &'static [&'static str],
    },
    /// A list of texts.
    TextList,
    /// A structured part, kept as JSON.
    Json,
}

impl FieldType {
    /// How a workstation's store keeps values of this type.
    pub fn storage(self) -> Storage {
        match self {
            FieldType::Integer | FieldType::Money => Storage::Integer,
            FieldType::Bool => Storage::Bool,
            FieldType::TextList | FieldType::Json => Storage::Json,
            _ => Storage::Text,
        }
    }
}

/// How a column's value is kept in SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Text, including UUIDs and timestamps.
    Text,
    Integer,
    Real,
    /// 0 or 1.
    Bool,
    /// A JSON part, kept as JSON text.
    Json,
}

/// How a field changed on both sides of a sync merges (`merge::merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Merge {
    /// Whole values: two different changes are a conflict a person settles.
    Whole,
    /// A set (a list, or a map of lists): both sides' additions and removals are kept.
    Set,
    /// Moves only forward along `order`: the furthest of the two wins.
    Forward { order: &'static [&'static str] },
    /// A time that only moves forward (a read receipt): the later of the two wins.
    Later,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declaration_is_named_as_its_kind_is_sent() {
        for kind in RecordKind::ALL {
            let sent = serde_json::to_value(kind).unwrap_or_default();
            assert_eq!(sent.as_str(), Some(kind.decl().name), "the wire name is the declared name");
        }
    }

    #[test]
    fn a_peer_keeps_the_kinds_its_header_names_and_the_first_ones_without_one() {
        assert_eq!(kinds_from_header(None), RecordKind::FIRST, "a first-release peer");
        assert_eq!(kinds_from_header(Some(&kinds_header())), RecordKind::ALL, "this build");
        assert_eq!(
            kinds_from_header(Some("case, setting,invoice")),
            [RecordKind::Case, RecordKind::Setting],
            "a newer one"
        );
    }

    #[test]
    fn no_two_kinds_share_a_search_tag() {
        let mut tags: Vec<u16> = RecordKind::ALL.iter().filter_map(|k| k.decl().search).map(|s| s.tag).collect();
        let n = tags.len();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), n, "a search tag names one kind");
    }

    #[test]
    fn names_and_tables_are_unique_and_every_scope_has_its_owner_field() {
        let mut tables: Vec<&str> = RecordKind::ALL.iter().map(|k| k.decl().table).collect();
        tables.sort_unstable();
        tables.dedup();
        assert_eq!(tables.len(), RecordKind::ALL.len(), "two kinds share a table");
        for kind in RecordKind::ALL {
            let decl = kind.decl();
            if let Some(owner) = decl.owner_field() {
                let field = decl.field(owner);
                assert!(
                    field.is_some_and(|f| f.fixed && f.required),
                    "{}: {owner} must be a required fixed field",
                    decl.name
                );
            }
            if let IdRule::Derived { owner, name } = decl.id {
                assert!(decl.is_fixed(owner) && decl.is_fixed(name), "{}: a derived id's parts are fixed", decl.name);
            }
            for name in decl.unique.iter().chain(decl.title) {
                assert!(decl.has_field(name), "{}: {name} is not a field", decl.name);
            }
            if let Some(submitted) = decl.submitted {
                assert!(decl.has_field(submitted.field), "{}: {} is not a field", decl.name, submitted.field);
            }
            if let Some(search) = decl.search {
                assert!((1..SEARCH_TAGS).contains(&i64::from(search.tag)), "{}: search tag out of range", decl.name);
                assert!(decl.fields.iter().any(|f| f.search), "{}: in the index with no searchable field", decl.name);
            }
            let mut names: Vec<&str> = decl.field_names().collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), decl.fields.len(), "{}: a field is declared twice", decl.name);
            assert!(
                !decl.has_field("deleted_at") && !decl.has_field("id"),
                "{}: bookkeeping is not content",
                decl.name
            );
        }
    }
}
