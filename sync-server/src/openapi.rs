//! The OpenAPI document served at `GET /openapi.json`: every route and wire shape, generated
//! from the handlers' annotations and the `labdesk_proto` types themselves, so it cannot drift.

use labdesk_proto::sync::{
    BlobState, CentralRevision, ErrorBody, FieldConflict, Outcome, PullPage, PushRequest, PushResponse, PushResult,
    SnapshotInfo, WaitPageResponse, WaitResponse,
};
use labdesk_proto::{Origin, RecordKind, Revision, Timestamp};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "LabDesk sync",
        description = "How LabDesk workstations sync with the central store. Every /v1 request carries \
                       `LabDesk-Protocol: 1` and `Authorization: Bearer <token>`; errors are an ErrorBody.",
    ),
    paths(
        api::push, api::pull, api::wait, api::snapshot, api::blob_state, api::put_blob, api::get_blob, api::healthz,
        api::metrics, api::openapi_json
    ),
    components(schemas(
        PushRequest, PushResponse, PushResult, Outcome, FieldConflict, CentralRevision, PullPage, WaitResponse,
        WaitPageResponse, BlobState, SnapshotInfo, ErrorBody, Revision, RecordKind, Origin, Timestamp, api::Health
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "sync", description = "Push, pull and wait, and a fresh workstation's snapshot: what workstations call."),
        (name = "files", description = "Files' bytes (blobs, named by their SHA-256): uploaded in chunks that resume, downloaded when needed."),
        (name = "operations", description = "Health, metrics and this document: what operators call."),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `labdesk-sync token issue` (or `setup`)."))
                    .build(),
            ),
        );
    }
}
