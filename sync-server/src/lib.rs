//! `labdesk-sync`, the LabDesk sync server: the HTTP face of the central store.
//!
//! Vocabulary (with `labdesk_server_database`'s identity, push, seq, cursor and head):
//! - **app**: the axum [`Router`] made by [`app`] from an [`AppState`]; tests call it directly.
//! - **caller**: the [`Identity`](labdesk_server_database::Identity) behind a request's bearer
//!   token, checked after the protocol version and before the body is read.
//! - **long poll**: `GET /v1/wait`, answered as soon as the caller's lab has something newer than
//!   its cursor, or after at most [`MAX_WAIT`].
//! - **snapshot builder**: the task [`serve`] runs beside the API, building labs' snapshots when
//!   they are due ([`snapshot`]); `GET /v1/snapshot` tells a fresh workstation of the newest.
//!
//! The server keeps no state outside PostgreSQL: any number of instances may serve one
//! database (metrics are per instance). The routes and their answers are in [`api`]; the wire
//! shapes in `labdesk_proto::sync`; the one permission check in `labdesk_server_database::permit`.
//!
//! A request is checked in this order, and a refused one has changed nothing: the protocol
//! version (426 too old, 400 too new), the token (401), the account (403), the body (413 too
//! large, 400 not understood).

pub mod api;
pub mod config;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod rules;
pub mod snapshot;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use labdesk_server_database::SyncStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use config::Config;
pub use error::ApiError;
pub use metrics::Metrics;
pub use rules::record_rules;
pub use snapshot::SnapshotPolicy;

/// The longest a long poll waits.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// The body size limit unless configured otherwise: room for a full push of large revisions.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What every request handler shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn SyncStore>,
    metrics: Metrics,
    max_body_bytes: usize,
    snapshots: SnapshotPolicy,
    /// Pushes run as tasks of their own, so that a client that goes away mid-push does not
    /// cut a batch short; shutdown waits for them.
    pushes: TaskTracker,
    /// Cancelled when the server begins to shut down: long polls answer at once.
    shutdown: CancellationToken,
}

impl AppState {
    /// A state whose snapshot builder builds as [`SnapshotPolicy::default`] says.
    pub fn new(store: Arc<dyn SyncStore>, max_body_bytes: usize) -> Self {
        Self::with_snapshots(store, max_body_bytes, SnapshotPolicy::default())
    }

    pub fn with_snapshots(store: Arc<dyn SyncStore>, max_body_bytes: usize, snapshots: SnapshotPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                metrics: Metrics::new(),
                max_body_bytes,
                snapshots,
                pushes: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub fn store(&self) -> &Arc<dyn SyncStore> {
        &self.inner.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn snapshot_policy(&self) -> SnapshotPolicy {
        self.inner.snapshots
    }

    pub(crate) fn pushes(&self) -> &TaskTracker {
        &self.inner.pushes
    }

    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
}

/// The HTTP API over `state`'s store.
pub fn app(state: AppState) -> Router {
    let max_body = state.inner.max_body_bytes;
    Router::new()
        .route("/v1/push", post(api::push))
        .route("/v1/pull", get(api::pull))
        .route("/v1/wait", get(api::wait))
        .route("/v1/blobs/{hash}/state", get(api::blob_state))
        .route("/v1/blobs/{hash}", get(api::get_blob).put(api::put_blob))
        .route("/v1/snapshot", get(api::snapshot))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(api::openapi_json))
        .fallback(api::not_found)
        // Every answer names the kinds of record this server keeps: a workstation sends it no
        // others (they wait in its outbox until the server is updated).
        .layer(SetResponseHeaderLayer::overriding(
            axum::http::HeaderName::from_static("labdesk-kinds"),
            axum::http::HeaderValue::from_str(&labdesk_proto::kinds_header())
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("")),
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(max_body))
        // Spans carry method, path and (once known) the user: never headers, which hold the token.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    tracing::info_span!(
                        "http",
                        method = %request.method(),
                        path = %request.uri().path(),
                        user = tracing::field::Empty,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Serves `state` on `listener`, with the snapshot builder beside it, until `shutdown` resolves,
/// then stops taking requests, ends long polls, stops the builder (a build under way gives up and
/// removes its files), and returns once every request and push in flight has finished.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown().clone();
    let pushes = state.pushes().clone();
    let builder = tokio::spawn(snapshot::builder(state.clone()));
    let signal = {
        let token = token.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: finishing the requests in flight");
            token.cancel();
        }
    };
    let served = axum::serve(listener, app(state)).with_graceful_shutdown(signal).await;
    // Also when serving failed: the builder must not outlive the server.
    token.cancel();
    if let Err(e) = builder.await {
        tracing::error!(error = %e, "the snapshot builder failed");
    }
    pushes.close();
    pushes.wait().await;
    served
}
