//! The kinds with typed code, and what the core does with a record of any kind.
//!
//! Every kind is declared in `labdesk_proto::kinds`. Six of them also have a typed struct here
//! (a [`Record`]) for behaviour a declaration cannot say: a case mints its number, a chat message
//! works out its delivery, a stage drives the case's status. [`with_record_type!`] is the one
//! list of them; every other kind is read, checked and put in its stored form by its declaration
//! alone ([`crate::declared`]), so a new kind needs no line here.

use rusqlite::Connection;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::declared;
use crate::error::{FieldError, Result};
use crate::record::{from_map, full_map, parse_time, Record};
use crate::RecordKind;

/// Runs `$body` with `$R` naming the [`Record`] type of `$kind`, or `$declared` for a kind
/// that has none.
macro_rules! with_record_type {
    ($kind:expr, $R:ident => $body:expr, _ => $declared:expr) => {
        match $kind {
            $crate::RecordKind::Case => {
                type $R = $crate::Case;
                $body
            }
            $crate::RecordKind::CaseMeta => {
                type $R = $crate::CaseMeta;
                $body
            }
            $crate::RecordKind::ChatMessage => {
                type $R = $crate::ChatMessage;
                $body
            }
            $crate::RecordKind::File => {
                type $R = $crate::FileRecord;
                $body
            }
            $crate::RecordKind::WorkflowStage => {
                type $R = $crate::WorkflowStage;
                $body
            }
            $crate::RecordKind::CaseNote => {
                type $R = $crate::CaseNote;
                $body
            }
            #[allow(unreachable_patterns)]
            _ => $declared,
        }
    };
}
pub(crate) use with_record_type;

/// Does this kind have typed code (and so its own commands and screens)?
pub(crate) fn is_typed(kind: RecordKind) -> bool {
    with_record_type!(kind, R => { let _ = std::marker::PhantomData::<R>; true }, _ => false)
}

/// Puts `content` (a record's fields and its `deleted_at`) in the kind's stored form and pushes
/// onto `problems` what is wrong with it: the rules the record alone shows, and with `conn` the
/// ones that need the rest of the store. `id` is the record's own id.
pub(crate) fn check_content(
    kind: RecordKind,
    id: Uuid,
    content: &mut Map<String, Value>,
    conn: Option<&Connection>,
    problems: &mut Vec<FieldError>,
) -> Result<()> {
    with_record_type!(kind, R => {
        let deleted_at = match content.remove("deleted_at") {
            Some(Value::String(t)) => Some(parse_time(&t, "deleted_at")?),
            _ => None,
        };
        let mut record = match from_map::<R>(std::mem::take(content)) {
            Ok(record) => record,
            Err(crate::Error::Invalid(invalid)) => {
                problems.extend(invalid.problems);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        record.normalize();
        record.validate_alone(id, problems);
        if let Some(conn) = conn {
            record.validate(id, conn, problems)?;
        }
        *content = full_map(&record, deleted_at)?;
        Ok(())
    }, _ => {
        declared::normalize(kind.decl(), content);
        declared::validate_alone(kind.decl(), id, content, problems);
        match conn {
            Some(conn) => declared::validate(kind.decl(), id, content, conn, problems),
            None => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_has_typed_code_exactly_when_it_is_declared_hand_made() {
        for kind in RecordKind::ALL {
            assert_eq!(is_typed(*kind), kind.decl().hand_made, "{kind}: typed code and hand-made screens go together");
        }
    }
}
