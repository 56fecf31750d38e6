//! The wire between a workstation and the central store.
//!
//! [`Transport`] is what the sync engine is written against: push a batch, pull a page, wait for
//! news. [`HttpTransport`] speaks the protocol of [`labdesk_proto::sync`] over HTTPS with a
//! blocking `reqwest` client; tests use in-memory fakes of the central store.

use std::time::Duration;

use labdesk_proto::sync::{
    BlobState, ErrorBody, PullPage, PushRequest, PushResponse, SnapshotInfo, WaitPageResponse, WaitResponse,
    PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use super::credentials::Token;
use super::error::SyncError;
use crate::RecordKind;

/// The central store, as the sync engine sees it. Implementations are shared with the thread
/// that long-polls during [`super::watch`], hence `Send + Sync`.
pub trait Transport: Send + Sync {
    /// Sends outbox revisions, oldest first; one answer per revision, in the same order.
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError>;
    /// Accepted revisions after the cursor `after`, at most `limit`, in pull order.
    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError>;
    /// Returns as soon as the central store has something after `after`, or at `timeout`.
    fn wait(&self, after: i64, timeout: Duration) -> Result<WaitResponse, SyncError>;

    /// Does the central store keep records of `kind`? A push sends it no others: they wait in the
    /// outbox, since a server that does not know a kind refuses the whole batch. This default is
    /// a central store that keeps every kind (the tests' fakes).
    fn keeps(&self, kind: RecordKind) -> bool {
        let _ = kind;
        true
    }

    /// [`pull`](Self::pull), with the size of the answer in bytes, for progress and the round's
    /// report. This default measures the page as JSON (a serialisation of the whole page);
    /// [`HttpTransport`] counts the bytes that came.
    fn pull_sized(&self, after: i64, limit: u32) -> Result<(PullPage, u64), SyncError> {
        let page = self.pull(after, limit)?;
        let size = serde_json::to_vec(&page).map_or(0, |b| b.len() as u64);
        Ok((page, size))
    }

    /// [`pull`](Self::pull)'s page as the JSON text the central store sent: what a bootstrap reads
    /// ([`super::bulk::decode`]), decoding only what it needs. This default writes the page
    /// [`pull`](Self::pull) gives as JSON.
    fn pull_json(&self, after: i64, limit: u32) -> Result<Vec<u8>, SyncError> {
        let page = self.pull(after, limit)?;
        serde_json::to_vec(&page)
            .map_err(|e| SyncError::Store(crate::Error::Corrupt(format!("a pulled page as JSON: {e}"))))
    }

    /// What the central store holds of the file bytes named `hash`: `None` when nothing. This
    /// default is a central store that takes no files (the tests' fakes of the revision protocol).
    fn blob_state(&self, hash: &str) -> Result<Option<BlobState>, SyncError> {
        let _ = hash;
        Err(no_files(&self.address()))
    }

    /// Sends the chunk of the file bytes `hash` (`size` bytes in all) at `offset`, which must be
    /// what the central store holds so far.
    fn put_blob(&self, hash: &str, size: u64, offset: u64, bytes: &[u8]) -> Result<BlobState, SyncError> {
        let _ = (hash, size, offset, bytes);
        Err(no_files(&self.address()))
    }

    /// Up to `limit` bytes of the complete file bytes `hash`, from `offset`.
    fn get_blob(&self, hash: &str, offset: u64, limit: u64) -> Result<Vec<u8>, SyncError> {
        let _ = (hash, offset, limit);
        Err(no_files(&self.address()))
    }

    /// The newest snapshot of the lab for workstation stores of schema version `schema`, if the
    /// central store keeps one ([`super::snapshot`]). This default keeps none: a fresh workstation
    /// then pulls the lab's whole history.
    fn snapshot(&self, schema: u32) -> Result<Option<SnapshotInfo>, SyncError> {
        let _ = schema;
        Ok(None)
    }

    /// Where the central store is, for messages (the server's address).
    fn address(&self) -> String {
        "the central store".to_owned()
    }

    /// [`wait`](Self::wait), asking for news to come with its first page (at most `limit`
    /// revisions after `after`), which spares the round that follows its pull request. This
    /// default answers without a page: the round then pulls as usual.
    fn wait_with_page(&self, after: i64, timeout: Duration, limit: u32) -> Result<WaitPageResponse, SyncError> {
        let _ = limit;
        self.wait(after, timeout).map(|w| WaitPageResponse { head: w.head, page: None })
    }
}

/// The sync protocol over HTTP(S). Every request carries the protocol version and the bearer
/// token; the token is marked sensitive, so it stays out of reqwest's own debug output too.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base: Url,
    client: Client,
    request_timeout: Duration,
    /// The kinds of record the server said it keeps (its `LabDesk-Kinds`), once it has answered;
    /// shared by clones, which talk to the same server.
    server_kinds: std::sync::Arc<std::sync::Mutex<Option<Vec<RecordKind>>>>,
}

impl HttpTransport {
    /// How long to wait for a connection to the server.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a push or pull may take, answer included.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// How much longer than the long poll itself a wait request may take before it is given up.
    const WAIT_GRACE: Duration = Duration::from_secs(15);

    /// A transport to the server at `server` (see [`super::parse_server_url`]).
    pub fn new(server: &Url, token: &Token) -> Result<Self, SyncError> {
        Self::with_timeouts(server, token, Self::CONNECT_TIMEOUT, Self::REQUEST_TIMEOUT)
    }

    pub fn with_timeouts(
        server: &Url,
        token: &Token,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, SyncError> {
        let base = super::parse_server_url(server.as_str())?;
        let mut headers = HeaderMap::new();
        headers.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
        if let Ok(kinds) = HeaderValue::from_str(&labdesk_proto::kinds_header()) {
            headers.insert(labdesk_proto::KINDS_HEADER, kinds);
        }
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| SyncError::BadToken)?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        let client = Client::builder()
            .default_headers(headers)
            .user_agent(concat!("labdesk/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .build()
            .map_err(|e| SyncError::Unreachable { url: base.to_string(), detail: root_cause(&e) })?;
        Ok(Self { base, client, request_timeout, server_kinds: std::sync::Arc::default() })
    }

    /// The server's address.
    pub fn server(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, SyncError> {
        self.base.join(path).map_err(|e| SyncError::BadServerUrl { url: self.base.to_string(), why: e.to_string() })
    }

    /// Sends a request and reads its JSON answer, turning every failure into what a person can act
    /// on.
    fn exchange<T: DeserializeOwned>(&self, request: RequestBuilder, timeout: Duration) -> Result<T, SyncError> {
        self.exchange_sized(request, timeout).map(|(answer, _)| answer)
    }

    /// [`exchange`](Self::exchange), with the size of the answer's body.
    fn exchange_sized<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        timeout: Duration,
    ) -> Result<(T, u64), SyncError> {
        let body = self.exchange_body(request, timeout)?;
        serde_json::from_slice(&body)
            .map(|answer| (answer, body.len() as u64))
            .map_err(|e| SyncError::BadAnswer { url: self.base.to_string(), detail: e.to_string() })
    }

    /// Sends a request and returns the body of a successful answer (JSON, not read here); a failed
    /// one becomes what a person can act on.
    fn exchange_body(&self, request: RequestBuilder, timeout: Duration) -> Result<Vec<u8>, SyncError> {
        let (status, body) = self.send(request, timeout)?;
        self.interpret(status, body)
    }

    /// Sends a request and reads the answer's status and body; a request that got no answer
    /// becomes what a person can act on.
    fn send(&self, request: RequestBuilder, timeout: Duration) -> Result<(StatusCode, Vec<u8>), SyncError> {
        let url = self.base.to_string();
        let response = request.send().map_err(|e| {
            if e.is_timeout() {
                SyncError::TimedOut { url: url.clone(), after: timeout }
            } else {
                SyncError::Unreachable { url: url.clone(), detail: root_cause(&e) }
            }
        })?;
        let status = response.status();
        let header = response.headers().get(labdesk_proto::KINDS_HEADER).and_then(|v| v.to_str().ok());
        // A server of the first release names none: it keeps the first kinds.
        let kinds = labdesk_proto::kinds_from_header(header);
        if let Ok(mut known) = self.server_kinds.lock() {
            *known = Some(kinds);
        }
        let body = response.bytes().map_err(|e| {
            if e.is_timeout() {
                SyncError::TimedOut { url: url.clone(), after: timeout }
            } else {
                SyncError::Unreachable { url: url.clone(), detail: root_cause(&e) }
            }
        })?;
        tracing::debug!(status = status.as_u16(), bytes = body.len(), "answer");
        Ok((status, Vec::from(body)))
    }

    /// The body of a successful answer; a failed one becomes what a person can act on.
    fn interpret(&self, status: StatusCode, body: Vec<u8>) -> Result<Vec<u8>, SyncError> {
        let url = self.base.to_string();
        if status.is_success() {
            return Ok(body);
        }
        let said: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        let code = said.as_ref().map(|b| b.code.clone()).unwrap_or_default();
        let message = said.map(|b| b.error).filter(|m| !m.trim().is_empty()).unwrap_or_else(|| {
            status.canonical_reason().map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_lowercase)
        });
        Err(match (status, code.as_str()) {
            (_, "protocol_too_old") | (StatusCode::UPGRADE_REQUIRED, _) => SyncError::UpgradeRequired { url, message },
            (StatusCode::UNAUTHORIZED, _) => SyncError::Unauthenticated { url, message },
            (StatusCode::FORBIDDEN, _) => SyncError::Forbidden { url, message },
            (StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS, _) => {
                SyncError::Unavailable { url, status: status.as_u16(), message }
            }
            (s, _) if s.is_server_error() => SyncError::Unavailable { url, status: s.as_u16(), message },
            (s, _) => SyncError::Refused { url, status: s.as_u16(), message },
        })
    }
}

/// A central store that takes no files.
fn no_files(url: &str) -> SyncError {
    SyncError::Refused {
        url: url.to_owned(),
        status: 501,
        message: "this central store takes no files; update the sync server".to_owned(),
    }
}

impl Transport for HttpTransport {
    /// A kind of the first release is kept by every server. For another, a server that has not
    /// answered yet is asked (its health answer names its kinds, as every answer does); one that
    /// cannot be reached is taken to keep the first release's kinds only.
    fn keeps(&self, kind: RecordKind) -> bool {
        if RecordKind::FIRST.contains(&kind) {
            return true;
        }
        let known = || self.server_kinds.lock().ok().and_then(|known| known.clone());
        if known().is_none() {
            let answered =
                self.url("healthz").is_ok_and(|url| self.send(self.client.get(url), self.request_timeout).is_ok());
            if !answered {
                // Asked once: until the server answers something, it keeps the first kinds.
                if let Ok(mut known) = self.server_kinds.lock() {
                    known.get_or_insert_with(|| RecordKind::FIRST.to_vec());
                }
            }
        }
        known().is_some_and(|kinds| kinds.contains(&kind))
    }

    #[tracing::instrument(name = "sync.blob_state", skip_all, fields(server = %self.base, hash))]
    fn blob_state(&self, hash: &str) -> Result<Option<BlobState>, SyncError> {
        let url = self.url(&format!("v1/blobs/{hash}/state"))?;
        let (status, body) = self.send(self.client.get(url), self.request_timeout)?;
        if status == StatusCode::NOT_FOUND {
            let said: Option<ErrorBody> = serde_json::from_slice(&body).ok();
            return match said {
                Some(e) if e.code == "no_blob" => Ok(None),
                // A server from before files: its API has no such route.
                _ => Err(no_files(self.base.as_str())),
            };
        }
        let body = self.interpret(status, body)?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| SyncError::BadAnswer { url: self.base.to_string(), detail: e.to_string() })
    }

    #[tracing::instrument(name = "sync.snapshot", skip_all, fields(server = %self.base, schema))]
    fn snapshot(&self, schema: u32) -> Result<Option<SnapshotInfo>, SyncError> {
        let mut url = self.url("v1/snapshot")?;
        url.query_pairs_mut().append_pair("schema", &schema.to_string());
        let (status, body) = self.send(self.client.get(url), self.request_timeout)?;
        // None for this schema (`no_snapshot`), or a server from before snapshots (no such
        // route): either way the workstation pulls everything, as it always could.
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = self.interpret(status, body)?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| SyncError::BadAnswer { url: self.base.to_string(), detail: e.to_string() })
    }

    #[tracing::instrument(name = "sync.put_blob", skip_all, fields(server = %self.base, hash, offset, len = bytes.len()))]
    fn put_blob(&self, hash: &str, size: u64, offset: u64, bytes: &[u8]) -> Result<BlobState, SyncError> {
        let mut url = self.url(&format!("v1/blobs/{hash}"))?;
        url.query_pairs_mut().append_pair("size", &size.to_string()).append_pair("offset", &offset.to_string());
        let request = self.client.put(url).header(CONTENT_TYPE, "application/octet-stream").body(bytes.to_vec());
        self.exchange(request, self.request_timeout)
    }

    #[tracing::instrument(name = "sync.get_blob", skip_all, fields(server = %self.base, hash, offset, limit))]
    fn get_blob(&self, hash: &str, offset: u64, limit: u64) -> Result<Vec<u8>, SyncError> {
        let mut url = self.url(&format!("v1/blobs/{hash}"))?;
        url.query_pairs_mut().append_pair("offset", &offset.to_string()).append_pair("limit", &limit.to_string());
        self.exchange_body(self.client.get(url), self.request_timeout)
    }

    #[tracing::instrument(name = "sync.push", skip_all, fields(server = %self.base, revisions = request.revisions.len()))]
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        let http = self.client.post(self.url("v1/push")?).json(request);
        self.exchange(http, self.request_timeout)
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        self.pull_sized(after, limit).map(|(page, _)| page)
    }

    #[tracing::instrument(name = "sync.pull", skip_all, fields(server = %self.base, after, limit))]
    fn pull_sized(&self, after: i64, limit: u32) -> Result<(PullPage, u64), SyncError> {
        let mut url = self.url("v1/pull")?;
        url.query_pairs_mut().append_pair("after", &after.to_string()).append_pair("limit", &limit.to_string());
        self.exchange_sized(self.client.get(url), self.request_timeout)
    }

    #[tracing::instrument(name = "sync.pull", skip_all, fields(server = %self.base, after, limit))]
    fn pull_json(&self, after: i64, limit: u32) -> Result<Vec<u8>, SyncError> {
        let mut url = self.url("v1/pull")?;
        url.query_pairs_mut().append_pair("after", &after.to_string()).append_pair("limit", &limit.to_string());
        self.exchange_body(self.client.get(url), self.request_timeout)
    }

    fn address(&self) -> String {
        self.base.to_string()
    }

    #[tracing::instrument(name = "sync.wait", skip_all, fields(server = %self.base, after))]
    fn wait(&self, after: i64, timeout: Duration) -> Result<WaitResponse, SyncError> {
        let mut url = self.url("v1/wait")?;
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("timeout_ms", &timeout.as_millis().to_string());
        let limit = timeout + Self::WAIT_GRACE;
        self.exchange(self.client.get(url).timeout(limit), limit)
    }

    #[tracing::instrument(name = "sync.wait", skip_all, fields(server = %self.base, after, limit))]
    fn wait_with_page(&self, after: i64, timeout: Duration, limit: u32) -> Result<WaitPageResponse, SyncError> {
        let mut url = self.url("v1/wait")?;
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("timeout_ms", &timeout.as_millis().to_string())
            .append_pair("limit", &limit.to_string());
        let allowed = timeout + Self::WAIT_GRACE;
        self.exchange(self.client.get(url).timeout(allowed), allowed)
    }
}

/// The innermost cause of a failed request ("Connection refused (os error 111)"): reqwest's own
/// message repeats the URL and says "error sending request", which helps no one.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
