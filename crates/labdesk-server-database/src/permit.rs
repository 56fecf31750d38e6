//! The one permission check. Every revision a workstation pushes passes [`permit`] before it is
//! stored, with the record locked, whatever the backend; [`permit_sync`] decides whether an
//! identity may sync at all, and [`permit_snapshot`] whether it may take its lab's snapshot. No rule
//! here depends on the user's role yet (every identity sees its whole lab); rules by role belong
//! here and nowhere else.
//!
//! A refusal is a sentence for the person who made the change: it says what was refused and,
//! where there is one, what to do instead. It is shown in the workstation's list of rejected
//! changes, so it names the record and never leaks another lab's data.

use labdesk_proto::{KindDecl, RecordKind, Revision, Scope, Timestamp};
use serde_json::Value;

use crate::{Identity, RecordHead};

/// The fields of a chat message that only its sender may change.
const SENDER_ONLY: [&str; 3] = ["message_content", "edited_at", "deleted_at"];

/// May this identity sync at all?
pub fn permit_sync(who: &Identity) -> Result<(), String> {
    if who.user_disabled {
        return Err(format!(
            "the LabDesk account {} is disabled: ask an admin of {} to enable it again",
            who.user_name, who.lab_name
        ));
    }
    Ok(())
}

/// May this identity (which may sync: [`permit_sync`]) take its lab's snapshot?
///
/// A snapshot is the whole lab: every record and revision the lab's central store holds. Today
/// every identity pulls the whole lab anyway, so every one may take it. The accounts issue, which
/// gives some roles less than the whole lab (a dentist sees their own cases), must refuse it here
/// to every role that sees less: such a workstation then pulls, and its pull shows it what its
/// role may see — a snapshot cannot be filtered.
pub fn permit_snapshot(who: &Identity) -> Result<(), String> {
    let _ = who;
    Ok(())
}

/// The case a record of `kind` belongs to, for a kind scoped to a case: its `case_id` (fixed at
/// creation, so the current state's, or the creating revision's; `Null` when missing). `None`
/// for every other scope.
pub fn case_id<'a>(kind: RecordKind, current: Option<&'a RecordHead>, revision: &'a Revision) -> Option<&'a Value> {
    owner(kind, Scope::Case, current, revision)
}

/// The owner a record of a kind in `scope` names (`case_id`, `user_name`): fixed at creation, so
/// the current state's, or the creating revision's; `Null` when missing. `None` for a kind in
/// another scope.
fn owner<'a>(
    kind: RecordKind,
    scope: Scope,
    current: Option<&'a RecordHead>,
    revision: &'a Revision,
) -> Option<&'a Value> {
    let decl = kind.decl();
    let field = decl.owner_field().filter(|_| decl.scope == scope)?;
    current.and_then(|c| c.state.get(field)).or_else(|| revision.fields.get(field)).or(Some(&Value::Null))
}

/// May `who` apply `revision` to a record of `kind` that is `current` (`None`: not in the
/// central store yet)? `case` is the central record named by the record's [`case_id`], if there
/// is one. Checks, in order: the workstation, the record's kind and lab, the fields, the fields
/// fixed at creation, `deleted_at`, the record's case, and the chat sender rule.
pub fn permit(
    who: &Identity,
    kind: RecordKind,
    current: Option<&RecordHead>,
    case: Option<&RecordHead>,
    revision: &Revision,
) -> Result<(), String> {
    let label = kind.label();
    let id = revision.record_id;
    if who.is_snapshot_builder() {
        return Err("the snapshot builder reads a lab and changes nothing: it cannot push".to_owned());
    }
    if revision.workstation != who.workstation_code {
        return Err(format!(
            "this change was made on workstation {} but sent with the sign-in of workstation {}: \
             each workstation sends its own changes (sign in on {} with `labdesk login`)",
            revision.workstation, who.workstation_code, revision.workstation
        ));
    }
    if let Some(current) = current {
        if current.kind != kind {
            return Err(format!(
                "record {id} is a {}, not a {label}: this change cannot apply to it",
                current.kind.label()
            ));
        }
        if current.lab_id != who.lab_id {
            return Err(format!("the {label} {id} belongs to another lab: {} cannot change it", who.lab_name));
        }
    }
    let decl = kind.decl();
    let mut unknown: Vec<&str> =
        revision.fields.keys().map(String::as_str).filter(|f| *f != "deleted_at" && !decl.has_field(f)).collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        let known: Vec<&str> = decl.field_names().collect();
        return Err(format!(
            "a {label} has no field {}; its fields are: {}, deleted_at",
            quoted(&unknown),
            known.join(", ")
        ));
    }
    // A creating revision (made on nothing) sets them; a record two workstations both created
    // offline (derived ids) meets here as a merge, where equal values are no change.
    if revision.parent.is_some() {
        let mut fixed: Vec<&str> = revision.fields.keys().map(String::as_str).filter(|f| decl.is_fixed(f)).collect();
        if !fixed.is_empty() {
            fixed.sort_unstable();
            return Err(format!(
                "{} {} set when the {label} is created and cannot be changed afterwards",
                quoted(&fixed),
                if fixed.len() == 1 { "is" } else { "are" }
            ));
        }
    }
    if let Some(deleted_at) = revision.fields.get("deleted_at") {
        let ok = match deleted_at {
            Value::Null => true,
            Value::String(s) => Timestamp::parse(s).is_ok(),
            _ => false,
        };
        if !ok {
            return Err(format!("deleted_at must be empty or a time, not {deleted_at}"));
        }
    }
    if let Some(reason) = organisation_refusal(decl) {
        return Err(reason);
    }
    if let Some(reason) = submitted_refusal(decl, current) {
        return Err(reason);
    }
    if let Some(reason) = owner_refusal(decl, current, revision) {
        return Err(reason);
    }
    // Everything attached to a case lives in the case's lab: a case the central store does not
    // have (refused, or never sent) takes what hangs on it along.
    if let Some(case_id) = case_id(kind, current, revision) {
        let Some(text) = case_id.as_str() else {
            return Err(format!("a {label} belongs to a case: it needs a case_id, not {case_id}"));
        };
        match case {
            None => {
                return Err(format!(
                    "its case {text} is not in the central store (the case itself was refused, or never sent), \
                     so this {label} cannot be kept either"
                ))
            }
            Some(case) if case.kind != RecordKind::Case => {
                return Err(format!("case_id {text} names a {}, not a case", case.kind.label()))
            }
            Some(case) if case.lab_id != who.lab_id => {
                return Err(format!("its case {text} belongs to another lab: {} cannot add to it", who.lab_name))
            }
            Some(_) => {}
        }
    }
    if kind == RecordKind::ChatMessage && SENDER_ONLY.iter().any(|f| revision.fields.contains_key(*f)) {
        let sender = current
            .and_then(|c| c.state.get("sender_id"))
            .or_else(|| revision.fields.get("sender_id"))
            .and_then(Value::as_str);
        if sender != Some(revision.author.as_str()) {
            let what = if revision.fields.contains_key("deleted_at") { "delete" } else { "edit" };
            return Err(match sender {
                Some(sender) => format!(
                    "only the sender of a chat message ({sender}) may edit or delete it: {} cannot {what} it",
                    revision.author
                ),
                None => "a chat message needs its sender (sender_id) before its text can be set".to_owned(),
            });
        }
    }
    Ok(())
}

/// Why a record of the whole organisation is refused: such records need a pull position in every
/// lab and a headquarters role to change them, which this server does not have; stored in the
/// pusher's lab instead, they would silently be one lab's.
fn organisation_refusal(decl: &KindDecl) -> Option<String> {
    (decl.scope == Scope::Organisation).then(|| {
        format!(
            "{} belong to the whole organisation, and this sync server keeps each lab's records only: \
             it cannot keep this one for every lab, so it keeps none of it",
            decl.plural
        )
    })
}

/// Why a change to a record that was submitted (an invoice once sent) is refused: it is corrected
/// by a new record that supersedes it.
fn submitted_refusal(decl: &KindDecl, current: Option<&RecordHead>) -> Option<String> {
    let (submitted, current) = (decl.submitted?, current?);
    let state = current.state.get(submitted.field).and_then(Value::as_str).unwrap_or_default();
    (!submitted.open.contains(&state)).then(|| {
        format!("this {} is {state} and can no longer change: correct it with a new one that supersedes it", decl.label)
    })
}

/// Why a change to one person's record (a kind in the user scope) by someone else is refused.
fn owner_refusal(decl: &KindDecl, current: Option<&RecordHead>, revision: &Revision) -> Option<String> {
    if decl.scope != Scope::User {
        return None;
    }
    let field = decl.owner_field()?;
    let user = current.and_then(|c| c.state.get(field)).or_else(|| revision.fields.get(field)).and_then(Value::as_str);
    (user != Some(revision.author.as_str())).then(|| {
        format!(
            "a {} belongs to one person ({}): only they can change it, not {}",
            decl.label,
            user.unwrap_or("nobody named"),
            revision.author
        )
    })
}

fn quoted(fields: &[&str]) -> String {
    fields.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use labdesk_proto::Origin;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::Role;

    fn who() -> Identity {
        Identity {
            user_id: Uuid::now_v7(),
            user_name: "ann".into(),
            role: Role::Technician,
            lab_id: Uuid::from_u128(1),
            lab_name: "North".into(),
            workstation_id: Uuid::now_v7(),
            workstation_code: "FD1".into(),
            user_disabled: false,
        }
    }

    fn revision(kind: RecordKind, parent: Option<Uuid>, author: &str, fields: Value) -> Revision {
        Revision {
            id: Uuid::now_v7(),
            record_kind: kind,
            record_id: Uuid::from_u128(7),
            version: 1,
            base_version: 0,
            parent,
            fields: fields.as_object().unwrap().clone(),
            author: author.into(),
            workstation: "FD1".into(),
            made_at: Timestamp::now(),
            resolves: Vec::new(),
            parent_unconfirmed: false,
            superseded_by: None,
            origin: Origin::Local,
        }
    }

    fn head(kind: RecordKind, state: Value) -> RecordHead {
        RecordHead { kind, lab_id: Uuid::from_u128(1), version: 1, state: state.as_object().unwrap().clone() }
    }

    const CASE: &str = "00000000-0000-0000-0000-0000000000c1";

    /// The caller's lab's case that attached records name.
    fn a_case() -> RecordHead {
        head(RecordKind::Case, json!({"case_number": "FD1-000001"}))
    }

    #[test]
    fn a_change_of_the_callers_lab_and_workstation_with_known_fields_is_permitted() {
        let r = revision(RecordKind::Case, Some(Uuid::now_v7()), "ann", json!({"status": "qc", "deleted_at": null}));
        assert_eq!(permit(&who(), RecordKind::Case, Some(&head(RecordKind::Case, json!({}))), None, &r), Ok(()));
    }

    /// A kind as a later module declares one: a person's own record that is final once sent.
    static MEMO: KindDecl = MEMO_FIELDS;
    const MEMO_FIELDS: KindDecl = KindDecl {
        name: "memo",
        label: "memo",
        plural: "memos",
        table: "memos",
        scope: Scope::User,
        id: labdesk_proto::IdRule::Fresh,
        fields: &[
            labdesk_proto::FieldDecl::new("user_name", "Owner", labdesk_proto::FieldType::Text { max: 100 })
                .required()
                .fixed(),
            labdesk_proto::FieldDecl::new(
                "status",
                "Status",
                labdesk_proto::FieldType::Choice { values: &["draft", "sent"] },
            ),
        ],
        unique: &[],
        submitted: Some(labdesk_proto::Submitted { field: "status", open: &["draft"] }),
        search: None,
        title: &["status"],
        module: labdesk_proto::Module::Staff,
        hand_made: false,
    };

    #[test]
    fn a_submitted_record_is_refused_any_change_and_told_to_supersede_it() {
        let draft = head(RecordKind::Setting, json!({"status": "draft"}));
        assert_eq!(submitted_refusal(&MEMO, Some(&draft)), None, "a draft may change");
        assert_eq!(submitted_refusal(&MEMO, None), None, "a new record may be made");
        let sent = head(RecordKind::Setting, json!({"status": "sent"}));
        let reason = submitted_refusal(&MEMO, Some(&sent)).unwrap();
        assert!(reason.contains("is sent and can no longer change") && reason.contains("supersedes"), "{reason}");
    }

    #[test]
    fn a_record_of_the_whole_organisation_is_refused_rather_than_kept_as_one_labs() {
        static PRICE_LIST: KindDecl =
            KindDecl { scope: Scope::Organisation, name: "price_list", plural: "price lists", ..MEMO_FIELDS };
        let reason = organisation_refusal(&PRICE_LIST).unwrap();
        assert!(reason.starts_with("price lists belong to the whole organisation"), "{reason}");
        assert!(reason.contains("keeps each lab's records only"), "{reason}");
        assert_eq!(organisation_refusal(RecordKind::Setting.decl()), None);
    }

    #[test]
    fn only_its_owner_may_change_a_record_in_the_user_scope() {
        let mine = revision(RecordKind::Setting, None, "ann", json!({"user_name": "ann"}));
        assert_eq!(owner_refusal(&MEMO, None, &mine), None);
        let theirs = head(RecordKind::Setting, json!({"user_name": "bob"}));
        let edit = revision(RecordKind::Setting, Some(Uuid::now_v7()), "ann", json!({"status": "sent"}));
        let reason = owner_refusal(&MEMO, Some(&theirs), &edit).unwrap();
        assert!(reason.contains("(bob)") && reason.contains("not ann"), "{reason}");
        assert_eq!(
            owner_refusal(RecordKind::Setting.decl(), Some(&theirs), &edit),
            None,
            "a lab's record has no owner"
        );
    }

    #[test]
    fn a_lab_setting_belongs_to_no_case_and_is_permitted_to_its_lab() {
        let r = revision(RecordKind::Setting, None, "ann", json!({"key": "opening_hours", "value": "8-17"}));
        assert_eq!(case_id(RecordKind::Setting, None, &r), None, "a setting is the lab's, not a case's");
        assert_eq!(permit(&who(), RecordKind::Setting, None, None, &r), Ok(()));
        let err = permit(
            &who(),
            RecordKind::Setting,
            None,
            None,
            &revision(RecordKind::Setting, None, "ann", json!({"case_id": CASE})),
        )
        .unwrap_err();
        assert!(err.contains("no field 'case_id'") && err.contains("key, value, description"), "{err}");
    }

    #[test]
    fn a_change_sent_by_another_workstation_is_refused_and_says_which() {
        let mut r = revision(RecordKind::Case, None, "ann", json!({"status": "qc"}));
        r.workstation = "FD2".into();
        let err = permit(&who(), RecordKind::Case, None, None, &r).unwrap_err();
        assert!(err.contains("FD2") && err.contains("FD1"), "{err}");
    }

    #[test]
    fn another_labs_record_is_refused_without_naming_that_lab() {
        let mut other = head(RecordKind::Case, json!({}));
        other.lab_id = Uuid::from_u128(2);
        let r = revision(RecordKind::Case, Some(Uuid::now_v7()), "ann", json!({"status": "qc"}));
        let err = permit(&who(), RecordKind::Case, Some(&other), None, &r).unwrap_err();
        assert!(err.contains("another lab"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused_and_the_known_ones_listed() {
        let r = revision(RecordKind::CaseNote, None, "ann", json!({"case_id": CASE, "body": "x", "colour": "red"}));
        let err = permit(&who(), RecordKind::CaseNote, None, Some(&a_case()), &r).unwrap_err();
        assert!(err.contains("'colour'") && err.contains("case_id, author_id, body"), "{err}");
    }

    #[test]
    fn fields_fixed_at_creation_are_allowed_only_in_a_creating_revision() {
        let create = revision(RecordKind::Case, None, "ann", json!({"case_number": "FD1-000001"}));
        assert_eq!(permit(&who(), RecordKind::Case, None, None, &create), Ok(()));
        let edit = revision(RecordKind::Case, Some(Uuid::now_v7()), "ann", json!({"case_number": "FD1-000002"}));
        let err = permit(&who(), RecordKind::Case, Some(&head(RecordKind::Case, json!({}))), None, &edit).unwrap_err();
        assert!(err.contains("'case_number' is set when the case is created"), "{err}");
    }

    #[test]
    fn only_the_sender_may_edit_or_delete_a_chat_message() {
        let message =
            head(RecordKind::ChatMessage, json!({"case_id": CASE, "sender_id": "bob", "message_content": "hi"}));
        let edit = revision(RecordKind::ChatMessage, Some(Uuid::now_v7()), "ann", json!({"message_content": "hey"}));
        let err = permit(&who(), RecordKind::ChatMessage, Some(&message), Some(&a_case()), &edit).unwrap_err();
        assert!(err.contains("(bob)") && err.contains("ann cannot edit"), "{err}");
        let delete = revision(
            RecordKind::ChatMessage,
            Some(Uuid::now_v7()),
            "ann",
            json!({"deleted_at": "2026-01-01T00:00:00Z"}),
        );
        assert!(permit(&who(), RecordKind::ChatMessage, Some(&message), Some(&a_case()), &delete)
            .unwrap_err()
            .contains("cannot delete"));
        let react =
            revision(RecordKind::ChatMessage, Some(Uuid::now_v7()), "ann", json!({"reactions": {"👍": ["ann"]}}));
        assert_eq!(
            permit(&who(), RecordKind::ChatMessage, Some(&message), Some(&a_case()), &react),
            Ok(()),
            "anyone may react"
        );
        let own = revision(RecordKind::ChatMessage, Some(Uuid::now_v7()), "bob", json!({"message_content": "hey"}));
        assert_eq!(
            permit(&who(), RecordKind::ChatMessage, Some(&message), Some(&a_case()), &own),
            Ok(()),
            "bob may edit his own"
        );
    }

    #[test]
    fn a_new_chat_message_is_sent_by_its_author() {
        let forged = revision(
            RecordKind::ChatMessage,
            None,
            "ann",
            json!({"case_id": CASE, "sender_id": "bob", "message_content": "hi"}),
        );
        assert!(permit(&who(), RecordKind::ChatMessage, None, Some(&a_case()), &forged).is_err());
    }

    #[test]
    fn a_record_of_another_kind_is_refused() {
        let r = revision(RecordKind::CaseNote, Some(Uuid::now_v7()), "ann", json!({"body": "x"}));
        let err = permit(&who(), RecordKind::CaseNote, Some(&head(RecordKind::Case, json!({}))), None, &r).unwrap_err();
        assert!(err.contains("is a case, not a case note"), "{err}");
    }

    #[test]
    fn deleted_at_must_be_a_time_or_empty() {
        let r = revision(RecordKind::CaseNote, None, "ann", json!({"case_id": CASE, "deleted_at": "soon"}));
        assert!(permit(&who(), RecordKind::CaseNote, None, Some(&a_case()), &r).is_err());
    }

    #[test]
    fn a_record_attached_to_a_case_needs_that_case_centrally_and_in_the_callers_lab() {
        let note = revision(RecordKind::CaseNote, None, "ann", json!({"case_id": CASE, "body": "x"}));
        assert_eq!(permit(&who(), RecordKind::CaseNote, None, Some(&a_case()), &note), Ok(()));
        let err = permit(&who(), RecordKind::CaseNote, None, None, &note).unwrap_err();
        assert!(err.contains("not in the central store") && err.contains(CASE), "{err}");
        let mut elsewhere = a_case();
        elsewhere.lab_id = Uuid::from_u128(2);
        let err = permit(&who(), RecordKind::CaseNote, None, Some(&elsewhere), &note).unwrap_err();
        assert!(err.contains("another lab"), "{err}");
        let not_a_case = head(RecordKind::CaseNote, json!({}));
        let err = permit(&who(), RecordKind::CaseNote, None, Some(&not_a_case), &note).unwrap_err();
        assert!(err.contains("not a case"), "{err}");
        let orphan = revision(RecordKind::CaseNote, None, "ann", json!({"body": "x"}));
        assert!(permit(&who(), RecordKind::CaseNote, None, None, &orphan).unwrap_err().contains("needs a case_id"));
    }

    #[test]
    fn the_snapshot_builder_may_read_a_lab_but_not_push_to_it() {
        let lab = crate::Lab { id: Uuid::from_u128(1), name: "North".into() };
        let mut r = revision(RecordKind::Case, None, "ann", json!({"status": "qc"}));
        r.workstation = String::new();
        let err = permit(&Identity::snapshot_builder(&lab), RecordKind::Case, None, None, &r).unwrap_err();
        assert!(err.contains("cannot push"), "{err}");
        assert_eq!(permit_snapshot(&who()), Ok(()), "every identity may take its lab's snapshot today");
    }

    #[test]
    fn a_disabled_user_may_not_sync() {
        let mut who = who();
        who.user_disabled = true;
        assert!(permit_sync(&who).unwrap_err().contains("disabled"));
    }
}
