//! The routes: push, pull and wait, files' bytes (blobs) and the lab's snapshot, for workstations; health, metrics and
//! the OpenAPI document for operators. The extractors here do the checks every `/v1` request passes, in order:
//! [`Caller`] (protocol version, token, account) before [`JsonBody`] (size, shape).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use labdesk_proto::sync::{
    is_blob_name, BlobState, ErrorBody, PullPage, PushRequest, PushResponse, SnapshotInfo, WaitPageResponse,
    MAX_BLOB_CHUNK, MAX_PULL_LIMIT, MAX_PUSH_REVISIONS, MIN_PROTOCOL_VERSION, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use labdesk_server_database::{permit_snapshot, permit_sync, Identity};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::ApiError;
use crate::{AppState, MAX_WAIT};

/// How many revisions a pull page has when the workstation does not say.
pub const DEFAULT_PULL_LIMIT: u32 = 1000;
/// How long a long poll waits when the workstation does not say.
pub const DEFAULT_WAIT_MS: u64 = 25_000;

/// The identity behind a `/v1` request, once its protocol version, token and account passed.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        check_protocol(parts)?;
        let token = bearer_token(parts)?;
        let Some(who) = state.store().authenticate(token).await? else {
            return Err(ApiError::Unauthenticated("the sign-in of this workstation is unknown or was revoked"));
        };
        permit_sync(&who).map_err(ApiError::Forbidden)?;
        tracing::Span::current().record("user", who.user_name.as_str());
        Ok(Caller(who))
    }
}

fn check_protocol(parts: &Parts) -> Result<(), ApiError> {
    let Some(value) = parts.headers.get(PROTOCOL_HEADER) else {
        return Err(ApiError::ProtocolTooOld(None));
    };
    let version: u32 = value.to_str().ok().and_then(|v| v.trim().parse().ok()).ok_or_else(|| {
        ApiError::BadRequest(format!("the {PROTOCOL_HEADER} header must be a whole number such as {PROTOCOL_VERSION}"))
    })?;
    if version < MIN_PROTOCOL_VERSION {
        return Err(ApiError::ProtocolTooOld(Some(version)));
    }
    if version > PROTOCOL_VERSION {
        return Err(ApiError::ProtocolTooNew(version));
    }
    Ok(())
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated("this request carries no sign-in (no Authorization header)"))?;
    let value = value.to_str().map_err(|_| ApiError::Unauthenticated("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::Unauthenticated("the Authorization header is not `Bearer <token>`")),
    }
}

/// A JSON body, refused with 413 past the size limit and 400 (with serde's words) when it is not
/// the expected shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(format!(
                    "the request is larger than the server takes ({} MiB): send fewer revisions per push",
                    state.inner.max_body_bytes / (1024 * 1024)
                ))
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {e}"))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON for this request: {e}")))
    }
}

/// Query parameters, refused with 400 in words when they do not parse.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| ApiError::BadRequest(format!("the query parameters are not understood: {}", e.body_text())))
    }
}

/// Takes outbox revisions, oldest first; answers one result per revision, in the same order.
#[utoipa::path(
    post, path = "/v1/push", tag = "sync",
    params(("LabDesk-Protocol" = u32, Header, description = "The protocol the workstation speaks (1).")),
    request_body = PushRequest,
    responses(
        (status = 200, description = "One result per revision, in order.", body = PushResponse),
        (status = 400, description = "Not JSON of the right shape, or a protocol newer than the server's.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = ErrorBody),
        (status = 403, description = "The account may not sync.", body = ErrorBody),
        (status = 413, description = "The body or the batch is too large.", body = ErrorBody),
        (status = 426, description = "The workstation's protocol is too old.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn push(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(request): JsonBody<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    let count = request.revisions.len();
    if count > MAX_PUSH_REVISIONS {
        return Err(ApiError::TooLarge(format!(
            "a push carries at most {MAX_PUSH_REVISIONS} revisions and this one has {count}: send them in batches"
        )));
    }
    let store = state.store().clone();
    // Its own task: if the client goes away, the batch still runs to its end (what committed is
    // answered the same on a resend), and shutdown waits for it.
    let task = state
        .pushes()
        .spawn(async move { store.push(&who, request.revisions).await }.instrument(tracing::Span::current()));
    let results = task.await.map_err(|e| ApiError::Internal(format!("the push task failed: {e}")))??;
    for result in &results {
        state.metrics().revision(result.outcome);
    }
    Ok(Json(PushResponse { results }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullParams {
    /// The cursor: the last seq applied (0 at first).
    #[serde(default)]
    pub after: i64,
    /// At most this many revisions (1 to 5000; default 1000).
    pub limit: Option<u32>,
}

/// Accepted revisions of the caller's lab after the cursor, oldest first.
#[utoipa::path(
    get, path = "/v1/pull", tag = "sync",
    params(("LabDesk-Protocol" = u32, Header, description = "The protocol the workstation speaks (1)."), PullParams),
    responses(
        (status = 200, description = "A page of revisions and the cursor to ask with next.", body = PullPage),
        (status = 400, description = "Parameters not understood.", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 426, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn pull(
    State(state): State<AppState>,
    Caller(who): Caller,
    Keeps(kinds): Keeps,
    Params(params): Params<PullParams>,
) -> Result<Response, ApiError> {
    if params.after < 0 {
        return Err(ApiError::BadRequest(format!(
            "after must be 0 or a cursor from an earlier pull, not {}",
            params.after
        )));
    }
    let limit = params.limit.unwrap_or(DEFAULT_PULL_LIMIT).clamp(1, MAX_PULL_LIMIT);
    let page = state.store().pull_text(&who, params.after, limit).await?;
    state.metrics().pull_lag(page.head - params.after);
    Ok(json_text(only_kinds(page.json, &kinds)?))
}

/// The kinds of record the workstation keeps, from its `LabDesk-Kinds` header (one of the first
/// release sends none, and keeps the first kinds).
#[derive(Debug)]
pub struct Keeps(pub Vec<labdesk_proto::RecordKind>);

impl<S: Send + Sync> FromRequestParts<S> for Keeps {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(labdesk_proto::KINDS_HEADER).and_then(|v| v.to_str().ok());
        Ok(Keeps(labdesk_proto::kinds_from_header(header)))
    }
}

/// A pull page as the store wrote it, without the revisions of kinds the workstation does not
/// keep (it could not read the page at all otherwise). The cursor moves past them all the same.
/// A workstation that keeps every kind gets the text untouched.
fn only_kinds(json: String, kinds: &[labdesk_proto::RecordKind]) -> Result<String, ApiError> {
    if labdesk_proto::RecordKind::ALL.iter().all(|k| kinds.contains(k)) {
        return Ok(json);
    }
    let mut page: PullPage =
        serde_json::from_str(&json).map_err(|e| ApiError::Internal(format!("a pull page could not be read: {e}")))?;
    page.revisions.retain(|r| kinds.contains(&r.revision.record_kind));
    serde_json::to_string(&page).map_err(|e| ApiError::Internal(format!("a pull page could not be written: {e}")))
}

/// A JSON body the store wrote (a pull page), sent as it is.
fn json_text(json: String) -> Response {
    ([(CONTENT_TYPE, "application/json")], json).into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// The cursor: answer as soon as the lab has something newer.
    #[serde(default)]
    pub after: i64,
    /// Wait at most this long (at most 30000; default 25000).
    pub timeout_ms: Option<u64>,
    /// When given, an answer to news carries the first page after `after` too, of at most this
    /// many revisions (1 to 5000), as `/v1/pull` gives it: the workstation then needs no pull.
    pub limit: Option<u32>,
}

/// Long poll: answers as soon as the caller's lab has a revision after the cursor, or at the
/// timeout (then `head` is not greater than `after`). Asked with `limit`, the answer to news
/// brings the first page of it along: a change reaches an online workstation in one request.
#[utoipa::path(
    get, path = "/v1/wait", tag = "sync",
    params(("LabDesk-Protocol" = u32, Header, description = "The protocol the workstation speaks (1)."), WaitParams),
    responses(
        (status = 200, description = "The lab's head now, and the first page after the cursor when asked for (limit) and there is news.", body = WaitPageResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 426, body = ErrorBody), (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn wait(
    State(state): State<AppState>,
    Caller(who): Caller,
    Keeps(kinds): Keeps,
    Params(params): Params<WaitParams>,
) -> Result<Response, ApiError> {
    let timeout = Duration::from_millis(params.timeout_ms.unwrap_or(DEFAULT_WAIT_MS)).min(MAX_WAIT);
    let store = state.store();
    let head = tokio::select! {
        head = store.wait_for_change(&who, params.after, timeout) => head?,
        // Shutting down: answer now rather than hold the shutdown for up to 30 s.
        () = state.shutdown().cancelled() => store.head(&who).await?,
    };
    match params.limit {
        Some(limit) if head > params.after && params.after >= 0 => {
            let page = store.pull_text(&who, params.after, limit.clamp(1, MAX_PULL_LIMIT)).await?;
            state.metrics().pull_lag(page.head - params.after);
            // A WaitPageResponse around the page as the store wrote it.
            Ok(json_text(format!(r#"{{"head":{head},"page":{}}}"#, only_kinds(page.json, &kinds)?)))
        }
        _ => Ok(Json(WaitPageResponse { head, page: None }).into_response()),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Is the server up and its database answering? No sign-in needed.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Up, and the database answers.", body = Health),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store().health().await?;
    Ok(Json(Health { status: "ok".into() }))
}

/// Prometheus metrics of this instance, as text.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics().render()).into_response()
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    Json(crate::openapi::ApiDoc::openapi()).into_response()
}

/// A blob's name from the path: a SHA-256, 64 lower-case hex digits.
fn blob_name(hash: &str) -> Result<&str, ApiError> {
    if is_blob_name(hash) {
        Ok(hash)
    } else {
        Err(ApiError::BadRequest(format!(
            "`{hash}` is not a file's name: files are named by their SHA-256, 64 lower-case hex digits"
        )))
    }
}

/// How much of a file's bytes the central store holds.
#[utoipa::path(
    get, path = "/v1/blobs/{hash}/state", tag = "files",
    params(
        ("LabDesk-Protocol" = u32, Header, description = "The protocol the workstation speaks (1)."),
        ("hash" = String, Path, description = "The file's SHA-256, 64 lower-case hex digits."),
    ),
    responses(
        (status = 200, description = "What the store holds of the blob: upload from `received`.", body = BlobState),
        (status = 404, description = "The store holds nothing of it: upload from 0.", body = ErrorBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 426, body = ErrorBody), (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn blob_state(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(hash): Path<String>,
) -> Result<Json<BlobState>, ApiError> {
    let hash = blob_name(&hash)?;
    match state.store().blob_state(&who, hash).await? {
        Some(held) => Ok(Json(held)),
        None => Err(ApiError::NoBlob(format!("the central store holds none of file {hash}: upload it from byte 0"))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChunkParams {
    /// The whole file's size in bytes.
    pub size: u64,
    /// Where this chunk goes: the `received` of the blob's state (0 at first).
    pub offset: u64,
}

/// The next chunk of a file's bytes. An upload cut short goes on from the `received` the
/// store answers; the last chunk completes the blob once the bytes hash to its name.
#[utoipa::path(
    put, path = "/v1/blobs/{hash}", tag = "files",
    params(
        ("LabDesk-Protocol" = u32, Header, description = "The protocol the workstation speaks (1)."),
        ("hash" = String, Path, description = "The file's SHA-256, 64 lower-case hex digits."),
        ChunkParams,
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "At most 4 MiB of the file, from `offset`."),
    responses(
        (status = 200, description = "What the store holds now.", body = BlobState),
        (status = 400, description = "Not a file's name, another size than the upload began with, more bytes than announced, or bytes that do not hash to the name (nothing of them is kept).", body = ErrorBody),
        (status = 409, description = "The chunk is not at the offset the store has received up to: ask for the state and go on from there.", body = ErrorBody),
        (status = 413, description = "More than 4 MiB in one chunk.", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 426, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_blob(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(hash): Path<String>,
    Params(params): Params<ChunkParams>,
    bytes: Bytes,
) -> Result<Json<BlobState>, ApiError> {
    let hash = blob_name(&hash)?;
    if bytes.len() as u64 > MAX_BLOB_CHUNK {
        return Err(ApiError::TooLarge(format!(
            "a chunk of {} bytes is more than the server takes at once ({MAX_BLOB_CHUNK}): send the file in smaller chunks",
            bytes.len()
        )));
    }
    Ok(Json(state.store().put_blob_chunk(&who, hash, params.size, params.offset, &bytes).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadParams {
    /// The first byte wanted (0 at first).
    #[serde(default)]
    pub offset: u64,
    /// At most this many bytes (1 to 4 MiB; default 4 MiB).
    pub limit: Option<u64>,
}

/// A complete file's bytes from `offset`, for a workstation that needs the file.
#[utoipa::path(
    get, path = "/v1/blobs/{hash}", tag = "files",
    params(
        ("LabDesk-Protocol" = u32, Header, description = "The protocol the workstation speaks (1)."),
        ("hash" = String, Path, description = "The file's SHA-256, 64 lower-case hex digits."),
        ReadParams,
    ),
    responses(
        (status = 200, description = "Up to `limit` bytes from `offset` (none past the end).", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, description = "The store has no complete file of that name (not uploaded yet).", body = ErrorBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 426, body = ErrorBody), (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_blob(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(hash): Path<String>,
    Params(params): Params<ReadParams>,
) -> Result<Response, ApiError> {
    let hash = blob_name(&hash)?;
    let limit = params.limit.unwrap_or(MAX_BLOB_CHUNK).clamp(1, MAX_BLOB_CHUNK);
    match state.store().read_blob(&who, hash, params.offset, limit).await? {
        Some(bytes) => Ok(([(CONTENT_TYPE, "application/octet-stream")], bytes).into_response()),
        None => Err(ApiError::NoBlob(format!(
            "the central store has no complete file {hash}: the workstation that attached it has not uploaded it yet"
        ))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotParams {
    /// The schema version of the workstation's store: only a snapshot built at that version fits.
    pub schema: u32,
}

/// The newest snapshot of the caller's lab for workstation stores of `schema`: a whole store, caught
/// up to `seq`, that a fresh workstation downloads through `GET /v1/blobs/{hash}` and takes
/// instead of pulling the lab's whole history, then pulls after `seq`.
#[utoipa::path(
    get, path = "/v1/snapshot", tag = "sync",
    params(("LabDesk-Protocol" = u32, Header, description = "The protocol the workstation speaks (1)."), SnapshotParams),
    responses(
        (status = 200, description = "The newest snapshot: download the blob `hash`, take it, pull after `seq`.", body = SnapshotInfo),
        (status = 404, description = "No snapshot of the lab for that schema (code `no_snapshot`): pull from the start.", body = ErrorBody),
        (status = 400, description = "No schema, or not a whole number.", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 426, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn snapshot(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(params): Params<SnapshotParams>,
) -> Result<Json<SnapshotInfo>, ApiError> {
    permit_snapshot(&who).map_err(ApiError::Forbidden)?;
    match state.store().snapshot(&who, params.schema).await? {
        Some(info) => Ok(Json(info)),
        None => Err(ApiError::NoSnapshot(format!(
            "the central store has no snapshot of {} for workstation stores of schema {}: pull the lab's history \
             from the start",
            who.lab_name, params.schema
        ))),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}
